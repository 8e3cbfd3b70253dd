"""What ``ipsec status`` and ``ipsec trafficstatus`` show, read from the daemon's public surface
(its IKE host, peer names and kernel backend hooks)."""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

from pluto_core.ikev2.sa import IkeState

if TYPE_CHECKING:
    from pluto_core.daemon import Daemon

CERT_PROOF = re.compile(r"certificate '(.*)' and .* digital signature issued by '(.*)'")

__all__ = ["status_data", "peer_cert", "child_counters", "ike_state_name", "wall_time"]


def status_data(daemon: Daemon) -> dict[str, Any]:
    """Conns (negotiating, waiting for a host name, never-negotiate), IKE SAs, Child SAs, DDoS state,
    the kernel port's record (held policies, refused deletions)."""
    assert daemon.ike is not None
    engine = daemon.ike.engine
    conns = []
    for c in engine.conns.values():
        conns.append({"name": c.name, "local": c.local_addr, "remote": c.remote_addr or "%any",
                      "local_id": c.local_id.text, "remote_id": c.remote_id.text if c.remote_id else "%any",
                      "local_ts": [str(t) for t in c.local_ts], "remote_ts": [str(t) for t in c.remote_ts],
                      "mode": c.mode, "ikelifetime": c.ikelifetime, "salifetime": c.salifetime,
                      "rekeymargin": c.rekeymargin, "dpddelay": c.dpddelay,
                      "retransmit_interval": c.retransmit_interval,
                      "retransmit_timeout": c.retransmit_timeout, **daemon.names.hosts(c.name),
                      "routing": daemon.ike.shunts.routing(c.name)})
    peer_ids = {id(sa.conn): sa.peer_id.text for sa in engine.ike_sas() if sa.peer_id is not None}
    for inst, ike_count in engine.instances():  # road warriors: one instance per peer ("rw"[3])
        conns.append({"name": inst.name, "instance": inst.instance, "label": inst.label.split(" ")[0],
                      "local": inst.local_addr, "remote": inst.remote_addr, "local_id": inst.local_id.text,
                      "remote_id": peer_ids.get(id(inst)) or (inst.remote_id.text if inst.remote_id else "%any"),
                      "local_ts": [str(t) for t in inst.local_ts], "remote_ts": [str(t) for t in inst.remote_ts],
                      "mode": inst.mode, "ikelifetime": inst.ikelifetime, "salifetime": inst.salifetime,
                      "rekeymargin": inst.rekeymargin, "dpddelay": inst.dpddelay,
                      "retransmit_interval": inst.retransmit_interval,
                      "retransmit_timeout": inst.retransmit_timeout, "lease": list(inst.lease),
                      "ike_sas": ike_count})
    conns += daemon.names.status_rows()  # added, but a host name of theirs does not resolve yet
    conns += daemon.ike.shunts.status()  # never-negotiate conns (type=passthrough|drop|reject)
    sas, children = [], []
    for sa in engine.ike_sas():
        lease = [f"{a}/{32 if '.' in a else 128}" for a in (sa.conn.lease if sa.conn is not None else ())]
        sas.append({"serial": sa.serial, "conn": sa.name, "label": sa.label, "lease": lease,
                    "state": ike_state_name(sa.state),
                    "established": sa.state.name == "ESTABLISHED", "initiator": sa.initiator,
                    "local": list(sa.local), "remote": list(sa.remote),
                    "peer_id": sa.peer_id.text if sa.peer_id else None, **peer_cert(sa.peer_auth),
                    "spi_i": sa.spi_i.hex(), "spi_r": sa.spi_r.hex(),
                    "encapsulation": bool(sa.transport and sa.transport.encapsulate)})
        for child in sa.children:
            counters = child_counters(daemon, child)
            children.append({"serial": child.serial, "conn": sa.name, "label": sa.label, "lease": lease,
                             "ike_serial": sa.serial,
                             "type": "ESP", "spi_in": f"{child.spi_in:08x}", "spi_out": f"{child.spi_out:08x}",
                             "local": sa.local[0], "remote": sa.remote[0],
                             "local_ts": [str(t) for t in child.local_ts],
                             "remote_ts": [str(t) for t in child.remote_ts],
                             "mode": child.conn.mode, "add_time": wall_time(child.established_at),
                             "peer_id": sa.peer_id.text if sa.peer_id else "", **counters})
    ddos = {"mode": engine.ddos_mode, "cookies": engine.busy(),
            "accepting": len(engine.half_open) < engine.max_halfopen_ike}
    # what the kernel port holds: policies by their holders, deletions the kernel refused (retried)
    kernel = {"held_policies": len(daemon.kernel.holders.policies), "undeleted": len(daemon.kernel.undeleted)}
    return {"conns": conns, "ike_sas": sas, "children": children, "ddos": ddos, "kernel": kernel}


def peer_cert(proof: str | None) -> dict[str, Any]:
    """``peer_auth`` (how the peer proved its ID, as logged), and for a certificate its subject
    and issuer: ``certificate 'DN' and ... digital signature issued by 'CA DN'``."""
    found = CERT_PROOF.fullmatch(proof or "")
    return {"peer_auth": proof, "peer_cert": found.group(1) if found else None,
            "peer_cert_issuer": found.group(2) if found else None}


def child_counters(daemon: Daemon, child: Any) -> dict[str, int]:
    """Bytes in/out from the kernel's SA counters (0 when the kernel cannot say)."""
    installed = child.installed
    if installed is None:
        return {"inBytes": 0, "outBytes": 0}
    kernel = daemon.kernel
    return {"inBytes": kernel.sa_bytes(installed.local_addr, installed.remote_addr, installed.inbound.spi) or 0,
            "outBytes": kernel.sa_bytes(installed.remote_addr, installed.local_addr, installed.outbound.spi) or 0}


def ike_state_name(state: IkeState) -> str:
    return {
        IkeState.INIT_SENT: "sent IKE_SA_INIT request",
        IkeState.INIT_DONE: "sent IKE_SA_INIT response",
        IkeState.AUTH_SENT: "sent IKE_AUTH request",
        IkeState.ESTABLISHED: "established IKE SA",
        IkeState.DEAD: "dead",
    }[state]


def wall_time(monotonic_then: float) -> int:
    """A monotonic timestamp as seconds since the epoch (add_time in trafficstatus)."""
    return int(time.time() - (time.monotonic() - monotonic_then))
