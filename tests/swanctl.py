"""strongSwan ``swanctl.conf`` text for the peers of the host and lab tiers, from one renderer,
so every test states only what its connection has of its own (auth rounds, IDs, selectors).

``swanctl --load-all --file F`` reads the connections and secrets of F; loading a file
replaces the connections loaded before, so a responder has exactly the one written here.
"""

from __future__ import annotations

from collections.abc import Mapping

Section = Mapping[str, "str | Section"]


def render(body: Section, depth: int = 0) -> list[str]:
    """``key = value`` lines and ``name { ... }`` sections, tab-indented as swanctl.conf(5)."""
    lines: list[str] = []
    pad = "\t" * depth
    for key, value in body.items():
        if isinstance(value, str):
            lines.append(f"{pad}{key} = {value}")
        else:
            lines += [f"{pad}{key} {{", *render(value, depth + 1), f"{pad}}}"]
    return lines


def quoted(text: str) -> str:
    """A value with spaces or commas (a DN) in double quotes, as swanctl wants it."""
    return f'"{text}"' if any(c in text for c in " ,=") else text


def swanctl_conf(name: str, *, local_addrs: str, remote_addrs: str, proposals: str, local: Section,
                 remote: Section, local_ts: str, remote_ts: str, esp: str, mode: str = "tunnel",
                 psk: tuple[str, str, str] | None = None) -> str:
    """One IKEv2 connection NAME with a Child SA of the same name. ``local``/``remote`` are the
    auth rounds (``auth``, ``id``, ``certs``, ``pubkeys``...; IDs are quoted here when they
    need it); ``psk`` = (our ID, the peer's ID, the secret) adds a ``secrets`` section."""
    def round_(spec: Section) -> Section:
        return {k: quoted(v) if k == "id" and isinstance(v, str) else v for k, v in spec.items()}

    conf: dict[str, Section] = {"connections": {name: {
        "version": "2", "local_addrs": local_addrs, "remote_addrs": remote_addrs, "proposals": proposals,
        "local": round_(local), "remote": round_(remote),
        "children": {name: {"mode": mode, "local_ts": local_ts, "remote_ts": remote_ts, "esp_proposals": esp}},
    }}}
    if psk is not None:
        ours, theirs, secret = psk
        conf["secrets"] = {"ike-lab": {"id-a": quoted(theirs), "id-b": quoted(ours), "secret": f'"{secret}"'}}
    return "\n".join(render(conf)) + "\n"
