"""The Configuration payload as responder (RFC 7296 2.19, 3.15): a road warrior's
CFG_REQUEST in IKE_AUTH gets a CFG_REPLY with its leased address(es) and the conn's
``modecfgdns=`` / ``modecfgdomains=``; no address left is INTERNAL_ADDRESS_FAILURE
(3.10.1: the IKE SA stays, no Child SA is made).

Leases come from the engine's ``Addresses`` port (the ``addresspool=`` ranges, or a
plugin), per peer ID; the IKE SA moves to its instance with the lease in it, which
the engine releases when the instance's last IKE SA is gone."""

from __future__ import annotations

import ipaddress
from dataclasses import replace

from pluto_core.ikev2.enums import CfgAttributeType, CfgType
from pluto_core.ikev2.payloads import ConfigAttribute, Configuration, Payload
from pluto_core.ikev2.sa import IkeSa
from pluto_core.ikev2.tasks.common import get
from pluto_core.ikev2.tasks.services import Services
from pluto_core.ikev2.ts_narrow import Selector

A = CfgAttributeType
_ADDRESS_OF: dict[int, int] = {A.INTERNAL_IP4_ADDRESS: 4, A.INTERNAL_IP6_ADDRESS: 6}


def serves(options: dict[str, object]) -> bool:
    """Is the conn a CP server (``addresspool=``, or ``modecfgserver=yes`` with a plugin's leases)?"""
    return bool(options.get("addresspool")) or bool(options.get("modecfgserver"))


def process_r(engine: Services, sa: IkeSa, payloads: list[Payload]) -> tuple[list[Payload], str | None]:
    """The CFG_REPLY for the peer's CFG_REQUEST (none: nothing asked, or the conn serves none),
    or the sentence why no address could be given."""
    conn, peer = sa.conn, sa.peer_id
    assert conn is not None and peer is not None
    cp = get(payloads, Configuration)
    if cp is None or cp.cfg_type != CfgType.CFG_REQUEST:
        return [], None
    if not serves(conn.options):
        engine.log.log(f"{engine.prefix(sa)} ignoring the Configuration payload: the conn has no addresspool=")
        return [], None
    asked = sorted({_ADDRESS_OF[a.type] for a in cp.attributes if a.type in _ADDRESS_OF})
    leases: list[str] = []
    for version in asked:
        address = engine.addresses.lease(conn, peer, version)
        if address is not None:
            leases.append(address)
    if asked and not leases:
        pools = ", ".join(conn.options.get("addresspool", ())) or "the address source"
        return [], (f"no address left in addresspool {pools} for {peer.kind_name} '{peer.text}'"
                    if conn.options.get("addresspool") else f"{pools} has no address for "
                    f"{peer.kind_name} '{peer.text}'")
    attributes: list[ConfigAttribute] = []
    for address in leases:
        ip = ipaddress.ip_address(address)
        if ip.version == 4:
            attributes.append(ConfigAttribute(A.INTERNAL_IP4_ADDRESS, ip.packed))
        else:  # RFC 7296 3.15.1: the address, then its prefix length
            attributes.append(ConfigAttribute(A.INTERNAL_IP6_ADDRESS, ip.packed + bytes((128,))))
        engine.log.log(f"{engine.prefix(sa)} leased {address} to {peer.kind_name} '{peer.text}'")
    for server in conn.options.get("modecfgdns", ()):
        ip = ipaddress.ip_address(server)
        attributes.append(ConfigAttribute(A.INTERNAL_IP4_DNS if ip.version == 4 else A.INTERNAL_IP6_DNS, ip.packed))
    for domain in conn.options.get("modecfgdomains", ()):
        attributes.append(ConfigAttribute(A.INTERNAL_DNS_DOMAIN, domain.encode()))
    if leases:  # a conn for one peer address becomes an instance too: the lease ends with it
        base = conn if conn.instance else engine.instantiate(conn, sa.remote[0])
        engine.switch_conn(sa, engine.with_lease(base, tuple(leases)))
    return [Configuration(CfgType.CFG_REPLY, attributes)], None


# ------------------------------------------------------------------ client (leftmodecfgclient=yes)


def asks(options: dict[str, object]) -> bool:
    """Does the conn ask for an address (``leftmodecfgclient=yes``, ``leftsourceip=%config``)?"""
    return bool(options.get("modecfgclient"))


def request(versions: tuple[int, ...]) -> Configuration:
    """Our CFG_REQUEST (RFC 7296 3.15.4): an address of each IP version, DNS servers, domains."""
    attributes = []
    for version in versions:
        attributes += [ConfigAttribute(A.INTERNAL_IP4_ADDRESS if version == 4 else A.INTERNAL_IP6_ADDRESS),
                       ConfigAttribute(A.INTERNAL_IP4_DNS if version == 4 else A.INTERNAL_IP6_DNS)]
    attributes.append(ConfigAttribute(A.INTERNAL_DNS_DOMAIN))
    return Configuration(CfgType.CFG_REQUEST, attributes)


def process_i(engine: Services, sa: IkeSa, child_serial: int, payloads: list[Payload]) -> None:
    """The server's CFG_REPLY: the addresses become our side of the conn (its selectors, the
    lease ``ipsec status`` shows; the host adds them to an interface and routes through them),
    DNS servers and domains are logged as Libreswan does."""
    conn = sa.conn
    assert conn is not None
    cp = get(payloads, Configuration)
    if cp is None or cp.cfg_type != CfgType.CFG_REPLY:
        if asks(conn.options):
            engine.log.log(f"{engine.prefix(sa, child_serial)} the peer sent no Configuration payload: "
                           "no address was leased to us")
        return
    leases: list[str] = []
    dns: list[str] = []
    domains: list[str] = []
    for attr in cp.attributes:
        name = _name(attr.type)
        if attr.type == A.INTERNAL_IP4_ADDRESS and len(attr.value) == 4 \
                or attr.type == A.INTERNAL_IP6_ADDRESS and len(attr.value) == 17:
            address = str(ipaddress.ip_address(attr.value[:-1] if len(attr.value) == 17 else attr.value))
            leases.append(address)
            engine.log.log(f"{engine.prefix(sa, child_serial)} received {name} {address}")
        elif attr.type in (A.INTERNAL_IP4_DNS, A.INTERNAL_IP6_DNS) and len(attr.value) in (4, 16):
            dns.append(str(ipaddress.ip_address(attr.value)))
            engine.log.log(f"{engine.prefix(sa, child_serial)} received {name} server address "
                           f"{dns[-1]}")  # Libreswan's words
        elif attr.type == A.INTERNAL_DNS_DOMAIN and attr.value:
            domains.append(attr.value.decode("ascii", "replace"))
            engine.log.log(f"{engine.prefix(sa, child_serial)} received {name} {domains[-1]}")
    if leases:
        ts = tuple(Selector.from_subnet(f"{a}/{ipaddress.ip_address(a).max_prefixlen}") for a in leases)
        # what the server said goes to the updown (PLUTO_PEER_DNS_INFO...), as Libreswan's
        options = {**conn.options, "peer-dns": tuple(dns), "peer-domains": tuple(domains)}
        engine.switch_conn(sa, replace(conn, lease=tuple(leases), local_ts=ts, options=options))


def _name(attr_type: int) -> str:
    try:
        return A(attr_type).name
    except ValueError:
        return str(attr_type)
