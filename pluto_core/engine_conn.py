"""Config ``Connection`` (ipsec.conf) to engine ``EngineConn``: orientation,
identities, traffic selectors, proposals and timers in the engine's units."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from typing import Any

from cryptography import x509

from pluto_core.config import route_based
from pluto_core.config.admission import RAW_KEYS, SENDCERT, end_auth, raw_key
from pluto_core.config.connection import oriented_ends
from pluto_core.config.identity import IdType as ConfigIdType
from pluto_core.errors import ConfigError
from pluto_core.ikev2.conn import EngineConn, IdSpec
from pluto_core.ikev2.crypto import pubkeys
from pluto_core.ikev2.enums import IdType
from pluto_core.ikev2.payloads import Proposal
from pluto_core.ikev2.proposal_build import esp_proposal, ike_proposal
from pluto_core.ikev2.tasks.auth_methods import is_signature
from pluto_core.ikev2.ts_narrow import Selector
from pluto_core.options import DEFAULT_IPSECDIR, DEFAULT_NSSDIR
from pluto_core.x509.dn import parse_dn
from pluto_core.x509.expiry import describe, notice, unusable
from pluto_core.x509.files import CertFileError, cert_path, names_a_file, nss_certificate, read_certs
from pluto_core.x509.ids import fromcert_id, id_from_text

# IANA transform IDs (RFC 7296 3.3.2, RFC 5282, RFC 7634).
ENCR_AES_CBC, ENCR_AES_GCM_16, ENCR_CHACHA20_POLY1305 = 12, 20, 28
PRF_SHA2_256, PRF_SHA2_512 = 5, 7
INTEG_SHA2_256_128, INTEG_SHA2_512_256 = 12, 14
DEFAULT_GROUPS = (19, 20, 21, 31, 14, 15, 16, 18)


def default_ike_proposals() -> tuple[Proposal, ...]:
    """Libreswan 4.x's IKEv2 defaults (no ``ike=``): AEAD first, then CBC with HMAC."""
    return (
        ike_proposal(1, [(ENCR_AES_GCM_16, 256), (ENCR_AES_GCM_16, 128)], [PRF_SHA2_512, PRF_SHA2_256], [],
                     DEFAULT_GROUPS),
        ike_proposal(2, [(ENCR_CHACHA20_POLY1305, None)], [PRF_SHA2_512, PRF_SHA2_256], [], DEFAULT_GROUPS),
        ike_proposal(3, [(ENCR_AES_CBC, 256), (ENCR_AES_CBC, 128)], [PRF_SHA2_512, PRF_SHA2_256],
                     [INTEG_SHA2_512_256, INTEG_SHA2_256_128], DEFAULT_GROUPS),
    )


def default_esp_proposals() -> tuple[Proposal, ...]:
    return (
        esp_proposal(1, [(ENCR_AES_GCM_16, 256), (ENCR_AES_GCM_16, 128)], esn=(1, 0)),
        esp_proposal(2, [(ENCR_CHACHA20_POLY1305, None)], esn=(1, 0)),
        esp_proposal(3, [(ENCR_AES_CBC, 256), (ENCR_AES_CBC, 128)], [INTEG_SHA2_512_256, INTEG_SHA2_256_128],
                     esn=(1, 0)),
    )


def _proposals(conn: Any, kind: str) -> tuple[Proposal, ...]:
    """The conn's ike=/esp= (config ProposalSet, defaults expanded there) as SA payload proposals."""
    pset = getattr(conn, kind, None)
    if pset is None or not pset.proposals:
        return default_ike_proposals() if kind == "ike" else default_esp_proposals()
    esn = {"yes": (1,), "no": (0,)}.get(str(getattr(conn, "esn", "either")), (1, 0))
    out = []
    for num, p in enumerate(pset.proposals, start=1):
        integ = [i for i in p.integ if i]  # integrity NONE (AEAD) is left out (RFC 7296 3.3.3)
        if kind == "ike":
            out.append(ike_proposal(num, p.wire_encr(), p.prf, integ, p.dh))
        else:
            # ESP groups are for PFS on CREATE_CHILD_SA; IKE_AUTH's Child SA never carries KE
            # (RFC 7296 1.2), so they are added when rekeying (see exchange_create).
            out.append(esp_proposal(num, p.wire_encr(), integ, (), p.sn or esn))
    return tuple(out)


NULL_ID = IdSpec.parse("%null")  # authby=null with no leftid=: RFC 7619's ID_NULL


def _ckaid(end: Any) -> str | None:
    """Which private key this end signs with: ``leftckaid=``, else the CKAID of its raw public key."""
    if end.ckaid:
        return str(end.ckaid).strip().lower().replace(":", "").removeprefix("0x")
    keys = _raw_keys(end)
    return pubkeys.ckaid_hex(keys[0]) if keys else None


def _raw_keys(end: Any) -> tuple[Any, ...]:
    """The public keys written in the conn for this end (admission checked they parse)."""
    keys = []
    for keyword in RAW_KEYS:
        text = end.rsasigkey if keyword == "rsasigkey" else end.options.get(keyword)
        if text and not str(text).startswith("%"):
            keys.append(raw_key(str(text), keyword))
    return tuple(keys)


def _id(end: Any, address: str | None, cert: Any = None) -> IdSpec | None:
    """The end's ID on the wire. With our certificate (``cert``), ``%fromcert`` and an unset
    ID are its subject DN, and a DN naming the subject carries the certificate's own octets;
    the peer's ``%fromcert`` is any ID its certificate backs (None)."""
    if end.id is not None:
        text = str(end.id).strip()
        if text in ("%any", "%none") or (text == "%fromcert" and cert is None):
            return None
        if end.id.type is ConfigIdType.KEY_ID:  # @#hex and @[raw]: the bytes as written
            return IdSpec(IdType.ID_KEY_ID, bytes.fromhex(end.id.value), text)
        return id_from_text(text, cert)
    if cert is not None:
        return fromcert_id(cert)
    return IdSpec.parse(address) if address else None


@dataclass(frozen=True, slots=True)
class LoadedCert:
    """A certificate a conn's ``leftcert=``/``rightcert=`` gave when it was added: the daemon
    logs its coming expiry then and daily (``pluto_core/cert_expiry.py``)."""

    conn: str
    keyword: str  # leftcert or rightcert, as written
    name: str  # the file or NSS nickname, as written
    cert: x509.Certificate
    ours: bool  # our end's (we sign with its key), else the peer's preloaded copy


def _our_cert(conn: Any, end: Any, side: str, ipsecdir: str | None, nssdir: str | None,
              now: dt.datetime | None = None) -> Any:
    """The end's certificate from ``leftcert=``, or None; ConfigError with the conn's file:line."""
    if not end.cert:
        return None
    return load_cert(conn, str(end.cert).strip(), f"{side}cert", ipsecdir, nssdir, now)


def _local_ca(end: Any) -> str | None:
    """``leftca=`` as a DN for ``rightca=%same`` (admission checked it parses); ``%same``,
    ``%any`` or unset: None, meaning the issuer of our certificate."""
    text = str(end.ca or "").strip()
    return None if text.lower() in ("", "%same", "%any") else text


def read_cert(name: str, ipsecdir: str | None, nssdir: str | None) -> x509.Certificate:
    """The certificate ``leftcert=NAME`` names: a file's first (under ``<ipsecdir>/certs/``
    unless absolute), or an NSS nickname's in the database at ``nssdir`` (docs/certificates.md:
    a ``/`` or a ``.pem``/``.crt``/``.cer``/``.der`` suffix makes it a file). Raises
    ``CertFileError``, or ``NssError`` (a ConfigError naming the database). Nothing about its
    dates: the daemon's daily expiry check reads it here too, expired or not."""
    ipsecdir = ipsecdir or DEFAULT_IPSECDIR
    if names_a_file(name):
        return read_certs(cert_path(name, ipsecdir))[0]
    return nss_certificate(name, nssdir or DEFAULT_NSSDIR).certificate


def load_cert(conn: Any, name: str, keyword: str, ipsecdir: str | None, nssdir: str | None,
              now: dt.datetime | None = None) -> Any:
    """``read_cert`` for a conn being added, refusing what cannot be used at ``now`` (default:
    the wall clock) as Libreswan does: a certificate that is missing, expired or not yet valid
    refuses the conn with its file:line. The daemon and ``ipsec checkconfig`` both come here,
    so both refuse with the same words."""
    ipsecdir = ipsecdir or DEFAULT_IPSECDIR
    try:
        cert = read_cert(name, ipsecdir, nssdir)
    except (CertFileError, ConfigError) as exc:  # ConfigError: NssError, naming the database
        text = str(exc)
        if not names_a_file(name) and os.path.isfile(cert_path(name, ipsecdir)):
            text += f" (for the file {cert_path(name, ipsecdir)} write {keyword}=./{name})"
        raise ConfigError(f"\"{conn.name}\": {keyword}={name}: {text}", conn.file, conn.line) from None
    why = unusable(cert, now or dt.datetime.now(dt.UTC))
    if why is not None:
        raise ConfigError(f"\"{conn.name}\": {describe(keyword, name, cert)} {why}", conn.file, conn.line)
    return cert


def check_certs(conn: Any, ipsecdir: str | None, nssdir: str | None,
                now: dt.datetime | None = None) -> tuple[list[ConfigError], list[str]]:
    """``ipsec checkconfig``: every ``leftcert=``/``rightcert=`` of a side that signs, read as the
    daemon reads ours (which end is ours depends on the host, so both are read). The refusals,
    and a ``FILE:LINE: "conn": leftcert=... expires in N days, on ...`` warning for each that
    ends within ``expiry.WARNING_WINDOW`` (what the daemon logs when it adds the conn)."""
    now = now or dt.datetime.now(dt.UTC)
    errors, warnings = [], []
    for side in ("left", "right"):
        end = getattr(conn, side)
        if end.cert and is_signature(end_auth(conn, side)):
            name = str(end.cert).strip()
            try:
                cert = load_cert(conn, name, f"{side}cert", ipsecdir, nssdir, now)
            except ConfigError as exc:
                errors.append(exc)
                continue
            soon = notice(cert, now)
            if soon is not None:
                warnings.append(str(ConfigError(f"\"{conn.name}\": {describe(f'{side}cert', name, cert)} {soon}",
                                                conn.file, conn.line)))
    return errors, warnings


def _dn_pattern(end: Any) -> bool:
    """Is the end's ID a DN with ``*`` wildcards (a pattern the peer's certificate must match)?"""
    if end.id is None or end.id.type is not ConfigIdType.DER_ASN1_DN:
        return False
    return parse_dn(str(end.id).strip()).has_wildcards


def end_selectors(end: Any, address: str | None) -> tuple[Selector, ...]:
    """``leftsubnet=`` (else the host), each with ``leftprotoport=`` unless the subnet has its own.
    IKE conns and shunts (``shunts.py``) build their selectors here, so both read an end alike."""
    proto = end.protoport.protocol if end.protoport else 0
    port = end.protoport.port if end.protoport else 0
    subnets = tuple(end.subnets) + tuple(end.extra_subnets)
    if subnets:
        return tuple(Selector.from_subnet(str(s.network), s.protocol, s.port or None) if s.protocol or s.port
                     else Selector.from_subnet(str(s.network), proto, port or None) for s in subnets)
    if address is None:
        return ()
    host = ipaddress.ip_address(address)
    return (Selector.from_subnet(f"{host}/{host.max_prefixlen}", proto, port or None),)


def _our_selectors(local: Any, address: str) -> tuple[Selector, ...]:
    """Our end's selectors; a Configuration payload client without ``leftsubnet=`` proposes
    0.0.0.0/0 (or ::/0) as TSi, which the server narrows to the lease (RFC 7296 2.9, 3.15)."""
    if local.modecfgclient and not (tuple(local.subnets) + tuple(local.extra_subnets)):
        return (Selector.from_subnet("0.0.0.0/0" if ipaddress.ip_address(address).version == 4 else "::/0"),)
    return end_selectors(local, address)


def _words(value: Any) -> tuple[str, ...]:
    """``a, b`` or ``"a b"`` (addresspool=, modecfgdns=, modecfgdomains=) as a tuple."""
    return tuple(w for w in str(value or "").replace(",", " ").split() if w)


def _nexthop(end: Any) -> str | None:
    """``leftnexthop=`` of this end as an address for updown's PLUTO_NEXT_HOP (``%direct`` and
    unset: None, the peer); other forms are refused in ``config/admission.py``."""
    try:
        return str(ipaddress.ip_address(end.nexthop)) if end.nexthop else None
    except ValueError:
        return None


def _vti(conn: Any, local_side: str) -> dict[str, object]:
    """The conn's VTI device (admission checked the values), for pluto_core/vti.py and the
    updown: its name, vti-routing=, vti-shared= and this end's ``leftvti=`` address."""
    name = route_based.vti_name(conn.get("vti-interface"))
    if name is None:
        return {}
    return {"vti-interface": name, "vti-routing": bool(conn.get("vti-routing")),
            "vti-shared": bool(conn.get("vti-shared")), "vti": route_based.vti_address(conn.get(f"{local_side}vti"))}


def _redirect(conn: Any) -> dict[str, Any]:
    """send-redirect=, redirect-to=, accept-redirect=, accept-redirect-to= (RFC 5685) as the
    engine takes them (admission refused what cannot be honoured)."""
    to = str(conn.get("redirect-to") or "").strip() or None
    send = str(conn.get("send-redirect") or "auto").lower()
    accept_to = str(conn.get("accept-redirect-to") or "").strip() or None
    return {"send_redirect": send if to else "no", "redirect_to": to,
            "accept_redirect": bool(conn.get("accept-redirect")), "accept_redirect_to": accept_to}


def to_engine_conn(conn: Any, ipsecdir: str | None = None, nssdir: str | None = None,
                   now: dt.datetime | None = None) -> EngineConn:
    """Raises ConfigError (with the conn's file:line) when the conn cannot be used by the engine.
    ``ipsecdir`` (default ``/etc/ipsec.d``): where a relative ``leftcert=`` file is, under
    ``certs/``; ``nssdir`` (default ``/var/lib/ipsec/nss``): where a nickname is; ``now``: the
    time certificates must be valid at (default: the wall clock).

    What pluto cannot honour was refused when the file was read (``config/admission.py``); the
    checks here are those that need the host (orientation, the local address), and a guard for
    conns built without the loader.
    """
    return build_engine_conn(conn, ipsecdir, nssdir, now)[0]


def build_engine_conn(conn: Any, ipsecdir: str | None = None, nssdir: str | None = None,
                      now: dt.datetime | None = None) -> tuple[EngineConn, tuple[LoadedCert, ...]]:
    """``to_engine_conn``, and the certificates it loaded (ours, the peer's preloaded copy) for
    the daemon to watch: read once, by the code ``ipsec checkconfig`` shares."""
    if conn.refusal is not None:
        raise conn.refusal
    if conn.never_negotiate:
        raise ConfigError(f"\"{conn.name}\": type={conn.type} authby={','.join(conn.authby) or '-'} never "
                          "negotiates: a shunt, not an IKE conn", conn.file, conn.line)
    local, remote = oriented_ends(conn)
    if local.address is None:
        raise ConfigError(f"\"{conn.name}\": the local end needs an IP address", conn.file, conn.line)
    local_addr = str(local.address)
    remote_addr = str(remote.address) if remote.address is not None else None
    for server in _words(conn.get("modecfgdns")):
        try:
            ipaddress.ip_address(server)
        except ValueError:
            raise ConfigError(f"\"{conn.name}\": modecfgdns={conn.get('modecfgdns')}: '{server}' is not an IP "
                              "address", conn.file, conn.line) from None
    if local.addresspool is not None:  # the pool is for the end that is given addresses: the peer's
        raise ConfigError(f"\"{conn.name}\": {'left' if conn.local_is_left else 'right'}addresspool= is on our "
                          "own end: we would be the client, and the Configuration payload client is not "
                          "supported yet (the server puts the pool on the peer's end)", conn.file, conn.line)
    local_auth = end_auth(conn, "left" if conn.local_is_left else "right")
    remote_auth = end_auth(conn, "right" if conn.local_is_left else "left")
    local_side, remote_side = ("left", "right") if conn.local_is_left else ("right", "left")
    cert = _our_cert(conn, local, local_side, ipsecdir, nssdir, now) if is_signature(local_auth) else None
    if is_signature(local_auth) and cert is None and str(local.rsasigkey or "").strip().lower() == "%cert":
        raise ConfigError(f"\"{conn.name}\": {local_side}rsasigkey=%cert needs {local_side}cert=", conn.file, conn.line)
    # rightcert=: the peer's certificate, preloaded (Libreswan loads it too); it stands in for
    # CERT payloads the peer does not send and gives rightid=%fromcert (or no rightid=) its DN
    peer_cert = _our_cert(conn, remote, remote_side, ipsecdir, nssdir, now) if is_signature(remote_auth) else None
    if local.id is not None and str(local.id).strip() == "%fromcert" and cert is None:
        raise ConfigError(f"\"{conn.name}\": {local_side}id=%fromcert needs {local_side}cert=", conn.file, conn.line)
    if _dn_pattern(local):
        raise ConfigError(f"\"{conn.name}\": {local_side}id={local.id}: our own ID cannot have wildcards",
                          conn.file, conn.line)
    local_id = _id(local, local_addr, cert) if local.id is not None or local_auth != "null" else NULL_ID
    if local_id is None:
        raise ConfigError(f"\"{conn.name}\": our own ID cannot be {local.id} (the peer must be told who we are)",
                          conn.file, conn.line)
    remote_id = _id(remote, remote_addr) if remote.id is not None or remote_auth != "null" else None
    if peer_cert is not None and (remote.id is None or str(remote.id).strip() == "%fromcert"):
        remote_id = _id(remote, remote_addr, peer_cert)
    remote_keys = _raw_keys(remote) if is_signature(remote_auth) else ()  # with a PSK they are not used
    remote_dn = remote.id is not None and remote.id.type in (ConfigIdType.DER_ASN1_DN, ConfigIdType.FROMCERT)
    remote_certs = is_signature(remote_auth) and not remote_keys and (
        cert is not None or peer_cert is not None or bool(remote.ca) or remote_dn)
    local_ckaid = None
    if is_signature(local_auth):
        local_ckaid = _ckaid(local) or (pubkeys.ckaid_hex(cert.public_key()) if cert is not None else None)
    dpdtimeout = conn.dpdtimeout if conn.dpdtimeout is not None else 0
    loaded = tuple(LoadedCert(conn.name, f"{side}cert", str(end.cert).strip(), c, ours)
                   for side, end, c, ours in ((local_side, local, cert, True),
                                              (remote_side, remote, peer_cert if remote_certs else None, False))
                   if c is not None)
    mark_in, mark_out = route_based.marks(conn.get("mark"), conn.get("mark-in"), conn.get("mark-out"))
    engine_conn = EngineConn(
        name=conn.name,
        local_addr=local_addr,
        remote_addr=remote_addr,
        local_id=local_id,
        remote_id=remote_id,
        local_ts=_our_selectors(local, local_addr),
        remote_ts=end_selectors(remote, remote_addr),
        ike_proposals=_proposals(conn, "ike"),
        esp_proposals=_proposals(conn, "esp"),
        mode="transport" if conn.type == "transport" else "tunnel",
        pfs=conn.pfs,
        ikelifetime=float(conn.ikelifetime),
        salifetime=float(conn.ipsec_lifetime),
        rekey=conn.rekey,
        rekeymargin=float(conn.rekeymargin),
        rekeyfuzz=conn.rekeyfuzz / 100.0,
        retransmit_interval=conn.retransmit_interval / 1000.0,
        retransmit_timeout=float(conn.retransmit_timeout),
        dpddelay=float(conn.dpddelay),
        dpdtimeout=float(dpdtimeout),
        replay_window=conn.replay_window,
        ipsec_max_bytes=int(conn.get("ipsec-max-bytes") or 0),
        ipsec_max_packets=int(conn.get("ipsec-max-packets") or 0),
        reqid=int(conn.get("reqid") or 0),
        priority=int(conn.get("priority") or 0),
        narrowing=bool(conn.narrowing),
        local_auth=local_auth,
        remote_auth=remote_auth,
        local_ckaid=local_ckaid,
        remote_keys=remote_keys,
        local_cert=str(local.cert).strip() if cert is not None else None,
        send_cert=SENDCERT.get(str(local.sendcert or "always").lower(), "always"),
        send_ca=str(conn.get("sendca") or "all").lower(),
        local_ca=_local_ca(local) if cert is not None else None,
        require_id_on_cert=conn.get("require-id-on-certificate") is not False,
        remote_certs=remote_certs,
        remote_cert=peer_cert if remote_certs else None,
        remote_ca=str(remote.ca).strip() if remote.ca and remote_certs else None,
        remote_id_wildcards=_dn_pattern(remote),
        **_redirect(conn),
        options={"auto": conn.auto, "encapsulation": conn.encapsulation, "nat-keepalive": conn.nat_keepalive,
                 "updown": local.updown, "nexthop": _nexthop(local),
                 "initial-contact": bool(conn.get("initial-contact")),
                 "fragmentation": conn.get("fragmentation") or "yes",
                 # the Configuration payload server (RFC 7296 3.15): the peer's pool, what goes with it
                 "addresspool": _words(remote.addresspool), "modecfgserver": bool(local.modecfgserver),
                 "modecfgclient": bool(local.modecfgclient),
                 # leftsourceip=: the source of the routes to the peer's subnets (pluto_core/leases.py)
                 "sourceip": str(local.sourceip[0]) if local.sourceip else None,
                 "modecfgdns": _words(conn.get("modecfgdns")), "modecfgdomains": _words(conn.get("modecfgdomains")),
                 # vti-interface= (pluto_core/vti.py makes the device; the updown gets VTI_*)
                 **_vti(conn, local_side)},
        # admission checked these parse (config/route_based.py)
        if_id=route_based.interface_id(conn.get("ipsec-interface")),
        mark_in=mark_in,
        mark_out=mark_out,
        mobike=bool(conn.mobike),
    )
    return engine_conn, loaded
