"""Admission (config/admission.py): each refusal names file:line and its reason; every conn
keyword is classified (acted on, refused at some values, or harmless); what is admitted
reaches the engine with leftauth=/narrowing=/leftprotoport= as written."""

from __future__ import annotations

from pathlib import Path

import pytest

from pluto_core.config import load_config
from pluto_core.config.admission import HARMLESS, IKEV1, REFUSING
from pluto_core.config.checkconfig import main as checkconfig
from pluto_core.config.connection import orient
from pluto_core.config.keywords import Kind, conn_keywords
from pluto_core.engine_conn import to_engine_conn
from pluto_core.errors import ConfigError

BASE = "conn c\n\tleft=192.0.2.1\n\tright=192.0.2.2\n\tauto=add\n"
# a real raw RSA key as ipsec showhostkey prints it (Libreswan's test key for east, public)
RSA_KEY = ("0sAQO9bJbr33iJs+13DaF/e+UWwsnkfZIKkJ1VQ7RiEwOFeuAme1QfygmTz/8lyQJMeMqU5T6s0fmo5bt/zCCE4CHJ8A3FRL"
           "rzSGRhWPYPYw3SZx5Zi+zzUDlx+znaEWS2Ys1f040uwVDtnG4iDDmnzmK1r4qADy5MBVyCx40pAi67I1/b8p61feIgcBpj845"
           "drEfwXCZOsdBCYFJKsHclzuCYK0P0x1kaZAGD6k7jGiqSuFWrY91LcEcp3Om0YL9DTViPZHOVcKw1ibLCnNRiwF9WX60b5d1Jk"
           "2r1I4Lt1OfV8VXyLaImpjZTL5T7mSJcR8xtgDCIljgM9fLtN9AJ1QePae+pmc5NGneeOcQ488VRUUjv")


def _load(tmp_path: Path, body: str) -> tuple[Path, object]:
    p = tmp_path / "ipsec.conf"
    p.write_text(BASE + body)
    return p, load_config(p)


def _refusal(tmp_path: Path, body: str) -> tuple[Path, ConfigError]:
    p, conf = _load(tmp_path, body)
    error = conf.refused["c"]  # type: ignore[attr-defined]
    assert conf.conns["c"].refusal is error  # type: ignore[attr-defined]
    return p, error


@pytest.mark.parametrize("body, line, message", [
    ("\tauthby=secret\n\tkeyexchange=ikev1\n", 6, IKEV1),
    ("\tauthby=secret\n\tikev2=no\n", 6, IKEV1),
    ("\tauthby=secret\n\tikev2=never\n", 6, IKEV1),
    ("\tauthby=secret\n\tikev2=permit\n", 6, IKEV1),  # Libreswan 3.x: permit initiates IKEv1
    ("\tauthby=ecdsa-sha2_256\n\trightrsasigkey=" + RSA_KEY + "\n", 6,
     "rightrsasigkey= is an rsasig key, but this side authenticates with ecdsa-sha2_256"),
    ("\tauthby=secret,rsasig\n", 5, "authby=secret,rsasig: a pre-shared key or a public key in one conn is not "
                                   "supported yet (one method per side: leftauth=/rightauth=)"),
    ("\tauthby=null,rsasig\n", 5, "authby=null,rsasig: authby=null with another method is not supported"),
    ("\tauthby=rsasig\n\trightca=\"XY=foo\"\n", 6, "rightca=XY=foo: not a DN: unknown attribute 'XY' in DN 'XY=foo'"),
    ("\tauthby=rsasig\n\trightrsasigkey=%dnsondemand\n", 6,
     "rightrsasigkey=%dnsondemand: public keys from DNS or other sources are not supported"),
    ("\tauthby=rsasig\n\tleftrsasigkey=0sAwEAAQ==\n", 6,
     "leftrsasigkey=: RFC 3110 RSA key: exponent length 3 leaves no modulus in 4 octets"),
    ("\tauthby=ecdsa\n\trightrsasigkey=" + RSA_KEY + "\n", 6,
     "rightrsasigkey= is an rsasig key, but this side authenticates with ecdsa"),
    ("\tauthby=rsasig\n\tleftckaid=xyz\n", 6,
     "leftckaid=xyz: a CKAID is hexadecimal (as ipsec showhostkey --list prints it)"),
    ("\tauthby=rsasig\n\tleftid=%null\n", 6,
     "leftid=%null: the NULL ID goes with NULL authentication (RFC 7619), not rsasig"),
    ("\tauthby=secret\n\tleftsourceip=192.0.1.1,192.0.1.2\n", 6,
     "leftsourceip=192.0.1.1,192.0.1.2: one address (Libreswan takes a single source address)"),
    ("\tauthby=secret\n\tmodecfgbanner=hello\n", 6,
     "modecfgbanner=hello: a banner is IKEv1 mode config: IKEv2's Configuration payload has no such attribute"),
    ("\tauthby=secret\n\trightxauthserver=yes\n", 6, f"rightxauthserver=yes: XAUTH is IKEv1: {IKEV1}"),
    ("\tauthby=secret\n\tleftcat=yes\n", 6, "leftcat=yes: client address translation is not supported"),
    ("\tauthby=secret\n\tleftvti=10.0.0.1/32\n", 6,
     "leftvti=10.0.0.1/32 goes with vti-interface= (the address is put on that device)"),
    ("\tauthby=secret\n\tvti-interface=vti0\n", 6,
     "vti-interface=vti0 needs mark= (or mark-in= and mark-out=): the VTI device's ikey and okey are the marks "
     "(Libreswan's _updown ignores vti-interface= without them)"),
    ("\tauthby=secret\n\tvti-interface=vti0\n\tmark-in=5\n", 6,
     "vti-interface=vti0 needs mark= (or mark-in= and mark-out=): the VTI device's ikey and okey are the marks "
     "(Libreswan's _updown ignores vti-interface= without them)"),
    ("\tauthby=secret\n\tvti-interface=vti0\n\tmark=5\n\tipsec-interface=1\n", 6,
     "vti-interface=vti0: a VTI device together with ipsec-interface= is not supported (one conn is routed "
     "through one device)"),
    ("\tauthby=secret\n\tvti-interface=vti0\n\tmark=5\n\ttype=transport\n", 6,
     "vti-interface=vti0: VTI requires tunnel mode but the conn has type=transport"),
    ("\tauthby=secret\n\tvti-interface=very-long-vti-name\n\tmark=5\n", 6,
     "vti-interface=very-long-vti-name: an interface name has at most 15 characters"),
    ("\tauthby=secret\n\tvti-interface=vti/0\n\tmark=5\n", 6,
     "vti-interface=vti/0: not an interface name (no '/', ':' or blanks, not '.' or '..')"),
    ("\tauthby=secret\n\tvti-interface=vti0\n\tmark=5\n\tleftvti=10.0.0.300/24\n", 8,
     "leftvti=10.0.0.300/24: not ADDRESS/PREFIX (the address to put on the VTI device)"),
    ("\tauthby=secret\n\tipsec-interface=ipsec1\n", 6,
     "ipsec-interface=ipsec1: not yes, no or an interface number"),
    ("\tauthby=secret\n\tmark=-1\n", 6,
     "mark=-1: a unique mark per connection instance (-1) is not supported yet"),
    ("\tauthby=secret\n\tmark-in=5/0xf0\n", 6, "mark-in=5/0xf0: the mark 0x5 has bits outside its mask 0xf0"),
    ("\tauthby=secret\n\tmark-out=fw\n", 6,
     "mark-out=fw: not a mark: VALUE or VALUE/MASK (decimal or 0x hexadecimal)"),
    ("\tauthby=secret\n\tipsec-interface=3\n\tmark=7\n", 7,
     "mark=7: a mark together with ipsec-interface= is not supported yet (Libreswan 4.x makes it the SA's "
     "output mark)"),
    ("\tauthby=secret\n\tipsec-interface=yes\n\tleftinterface-ip=10.0.0.1/24\n", 7,
     "leftinterface-ip=10.0.0.1/24: addresses on the ipsec-interface= device are not supported (Libreswan "
     "4.x does not implement interface-ip= either): add them with ip addr or an updown"),
    ("\tauthby=secret\n\ttype=transport\n\tmobike=yes\n", 7,
     "mobike=yes needs type=tunnel: MOBIKE moves tunnel end points, and a transport-mode Child SA has none"),
    ("\tauthby=secret\n\tleftsubnets={10.0.1.0/24 10.0.2.0/24}\n", 6,
     "leftsubnets={10.0.1.0/24 10.0.2.0/24}: one Child SA per subnet pair is not supported yet (leftsubnet=a,b "
     "gives one Child SA with all of them)"),
    ("\tauthby=secret\n\tleftid=\"C=CAN, O=Libreswan\"\n", 6,
     "leftid=C=CAN, O=Libreswan: not a DN: country C='CAN' is not a 2-letter code in DN 'C=CAN, O=Libreswan'"),
    ("\tauthby=secret\n\tesp=aes-sha2;modp2048\n", 6,
     "esp=aes-sha2;modp2048: a PFS group of the Child SA's own is not supported yet (the IKE SA's group is "
     "used; leave the group out)"),
    ("\tauthby=secret\n\tike=3des-sha1-modp2048\n", 6,
     "ike=3des-sha1-modp2048: encryption transform 3 is not supported"),
    ("\tauthby=secret\n\tphase2=ah\n", 6, "phase2=ah: AH is not supported (ESP only)"),
    ("\tauthby=secret\n\trightsubnet=vhost:%priv\n", 6,
     "rightsubnet=vhost:%priv: The vnet: and vhost: keywords are only valid for IKEv1 connections (Libreswan "
     "4.x refuses them in IKEv2 too)"),
    ("\tauthby=secret\n\trightsubnet=vnet:%priv,%v4:192.168.1.0/24\n", 6,
     "rightsubnet=vnet:%priv,%v4:192.168.1.0/24: The vnet: and vhost: keywords are only valid for IKEv1 "
     "connections (Libreswan 4.x refuses them in IKEv2 too)"),
    ("\tauthby=secret\n\tsend-redirect=yes\n", 6, "send-redirect=yes needs redirect-to= (where to send peers)"),
    ("\tauthby=secret\n\tsend-redirect=yes\n\tredirect-to=" + "a" * 256 + "\n", 7,
     "redirect-to=" + "a" * 256 + ": redirect destination '" + "a" * 256 + "' is not an address or a host name "
     "of 1-255 octets"),
    ("\tauthby=secret\n\taccept-redirect=yes\n\taccept-redirect-to=192.0.2.9,gw.example\n", 7,
     "accept-redirect-to=192.0.2.9,gw.example: gw.example is not an IP address (a redirect's destination is "
     "compared with addresses, or %any)"),
    ("\tauthby=secret\n\tleftnexthop=%dns\n", 6,
     "leftnexthop=%dns: a next hop that is not an address (or %direct, %defaultroute) is not supported yet"),
])
def test_refusal_names_file_line_and_reason(tmp_path: Path, body: str, line: int, message: str) -> None:
    p, error = _refusal(tmp_path, body)
    assert (error.file, error.line, error.message) == (str(p), line, message)
    with pytest.raises(ConfigError) as raised:  # the only way into the engine refuses it too
        to_engine_conn(orient(load_config(p).conns["c"], {"192.0.2.1"}))
    assert raised.value.message == message


@pytest.mark.parametrize("body", [
    "\tauthby=secret\n\tmobike=no\n\tencap-dscp=yes\n\tnic-offload=no\n\tppk=no\n\tleftnexthop=%direct\n",
    "\tauthby=psk\n\tkeyexchange=ikev2\n\tikev2=yes\n\tenable-tcp=no\n\tsend-redirect=auto\n",
    "\tleftauth=secret\n\trightauth=psk\n\tleftikeport=500\n",
    "\tauthby=secret\n\tleftcert=ignored-with-psk\n\tconnalias=other\n",
])
def test_honoured_values_are_admitted(tmp_path: Path, body: str) -> None:
    _p, conf = _load(tmp_path, body)
    assert conf.refused == {}  # type: ignore[attr-defined]
    engine = to_engine_conn(orient(conf.conns["c"], {"192.0.2.1"}))  # type: ignore[attr-defined]
    assert (engine.local_auth, engine.remote_auth) == ("secret", "secret")


def test_vti_keywords_reach_the_engine(tmp_path: Path) -> None:
    _p, conf = _load(tmp_path, "\tauthby=secret\n\tvti-interface=vti1\n\tmark=5\n\tvti-shared=yes\n"
                               "\tleftvti=10.99.0.1/30\n\trightvti=10.99.0.2/30\n")
    assert conf.refused == {}  # type: ignore[attr-defined]
    engine = to_engine_conn(orient(conf.conns["c"], {"192.0.2.1"}))  # type: ignore[attr-defined]
    assert {k: engine.options[k] for k in ("vti-interface", "vti-routing", "vti-shared", "vti")} == {
        "vti-interface": "vti1", "vti-routing": False, "vti-shared": True, "vti": "10.99.0.1/30"}
    assert (engine.mark_in, engine.mark_out) == ((5, 0xFFFFFFFF), (5, 0xFFFFFFFF))
    east = to_engine_conn(orient(conf.conns["c"], {"192.0.2.2"}))  # type: ignore[attr-defined]
    assert east.options["vti"] == "10.99.0.2/30"  # each end its own leftvti=/rightvti=
    _p, conf = _load(tmp_path, "\tauthby=secret\n\tvti-interface=vti1\n\tmark-in=5\n\tmark-out=6\n"
                               "\tvti-routing=yes\n")
    engine = to_engine_conn(orient(conf.conns["c"], {"192.0.2.1"}))  # type: ignore[attr-defined]
    assert (engine.options["vti-routing"], engine.options["vti"]) == (True, None)
    plain = to_engine_conn(orient(_load(tmp_path, "\tauthby=secret\n")[1].conns["c"],  # type: ignore[attr-defined]
                                  {"192.0.2.1"}))
    assert "vti-interface" not in plain.options


def test_redirect_keywords_reach_the_engine(tmp_path: Path) -> None:
    _p, conf = _load(tmp_path, "\tauthby=secret\n\taccept-redirect=yes\n\taccept-redirect-to=192.0.2.7,192.0.2.8\n"
                               "\tsend-redirect=yes\n\tredirect-to=gw-b.example\n")
    engine = to_engine_conn(orient(conf.conns["c"], {"192.0.2.1"}))  # type: ignore[attr-defined]
    assert (engine.accept_redirect, engine.accept_redirect_to) == (True, "192.0.2.7,192.0.2.8")
    assert (engine.send_redirect, engine.redirect_to) == ("yes", "gw-b.example")
    _p, conf = _load(tmp_path, "\tauthby=secret\n")  # Libreswan's defaults: auto, but nowhere to send peers
    engine = to_engine_conn(orient(conf.conns["c"], {"192.0.2.1"}))  # type: ignore[attr-defined]
    assert (engine.accept_redirect, engine.send_redirect, engine.redirect_to) == (False, "no", None)


def test_shunts_are_left_to_the_shunt_code(tmp_path: Path) -> None:
    for body in ("\ttype=passthrough\n", "\ttype=drop\n\tmobike=yes\n", "\tauthby=never\n"):
        _p, conf = _load(tmp_path, body)
        conn = conf.conns["c"]  # type: ignore[attr-defined]
        assert conn.never_negotiate and conn.refusal is None and conf.refused == {}  # type: ignore[attr-defined]
        with pytest.raises(ConfigError, match="never negotiates: a shunt, not an IKE conn"):
            to_engine_conn(orient(conn, {"192.0.2.1"}))


def test_narrowing_protoport_and_nexthop_reach_the_engine(tmp_path: Path) -> None:
    body = ("\tauthby=secret\n\tnarrowing=yes\n\tleftsubnet=10.0.1.0/24\n\tleftprotoport=udp/1234\n"
            "\trightsubnet=10.0.2.0/24/tcp/22\n\trightprotoport=udp/1234\n\tleftnexthop=192.0.2.254\n")
    _p, conf = _load(tmp_path, body)
    engine = to_engine_conn(orient(conf.conns["c"], {"192.0.2.1"}))  # type: ignore[attr-defined]
    assert engine.narrowing is True
    assert [str(s) for s in engine.local_ts] == ["10.0.1.0/24/17/1234"]
    assert [str(s) for s in engine.remote_ts] == ["10.0.2.0/24/6/22"]  # the subnet's own wins
    assert engine.options["nexthop"] == "192.0.2.254"
    _p, conf = _load(tmp_path, "\tauthby=secret\n")
    assert to_engine_conn(orient(conf.conns["c"], {"192.0.2.2"})).narrowing is False  # type: ignore[attr-defined]


def test_every_conn_keyword_is_classified() -> None:
    """Acted on, refused at the values pluto does not implement, or harmless (with a reason)."""
    unclassified = []
    for name, kw in conn_keywords().items():
        if kw.kind is not Kind.KEYWORD:
            continue
        if not kw.acted and kw.canonical not in REFUSING and kw.canonical not in HARMLESS:
            unclassified.append(name)
        assert kw.canonical not in HARMLESS or kw.canonical not in REFUSING, name
    assert unclassified == []
    assert set(REFUSING) | set(HARMLESS) <= {kw.canonical for kw in conn_keywords().values()}


def test_checkconfig_reports_refusals_of_conns_that_would_be_added(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "ipsec.conf"
    p.write_text(BASE + "\tauthby=secret\n\tkeyexchange=ikev1\n"
                 "conn d\n\tleft=192.0.2.1\n\tright=192.0.2.3\n\tauthby=secret\n\tsec-label=system_u\n")
    assert checkconfig(["--config", str(p)]) == 1
    out = capsys.readouterr().out
    assert f'ERROR: "c": {p}:6: {IKEV1}\n' in out
    assert (f'warning: "d": {p}:11: sec-label=system_u: labeled IPsec is not supported (auto=ignore; ipsec add '
            "would refuse it)") in out
    assert "accepted but not acted on yet" not in out  # refused keywords give no notice


def test_raw_key_conns_reach_the_engine_with_their_keys_and_ckaid(tmp_path: Path) -> None:
    from pluto_core.ikev2.crypto import pubkeys

    _p, conf = _load(tmp_path, f"\tauthby=rsasig\n\tleftid=@west\n\trightid=@east\n\tleftckaid=AB:cd01\n"
                               f"\trightrsasigkey={RSA_KEY}\n")
    conn = conf.conns["c"]  # type: ignore[attr-defined]
    assert conn.refusal is None
    engine_conn = to_engine_conn(orient(conn, {"192.0.2.1"}))
    assert (engine_conn.local_auth, engine_conn.remote_auth) == ("rsasig", "rsasig")
    assert engine_conn.local_ckaid == "abcd01"
    (key,) = engine_conn.remote_keys
    assert pubkeys.encode_rsasigkey(key) == RSA_KEY
    # the other orientation signs with the key's own CKAID and trusts nothing from the conn
    other = to_engine_conn(orient(conn, {"192.0.2.2"}))
    assert other.local_ckaid == pubkeys.ckaid_hex(key) and other.remote_keys == ()


def test_null_and_default_authby_conns_are_admitted(tmp_path: Path) -> None:
    _p, conf = _load(tmp_path, "\tauthby=null\n")
    engine_conn = to_engine_conn(orient(conf.conns["c"], {"192.0.2.1"}))  # type: ignore[attr-defined]
    assert (engine_conn.local_auth, engine_conn.local_id.text, engine_conn.remote_id) == ("null", "ID_NULL", None)
    _p, conf = _load(tmp_path, "")  # Libreswan's default: rsasig,ecdsa
    engine_conn = to_engine_conn(orient(conf.conns["c"], {"192.0.2.1"}))  # type: ignore[attr-defined]
    assert engine_conn.remote_auth == "rsasig,ecdsa"


@pytest.mark.parametrize(("authby", "engine"), [
    ("rsa-sha1", "rsa-sha1"), ("rsa-sha2", "rsa-sha2"), ("rsa-sha2_256,rsa-sha2_512", "rsa-sha2_256,rsa-sha2_512"),
    ("ecdsa-sha2_384", "ecdsa-sha2_384"), ("rsa-sha2_256,ecdsa-sha2", "rsa-sha2_256,ecdsa"),
])
def test_words_that_pin_the_signature_hash_reach_the_engine_as_written(tmp_path: Path, authby: str,
                                                                       engine: str) -> None:
    _p, conf = _load(tmp_path, f"\tauthby={authby}\n")
    assert conf.refused == {}  # type: ignore[attr-defined]
    engine_conn = to_engine_conn(orient(conf.conns["c"], {"192.0.2.1"}))  # type: ignore[attr-defined]
    assert (engine_conn.local_auth, engine_conn.remote_auth) == (engine, engine)


def _cert_dir(tmp_path: Path) -> tuple[Path, object]:
    """<tmp>/ipsec.d/certs/west.pem: an ECDSA certificate for west issued by a test CA, valid
    around the real time (a conn is refused when its certificate is not valid now)."""
    import datetime as dt

    from cryptography.hazmat.primitives.serialization import Encoding

    from tests import x509_pki as pki

    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    dates = {"not_before": now - 30 * pki.DAY, "not_after": now + 365 * pki.DAY}
    ca = pki.root("C=CA, O=Libreswan, CN=Test CA", **dates)
    west = pki.issue("C=CA, O=Libreswan, CN=west.testing.libreswan.org", pki.key("ecdsa", 1), ca, **dates)
    (tmp_path / "ipsec.d" / "certs").mkdir(parents=True)
    (tmp_path / "ipsec.d" / "certs" / "west.pem").write_bytes(west.cert.public_bytes(Encoding.PEM))
    return tmp_path / "ipsec.d", west.cert


def test_a_certificate_conn_reaches_the_engine_with_its_id_ckaid_ca_and_sendcert(tmp_path: Path) -> None:
    from pluto_core.ikev2.crypto import pubkeys
    from pluto_core.ikev2.enums import IdType

    ipsecdir, cert = _cert_dir(tmp_path)
    body = ("\tleftcert=west.pem\n\tleftid=%fromcert\n\tleftsendcert=always\n"
            "\trightid=\"C=CA, O=Libreswan, CN=*\"\n\trightca=\"C=CA, O=Libreswan, CN=Test CA\"\n")
    _p, conf = _load(tmp_path, body)
    assert conf.refused == {}  # type: ignore[attr-defined]
    engine = to_engine_conn(orient(conf.conns["c"], {"192.0.2.1"}), str(ipsecdir))  # type: ignore[attr-defined]
    assert (engine.local_auth, engine.remote_auth) == ("rsasig,ecdsa", "rsasig,ecdsa")
    assert engine.local_id.id_type == IdType.ID_DER_ASN1_DN
    assert engine.local_id.data == cert.subject.public_bytes()  # type: ignore[attr-defined]
    assert engine.local_ckaid == pubkeys.ckaid_hex(cert.public_key())  # type: ignore[attr-defined]
    assert (engine.local_cert, engine.send_cert, engine.remote_certs) == ("west.pem", "always", True)
    assert engine.remote_ca == "C=CA, O=Libreswan, CN=Test CA"
    assert engine.remote_id is not None and engine.remote_id.text == "C=CA, O=Libreswan, CN=*"
    assert engine.remote_id_wildcards is True
    assert (engine.send_ca, engine.local_ca, engine.require_id_on_cert) == ("all", None, True)
    # no leftid=: the certificate's subject, as Libreswan; sendcert= defaults to always (what
    # Libreswan 4.x's addconn sets and its status prints, whatever ipsec.conf(5) says)
    _p, conf = _load(tmp_path, "\tleftcert=west.pem\n\trightid=@east\n")
    engine = to_engine_conn(orient(conf.conns["c"], {"192.0.2.1"}), str(ipsecdir))  # type: ignore[attr-defined]
    assert engine.local_id.text == "C=CA, O=Libreswan, CN=west.testing.libreswan.org"
    assert (engine.send_cert, engine.remote_id_wildcards, engine.remote_ca) == ("always", False, None)
    # sendca=, leftca= (what rightca=%same stands for), require-id-on-certificate=no reach the engine
    _p, conf = _load(tmp_path, "\tleftcert=west.pem\n\trightid=@east\n\tsendca=issuer\n"
                               "\tleftca=\"C=CA, O=Libreswan, CN=Test CA\"\n\trequire-id-on-certificate=no\n")
    assert conf.refused == {}  # type: ignore[attr-defined]
    engine = to_engine_conn(orient(conf.conns["c"], {"192.0.2.1"}), str(ipsecdir))  # type: ignore[attr-defined]
    assert (engine.send_ca, engine.local_ca, engine.require_id_on_cert) == (
        "issuer", "C=CA, O=Libreswan, CN=Test CA", False)


@pytest.mark.parametrize("body, message", [
    ("\tleftcert=gone.pem\n", "leftcert=gone.pem: {dir}/certs/gone.pem: cannot read: No such file or directory"),
    ("\tleftid=%fromcert\n", "leftid=%fromcert needs leftcert="),
    ("\tleftcert=west.pem\n\trightcert=east.pem\n",
     "rightcert=east.pem: {dir}/certs/east.pem: cannot read: No such file or directory"),
    ("\tleftrsasigkey=%cert\n\trightrsasigkey=%cert\n", "leftrsasigkey=%cert needs leftcert="),
    ("\tleftcert=west.pem\n\tleftid=\"C=CA, CN=*\"\n", "leftid=C=CA, CN=*: our own ID cannot have wildcards"),
])
def test_certificate_conns_the_host_cannot_run_name_the_conn_and_why(tmp_path: Path, body: str, message: str) -> None:
    ipsecdir, _cert = _cert_dir(tmp_path)
    p, conf = _load(tmp_path, body)
    with pytest.raises(ConfigError) as raised:
        to_engine_conn(orient(conf.conns["c"], {"192.0.2.1"}), str(ipsecdir))  # type: ignore[attr-defined]
    assert (raised.value.file, raised.value.line) == (str(p), 1)
    assert raised.value.message == f"\"c\": {message.format(dir=ipsecdir)}"


def test_rsasigkey_cert_and_a_preloaded_peer_certificate(tmp_path: Path) -> None:
    """``leftrsasigkey=%cert`` (the key is the certificate's) and ``rightcert=`` (the peer's
    certificate, preloaded: stands in when the peer sends none, and names its ID)."""
    import shutil

    ipsecdir, cert = _cert_dir(tmp_path)
    shutil.copy(ipsecdir / "certs" / "west.pem", ipsecdir / "certs" / "peer.pem")
    body = "\tleftcert=west.pem\n\tleftrsasigkey=%cert\n\trightrsasigkey=%cert\n\trightcert=peer.pem\n"
    _p, conf = _load(tmp_path, body)
    assert conf.refused == {}  # type: ignore[attr-defined]
    engine = to_engine_conn(orient(conf.conns["c"], {"192.0.2.1"}), str(ipsecdir))  # type: ignore[attr-defined]
    assert engine.remote_certs is True and engine.remote_keys == ()
    assert engine.remote_cert == cert
    assert engine.remote_id is not None and engine.remote_id.text == "C=CA, O=Libreswan, CN=west.testing.libreswan.org"


def test_a_pool_on_the_peers_end_reaches_the_engine(tmp_path: Path) -> None:
    """The Configuration payload server (docs/remote-access.md): rightaddresspool=, modecfgdns=, modecfgdomains=."""
    p = tmp_path / "ipsec.conf"
    p.write_text("conn rw\n\tleft=192.0.2.1\n\tright=%any\n\tauthby=secret\n\tleftsubnet=0.0.0.0/0\n"
                 "\trightaddresspool=10.9.0.10-10.9.0.99\n\tmodecfgdns=\"192.0.2.53, 2001:db8::53\"\n"
                 "\tmodecfgdomains=example.org\n")
    conn = to_engine_conn(orient(load_config(p).conns["rw"], {"192.0.2.1"}))
    assert conn.options["addresspool"] == ("10.9.0.10-10.9.0.99",)
    assert conn.options["modecfgdns"] == ("192.0.2.53", "2001:db8::53")
    assert conn.options["modecfgdomains"] == ("example.org",)


@pytest.mark.parametrize("body, message", [
    ("\tleftaddresspool=10.9.0.0/24\n", "leftaddresspool= is on our own end"),
    ("\trightaddresspool=10.9.0.0/24\n\tmodecfgdns=dns.example\n", "'dns.example' is not an IP address"),
])
def test_a_pool_we_cannot_serve_is_refused_with_file_and_line(tmp_path: Path, body: str, message: str) -> None:
    p = tmp_path / "ipsec.conf"
    p.write_text("conn rw\n\tleft=192.0.2.1\n\tright=%any\n\tauthby=secret\n" + body)
    with pytest.raises(ConfigError) as raised:
        to_engine_conn(orient(load_config(p).conns["rw"], {"192.0.2.1"}))
    assert message in raised.value.message and raised.value.file == str(p) and raised.value.line == 1


def test_trafficstatus_names_the_instance_and_the_lease_as_libreswan() -> None:
    from pluto_core.cli.ipsec import format_traffic

    row = {"serial": 2, "conn": "east", "label": '"east"[2] 192.1.2.45', "add_time": 1234567890, "inBytes": 84,
           "outBytes": 84, "peer_id": "@west", "lease": ["192.3.1.0/32"]}
    # the line of Libreswan's addresspool-4in4-ikev2 test (east.console.txt)
    assert format_traffic([row]) == ("#2: \"east\"[2] 192.1.2.45, type=ESP, add_time=1234567890, inBytes=84, "
                                     "outBytes=84, maxBytes=2^63B, id='@west', lease=192.3.1.0/32")
    assert format_traffic([{**row, "label": None, "lease": []}]).startswith("#2: \"east\", type=ESP")
