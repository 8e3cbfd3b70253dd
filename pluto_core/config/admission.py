"""Admission: a conn is run exactly as written, or refused when it is added.

Libreswan and strongSwan refuse a conn they cannot honour instead of running something else;
pluto does the same. Every reason that needs no knowledge of the host is decided here, once:
``loader`` calls :func:`refusal` for each conn it builds, so the start-up loader, ``ipsec
add`` and ``ipsec checkconfig`` (all three read the file through ``parse_config``) refuse the
same conns with the same sentence. Host-dependent reasons (which end is this host) stay in
``connection.orient`` and ``engine_conn.to_engine_conn``.

Every conn keyword is in one of three classes (``docs/config.md``, "What pluto honours"): acted
on (``Keyword.acted``), in :data:`REFUSING` (honoured at the values pluto implements, the conn
refused at any other), or in :data:`HARMLESS` (no effect on what goes on the wire or into the
kernel for a conn pluto runs; a notice says it is not acted on).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pluto_core.config import route_based
from pluto_core.config.identity import IdType
from pluto_core.errors import ConfigError
from pluto_core.ikev2.crypto import UnsupportedTransform, pubkeys
from pluto_core.ikev2.crypto import signatures as sig
from pluto_core.ikev2.crypto.registry import make_suite
from pluto_core.x509.dn import DnError, parse_dn

if TYPE_CHECKING:
    from pluto_core.config.connection import Connection
    from pluto_core.config.setting import Setting, SettingKey

__all__ = ["IKEV1", "CERTIFICATES", "SENDCERT", "REFUSING", "HARMLESS", "Rule", "refusal", "end_auth",
           "raw_key"]

IKEV1 = "IKEv1 is not supported"
CERTIFICATES = "X.509 certificates are not supported yet"
# sendcert= values -> what the engine does (Libreswan's spellings; default always, as Libreswan 4.x's
# addconn sets it whatever ipsec.conf(5) says)
SENDCERT = {"always": "always", "alwayssend": "always", "yes": "always", "ifasked": "ifasked",
            "sendifasked": "ifasked", "never": "never", "sendnever": "never", "no": "never"}
PSK_WORDS = frozenset(("secret", "psk"))
# authby= words for public keys -> the engine's method family (``ikev2/tasks/auth_methods.py``)
# (the words that pin a hash or the padding, rsa-sha1 ... ecdsa-sha2_512, reach the engine as
# written: ``signatures.PINS`` says what each allows)
SIGNATURE_WORDS = {"rsasig": "rsasig", "rsa": "rsasig", "ecdsa": "ecdsa", "ecdsa-sha2": "ecdsa",
                   "eddsa": "eddsa", "ed25519": "eddsa", **{word: word for word in sig.PINS}}


def _family(word: str) -> str:
    """The key family (rsasig, ecdsa, eddsa) of an engine auth word."""
    pin = sig.PINS.get(word)
    return pin.family if pin is not None else word
RAW_KEYS = {"rsasigkey": "rsa", "ecdsakey": "ecdsa", "eddsakey": "eddsa", "pubkey": None}
_KEY_FAMILY = {"rsa": "rsasig", "ecdsa": "ecdsa", "eddsa": "eddsa"}


@dataclass(frozen=True, slots=True)
class Rule:
    """A keyword pluto honours only at some values: ``refuses(typed value)`` says when not."""

    refuses: Callable[[object], bool]
    why: str


def _yes(v: object) -> bool:
    return v is True


def _set(v: object) -> bool:
    return v is not None and v != "" and v != ()


def _not(*ok: str) -> Callable[[object], bool]:
    return lambda v: str(v).lower() not in ok


# canonical keyword (left/right ones without the side) -> when the conn is refused, and why
REFUSING: Mapping[str, Rule] = {
    "aggressive": Rule(_yes, "Aggressive Mode is IKEv1: " + IKEV1),
    "ah": Rule(_set, "AH is not supported (ESP only)"),
    "phase2": Rule(_not("esp"), "AH is not supported (ESP only)"),
    "cisco-split": Rule(_yes, "Cisco split tunnelling is not supported"),
    "cisco-unity": Rule(_yes, "Cisco Unity is not supported"),
    "remote-peer-type": Rule(_not("ietf"), "Cisco peer mode is not supported"),
    "clones": Rule(_not("no", "0", "1"), "per-CPU Child SAs are not supported"),
    "compress": Rule(_yes, "IPComp is not supported"),
    "decap-dscp": Rule(_yes, "copying DSCP on decapsulation is not supported"),
    "encap-dscp": Rule(lambda v: v is False, "not copying DSCP on encapsulation is not supported"),
    "enable-tcp": Rule(_not("no"), "IKE over TCP (RFC 8229) is not supported"),
    "fake-strongswan": Rule(_yes, "sending strongSwan's vendor ID is not supported"),
    "intermediate": Rule(_yes, "IKE_INTERMEDIATE (RFC 9242) is not supported"),
    "iptfs": Rule(_yes, "IP-TFS (RFC 9347) is not supported"),
    "metric": Rule(_set, "route metrics are not passed to updown yet"),
    "mtu": Rule(_set, "route MTUs are not passed to updown yet"),
    "modecfgbanner": Rule(_set, "a banner is IKEv1 mode config: IKEv2's Configuration payload has no such attribute"),
    "modecfgpull": Rule(_yes, "the Configuration Payload is not supported"),
    "ms-dh-downgrade": Rule(_yes, "the Microsoft DH downgrade is not supported"),
    "nflog-group": Rule(_set, "NFLOG groups are not supported"),
    "nic-offload": Rule(_not("no"), "NIC offload is not supported"),
    "nopmtudisc": Rule(_yes, "disabling PMTU discovery on SAs is not supported"),
    "overlapip": Rule(_yes, "overlapping addresses are not supported"),
    "pam-authorize": Rule(_yes, "PAM authorization is not supported"),
    "pfs-rekey-workaround": Rule(_yes, "the PFS rekey workaround is not supported"),
    "ppk": Rule(_not("no", "never"), "postquantum preshared keys (RFC 8784) are not supported"),
    "reauth": Rule(_yes, "reauthentication is not supported"),
    "sec-label": Rule(_set, "labeled IPsec is not supported"),
    "send-esp-tfc-padding-not-supported": Rule(_yes, "the ESP_TFC_PADDING_NOT_SUPPORTED notify is not supported"),
    "send-supported-auth-methods": Rule(_yes, "SUPPORTED_AUTH_METHODS (RFC 9593) is not supported"),
    "send-vendorid": Rule(_yes, "sending Libreswan's vendor ID is not supported"),
    "session-resumption": Rule(_yes, "session resumption (RFC 5723) is not supported"),
    "sha2-truncbug": Rule(_yes, "truncated SHA2 integrity is not supported"),
    "tfc": Rule(_set, "TFC padding is not supported"),
    # left/right keywords
    "autheap": Rule(_not("none"), "EAP authentication is not supported"),
    "cat": Rule(_yes, "client address translation is not supported"),
    "ikeport": Rule(lambda v: v != 500, "IKE ports other than 500 are not supported yet"),
    "interface-ip": Rule(_set, "addresses on the ipsec-interface= device are not supported (Libreswan 4.x "
                               "does not implement interface-ip= either): add them with ip addr or an updown"),
    "nexthop": Rule(lambda v: isinstance(v, tuple) and v[1] is None
                    and str(v[0]).lower() not in ("%direct", "%defaultroute"),
                    "a next hop that is not an address (or %direct, %defaultroute) is not supported yet"),
    "sourceip": Rule(lambda v: isinstance(v, tuple) and len(v) > 1,
                     "one address (Libreswan takes a single source address)"),
    "subnets": Rule(_set, "one Child SA per subnet pair is not supported yet (leftsubnet=a,b gives one "
                          "Child SA with all of them)"),
    "updown-config": Rule(_set, "updown-config= is not supported yet"),
    "username": Rule(_set, "XAUTH/EAP user names are not supported"),
    "xauthclient": Rule(_yes, "XAUTH is IKEv1: " + IKEV1),
    "xauthserver": Rule(_yes, "XAUTH is IKEv1: " + IKEV1),
}

# Keywords that change nothing on the wire or in the kernel for a conn pluto runs (a notice says
# they are not acted on): why each is harmless.
HARMLESS: Mapping[str, str] = {
    "connalias": "another name for the conn in Libreswan's whack; no effect on IKE or the kernel",
    "debug": "per-conn debug logging",
    "dns-match-id": "only used with public keys from DNS (which are refused)",
    "ignore-peer-dns": "only used with the Configuration Payload (refused)",
    "ikepad": "IKEv1 and ModeCfg padding only",
    "iptfs-drop-time": "only used with iptfs=yes (refused)",
    "iptfs-fragmentation": "only used with iptfs=yes (refused)",
    "iptfs-init-delay": "only used with iptfs=yes (refused)",
    "iptfs-max-queue-size": "only used with iptfs=yes (refused)",
    "iptfs-packet-size": "only used with iptfs=yes (refused)",
    "iptfs-reorder-window": "only used with iptfs=yes (refused)",
    "nat-ikev1-method": "IKEv1 only",
    "nm-configured": "NetworkManager bookkeeping",
    "ppk-ids": "only used with ppk= (refused)",
    "reject-simultaneous-ike-auth": "how crossing IKE_AUTH exchanges are resolved; no setting is negotiated",
    "share-lease": "only used with address pools (refused)",
    "tcp-remoteport": "only used with enable-tcp= (refused)",
    "xauthby": "only used with XAUTH (refused)",
    "xauthfail": "only used with XAUTH (refused)",
    # left/right keywords
    "groundhog": "Libreswan's test-suite clock skew",
}


def _err(message: str, s: Setting | None, conn: Connection) -> ConfigError:
    if s is not None:
        return ConfigError(message, s.file, s.line)
    return ConfigError(message, conn.file, conn.line)


def end_auth(conn: Connection, side: str) -> str:
    """How ``side`` authenticates, as the engine names it: ``secret``, ``null``, a signature
    family (``rsasig``, ``ecdsa``, ``eddsa``) or several (``rsasig,ecdsa``: Libreswan's default
    when neither ``leftauth=`` nor ``authby=`` is set), else the first word pluto refuses."""
    end = conn.left if side == "left" else conn.right
    words = (end.auth,) if end.auth is not None else conn.authby
    if not words:
        return "rsasig,ecdsa"
    if all(w in PSK_WORDS for w in words):
        return "secret"
    others = [w for w in words if w not in PSK_WORDS]
    unknown = [w for w in others if w not in SIGNATURE_WORDS]
    if unknown:
        return unknown[0] if len(words) == 1 or unknown[0] != "null" else "null+other"
    if len(others) < len(words):
        return "secret+pubkey"
    families: list[str] = []
    for w in words:
        if SIGNATURE_WORDS[w] not in families:
            families.append(SIGNATURE_WORDS[w])
    return ",".join(families)


def raw_key(text: str, keyword: str) -> Any:
    """The public key object of a ``leftrsasigkey=``/``leftecdsakey=``/``lefteddsakey=``/
    ``leftpubkey=`` value; ValueError saying what is wrong."""
    kind = RAW_KEYS[keyword]
    if kind == "rsa":
        return pubkeys.parse_rsasigkey(text)
    return pubkeys.parse_pubkey(text, kind)  # type: ignore[arg-type]


def refusal(conn: Connection, settings: Mapping[SettingKey, Setting]) -> ConfigError | None:
    """Why pluto cannot run ``conn`` exactly as written (file:line of the keyword), or None.

    A conn that never negotiates (``Connection.never_negotiate``: a shunt) is not an IKE conn
    and is left to the shunt code.
    """
    if conn.never_negotiate:
        return None
    for check in (_ikev1, _auth, _keywords, _ids, _subnets, _proposals, _redirect, _route_based,
                  _mobike):
        error = check(conn, settings)
        if error is not None:
            return error
    return None


def _mobike(conn: Connection, settings: Mapping[SettingKey, Setting]) -> ConfigError | None:
    """MOBIKE (RFC 4555) moves the tunnel end points of the Child SAs: a transport-mode conn
    has none to move."""
    s = settings.get((None, "mobike"))
    if conn.mobike and conn.type == "transport" and s is not None:
        return _err("mobike=yes needs type=tunnel: MOBIKE moves tunnel end points, and a transport-mode "
                    "Child SA has none", s, conn)
    return None


def _redirect(conn: Connection, settings: Mapping[SettingKey, Setting]) -> ConfigError | None:
    """RFC 5685: send-redirect=yes needs a redirect-to= that fits a REDIRECT notify (an
    address or a host name of at most 255 octets); accept-redirect-to= lists addresses (or
    %any), which is what the peer's REDIRECT is compared with."""
    from pluto_core.ikev2.redirect_policy import gateway_identity, split_dests  # the engine's own rule

    send, to = settings.get((None, "send-redirect")), settings.get((None, "redirect-to"))
    if send is not None and send.value.strip().lower() == "yes" and (to is None or not to.value.strip()):
        return _err("send-redirect=yes needs redirect-to= (where to send peers)", send, conn)
    if to is not None and to.value.strip():
        try:
            gateway_identity(to.value.strip())
        except ValueError as exc:
            return _err(f"{to.name}={to.value}: {exc}", to, conn)
    accept_to = settings.get((None, "accept-redirect-to"))
    for target in split_dests(accept_to.value if accept_to is not None else ""):
        if target.lower() == "%any":
            continue
        try:
            ipaddress.ip_address(target)
        except ValueError:
            assert accept_to is not None
            return _err(f"{accept_to.name}={accept_to.value}: {target} is not an IP address (a redirect's "
                        "destination is compared with addresses, or %any)", accept_to, conn)
    return None


def _ikev1(conn: Connection, settings: Mapping[SettingKey, Setting]) -> ConfigError | None:
    if conn.ike_version != 1:
        return None
    s = settings.get((None, "keyexchange"))
    if s is None or s.value.strip().lower() != "ikev1":
        s = settings.get((None, "ikev2")) or s
    return _err(IKEV1, s, conn)


def _auth(conn: Connection, settings: Mapping[SettingKey, Setting]) -> ConfigError | None:
    for side in ("left", "right"):
        method = end_auth(conn, side)
        s = settings.get((side, "auth")) or settings.get((None, "authby"))
        shown = f"{s.name}={s.value}" if s is not None else "authby="
        if method == "secret":
            continue
        if method == "null+other":
            return _err(f"{shown}: authby=null with another method is not supported", s, conn)
        if method == "secret+pubkey":
            return _err(f"{shown}: a pre-shared key or a public key in one conn is not supported yet "
                        "(one method per side: leftauth=/rightauth=)", s, conn)
        if method == "eaponly":
            return _err(f"{shown}: EAP authentication is not supported", s, conn)
        if method != "null" and not all(_family(f) in _KEY_FAMILY.values() for f in method.split(",")):
            return _err(f"{shown}: authentication method '{method}' is not supported", s, conn)
        error = _keys(conn, settings, side, method)
        if error is not None:
            return error
    return None


def _keys(conn: Connection, settings: Mapping[SettingKey, Setting], side: str, method: str) -> ConfigError | None:
    """A side that signs or is checked with public keys: certificates (``leftcert=``,
    ``rightca=``, ``leftsendcert=``) or raw keys, each readable and of a family ``method`` takes."""
    if method != "null":
        error = _certs(conn, settings, side)
        if error is not None:
            return error
    for keyword, _kind in RAW_KEYS.items():
        s = settings.get((side, keyword))
        if s is None:
            continue
        value = s.value.strip()
        if value.lower() == "%cert":
            continue  # the key is the certificate's (ours: leftcert=, checked once oriented; the peer's: sent)
        if value.startswith("%"):
            return _err(f"{s.name}={value}: public keys from DNS or other sources are not supported", s, conn)
        if method == "null":
            return _err(f"{s.name}= goes with public-key authentication, not authby=null", s, conn)
        try:
            key = raw_key(value, keyword)
        except ValueError as exc:
            return _err(f"{s.name}=: {exc}", s, conn)
        family = _KEY_FAMILY[sig.key_kind(key) if sig.key_kind(key) in _KEY_FAMILY else "eddsa"]
        if family not in {_family(w) for w in method.split(",")}:
            return _err(f"{s.name}= is an {family} key, but this side authenticates with {method}", s, conn)
    s = settings.get((side, "ckaid"))
    if s is not None:
        text = s.value.strip().lower().replace(":", "")
        if not text or any(c not in "0123456789abcdef" for c in text):
            return _err(f"{s.name}={s.value}: a CKAID is hexadecimal (as ipsec showhostkey --list prints it)", s, conn)
    return None


def _certs(conn: Connection, settings: Mapping[SettingKey, Setting], side: str) -> ConfigError | None:
    """``leftca=`` is a DN, ``%same`` or ``%any`` (``leftsendcert=``'s values are checked by the
    parser; ``leftcert=``, a file or an NSS nickname, is read by ``engine_conn.load_cert``)."""
    s = settings.get((side, "ca"))
    if s is not None and s.value.strip().lower() not in ("%same", "%any"):
        try:
            parse_dn(s.value.strip())
        except DnError as exc:
            return _err(f"{s.name}={s.value}: not a DN: {exc}", s, conn)
    return None


def _keywords(conn: Connection, settings: Mapping[SettingKey, Setting]) -> ConfigError | None:
    for (_side, canonical), s in sorted(settings.items(), key=lambda kv: (kv[1].file, kv[1].line)):
        rule = REFUSING.get(canonical)
        if rule is None:
            continue
        value = conn.options.get(s.name)
        if rule.refuses(value):
            return _err(f"{s.name}={s.value}: {rule.why}", s, conn)
    return None


def _ids(conn: Connection, settings: Mapping[SettingKey, Setting]) -> ConfigError | None:
    """IDs the engine puts on the wire as written: DNs must parse; %fromcert goes with a
    certificate; ID_NULL with NULL authentication."""
    for side, end in (("left", conn.left), ("right", conn.right)):
        ident = end.id
        if ident is None:
            continue
        s = settings.get((side, "id"))
        why = None
        if ident.type is IdType.DER_ASN1_DN:
            try:
                parse_dn(str(ident).strip())
            except DnError as exc:
                why = f"not a DN: {exc}"
        elif ident.type is IdType.NULL and end_auth(conn, side) != "null":
            why = f"the NULL ID goes with NULL authentication (RFC 7619), not {end_auth(conn, side)}"
        elif ident.type is IdType.FROMCERT and end_auth(conn, side) in ("secret", "null"):
            why = f"%fromcert needs a certificate, and this side authenticates with {end_auth(conn, side)}"
        elif ident.type is IdType.FQDN and not str(ident).lstrip().startswith("@"):
            why = "an ID without '@' is a host name to resolve to an address ID, which is not supported (@NAME " \
                  "is an FQDN ID)"
        if why is not None:
            return _err(f"{side}id={ident}: {why}", s, conn)
    return None


VHOST_VNET = "The vnet: and vhost: keywords are only valid for IKEv1 connections"


def _subnets(conn: Connection, settings: Mapping[SettingKey, Setting]) -> ConfigError | None:
    """``vhost:``/``vnet:`` subnets (checked against ``virtual-private=``) are IKEv1's: Libreswan
    4.4 and later refuse them in an IKEv2 conn, with these words (IKEv1 conns were refused
    before this check)."""
    for side in ("left", "right"):
        s = settings.get((side, "subnet"))
        if s is not None and s.value.strip().lower().startswith(("vhost:", "vnet:")):
            return _err(f"{s.name}={s.value}: {VHOST_VNET} (Libreswan 4.x refuses them in IKEv2 too)", s, conn)
    return None


def _proposals(conn: Connection, settings: Mapping[SettingKey, Setting]) -> ConfigError | None:
    """``ike=`` the engine can compute, ``esp=`` without what the engine does not negotiate."""
    for kind in ("ike", "esp"):
        pset = getattr(conn, kind)
        s = settings.get((None, kind)) or (settings.get((None, "phase2alg")) if kind == "esp" else None)
        if pset is None or s is None:
            continue  # the defaults are all implemented
        for p in pset.proposals:
            if p.addke:
                return _err(f"{s.name}={s.value}: additional key exchanges (RFC 9370) are not supported yet",
                            s, conn)
            if kind == "esp" and p.dh:
                return _err(f"{s.name}={s.value}: a PFS group of the Child SA's own is not supported yet (the "
                            "IKE SA's group is used; leave the group out)", s, conn)
            if kind != "ike":
                continue
            for encr, bits in p.wire_encr():
                for prf in p.prf:
                    for integ in [i for i in p.integ if i] or [None]:
                        for group in p.dh or (None,):
                            try:
                                make_suite(encr, bits, prf, integ, group)
                            except UnsupportedTransform as exc:
                                return _err(f"{s.name}={s.value}: {exc}", s, conn)
    return None


def _route_based(conn: Connection, settings: Mapping[SettingKey, Setting]) -> ConfigError | None:
    """``ipsec-interface=`` and ``mark=``/``mark-in=``/``mark-out=`` values that parse
    (``config/route_based.py``); marks together with an ipsec-interface (Libreswan 4.x then
    turns mark-out= into the SA's output mark) are not supported yet; ``vti-interface=`` as
    :func:`_vti` says."""
    s = settings.get((None, "ipsec-interface"))
    if_id = 0
    if s is not None:
        try:
            if_id = route_based.interface_id(conn.options.get(s.name))
        except ValueError as exc:
            return _err(f"{s.name}={s.value}: {exc}", s, conn)
    error = _vti(conn, settings, if_id)
    if error is not None:
        return error
    for keyword in ("mark", "mark-in", "mark-out"):
        m = settings.get((None, keyword))
        if m is None:
            continue
        try:
            value = route_based.mark(conn.options.get(m.name))
        except ValueError as exc:
            return _err(f"{m.name}={m.value}: {exc}", m, conn)
        if value is not None and if_id:
            return _err(f"{m.name}={m.value}: a mark together with ipsec-interface= is not supported yet "
                        "(Libreswan 4.x makes it the SA's output mark)", m, conn)
    return None


def _vti(conn: Connection, settings: Mapping[SettingKey, Setting], if_id: int) -> ConfigError | None:
    """``vti-interface=NAME``: a name Linux takes, a tunnel-mode conn (Libreswan: "VTI requires
    tunnel mode"), not with ``ipsec-interface=``, and a mark each way (``mark=``, or
    ``mark-in=`` and ``mark-out=``): the device's ikey and okey are the marks, and without them
    Libreswan's ``_updown`` ignores vti-interface= (pluto refuses instead of running a
    policy-based tunnel the file did not ask for). ``leftvti=`` is ADDRESS/PREFIX, and only
    with a vti-interface=."""
    s = settings.get((None, "vti-interface"))
    name = None
    if s is not None:
        try:
            name = route_based.vti_name(conn.options.get(s.name))
        except ValueError as exc:
            return _err(f"{s.name}={s.value}: {exc}", s, conn)
    for side in ("left", "right"):
        v = settings.get((side, "vti"))
        if v is None:
            continue
        try:
            route_based.vti_address(conn.options.get(v.name))
        except ValueError as exc:
            return _err(f"{v.name}={v.value}: {exc}", v, conn)
        if name is None:
            return _err(f"{v.name}={v.value} goes with vti-interface= (the address is put on that device)", v, conn)
    if s is None or name is None:
        return None
    if if_id:
        return _err(f"{s.name}={s.value}: a VTI device together with ipsec-interface= is not supported (one "
                    "conn is routed through one device)", s, conn)
    if conn.type == "transport":
        return _err(f"{s.name}={s.value}: VTI requires tunnel mode but the conn has type=transport", s, conn)
    try:
        mark_in, mark_out = route_based.marks(conn.get("mark"), conn.get("mark-in"), conn.get("mark-out"))
    except ValueError:
        return None  # the mark's own refusal follows, naming its line
    if mark_in is None or mark_out is None:
        return _err(f"{s.name}={s.value} needs mark= (or mark-in= and mark-out=): the VTI device's ikey and okey "
                    "are the marks (Libreswan's _updown ignores vti-interface= without them)", s, conn)
    return None


def auto_of(settings: Mapping[SettingKey, Setting] | None) -> str:
    """A conn's ``auto=`` as written (``ignore`` when unset), from its resolved settings: the
    start-up loader and checkconfig report a refused conn only when it would be added."""
    s = settings.get((None, "auto")) if settings is not None else None
    return s.value.strip().lower() if s is not None else "ignore"
