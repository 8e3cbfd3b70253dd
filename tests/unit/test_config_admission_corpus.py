"""Every conn of the Libreswan corpus is honoured exactly or refused (issue #14).

Each conn either reaches the engine carrying every wire- or kernel-relevant setting it asked
for, or it is refused with file:line and a reason; none is silently changed. The counts by
reason are printed after the run (``tests/conftest.py``: ``REPORT``) and quoted in docs/config.md.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

from pluto_core.config import parse_config
from pluto_core.config.admission import end_auth
from pluto_core.config.connection import Connection, orient
from pluto_core.engine_conn import to_engine_conn
from pluto_core.errors import ConfigError
from pluto_core.ikev2.enums import TransformType
from pluto_core.ikev2.tasks.auth_methods import AUTH_METHODS
from pluto_core.ikev2.ts_narrow import Selector
from tests.conftest import REPORT
from tests.unit.test_config_corpus import _manifest, _path_map, tree  # noqa: F401  (fixture)

_TYPES = {"encr": TransformType.ENCR, "prf": TransformType.PRF, "integ": TransformType.INTEG,
          "dh": TransformType.KE, "sn": TransformType.ESN}


def _reason(error: ConfigError) -> str:
    """The reason without its value: ``mobike=yes: MOBIKE ... `` -> ``mobike: MOBIKE ...``."""
    text = re.sub(r'^(left|right)', "", error.message)
    text = re.sub(r"^([a-z0-9-]+)=(?! ).*?: ", r"\1: ", text)
    text = re.sub(r'"[^"]*"', '"…"', text)
    return text.split(" (")[0][:90]


def _ids(proposal: Any, kind: str) -> set[int]:
    return {t.id for t in proposal.transforms if t.type == _TYPES[kind]}


def _check_proposals(conn: Connection, engine: Any) -> None:
    for kind, offered in (("ike", engine.ike_proposals), ("esp", engine.esp_proposals)):
        pset = getattr(conn, kind)
        assert pset is not None and len(offered) == len(pset.proposals), (conn.name, kind)
        for want, got in zip(pset.proposals, offered, strict=True):
            assert _ids(got, "encr") == {e for e, _bits in want.encr}, (conn.name, kind)
            assert _ids(got, "integ") == {i for i in want.integ if i}, (conn.name, kind)
            if kind == "ike":
                assert _ids(got, "prf") == set(want.prf) and _ids(got, "dh") == set(want.dh), conn.name
            else:
                esn = {"yes": {1}, "no": {0}}.get(conn.esn, {0, 1})
                assert _ids(got, "sn") == (set(want.sn) or esn), (conn.name, conn.esn)


def _selectors(end: Any, address: Any) -> set[Selector]:
    proto = end.protoport.protocol if end.protoport else 0
    port = end.protoport.port if end.protoport else 0
    subnets = [(str(s.network), s.protocol or proto, s.port or port) for s in end.subnets]
    if not subnets:
        subnets = [(f"{address}/{address.max_prefixlen}", proto, port)]
    return {Selector.from_subnet(net, p, port or None) for net, p, port in subnets}


def _check(conn: Connection, engine: Any) -> None:
    """The engine conn carries what the conn asked for."""
    local, remote = conn.local, conn.remote
    _check_proposals(conn, engine)
    assert engine.mode == ("transport" if conn.type == "transport" else "tunnel")
    if local.modecfgclient and not local.subnets:  # a CP client asks for its TSi: 0.0.0.0/0 (::/0)
        assert set(engine.local_ts) == {Selector.from_subnet("0.0.0.0/0" if local.address.version == 4 else "::/0")}
    else:
        assert set(engine.local_ts) == _selectors(local, local.address), conn.name
    if remote.address is not None or remote.subnets:
        assert set(engine.remote_ts) == _selectors(remote, remote.address), conn.name
    assert (engine.ikelifetime, engine.salifetime) == (conn.ikelifetime, conn.ipsec_lifetime)
    assert (engine.rekey, engine.rekeymargin, engine.rekeyfuzz) == (conn.rekey, conn.rekeymargin,
                                                                    conn.rekeyfuzz / 100)
    assert (engine.dpddelay, engine.dpdtimeout) == (conn.dpddelay, conn.dpdtimeout or 0)
    assert engine.pfs == conn.pfs and engine.replay_window == conn.replay_window
    assert engine.reqid == (conn.get("reqid") or 0) and engine.priority == (conn.get("priority") or 0)
    assert engine.narrowing == conn.narrowing
    assert engine.options["encapsulation"] == conn.encapsulation
    assert engine.options["fragmentation"] == conn.fragmentation
    assert engine.options["nat-keepalive"] == conn.nat_keepalive
    assert engine.options["initial-contact"] == conn.initial_contact
    side = "left" if conn.local_is_left else "right"
    other = "right" if side == "left" else "left"
    assert (engine.local_auth, engine.remote_auth) == (end_auth(conn, side), end_auth(conn, other))
    for method, keys in ((engine.local_auth, ()), (engine.remote_auth, engine.remote_keys)):
        assert method in AUTH_METHODS, (conn.name, method)  # one the engine computes and checks
        if method in ("secret", "null"):
            assert keys == (), conn.name
    remote_written = [k for k in ("rsasigkey", "pubkey", "ecdsakey", "eddsakey")  # %cert: the certificate's
                      if not str((remote.rsasigkey if k == "rsasigkey" else remote.options.get(k)) or "%")
                      .startswith("%")]
    assert len(engine.remote_keys) == (len(remote_written) if engine.remote_auth not in ("secret", "null") else 0)
    if engine.local_auth not in ("secret", "null") and (local.ckaid or local.rsasigkey):
        assert engine.local_ckaid, conn.name  # the key it signs with is named
    if local.id is not None and str(local.id) not in ("%any", "%none"):
        assert engine.local_id.data or engine.local_id.text == "ID_NULL"  # as written, never the address
    # the peer's %fromcert: any ID its certificate backs
    if remote.id is not None and str(remote.id) not in ("%any", "%none", "%fromcert"):
        assert engine.remote_id is not None, conn.name


def _local_set(conn: Connection) -> set[str]:
    """A host that owns left= (else right=) when it is an address."""
    for end in (conn.left, conn.right):
        if end.address is not None:
            return {str(end.address)}
    return set()


def test_every_conn_is_honoured_or_refused(corpus: Path, tree: Path) -> None:  # noqa: F811
    pm = _path_map(tree)
    counts: Counter[str] = Counter()
    refused: Counter[str] = Counter()
    host: Counter[str] = Counter()
    for _flat, orig, kind, userland in _manifest(corpus):
        if kind != "conf" or userland != "libreswan":
            continue
        conf, _errors = parse_config("/" + orig, path_map=pm)
        counts["failed (Libreswan refuses them too)"] += len(conf.failed)
        for name, error in conf.refused.items():
            assert error.file is not None and error.line is not None, error
            assert error.file.startswith(("/testing/", "/etc/ipsec.d/")) and error.line > 0, error
            refused[_reason(error)] += 1
            assert conf.conns[name].refusal is error
            try:  # the one way into the engine refuses it, whichever end is local
                to_engine_conn(orient(conf.conns[name], _local_set(conf.conns[name])))
            except ConfigError as exc:
                assert exc is error or "are addresses of this host" in str(exc)
            else:
                raise AssertionError(f"{name}: refused, yet to_engine_conn accepted it")
        for conn in conf.conns.values():
            if conn.refusal is not None:
                continue
            if conn.never_negotiate:
                counts["shunts (not IKE conns)"] += 1
                continue
            try:
                oriented = orient(conn, _local_set(conn))
                engine = to_engine_conn(oriented)
            except ConfigError as exc:  # needs the host: which end is local, its address
                assert exc.file is not None and exc.line is not None, exc
                host[" ".join(re.sub(r'^"[^"]*": ', "", exc.message).split()[:4])] += 1
                counts["refused by the host checks"] += 1
                continue
            _check(oriented, engine)
            counts["accepted"] += 1
    counts["refused"] = sum(refused.values())
    REPORT["every conn of the Libreswan corpus: honoured or refused"] = [
        "conns: " + ", ".join(f"{what} {n}" for what, n in counts.items()),
        *(f"  {n:5d}  refused: {reason}" for reason, n in refused.most_common()),
        "host-dependent refusals: " + (", ".join(f"{what} {n}" for what, n in host.items()) or "none"),
    ]
    assert counts["accepted"] > 300 and counts["refused"] > 1500
    assert refused["IKEv1 is not supported"] > 600
