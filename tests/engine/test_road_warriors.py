"""Road warriors on one ``right=%any`` conn (issue #18): an instance per peer, named as
Libreswan names them, addresses leased from ``addresspool=`` through the Configuration
payload (RFC 7296 2.19, 3.15), kept per ID, released with the last IKE SA, refused with
INTERNAL_ADDRESS_FAILURE when the pool is empty; the conn switched on the peer's ID."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import replace

from pluto_core.ikev2.sa import IkeState
from pluto_core.ikev2.ts_narrow import Selector
from pluto_core.ikev2.types import EngineConn, IdSpec
from tests.engine.harness import ENCR_CHACHA, Clock, Psks, Side, conn_pair, make_side, pump

SERVER = "192.1.2.23"
KEY = b"a road warrior's pre-shared key"


def client_addr(i: int) -> str:
    return str(ipaddress.ip_address("198.51.100.0") + i + 1) if i < 250 else str(
        ipaddress.ip_address("203.0.113.0") + i - 249)


def template(name: str = "rw", pool: str = "10.9.0.0/24", remote_id: str | None = None,
             **options: object) -> EngineConn:
    base, _ = conn_pair()
    return replace(base, name=name, local_addr=SERVER, remote_addr=None, local_id=IdSpec.parse("@gw"),
                   remote_id=IdSpec.parse(remote_id) if remote_id else None,
                   local_ts=(Selector.from_subnet("0.0.0.0/0"),), remote_ts=(),
                   options={"addresspool": (pool,) if pool else (), **options})


def client_conn(i: int, ident: str) -> EngineConn:
    base, _ = conn_pair()
    return replace(base, name="road", local_addr=client_addr(i), remote_addr=SERVER, local_id=IdSpec.parse(ident),
                   remote_id=IdSpec.parse("@gw"), local_ts=(Selector.from_subnet("0.0.0.0/0"),),
                   remote_ts=(Selector.from_subnet("0.0.0.0/0"),), options={"modecfgclient": True})


class World:
    """One server and as many clients as asked, on one clock and one wire."""

    def __init__(self, *conns: EngineConn, ids: list[str], **server_kw: object) -> None:
        self.clock = Clock()
        self.psks = Psks({frozenset((ident, "@gw")): KEY for ident in set(ids)})
        self.server = make_side(SERVER, 2, self.clock, self.psks, **server_kw)
        for conn in conns:
            self.server.engine.add_conn(conn)
        self.sides: dict[str, Side] = {SERVER: self.server}
        self.clients: list[Side] = []
        for i, ident in enumerate(ids):
            side = make_side(client_addr(i), 100 + i, self.clock, self.psks)
            side.kernel.next_spi = 0xC1000001 + i * 0x10000  # the seed's SPI base would not fit in 32 bits
            side.engine.add_conn(client_conn(i, ident))
            self.sides[side.addr] = side
            self.clients.append(side)

    def connect(self, i: int) -> int:
        serial = self.clients[i].engine.initiate("road")
        pump(self.sides)
        return serial

    def lease_of(self, i: int) -> str | None:
        """The address client ``i`` was given, as its kernel shows it (the Child SA's TSi)."""
        installed = list(self.clients[i].kernel.installed.values())
        if not installed:
            return None
        (ts,) = installed[-1].local_ts
        return str(ipaddress.ip_address(ts.start)) if ts.start == ts.end else None


def test_200_clients_each_get_a_distinct_address_and_an_instance_named_as_libreswan() -> None:
    ids = [f"@client{i}" for i in range(200)]
    world = World(template(), ids=ids)
    for i in range(200):
        world.connect(i)
    leases = [world.lease_of(i) for i in range(200)]
    assert None not in leases
    assert len(set(leases)) == 200
    assert all(ipaddress.ip_address(a) in ipaddress.ip_network("10.9.0.0/24") for a in leases if a)
    # Libreswan hands out the range from its first address on
    assert leases[0] == "10.9.0.0" and leases[199] == "10.9.0.199"
    # the server's kernel holds one Child SA per client whose peer side is just that lease
    server_ts = {str(ipaddress.ip_address(c.remote_ts[0].start)): c.remote_addr
                 for c in world.server.kernel.installed.values()}
    assert server_ts == {leases[i]: client_addr(i) for i in range(200)}
    text = world.server.log.text()
    # each peer has its own instance "rw"[N] <address>, as Libreswan's log lines name it
    assert f'"rw"[1] {client_addr(0)} #1: responder established IKE SA' in text
    assert f'"rw"[200] {client_addr(199)} #' in text
    assert f'"rw"[7] {client_addr(6)} #' in text and "leased 10.9.0.6 to FQDN '@client6'" in text
    # the client logs what it received, as Libreswan's does
    assert re.search(r'"road" #2: received INTERNAL_IP4_ADDRESS 10\.9\.0\.0$', world.clients[0].log.text(), re.M)
    instances = world.server.engine.instances()
    assert len(instances) == 200 and {c.lease for c, _ in instances} == {(a,) for a in leases}


def test_the_same_id_gets_its_address_back_and_a_released_one_goes_to_a_newcomer_last() -> None:
    world = World(template(pool="10.9.0.0/30"), ids=["@a", "@b", "@c", "@d", "@a", "@e"])
    for i in range(3):
        world.connect(i)
    assert [world.lease_of(i) for i in range(3)] == ["10.9.0.0", "10.9.0.1", "10.9.0.2"]
    # @a goes away: the server releases its lease when the IKE SA is gone
    world.clients[0].engine.terminate("road")
    pump(world.sides)
    assert "released lease 10.9.0.0 of FQDN '@a'" in world.server.log.text()
    assert len(world.server.engine.instances()) == 2
    world.connect(3)  # @d takes the never-used 10.9.0.3 first, not @a's lingering one
    assert world.lease_of(3) == "10.9.0.3"
    world.connect(4)  # @a again, from another address: its own address back
    assert world.lease_of(4) == "10.9.0.0"


def test_an_empty_pool_answers_internal_address_failure_and_the_ike_sa_stays() -> None:
    world = World(template(pool="10.9.0.0/31"), ids=["@a", "@b", "@c"])
    for i in range(3):
        world.connect(i)
    assert [world.lease_of(i) for i in range(3)] == ["10.9.0.0", "10.9.0.1", None]
    text = world.server.log.text()
    assert (f'"rw"[3] {client_addr(2)} #5: no address left in addresspool 10.9.0.0/31 for FQDN \'@c\': '
            "sending INTERNAL_ADDRESS_FAILURE") in text
    assert "IKE_AUTH response rejected the Child SA: INTERNAL_ADDRESS_FAILURE" in world.clients[2].log.text()
    # RFC 7296 3.10.1: no Child SA, but the IKE SA is up on both ends
    assert [sa.state for sa in world.clients[2].engine.ike_sas()] == [IkeState.ESTABLISHED]
    assert len(world.server.kernel.installed) == 2
    # @a leaves: its address lingers for it, but a newcomer takes it rather than be refused
    world.clients[0].engine.terminate("road")
    pump(world.sides)
    world.clients[2].engine.terminate("road")
    pump(world.sides)
    world.connect(2)
    assert world.lease_of(2) == "10.9.0.0"


def test_uniqueids_replaces_the_old_ike_sa_of_an_id_and_the_lease_stays_with_the_id() -> None:
    world = World(template(), ids=["@a", "@a"])
    world.connect(0)
    world.connect(1)  # the same ID from another address (it moved)
    assert world.lease_of(1) == "10.9.0.0"
    text = world.server.log.text()
    assert f'"rw"[1] {client_addr(0)} #1: deleting IKE SA: replaced by #' in text
    assert [c.instance for c, _ in world.server.engine.instances()] == [2]


def test_the_conn_is_switched_on_the_peers_id_at_ike_auth() -> None:
    first = template("rw-a", pool="10.1.0.0/24", remote_id="@a")
    second = template("rw-b", pool="10.2.0.0/24", remote_id="@b")
    world = World(first, second, ids=["@b", "@a"])
    world.connect(0)
    world.connect(1)
    assert world.lease_of(0) == "10.2.0.0" and world.lease_of(1) == "10.1.0.0"
    text = world.server.log.text()
    # IKE_SA_INIT picked the first %any conn by addresses; IDi '@b' belongs to the second
    assert f'"rw-a"[1] {client_addr(0)} #1: switched from "rw-a" to "rw-b" for FQDN \'@b\'' in text
    assert f'"rw-b"[1] {client_addr(0)} #1: responder established IKE SA' in text
    assert "switched" not in text.split(f'"rw-a"[2] {client_addr(1)} #3:', 1)[1]


def test_an_unknown_id_on_a_switched_template_is_refused() -> None:
    world = World(template("rw-a", remote_id="@a"), ids=["@z"])
    world.connect(0)
    assert world.lease_of(0) is None
    assert "sending AUTHENTICATION_FAILED" in world.server.log.text()
    assert world.server.engine.instances() == []


def test_dns_servers_and_domains_go_with_the_lease() -> None:
    world = World(template(modecfgdns=("192.0.2.53", "2001:db8::53"), modecfgdomains=("example.org",)), ids=["@a"])
    world.connect(0)
    text = world.clients[0].log.text()
    assert "received INTERNAL_IP4_ADDRESS 10.9.0.0" in text
    assert "received INTERNAL_IP4_DNS server address 192.0.2.53" in text
    assert "received INTERNAL_IP6_DNS server address 2001:db8::53" in text
    assert "received INTERNAL_DNS_DOMAIN example.org" in text
    # kept with the lease on the client's conn, for its updown (PLUTO_PEER_DNS_INFO)
    (sa,) = world.clients[0].engine.ike_sas()
    assert sa.conn is not None and sa.conn.lease == ("10.9.0.0",)
    assert sa.conn.options["peer-dns"] == ("192.0.2.53", "2001:db8::53")
    assert sa.conn.options["peer-domains"] == ("example.org",)
    assert world.clients[0].engine.conn_of(sa.serial) is sa.conn


def test_a_conn_without_a_pool_ignores_the_request_and_the_client_says_so() -> None:
    world = World(template(pool=""), ids=["@a"])
    world.connect(0)
    assert "ignoring the Configuration payload: the conn has no addresspool=" in world.server.log.text()
    assert "the peer sent no Configuration payload: no address was leased to us" in world.clients[0].log.text()
    assert world.lease_of(0) is None  # its TSi 0.0.0.0/0 is not the peer's host: TS_UNACCEPTABLE


def test_a_client_proposing_its_own_host_as_tsi_gets_its_lease_as_libreswan_answers() -> None:
    """Libreswan's client proposes [its address/32===...] (ikev2-48-nat-cp); the answer is the lease."""
    world = World(template(), ids=["@a"])
    own = Selector.from_subnet(f"{client_addr(0)}/32")
    world.clients[0].engine.add_conn(replace(client_conn(0, "@a"), local_ts=(own,)))
    world.connect(0)
    (child,) = world.server.kernel.installed.values()
    assert child.remote_ts == (Selector.from_subnet("10.9.0.0/32"),)


def test_ipv6_pool_leases_an_ipv6_address() -> None:
    conn = replace(template(pool="2001:db8:1::/64"), local_ts=(Selector.from_subnet("::/0"),))
    world = World(conn, ids=["@a"])
    world.clients[0].engine.add_conn(replace(client_conn(0, "@a"), local_ts=(Selector.from_subnet("::/0"),),
                                             remote_ts=(Selector.from_subnet("::/0"),)))
    world.connect(0)
    (child,) = world.server.kernel.installed.values()
    assert child.remote_ts == (Selector.from_subnet("2001:db8:1::/128"),)
    assert "received INTERNAL_IP6_ADDRESS 2001:db8:1::" in world.clients[0].log.text()


def test_no_switch_to_a_conn_whose_ike_would_not_have_chosen_the_proposal() -> None:
    chacha = conn_pair(ike=((ENCR_CHACHA, None), None, 19))[1].ike_proposals
    first = template("rw-a", pool="10.1.0.0/24", remote_id="@a")
    second = replace(template("rw-b", pool="10.2.0.0/24", remote_id="@b"), ike_proposals=chacha)
    world = World(first, second, ids=["@b"])
    world.connect(0)
    text = world.server.log.text()
    assert "switched" not in text
    assert "the conn expects FQDN '@a'" in text and "sending AUTHENTICATION_FAILED" in text
    assert world.lease_of(0) is None
