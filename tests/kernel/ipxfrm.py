"""What the kernel holds, as ``ip xfrm`` shows it: the independent witness
the conformance suite compares a backend's work against.

iproute2 6.1 prints no JSON for ``ip -j xfrm`` (it ignores ``-j`` there), so
the text is parsed; ``-j`` is still tried first for newer iproute2.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
from typing import Any

_UPPER = {"esp": 50, "ah": 51, "comp": 108}


def _run(*args: str) -> str:
    return subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=10).stdout


def proto_number(text: str) -> int:
    if text.isdigit():
        return int(text)
    return _UPPER.get(text) or socket.getprotobyname(text)


def _pairs(tokens: list[str], into: dict[str, Any]) -> None:
    for key, value in zip(tokens[0::2], tokens[1::2], strict=False):
        into[key] = value


def policies() -> list[dict[str, Any]]:
    """Every policy: src, dst, dir, priority, action, ptype, optional proto,
    sport, dport, mark, if_id, and ``tmpl`` (a list of src/dst/proto/reqid/mode)."""
    try:
        data = json.loads(_run("-j", "xfrm", "policy") or "[]")
        if isinstance(data, list):
            return data
    except (json.JSONDecodeError, subprocess.CalledProcessError):
        pass
    return parse_policies(_run("xfrm", "policy"))


def parse_policies(text: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    tmpl: dict[str, Any] | None = None
    for line in text.splitlines():
        if not line.strip():
            continue
        depth = len(line) - len(line.lstrip("\t"))
        tokens = line.split()
        if depth == 0:
            current = {"tmpl": [], "action": "allow"}
            out.append(current)
            tmpl = None
            _pairs(tokens, current)
        elif current is None:
            continue
        elif depth == 1 and tokens[0] == "tmpl":
            tmpl = {}
            current["tmpl"].append(tmpl)
            _pairs(tokens[1:], tmpl)
        elif depth >= 2 and tmpl is not None:
            _pairs(tokens, tmpl)
        else:
            tmpl = None
            if tokens and tokens[0] == "socket":
                current["socket"] = tokens[1] if len(tokens) > 1 else ""
                tokens = tokens[2:]
            _pairs(tokens, current)
    # Per-socket policies ("socket in/out": the daemon's IKE sockets exempting
    # themselves from IPsec) belong to open sockets, not to the SPD: leave them out.
    return [p for p in out if "socket" not in p]


def states(stats: bool = False) -> list[dict[str, Any]]:
    """Every SA: src, dst, proto, spi (int), reqid, mode, replay-window,
    flags, algorithms (``aead``/``enc``/``auth-trunc``: name, key hex, bits),
    encap, and with ``stats`` the current bytes and packets."""
    return parse_states(_run(*(["-s"] if stats else []), "xfrm", "state"))


_COUNT = re.compile(r"^(\d+)\(bytes\), (\d+)\(packets\)$")


def parse_states(text: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    after_current = False
    for line in text.splitlines():
        if not line.strip():
            continue
        tokens = line.split()
        if not line.startswith("\t"):
            current = {}
            out.append(current)
            _pairs(tokens, current)
            after_current = False
            continue
        if current is None:
            continue
        head = tokens[0]
        if head == "proto":
            _pairs(tokens, current)
            current["spi"] = int(current["spi"].split("(")[0], 16)
            current["reqid"] = int(current["reqid"].split("(")[0])
        elif head in ("aead", "enc", "auth-trunc", "auth"):
            current[head] = tokens[1:]
        elif head == "replay-window":
            current["replay-window"] = int(tokens[1])
            if "flag" in tokens:
                current["flags"] = tokens[tokens.index("flag") + 1:]
        elif head == "encap":
            _pairs(tokens[1:], current.setdefault("encap", {}))
        elif head == "anti-replay" and "esn" in tokens:
            match = re.search(r"replay_window (\d+)", line)
            if match:
                current["esn-replay-window"] = int(match.group(1))
        elif head == "mark":
            current["mark"] = tokens[1]
        elif head == "if_id":
            current["if_id"] = tokens[1]
        elif head == "lifetime" and tokens[1:] == ["current:"]:
            after_current = True
        elif after_current and _COUNT.match(line.strip()):
            match = _COUNT.match(line.strip())
            assert match is not None
            current["bytes"], current["packets"] = int(match.group(1)), int(match.group(2))
            after_current = False
    return out
