"""Frozen ``Connection``/``End`` built from a resolved conn section, and its orientation.

``build_connection`` types every value through the keyword table (a bad value fails this conn
only, with Libreswan's "failed to add connection" reason); ``orient`` decides which end is this
host, given the host's addresses as an injected set or predicate, as Libreswan does: an end whose
host is one of our addresses (or ``%defaultroute``/an interface name) is local.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from pluto_core.config import values as V
from pluto_core.config.identity import Identity, IdType, parse_id
from pluto_core.config.keywords import VType, conn_keywords
from pluto_core.config.proposals import ProposalSet, default_proposals, parse_proposals
from pluto_core.errors import ConfigError

if TYPE_CHECKING:
    from pluto_core.config.setting import Setting, SettingKey

__all__ = ["Selector", "ProtoPort", "End", "Connection", "build_connection", "orient", "oriented_ends", "PROTOCOLS"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

PROTOCOLS = {"icmp": 1, "tcp": 6, "udp": 17, "gre": 47, "esp": 50, "ah": 51, "ipv6-icmp": 58,
             "icmpv6": 58, "icmp6": 58, "sctp": 132, "udplite": 136, "%any": 0, "any": 0}


@dataclass(frozen=True, slots=True)
class ProtoPort:
    """``leftprotoport=tcp/22``: protocol number (0 = any) and port (0 = any)."""

    protocol: int = 0
    port: int = 0

    def __str__(self) -> str:
        return f"{self.protocol}/{self.port}"


@dataclass(frozen=True, slots=True)
class Selector:
    """A traffic selector from ``leftsubnet=``: network plus optional protocol/port."""

    network: IPNetwork
    protocol: int = 0
    port: int = 0

    def __str__(self) -> str:
        if self.protocol or self.port:
            return f"{self.network}/{self.protocol}/{self.port}"
        return str(self.network)


@dataclass(frozen=True, slots=True)
class End:
    """One side (left or right) of a conn."""

    host: str | None = None  # as written: address, hostname, %any, %defaultroute, %eth1...
    address: IPAddress | None = None  # when host is a literal address
    nexthop: str | None = None
    id: Identity | None = None
    auth: str | None = None  # leftauth=
    subnets: tuple[Selector, ...] = ()  # leftsubnet= (comma list)
    extra_subnets: tuple[Selector, ...] = ()  # leftsubnets=
    protoport: ProtoPort | None = None
    sourceip: tuple[IPAddress, ...] = ()
    ikeport: int | None = None
    cert: str | None = None
    ca: str | None = None
    ckaid: str | None = None
    rsasigkey: str | None = None
    sendcert: str | None = None
    updown: str | None = None
    addresspool: str | None = None
    xauthserver: bool = False
    xauthclient: bool = False
    modecfgserver: bool = False
    modecfgclient: bool = False
    username: str | None = None
    options: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def is_any(self) -> bool:
        return self.host is None or self.host.lower() in ("%any", "%any4", "%any6")


@dataclass(frozen=True, slots=True)
class Connection:
    """A conn ready for the daemon. Times are seconds except ``retransmit_interval`` (ms)."""

    name: str
    left: End
    right: End
    auto: str = "ignore"
    type: str = "tunnel"
    authby: tuple[str, ...] = ()
    ike_version: int = 2
    ike: ProposalSet | None = None
    esp: ProposalSet | None = None
    ah: ProposalSet | None = None
    phase2: str = "esp"
    ikelifetime: int = 28800
    ipsec_lifetime: int = 28800
    rekey: bool = True
    rekeymargin: int = 540
    rekeyfuzz: int = 100
    replay_window: int = 128
    dpddelay: int = 0
    dpdtimeout: int | None = None
    retransmit_timeout: int = 60
    retransmit_interval: int = 500
    encapsulation: str = "auto"
    nat_keepalive: bool = True
    fragmentation: str = "yes"
    mobike: bool = False
    narrowing: bool = False
    pfs: bool = True
    esn: str = "either"
    initial_contact: bool = False
    send_vendorid: bool = False
    hostaddrfamily: int | None = None
    local_is_left: bool | None = None  # None until oriented (or when no end is this host)
    options: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))
    file: str | None = None
    line: int | None = None
    # why pluto cannot run it exactly as written (config/admission.py); None: admitted
    refusal: ConfigError | None = field(default=None, compare=False)

    @property
    def oriented(self) -> bool:
        return self.local_is_left is not None

    @property
    def never_negotiate(self) -> bool:
        """A shunt (``type=passthrough|pass|drop|reject`` or ``authby=never``): kernel policy
        only, never an IKE conn, so never admitted to the engine (``config/admission.py``)."""
        return self.type in _NEVER_NEGOTIATE or self.authby == ("never",)

    @property
    def local(self) -> End:
        if self.local_is_left is None:
            raise ValueError(f'"{self.name}" is not oriented')
        return self.left if self.local_is_left else self.right

    @property
    def remote(self) -> End:
        if self.local_is_left is None:
            raise ValueError(f'"{self.name}" is not oriented')
        return self.right if self.local_is_left else self.left

    def get(self, name: str) -> object:
        """A keyword's typed value as set in the file (``leftsubnet``, ``ike``...), or its default."""
        if name in self.options:
            return self.options[name]
        kw = conn_keywords().get(name)
        return kw.default if kw is not None else None


# --------------------------------------------------------------------------------------------
def _fail(s: Setting, reason: str, *, quoted: bool = True) -> ConfigError:
    text = f'"{s.name}={s.value}"' if quoted else f"{s.name}={s.value}"
    return ConfigError(f"{text} invalid, {reason}", s.file, s.line)


def parse_host(text: str) -> tuple[str, IPAddress | None]:
    t = text.strip()
    if not t:
        raise ValueError("empty field")
    if t.startswith("%"):
        return t, None
    try:
        return t, ipaddress.ip_address(t)
    except ValueError:
        pass
    if any(ch.isspace() for ch in t) or "/" in t:
        raise ValueError("not an address or host name")
    return t, None


def parse_selectors(text: str) -> tuple[Selector, ...]:
    """A comma (or blank) separated list; ``{...}`` braces allowed (``leftsubnets=``)."""
    t = text.strip()
    if t.startswith("{") and t.endswith("}"):
        t = t[1:-1]
    if not t.strip():
        raise ValueError("empty field")
    if t.lower().startswith(("vhost:", "vnet:")):  # one value, its commas its own (vhost:%priv,%no)
        return (_selector(t),)
    parts = [p.strip() for p in t.replace(",", " , ").split()]
    out: list[Selector] = []
    expect_item = True
    for p in parts:
        if p == ",":
            if expect_item:
                raise ValueError("empty field")
            expect_item = True
            continue
        out.append(_selector(p))
        expect_item = False
    if expect_item:
        raise ValueError("empty field")
    return tuple(out)


def _selector(text: str) -> Selector:
    low = text.lower()
    if low.startswith(("vhost:", "vnet:")):
        # IKEv1's virtual-private subnets: parsed as "anything" of the family, for the admission
        # check to refuse with Libreswan's words (config/admission.py)
        return Selector(ipaddress.ip_network("::/0" if "%v6:" in low else "0.0.0.0/0"))
    pieces = text.split("/")
    proto = port = 0
    if len(pieces) > 2:
        net_text = "/".join(pieces[:2])
        rest = pieces[2:]
        pp = _protoport("/".join(rest))
        proto, port = pp.protocol, pp.port
    else:
        net_text = text
    try:
        net = ipaddress.ip_network(_expand_ipv4(net_text), strict=False)
    except ValueError as exc:
        raise ValueError(f"'{text}' is not a subnet") from exc
    return Selector(net, proto, port)


def _expand_ipv4(text: str) -> str:
    """``0/0`` and ``0.0.0/0``: Libreswan reads short IPv4 forms the way inet_aton does."""
    addr, sep, plen = text.partition("/")
    if ":" in addr or addr.count(".") == 3 or not addr.replace(".", "").isdigit():
        return text
    try:
        packed = socket.inet_aton(addr)
    except OSError:
        return text
    return str(ipaddress.IPv4Address(packed)) + sep + plen


def _protoport(text: str) -> ProtoPort:
    proto_s, _, port_s = text.strip().partition("/")
    low = proto_s.lower()
    if low in PROTOCOLS:
        proto = PROTOCOLS[low]
    elif low.isdigit() and int(low) < 256:
        proto = int(low)
    else:
        raise ValueError(f"unknown protocol '{proto_s}'")
    port = 0
    if port_s and port_s.lower() not in ("%any", "0"):
        if not port_s.isdigit() or int(port_s) > 65535:
            raise ValueError(f"bad port '{port_s}'")
        port = int(port_s)
    return ProtoPort(proto, port)


_AUTHBY_WORDS = frozenset(
    "secret psk rsasig rsa rsa-sha1 rsa-sha2 rsa-sha2_256 rsa-sha2_384 rsa-sha2_512 ecdsa "
    "ecdsa-sha2 ecdsa-sha2_256 ecdsa-sha2_384 ecdsa-sha2_512 eddsa ed25519 null never".split()
)


_YN_SYNONYMS = {"y": "yes", "true": "yes", "on": "yes", "n": "no", "false": "no", "off": "no"}


def typed_value(s: Setting) -> object:
    """Convert one setting to its Python value; ``ConfigError`` (with location) when invalid."""
    kw = s.keyword
    vt = kw.vtype
    value = s.value
    try:
        if vt is VType.STRING or vt is VType.ALSO:
            return value
        if vt is VType.BOOL:
            return V.parse_bool(value)
        if vt is VType.ENUM:
            low = value.strip().lower()
            low = _YN_SYNONYMS.get(low, low) if "yes" in kw.values else low
            if low not in kw.values:
                raise ValueError(f"expecting one of {', '.join(kw.values)}")
            return low
        if vt is VType.UINT:
            return V.parse_uint(value)
        if vt is VType.TIME:
            return V.parse_duration(value) // 1000
        if vt is VType.TIME_MS:
            return V.parse_duration(value, default_unit_ms=1)
        if vt is VType.PERCENT:
            return V.parse_percent(value)
        if vt in (VType.BYTES, VType.COUNT):
            return V.parse_size(value)
        if vt is VType.HOST:
            return parse_host(value)
        if vt is VType.SUBNETS:
            return parse_selectors(value)
        if vt is VType.ADDRESSES:
            if not value.strip():
                raise ValueError("empty field")
            if kw.canonical == "sourceip" and value.strip().lower() == "%config":  # strongSwan's word
                raise ValueError("%config is strongSwan's; for an address from the peer write "
                                 f"{s.side or ''}modecfgclient=yes")
            return tuple(ipaddress.ip_address(a.strip()) for a in value.split(","))
        if vt is VType.PROTOPORT:
            return _protoport(value)
        if vt is VType.ID:
            return parse_id(value, where=(s.file, s.line))
        if vt is VType.AUTHBY:
            words = tuple(w.strip().lower() for w in value.replace(" ", ",").split(",") if w.strip())
            for w in words:
                if w not in _AUTHBY_WORDS:
                    raise ValueError(f"unknown authby '{w}'")
            return words
        if vt is VType.PROPOSAL:
            return value
        if vt is VType.RANGE:
            if not value.strip() or any(not p.strip() for p in value.split(",")):
                raise ValueError("empty field")
            return value
    except ConfigError:
        raise
    except ValueError as exc:
        quoted = vt not in (VType.SUBNETS, VType.RANGE, VType.ADDRESSES, VType.HOST)
        raise _fail(s, str(exc), quoted=quoted) from None
    return value  # pragma: no cover


_END_FIELDS = {
    "nexthop", "auth", "cert", "ca", "ckaid", "rsasigkey", "sendcert", "updown", "addresspool",
    "xauthserver", "xauthclient", "modecfgserver", "modecfgclient", "username", "ikeport",
}
_CONN_FIELDS = {
    "auto", "type", "ikelifetime", "rekey", "rekeymargin", "rekeyfuzz", "replay-window", "dpddelay",
    "dpdtimeout", "retransmit-timeout", "retransmit-interval", "encapsulation", "nat-keepalive",
    "fragmentation", "mobike", "narrowing", "pfs", "esn", "initial-contact", "send-vendorid", "phase2",
}


def build_connection(
    name: str,
    settings: Mapping[SettingKey, Setting],
    *,
    warnings: list[str] | None = None,
    validate: bool = True,
    file: str | None = None,
    line: int | None = None,
) -> Connection:
    """Type every setting and assemble a ``Connection`` (not yet oriented)."""
    options: dict[str, object] = {}
    ends: dict[str, dict[str, Any]] = {"left": {}, "right": {}}
    end_opts: dict[str, dict[str, object]] = {"left": {}, "right": {}}
    conn: dict[str, Any] = {}
    first: Setting | None = None
    for (side, canonical), s in settings.items():
        if first is None or (s.file, s.line) < (first.file, first.line):
            first = s
        if canonical == "debug":
            try:
                V.parse_debug(s.value)
            except ValueError:
                if warnings is not None:
                    warnings.append(f'"{name}": debug={s.value} invalid, ignored')
                continue
        value = typed_value(s)
        options[s.name] = value
        if side is not None:
            end = ends[side]
            end_opts[side][canonical] = value
            if canonical == "":
                end["host"], end["address"] = value  # type: ignore[misc]
            elif canonical == "subnet":
                end["subnets"] = value
            elif canonical == "subnets":
                end["extra_subnets"] = value
            elif canonical == "id":
                end["id"] = value
            elif canonical == "protoport":
                end["protoport"] = value
            elif canonical == "sourceip":
                end["sourceip"] = value
            elif canonical == "nexthop":
                end["nexthop"] = value[0]  # type: ignore[index]
            elif canonical in _END_FIELDS:
                end[canonical] = value
        elif canonical in _CONN_FIELDS:
            conn[canonical.replace("-", "_")] = value
        elif canonical == "ipsec-lifetime":
            conn["ipsec_lifetime"] = value
        elif canonical == "authby":
            conn["authby"] = value
        elif canonical == "keyexchange":
            conn["ike_version"] = 1 if value == "ikev1" else 2
        elif canonical == "ikev2" and value in ("no", "never", "permit"):  # 3.x: permit = IKEv1
            conn["ike_version"] = 1
        elif canonical == "hostaddrfamily":
            conn["hostaddrfamily"] = 6 if value in ("ipv6", "6") else 4
    if conn.get("auto") == "up":  # Libreswan 5's spelling of start: the daemon sees one word
        conn["auto"] = "start"
    conn.update(_proposals(settings, conn, name, warnings))
    left = End(**ends["left"], options=MappingProxyType(end_opts["left"]))
    right = End(**ends["right"], options=MappingProxyType(end_opts["right"]))
    if file is None and first is not None:
        file, line = first.file, first.line
    c = Connection(name=name, left=left, right=right, options=MappingProxyType(options), file=file,
                   line=line, **conn)
    if validate:
        _check(c, settings)
    return _sourceip_subnets(c)


def _sourceip_subnets(c: Connection) -> Connection:
    """As Libreswan's ``addconn``: an end with ``leftsourceip=`` and no ``leftsubnet=`` has the
    source address as its subnet (``leftsubnet=ADDR/32``), on either end."""
    def with_source(end: End) -> End:
        if not end.sourceip or end.subnets or end.addresspool is not None:
            return end
        ip = end.sourceip[0]
        return replace(end, subnets=(Selector(ipaddress.ip_network(f"{ip}/{ip.max_prefixlen}")),))
    left, right = with_source(c.left), with_source(c.right)
    return c if (left, right) == (c.left, c.right) else replace(c, left=left, right=right)


_NEVER_NEGOTIATE = ("passthrough", "pass", "drop", "reject")


def _proposals(settings: Mapping[SettingKey, Setting], conn: Mapping[str, Any], name: str,
               warnings: list[str] | None) -> dict[str, ProposalSet | None]:
    """``ike``/``esp``/``ah`` ProposalSets: parsed (error at the keyword's file:line) or defaults.

    ``phase2alg=`` stands for ``esp=`` (``ah=`` with ``phase2=ah``); setting both ``esp=`` and
    ``ah=`` is refused the way Libreswan refuses it.
    """
    version = conn.get("ike_version", 2)
    pfs = conn.get("pfs", True)
    phase2 = conn.get("phase2", "esp")
    given = {kind: settings.get((None, kind)) for kind in ("ike", "esp", "ah")}
    esp_s, ah_s = given["esp"], given["ah"]
    if esp_s is not None and ah_s is not None and conn.get("type") not in _NEVER_NEGOTIATE:
        mine, other = (esp_s, ah_s) if phase2 == "esp" else (ah_s, esp_s)
        raise ConfigError(f'{mine.name}="{mine.value}" conficts with {other.name}="{other.value}"',
                          mine.file, mine.line)  # sic: Libreswan's spelling
    alg = settings.get((None, "phase2alg"))
    if alg is not None and given["ah" if phase2 == "ah" else "esp"] is None:
        given["ah" if phase2 == "ah" else "esp"] = alg
    out: dict[str, ProposalSet | None] = {}
    for kind, s in given.items():
        if s is None:
            out[kind] = default_proposals(kind, ike_version=version) if kind != "ah" or phase2 == "ah" else None
            continue
        try:
            ps = parse_proposals(kind, s.value, ike_version=version, pfs=pfs)
        except ValueError as exc:
            raise ConfigError(f'{s.name}="{s.value}" invalid, {exc}', s.file, s.line) from None
        if warnings is not None:
            warnings.extend(f'{s.file}:{s.line}: "{name}": {w}' for w in ps.warnings)
        out[kind] = ps
    return out


MANUAL_REQID_MAX = 16379  # Libreswan assigns reqids from 16380 on


def _check(c: Connection, settings: Mapping[SettingKey, Setting]) -> None:
    """The checks Libreswan makes when a conn is added, that need no knowledge of the host."""
    where = (c.file, c.line)
    if c.type in ("passthrough", "pass", "drop", "reject"):
        pass
    if c.left.host is None:
        raise ConfigError("left= is not set", *where)
    if c.right.host is None:
        raise ConfigError("right= is not set", *where)
    psk_or_null = any(a in ("secret", "psk", "null") for a in c.authby)
    for side, end in (("left", c.left), ("right", c.right)):
        auth = end.auth
        uses = psk_or_null if auth is None else auth in ("secret", "psk", "null")
        if end.id is not None and end.id.type is IdType.FROMCERT and uses and end.cert is None:
            raise ConfigError("ID cannot be specified as %fromcert if PSK or AUTH-NULL is used", *where)
        if end.addresspool is not None:
            _check_pool(c, side, end, settings)
            if end.subnets:
                raise ConfigError(f"cannot specify both {side}addresspool= and {side}subnet=", *where)
            if end.extra_subnets:
                raise ConfigError(f"cannot specify both {side}addresspool= and {side}subnets=", *where)


    reqid = settings.get((None, "reqid"))
    value = c.get("reqid")
    if reqid is not None and not (isinstance(value, int) and 1 <= value <= MANUAL_REQID_MAX):
        raise ConfigError(f"reqid={reqid.value} is out of range: a manual reqid is 1 to {MANUAL_REQID_MAX} "
                          "(higher ones are assigned automatically)", reqid.file, reqid.line)
    _check_families(c, settings)


def _families(text: str) -> set[int]:
    out: set[int] = set()
    for part in text.replace("{", "").replace("}", "").replace(" ", ",").split(","):
        part = part.strip()
        if part:
            out.add(6 if ":" in part.split("/")[0] else 4)
    return out


_FAMILY_KEYWORDS = {"%defaultroute4": 4, "%defaultroute6": 6}


def _host_family(end: End) -> int | None:
    """The address family ``left=``/``right=`` fixes: a literal address's, or ``%defaultroute4``/``6``'s."""
    if end.address is not None and end.host is not None and _is_ip(end.host):
        return int(end.address.version)
    return _FAMILY_KEYWORDS.get((end.host or "").lower())


def _check_families(c: Connection, settings: Mapping[SettingKey, Setting]) -> None:
    """Libreswan refuses ends of two families (IKE runs over one: a socket of one family cannot
    reach an address of the other), and selectors/pools of one family with a peer of the other."""
    left, right = _host_family(c.left), _host_family(c.right)
    if left is not None and right is not None and left != right:
        raise ConfigError(f"host address family IPv{left} from left={c.left.host} conflicts with "
                          f"right={c.right.host}", c.file, c.line)
    for mine in ("subnet", "addresspool"):
        s = settings.get(("left", mine))
        if s is None:
            continue
        other = settings.get(("right", "subnet"))
        if other is None and c.right.address is not None:
            other_text, other_fam = f"right={c.right.host}", {int(c.right.address.version)}
        elif other is not None:
            other_text, other_fam = f"rightsubnet={other.value}", _families(other.value)
        else:
            continue
        mine_fam = _families(s.value)
        # a pool must match the peer's families exactly; selectors need one family in common
        if (mine_fam != other_fam) if mine == "addresspool" else mine_fam.isdisjoint(other_fam):
            raise ConfigError(f"address family of left{mine}={s.value} conflicts with {other_text}",
                              c.file, c.line)
    # the mirror of the leftsubnet= rule: a rightsubnet= with no leftsubnet= (nor a pool standing
    # in for one) faces left's host
    theirs = settings.get(("right", "subnet"))
    if theirs is not None and not any(settings.get(("left", k)) for k in ("subnet", "addresspool")) \
            and left is not None \
            and left not in {sel.network.version for sel in c.right.subnets}:
        raise ConfigError(f"address family of rightsubnet={theirs.value} conflicts with left={c.left.host}",
                          c.file, c.line)


def _pool_networks(text: str) -> list[IPNetwork]:
    nets: list[IPNetwork] = []
    for part in text.split(","):
        part = part.strip()
        if "-" in part:
            lo, _, hi = part.partition("-")
            first, last = ipaddress.ip_address(lo.strip()), ipaddress.ip_address(hi.strip())
            nets.extend(ipaddress.summarize_address_range(first, last))
        else:
            nets.append(ipaddress.ip_network(part, strict=False))
    return nets


def _check_pool(c: Connection, side: str, end: End, settings: Mapping[SettingKey, Setting]) -> None:
    other = "right" if side == "left" else "left"
    pool = end.addresspool
    other_end = c.right if side == "left" else c.left
    if other_end.options.get("cat") is True:
        raise ConfigError(f"both {other}cat=yes and {side}addresspool= defined", c.file, c.line)
    if other_end.modecfgclient:
        raise ConfigError(f"{other}modecfgclient=yes does not expect {side}addresspool=", c.file, c.line)
    if end.modecfgserver:
        raise ConfigError(f"{side}modecfgserver=yes does not expect {side}addresspool=", c.file, c.line)
    if c.options.get("narrowing") is False:
        raise ConfigError(f"narrowing=no conflicts with {side}addresspool={pool}", c.file, c.line)
    try:
        nets = _pool_networks(pool or "")
    except ValueError:
        raise ConfigError(f"{side}addresspool={pool} invalid, not an address range", c.file, c.line) from None
    for part, net in zip((pool or "").split(","), nets, strict=False):
        if int(net.network_address) == 0:
            shown = str(net) if ":" in part else part.strip()
            why = f"address pool {shown} starts at address zero"
            raise ConfigError(f"{side}addresspool={pool} invalid, {why}", c.file, c.line)


LocalAddresses = Callable[[str], bool] | Iterable[str]


def _is_local(end: End, local: Callable[[str], bool]) -> bool:
    host = end.host
    if host is None:
        return False
    low = host.lower()
    if low.startswith("%defaultroute"):
        return True
    if low in ("%any", "%any4", "%any6", "%group", "%opportunistic", "%opportunisticgroup"):
        return False
    if low.startswith("%"):
        return local(host)  # an interface name: %eth1
    if end.address is not None:
        return local(str(end.address))
    return local(host)


def orient(conn: Connection, local_addresses: LocalAddresses) -> Connection:
    """Decide which end is this host. Unoriented (``local_is_left=None``) when neither is.

    ``local_addresses``: a set of address strings, or a predicate called with an address (or a
    ``%interface``/hostname) that says whether it belongs to this host.
    """
    if callable(local_addresses):
        pred = local_addresses
    else:
        addrs = {str(ipaddress.ip_address(a)) if _is_ip(a) else a for a in local_addresses}
        pred = addrs.__contains__
    left = _is_local(conn.left, pred)
    right = _is_local(conn.right, pred)
    if left and right:
        # Libreswan refuses a conn where both ends are this host unless they differ in port.
        raise ConfigError(
            f"both left={conn.left.host} and right={conn.right.host} are addresses of this host",
            conn.file, conn.line)
    if not left and not right:
        if conn.left.is_any and conn.right.is_any:
            raise ConfigError(
                f"neither 'left={conn.left.host}' nor 'right={conn.right.host}' specify the local "
                "host's IP address", conn.file, conn.line)
        return replace(conn, local_is_left=None)
    return replace(conn, local_is_left=left)


def oriented_ends(conn: Connection) -> tuple[End, End]:
    """``(local, remote)`` of an oriented conn; ConfigError (file:line) when neither end is
    this host, the one reason shared by every kind of conn (IKE or shunt)."""
    if not conn.oriented:
        raise ConfigError(f"\"{conn.name}\": neither left={conn.left.host} nor right={conn.right.host} is an "
                          "address of this host", conn.file, conn.line)
    return conn.local, conn.remote


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
