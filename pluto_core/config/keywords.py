"""The ipsec.conf keyword table: every keyword Libreswan 5.x knows, its type, section and default.

Names and flags follow Libreswan's published keyword list (ipsec.conf(5) and the table in
``KEYWORDS-derived.tsv`` of the corpus); types and defaults come from the manual pages. The
table also knows the names Libreswan 3.x/4.x accepted and 5.x dropped: a 4.x file still loads
(legacy aliases map to today's keyword, the rest are ignored with a warning).

``acted`` says whether pluto acts on a keyword today (the daemon's ``config setup`` handling and
the first IKEv2 engine's conn fields); the rest are accepted, kept on the ``Connection``/
``SetupConfig``; a conn keyword that changes the wire or the kernel refuses the conn at the values
pluto does not implement (``admission.REFUSING``), the harmless rest is reported once per file at
load time (``IpsecConf.notices``, docs/config.md).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "Kind",
    "VType",
    "Keyword",
    "Lookup",
    "lookup",
    "SETUP",
    "CONN",
    "setup_keywords",
    "conn_keywords",
]


class Kind(enum.Enum):
    KEYWORD = "keyword"
    ALIAS = "alias"
    LEGACY = "legacy"  # a 3.x/4.x spelling of a current keyword: accepted, warned
    OBSOLETE = "obsolete"  # accepted, warned, ignored


class VType(enum.Enum):
    STRING = "string"
    BOOL = "yes/no"
    ENUM = "enum"
    UINT = "integer"
    TIME = "time"  # seconds unless a suffix says otherwise
    TIME_MS = "time-ms"  # milliseconds unless a suffix says otherwise
    PERCENT = "percentage"
    BYTES = "bytes"  # binary suffixes: KiB, MiB, ...
    COUNT = "count"  # decimal/binary suffixes allowed: 2^63
    HOST = "address"
    ADDRESSES = "address list"
    SUBNETS = "subnet list"
    PROTOPORT = "protoport"
    ID = "ID"
    PROPOSAL = "proposal string"
    AUTHBY = "authby list"
    RANGE = "address range"
    ALSO = "conn name"


Section = Literal["setup", "conn"]
SETUP: Section = "setup"
CONN: Section = "conn"


@dataclass(frozen=True, slots=True)
class Keyword:
    """One ipsec.conf keyword (or alias/obsolete name)."""

    name: str
    section: Section
    kind: Kind
    vtype: VType
    leftright: bool = False
    canonical: str = ""  # the keyword an alias stands for; itself otherwise
    values: tuple[str, ...] = ()  # for ENUM (and accepted words of BOOL-like keywords)
    default: object = None
    acted: bool = False
    optarg_only: bool = False  # only a command-line option; refused in a file
    duplicate_ok: bool = False

    @property
    def field(self) -> str:
        """Python attribute name: ``audit-log`` -> ``audit_log``."""
        return self.canonical.replace("-", "_")


_YN = ("yes", "no")

# name, type, default, acted, extra (enum values, or a flag word)
# Section "setup" (config setup).
_SETUP: list[tuple[str, VType, object, bool, tuple[str, ...]]] = [
    ("ikev1-policy", VType.ENUM, "drop", False, ("accept", "reject", "drop")),
    ("curl-iface", VType.STRING, None, False, ()),
    ("myvendorid", VType.STRING, None, True, ()),
    ("plutodebug", VType.STRING, None, True, ()),
    ("logfile", VType.STRING, None, True, ()),
    ("loglimit", VType.BOOL, None, False, ()),
    ("logtime", VType.BOOL, True, True, ()),
    ("logappend", VType.BOOL, True, True, ()),
    ("logip", VType.BOOL, True, True, ()),
    ("audit-log", VType.BOOL, True, False, ()),
    ("dnssec-enable", VType.BOOL, True, False, ()),
    ("dnssec-rootkey-file", VType.STRING, None, False, ()),
    ("dnssec-anchors", VType.STRING, None, False, ()),
    ("dumpdir", VType.STRING, None, True, ()),
    ("ipsecdir", VType.STRING, "/etc/ipsec.d", True, ()),
    ("nssdir", VType.STRING, "/var/lib/ipsec/nss", True, ()),  # the nss auth source
    ("exampledir", VType.STRING, None, False, ("optarg",)),
    ("rundir", VType.STRING, None, True, ("optarg",)),
    ("logstderr", VType.BOOL, None, False, ("optarg",)),
    ("secretsfile", VType.STRING, "/etc/ipsec.secrets", True, ()),
    ("statsbin", VType.STRING, None, False, ()),
    ("uniqueids", VType.BOOL, True, True, ()),
    ("shuntlifetime", VType.TIME, 900, False, ()),
    ("global-redirect", VType.ENUM, "no", True, ("yes", "no", "auto")),
    ("global-redirect-to", VType.STRING, None, True, ()),
    ("crl-strict", VType.BOOL, False, True, ()),
    ("crlcheckinterval", VType.TIME, 0, True, ()),
    ("crl-timeout", VType.TIME, 5, True, ()),
    ("ocsp-strict", VType.BOOL, False, True, ()),
    ("ocsp-enable", VType.BOOL, False, True, ()),
    ("ocsp-uri", VType.STRING, None, True, ()),
    ("ocsp-timeout", VType.TIME, 2, True, ()),
    ("ocsp-trustname", VType.STRING, None, True, ()),
    ("ocsp-cache-size", VType.UINT, 1000, True, ()),
    ("ocsp-cache-min-age", VType.TIME, 3600, True, ()),
    ("ocsp-cache-max-age", VType.TIME, 86400, True, ()),
    ("ocsp-method", VType.ENUM, "get", True, ("get", "post")),
    ("seccomp", VType.ENUM, "disabled", False, ("enabled", "disabled", "tolerant")),
    ("ddos-mode", VType.ENUM, "auto", True, ("auto", "busy", "unlimited")),
    ("ddos-ike-threshold", VType.UINT, 25000, True, ()),
    ("max-halfopen-ike", VType.UINT, 50000, True, ()),
    ("auth-sources", VType.STRING, "secrets nss files x509", True, ()),  # pluto's own: pluto_core.auth
    ("auth-timeout", VType.TIME, 10, True, ()),  # pluto's own
    ("ike-socket-bufsize", VType.UINT, None, False, ()),
    ("ike-socket-errqueue", VType.BOOL, True, False, ()),
    ("expire-lifetime", VType.TIME, 30, False, ()),
    ("virtual-private", VType.STRING, None, False, ()),
    ("seeddev", VType.STRING, "/dev/random", False, ()),
    ("seedbits", VType.UINT, 0, True, ()),
    ("keep-alive", VType.TIME, 20, True, ()),
    ("listen-tcp", VType.BOOL, False, False, ()),
    ("listen-udp", VType.BOOL, True, False, ()),
    ("listen", VType.STRING, None, True, ()),
    ("protostack", VType.STRING, "xfrm", False, ()),
    ("nhelpers", VType.UINT, None, True, ()),
    ("drop-oppo-null", VType.BOOL, False, False, ()),
    ("expire-shunt-interval", VType.TIME, 20, False, ()),
    ("dns-resolver", VType.STRING, None, False, ()),
    ("ipsec-interface-managed", VType.BOOL, True, False, ()),
    ("nflog-all", VType.UINT, 0, False, ()),
]
_SETUP_ALIASES = {"curl-timeout": "crl-timeout", "xfrmlifetime": "expire-lifetime"}
_SETUP_OBSOLETE = (
    "syslog plutostderrlog virtual_private interfaces ikev1-secctx-attr-type secctx-attr-type"
).split()
# Accepted by Libreswan 3.x/4.x (their spelling of a current keyword).
_SETUP_LEGACY = {
    "crl_strict": "crl-strict",
    "strictcrlpolicy": "crl-strict",
    "curl_iface": "curl-iface",
    "curl_timeout": "crl-timeout",
    "keep_alive": "keep-alive",
    "ocsp_enable": "ocsp-enable",
    "ocsp_strict": "ocsp-strict",
    "ocsp_timeout": "ocsp-timeout",
    "ocsp_trust_name": "ocsp-trustname",
    "ocsp_uri": "ocsp-uri",
}
_SETUP_LEGACY_OBSOLETE = (
    "disable_port_floating force-busy force_keepalive forwardcontrol fragicmp hidetos klipsdebug "
    "nat-ikeport nat_ikeport nat_traversal nocrsend oe overridemtu perpeerlog perpeerlogdir pluto "
    "plutofork plutoopts plutorestartoncrash plutostderrlogtime plutowait postpluto prepluto "
    "rp_filter secctx-attr-value secctx_attr_value"
).split()

_HOST_FIELDS = ()

# Section "conn": leftright keywords (left<NAME>= / right<NAME>=).
_CONN_LR: list[tuple[str, VType, object, bool, tuple[str, ...]]] = [
    ("", VType.HOST, None, True, ()),
    ("subnets", VType.SUBNETS, None, False, ()),
    ("subnet", VType.SUBNETS, None, True, ()),
    ("sourceip", VType.ADDRESSES, None, True, ()),
    ("ikeport", VType.UINT, None, False, ()),
    ("interface-ip", VType.SUBNETS, None, False, ()),
    ("vti", VType.STRING, None, True, ()),  # ADDRESS/PREFIX, host bits kept (route_based)
    ("nexthop", VType.HOST, None, True, ()),
    ("updown", VType.STRING, None, True, ()),
    ("updown-config", VType.STRING, None, False, ()),
    ("id", VType.ID, None, True, ()),
    ("rsasigkey", VType.STRING, None, True, ()),
    ("ecdsakey", VType.STRING, None, True, ()),
    ("eddsakey", VType.STRING, None, True, ()),
    ("pubkey", VType.STRING, None, True, ()),
    ("cert", VType.STRING, None, True, ()),
    ("ckaid", VType.STRING, None, True, ()),
    ("sendcert", VType.ENUM, "always", True,  # Libreswan 4.x addconn's default, not the man page's
     ("always", "alwayssend", "ifasked", "sendifasked", "never", "sendnever", "yes", "no")),
    ("ca", VType.STRING, None, True, ()),
    ("xauthserver", VType.BOOL, False, False, ()),
    ("xauthclient", VType.BOOL, False, False, ()),
    ("modecfgserver", VType.BOOL, False, True, ()),
    ("modecfgclient", VType.BOOL, False, True, ()),
    ("username", VType.STRING, None, False, ()),
    ("addresspool", VType.RANGE, None, True, ()),
    ("auth", VType.ENUM, None, True,
     ("rsasig", "rsa", "secret", "psk", "null", "ecdsa", "eddsa", "never", "eaponly")),
    ("cat", VType.BOOL, False, False, ()),
    ("protoport", VType.PROTOPORT, None, True, ()),
    ("autheap", VType.ENUM, "none", False, ("none", "tls")),
    ("groundhog", VType.BOOL, False, False, ()),
]

# Section "conn": plain keywords.
_CONN: list[tuple[str, VType, object, bool, tuple[str, ...]]] = [
    ("debug", VType.STRING, None, False, ()),
    ("also", VType.ALSO, None, True, ("dupok",)),
    ("connalias", VType.STRING, None, False, ()),
    ("auto", VType.ENUM, "ignore", True,
     ("ignore", "add", "ondemand", "route", "start", "up", "keep", "manual")),
    ("hostaddrfamily", VType.ENUM, None, True, ("ipv4", "ipv6", "4", "6")),
    ("authby", VType.AUTHBY, None, True, ()),
    ("keyexchange", VType.ENUM, "ikev2", True, ("ike", "ikev1", "ikev2")),
    ("ikev2", VType.ENUM, None, True, ("yes", "no", "never", "insist", "propose", "permit", "always")),
    ("ppk", VType.ENUM, "no", False, ("yes", "no", "permit", "propose", "insist", "never")),
    ("ppk-ids", VType.STRING, None, False, ()),
    ("intermediate", VType.BOOL, False, False, ()),
    ("esn", VType.ENUM, "either", True, ("yes", "no", "either")),
    ("decap-dscp", VType.BOOL, False, False, ()),
    ("encap-dscp", VType.BOOL, True, False, ()),
    ("nopmtudisc", VType.BOOL, False, False, ()),
    ("fragmentation", VType.ENUM, "yes", True, ("yes", "no", "force")),
    ("mobike", VType.BOOL, False, True, ()),
    ("narrowing", VType.BOOL, False, True, ()),
    ("pam-authorize", VType.BOOL, False, False, ()),
    ("send-redirect", VType.ENUM, "auto", True, ("yes", "no", "auto")),
    ("redirect-to", VType.STRING, None, True, ()),
    ("accept-redirect", VType.BOOL, False, True, ()),
    ("accept-redirect-to", VType.STRING, None, True, ()),
    ("pfs", VType.BOOL, True, True, ()),
    ("session-resumption", VType.BOOL, False, False, ()),
    ("send-supported-auth-methods", VType.BOOL, False, False, ()),
    ("nat-keepalive", VType.BOOL, True, True, ()),
    ("initial-contact", VType.BOOL, False, True, ()),
    ("send-esp-tfc-padding-not-supported", VType.BOOL, False, False, ()),
    ("reject-simultaneous-ike-auth", VType.BOOL, True, False, ()),
    ("iptfs", VType.BOOL, False, False, ()),
    ("iptfs-fragmentation", VType.BOOL, True, False, ()),
    ("iptfs-packet-size", VType.BYTES, 0, False, ()),
    ("iptfs-max-queue-size", VType.BYTES, 0, False, ()),
    ("iptfs-reorder-window", VType.UINT, 0, False, ()),
    ("iptfs-init-delay", VType.TIME, 0, False, ()),
    ("iptfs-drop-time", VType.TIME, 0, False, ()),
    ("fake-strongswan", VType.BOOL, False, False, ()),
    ("send-vendorid", VType.BOOL, False, False, ()),
    ("sha2-truncbug", VType.BOOL, False, False, ()),
    ("share-lease", VType.BOOL, True, False, ()),
    ("ms-dh-downgrade", VType.BOOL, False, False, ()),
    ("pfs-rekey-workaround", VType.BOOL, False, False, ()),
    ("require-id-on-certificate", VType.BOOL, True, True, ()),
    ("dns-match-id", VType.BOOL, False, False, ()),
    ("ipsec-max-bytes", VType.COUNT, None, True, ()),
    ("ipsec-max-packets", VType.COUNT, None, True, ()),
    ("ipsec-lifetime", VType.TIME, 28800, True, ()),
    ("retransmit-timeout", VType.TIME, 60, True, ()),
    ("retransmit-interval", VType.TIME_MS, 500, True, ()),
    ("ikepad", VType.ENUM, "auto", False, ("yes", "no", "auto")),
    ("nat-ikev1-method", VType.ENUM, "drafts", False, ("drafts", "rfc", "both", "none")),
    ("sec-label", VType.STRING, None, False, ()),
    ("remote-peer-type", VType.ENUM, "ietf", False, ("cisco", "ietf")),
    ("nm-configured", VType.BOOL, False, False, ()),
    ("cisco-unity", VType.BOOL, False, False, ()),
    ("cisco-split", VType.BOOL, False, False, ()),
    ("xauthby", VType.ENUM, "file", False, ("file", "pam", "alwaysok")),
    ("xauthfail", VType.ENUM, "hard", False, ("hard", "soft")),
    ("modecfgpull", VType.BOOL, False, False, ()),
    ("modecfgdns", VType.STRING, None, True, ()),
    ("modecfgdomains", VType.STRING, None, True, ()),
    ("modecfgbanner", VType.STRING, None, False, ()),
    ("ignore-peer-dns", VType.BOOL, False, False, ()),
    ("mark", VType.STRING, None, True, ()),
    ("mark-in", VType.STRING, None, True, ()),
    ("mark-out", VType.STRING, None, True, ()),
    ("vti-interface", VType.STRING, None, True, ()),
    ("vti-routing", VType.BOOL, False, True, ()),  # Libreswan 4.10's addconn: no
    ("vti-shared", VType.BOOL, False, True, ()),
    ("ipsec-interface", VType.STRING, None, True, ()),
    ("clones", VType.STRING, None, False, ()),  # a count, or yes/no
    ("nic-offload", VType.ENUM, "no", False, ("no", "yes", "crypto", "packet")),
    ("encapsulation", VType.ENUM, "auto", True, ("yes", "no", "auto")),
    ("overlapip", VType.BOOL, False, False, ()),
    ("reauth", VType.BOOL, False, False, ()),
    ("rekey", VType.BOOL, True, True, ()),
    ("rekeymargin", VType.TIME, 540, True, ()),
    ("rekeyfuzz", VType.PERCENT, 100, True, ()),
    ("replay-window", VType.UINT, 128, True, ()),
    ("ikelifetime", VType.TIME, 28800, True, ()),
    ("type", VType.ENUM, "tunnel", True,
     ("tunnel", "transport", "passthrough", "pass", "drop", "reject")),
    ("failureshunt", VType.ENUM, "none", True, ("none", "passthrough", "pass", "drop", "hold", "reject")),
    ("negotiationshunt", VType.ENUM, "drop", True, ("passthrough", "pass", "drop", "hold")),
    ("enable-tcp", VType.ENUM, "no", False, ("no", "yes", "fallback")),
    ("tcp-remoteport", VType.UINT, 4500, False, ()),
    ("ike", VType.PROPOSAL, None, True, ()),
    ("esp", VType.PROPOSAL, None, True, ()),
    ("ah", VType.PROPOSAL, None, False, ()),
    ("phase2", VType.ENUM, "esp", False, ("esp", "ah")),
    ("phase2alg", VType.PROPOSAL, None, True, ()),
    ("compress", VType.BOOL, False, False, ()),
    ("metric", VType.UINT, None, False, ()),
    ("dpddelay", VType.TIME, 0, True, ()),
    ("dpdtimeout", VType.TIME, None, True, ()),
    ("sendca", VType.ENUM, "all", True, ("none", "issuer", "all")),
    ("mtu", VType.UINT, None, False, ()),
    ("priority", VType.UINT, None, True, ()),
    ("tfc", VType.UINT, None, False, ()),
    ("reqid", VType.UINT, None, True, ()),
    ("nflog-group", VType.UINT, None, False, ()),
    ("aggressive", VType.BOOL, False, False, ()),
]
_CONN_ALIASES = {
    "aggrmode": "aggressive",
    "keylife": "ipsec-lifetime",
    "lifetime": "ipsec-lifetime",
    "salifetime": "ipsec-lifetime",
    "ikev1-dpdtimeout": "dpdtimeout",
    "nflog": "nflog-group",
    "policy-label": "sec-label",
    "remote_peer_type": "remote-peer-type",
    "send-no-esp-tfc": "send-esp-tfc-padding-not-supported",
}
_CONN_LR_ALIASES = {"xauthusername": "username"}
_CONN_OBSOLETE = ("dpdaction", "clientaddrfamily", "keyingtries")
_CONN_LEGACY = {
    "cisco_unity": "cisco-unity",
    "ike-frag": "fragmentation",
    "ike_frag": "fragmentation",
    "initial_contact": "initial-contact",
    "modecfgdns1": "modecfgdns",
    "modecfgdomain": "modecfgdomains",
    "nat_keepalive": "nat-keepalive",
    "nm_configured": "nm-configured",
    "policy_label": "sec-label",
    "send_vendorid": "send-vendorid",
    "sha2_truncbug": "sha2-truncbug",
}
_CONN_LR_LEGACY = {"xauthname": "username"}
_CONN_LEGACY_OBSOLETE = (
    "alsoflip connaddrfamily disablearrivalcheck forceencaps labeled-ipsec labeled_ipsec "
    "modecfgdns2 modecfgwins1 modecfgwins2 sareftrack"
).split()
_CONN_LR_LEGACY_OBSOLETE = ("rsasigkey2",)


def _build() -> tuple[dict[str, Keyword], dict[str, Keyword], dict[str, Keyword]]:
    setup: dict[str, Keyword] = {}
    conn: dict[str, Keyword] = {}
    conn_lr: dict[str, Keyword] = {}
    for name, vt, default, acted, extra in _SETUP:
        setup[name] = Keyword(
            name, SETUP, Kind.KEYWORD, vt, canonical=name,
            values=extra if vt is VType.ENUM else (), default=default, acted=acted,
            optarg_only="optarg" in extra,
        )
    for table, kind in ((_SETUP_ALIASES, Kind.ALIAS), (_SETUP_LEGACY, Kind.LEGACY)):
        for alias, target in table.items():
            base = setup[target]
            setup[alias] = Keyword(alias, SETUP, kind, base.vtype, canonical=target,
                                   values=base.values, default=base.default, acted=base.acted)
    for name in (*_SETUP_OBSOLETE, *_SETUP_LEGACY_OBSOLETE):
        setup[name] = Keyword(name, SETUP, Kind.OBSOLETE, VType.STRING, canonical=name)
    for name, vt, default, acted, extra in _CONN_LR:
        conn_lr[name] = Keyword(name, CONN, Kind.KEYWORD, vt, leftright=True, canonical=name,
                                values=extra if vt is VType.ENUM else (), default=default, acted=acted)
    for name, vt, default, acted, extra in _CONN:
        conn[name] = Keyword(name, CONN, Kind.KEYWORD, vt, canonical=name,
                             values=extra if vt is VType.ENUM else (), default=default, acted=acted,
                             duplicate_ok="dupok" in extra)
    for table, kind in ((_CONN_ALIASES, Kind.ALIAS), (_CONN_LEGACY, Kind.LEGACY)):
        for alias, target in table.items():
            base = conn[target]
            conn[alias] = Keyword(alias, CONN, kind, base.vtype, canonical=target, values=base.values,
                                  default=base.default, acted=base.acted)
    for table, kind in ((_CONN_LR_ALIASES, Kind.ALIAS), (_CONN_LR_LEGACY, Kind.LEGACY)):
        for alias, target in table.items():
            base = conn_lr[target]
            conn_lr[alias] = Keyword(alias, CONN, kind, base.vtype, leftright=True, canonical=target,
                                     values=base.values, default=base.default, acted=base.acted)
    for name in (*_CONN_OBSOLETE, *_CONN_LEGACY_OBSOLETE):
        conn[name] = Keyword(name, CONN, Kind.OBSOLETE, VType.STRING, canonical=name)
    for name in _CONN_LR_LEGACY_OBSOLETE:
        conn_lr[name] = Keyword(name, CONN, Kind.OBSOLETE, VType.STRING, leftright=True, canonical=name)
    return setup, conn, conn_lr


_SETUP_TABLE, _CONN_TABLE, _CONN_LR_TABLE = _build()


@dataclass(frozen=True, slots=True)
class Lookup:
    """Result of classifying one ``key=`` of a section.

    ``status`` is ``ok``, ``xcomment``, ``needs-side`` (a left/right keyword written bare) or
    ``unknown``; ``side`` is ``left``/``right`` for leftright keywords.
    """

    status: str
    keyword: Keyword | None = None
    side: str | None = None


_CACHE: dict[tuple[str, str], Lookup] = {}


def lookup(section: Section, key: str) -> Lookup:
    """Classify ``key`` (as written, any case) in ``section`` the way Libreswan's parser does."""
    cached = _CACHE.get((section, key))
    if cached is not None:
        return cached
    k = key.lower()
    result: Lookup
    if k[:2] in ("x-", "x_"):
        result = Lookup("xcomment")
    elif section == SETUP:
        kw = _SETUP_TABLE.get(k)
        result = Lookup("ok", kw) if kw is not None else Lookup("unknown")
    else:
        kw = _CONN_TABLE.get(k)
        if kw is not None:
            result = Lookup("ok", kw)
        else:
            result = Lookup("unknown")
            for side in ("left", "right"):
                if k.startswith(side):
                    rest = k[len(side):]
                    if rest.startswith("-"):
                        rest = rest[1:]
                    lr = _CONN_LR_TABLE.get(rest)
                    if lr is not None:
                        result = Lookup("ok", lr, side)
                    break
            if result.status == "unknown" and k in _CONN_LR_TABLE and k:
                result = Lookup("needs-side", _CONN_LR_TABLE[k])
    if len(_CACHE) < 4096:
        _CACHE[(section, key)] = result
    return result


def setup_keywords() -> dict[str, Keyword]:
    """All ``config setup`` names (keywords, aliases, obsolete), by name."""
    return dict(_SETUP_TABLE)


def conn_keywords() -> dict[str, Keyword]:
    """All ``conn`` names; leftright ones are keyed ``left<NAME>`` (``left`` for the host)."""
    out = dict(_CONN_TABLE)
    for name, kw in _CONN_LR_TABLE.items():
        out["left" + name] = kw
    return out


def canonical_setup() -> list[Keyword]:
    """The current ``config setup`` keywords (no aliases), in table order."""
    return [kw for kw in _SETUP_TABLE.values() if kw.kind is Kind.KEYWORD]
