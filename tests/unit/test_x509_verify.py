"""Path validation with an IKE extension policy, the reasons a refusal gives, and rightca=
(pluto_core/x509/verify.py). Every PKI is made here with cryptography."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from pluto_core.x509.verify import OID_IPSEC_IKE, ChainRefused, check_ca, verify_chain
from tests import x509_pki as pki
from tests.x509_pki import DAY, NOW

ROOT = ("C=CA, ST=Ontario, L=Toronto, O=Libreswan, OU=Test Department, CN=Libreswan test CA for mainca, "
        "E=testing@libreswan.org")
EAST = "C=CA, O=Libreswan, CN=east.testing.libreswan.org"


def _refused(end: pki.Issued, inter: list[pki.Issued], trusted: list[pki.Issued]) -> str:
    with pytest.raises(ChainRefused) as info:
        verify_chain(end.cert, [i.cert for i in inter], [t.cert for t in trusted], NOW)
    return str(info.value)


@pytest.mark.parametrize("kind", ["rsa", "ecdsa"])
@pytest.mark.parametrize("length", [1, 2, 3])
def test_good_chains(kind: pki.Kind, length: int) -> None:
    root = pki.root(ROOT, kind)
    if length == 1:  # a self-signed peer certificate that is itself trusted
        peer = pki.issue("CN=east", pki.key(kind, 1), None, ca=True,
                         key_usage=["digital_signature", "key_cert_sign"])
        assert verify_chain(peer.cert, [], [root.cert, peer.cert], NOW) == [peer.cert]
        # its key usage must still allow signatures to be a peer's certificate
        assert _refused(root, [], [root]) == "key usage does not allow signatures"
        return
    issuer = root
    inter = []
    if length == 3:
        issuer = pki.issue("C=CA, O=Libreswan, CN=Intermediate", pki.key(kind, 2), root, ca=True,
                           key_usage=["key_cert_sign"])
        inter.append(issuer)
    end = pki.issue(EAST, pki.key(kind, 1), issuer, key_usage=["digital_signature"],
                    eku=[OID_IPSEC_IKE], san=pki.dns("east.testing.libreswan.org"))
    other_root = pki.root("CN=Some other CA", "ecdsa", 5)
    chain = verify_chain(end.cert, [i.cert for i in inter], [other_root.cert, root.cert], NOW)
    assert chain == [end.cert, *[i.cert for i in inter], root.cert]


@pytest.mark.parametrize("ca_kind", ["rsa", "ecdsa"])
def test_ed25519_end_certificate(ca_kind: pki.Kind) -> None:
    root = pki.root(ROOT, ca_kind)
    inter = pki.issue("CN=Intermediate", pki.key(ca_kind, 2), root, ca=True)
    end = pki.issue(EAST, pki.key("ed25519", 1), inter)  # no extensions at all: accepted
    assert verify_chain(end.cert, [inter.cert], [root.cert], NOW) == [end.cert, inter.cert, root.cert]


def test_ed25519_signed_certificates_are_refused_with_the_reason() -> None:
    # cryptography's verifier only accepts RSA/ECDSA certificate signatures (web PKI policy)
    root = pki.root(ROOT, "ed25519")
    end = pki.issue(EAST, pki.key("ed25519", 1), root)
    assert _refused(end, [], [root]) == (
        "certificate 'C=CA, O=Libreswan, CN=east.testing.libreswan.org' is signed with EdDSA by "
        f"'{ROOT}': the path validator accepts RSA and ECDSA certificate signatures only")


def test_intermediates_in_any_order_and_extra_ones() -> None:
    root = pki.root()
    a = pki.issue("CN=A", pki.key("ecdsa", 2), root, ca=True)
    b = pki.issue("CN=B", pki.key("ecdsa", 3), a, ca=True)
    junk = pki.issue("CN=Junk", pki.key("ecdsa", 4), pki.root("CN=Elsewhere", "ecdsa", 6), ca=True)
    end = pki.issue("CN=end", pki.key("ecdsa", 1), b)
    assert verify_chain(end.cert, [junk.cert, a.cert, b.cert], [root.cert], NOW) == \
        [end.cert, b.cert, a.cert, root.cert]


def test_expired_and_not_yet_valid_end() -> None:
    root = pki.root()
    old = pki.issue(EAST, pki.key("ecdsa", 1), root, not_before=NOW - 400 * DAY,
                    not_after=NOW.replace(month=1, day=1, hour=0))
    assert _refused(old, [], [root]) == "certificate expired on 2025-01-01 00:00:00 UTC"
    new = pki.issue(EAST, pki.key("ecdsa", 1), root, not_before=NOW + 2 * DAY)
    assert _refused(new, [], [root]) == "certificate not yet valid until 2025-06-03 12:00:00 UTC"
    # the same certificate is fine at a time inside its validity
    assert verify_chain(new.cert, [], [root.cert], NOW + 3 * DAY)[0] == new.cert


def test_expired_intermediate_and_root() -> None:
    root = pki.root()
    inter = pki.issue("CN=Intermediate", pki.key("ecdsa", 2), root, ca=True, not_after=NOW - DAY)
    end = pki.issue(EAST, pki.key("ecdsa", 1), inter)
    assert _refused(end, [inter], [root]) == \
        "CA certificate 'CN=Intermediate' expired on 2025-05-31 12:00:00 UTC"
    old_root = pki.root("CN=Old Root", not_after=NOW - DAY)
    end2 = pki.issue(EAST, pki.key("ecdsa", 1), old_root)
    assert _refused(end2, [], [old_root]) == "CA certificate 'CN=Old Root' expired on 2025-05-31 12:00:00 UTC"


@pytest.mark.parametrize("usage", [["key_encipherment"], ["key_agreement"], ["key_cert_sign"]])
def test_key_usage_without_signature(usage: list[str]) -> None:
    root = pki.root()
    end = pki.issue(EAST, pki.key("ecdsa", 1), root, key_usage=usage)
    assert _refused(end, [], [root]) == "key usage does not allow signatures"


@pytest.mark.parametrize("usage", [["digital_signature"], ["content_commitment"],
                                   ["digital_signature", "key_encipherment"]])
def test_key_usage_with_signature(usage: list[str]) -> None:
    root = pki.root()
    end = pki.issue(EAST, pki.key("ecdsa", 1), root, key_usage=usage)
    assert verify_chain(end.cert, [], [root.cert], NOW)[0] == end.cert


@pytest.mark.parametrize(("eku", "ok"), [
    ([ExtendedKeyUsageOID.SERVER_AUTH], True), ([ExtendedKeyUsageOID.CLIENT_AUTH], True),
    ([OID_IPSEC_IKE], True), ([ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE], True),
    ([ExtendedKeyUsageOID.CODE_SIGNING, ExtendedKeyUsageOID.SERVER_AUTH], True),
    ([ExtendedKeyUsageOID.CODE_SIGNING], False), ([ExtendedKeyUsageOID.EMAIL_PROTECTION], False),
])
def test_extended_key_usage(eku: list[x509.ObjectIdentifier], ok: bool) -> None:
    root = pki.root()
    end = pki.issue(EAST, pki.key("ecdsa", 1), root, eku=eku)
    if ok:
        assert verify_chain(end.cert, [], [root.cert], NOW)[0] == end.cert
    else:
        assert _refused(end, [], [root]) == \
            f"extended key usage ({eku[0]._name}) allows neither IKE nor TLS server/client"
    odd = pki.issue(EAST, pki.key("ecdsa", 1), root, eku=[x509.ObjectIdentifier("1.2.3.4")])
    assert _refused(odd, [], [root]) == "extended key usage (1.2.3.4) allows neither IKE nor TLS server/client"


def test_unknown_ca() -> None:
    root = pki.root()
    stranger = pki.root("C=CA, O=Elsewhere, CN=Stranger CA", "ecdsa", 7)
    end = pki.issue(EAST, pki.key("ecdsa", 1), stranger)
    assert _refused(end, [], [root]) == "issuer not trusted (no CA for 'C=CA, O=Elsewhere, CN=Stranger CA')"
    # the peer sending its (untrusted) root does not help
    assert _refused(end, [stranger], [root]) == "issuer not trusted (no CA for 'C=CA, O=Elsewhere, CN=Stranger CA')"
    # nor a missing intermediate
    inter = pki.issue("CN=Missing Intermediate", pki.key("ecdsa", 2), root, ca=True)
    end2 = pki.issue(EAST, pki.key("ecdsa", 1), inter)
    assert _refused(end2, [], [root]) == "issuer not trusted (no CA for 'CN=Missing Intermediate')"
    with pytest.raises(ChainRefused, match="no trusted CA certificates"):
        verify_chain(end.cert, [], [], NOW)


@pytest.mark.parametrize("ca", [None, False])
def test_intermediate_that_is_not_a_ca(ca: bool | None) -> None:
    root = pki.root()
    inter = pki.issue("CN=Just a Server", pki.key("ecdsa", 2), root, ca=ca)
    end = pki.issue(EAST, pki.key("ecdsa", 1), inter)
    assert _refused(end, [inter], [root]) == "not a CA: 'CN=Just a Server'"


def test_ca_key_usage_without_cert_sign() -> None:
    root = pki.root()
    inter = pki.issue("CN=Signs Nothing", pki.key("ecdsa", 2), root, ca=True, key_usage=["digital_signature"])
    end = pki.issue(EAST, pki.key("ecdsa", 1), inter)
    assert _refused(end, [inter], [root]) == "key usage of CA 'CN=Signs Nothing' does not allow signing certificates"


def test_forged_signature_is_refused_by_the_verifier() -> None:
    # right names, wrong key: only the verifier can tell, and its words are kept
    root = pki.root()
    impostor = pki.Issued(root.cert, pki.key("ecdsa", 8))
    end = pki.issue(EAST, pki.key("ecdsa", 1), impostor)
    reason = _refused(end, [], [root])
    assert reason.startswith("certificate chain refused: ")


def test_unknown_critical_extension_is_refused() -> None:
    root = pki.root()
    ext = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.99999.1"), b"\x05\x00")
    end = pki.issue(EAST, pki.key("ecdsa", 1), root, extra=[(ext, True)])
    assert "unaccounted-for critical extensions" in _refused(end, [], [root])
    ok = pki.issue(EAST, pki.key("ecdsa", 1), root, extra=[(ext, False)])
    assert verify_chain(ok.cert, [], [root.cert], NOW)[0] == ok.cert


def test_path_length_constraint() -> None:
    root = pki.issue("CN=Root", pki.key("ecdsa", 0), None, ca=True, path_length=0)
    inter = pki.issue("CN=Intermediate", pki.key("ecdsa", 2), root, ca=True)
    end = pki.issue(EAST, pki.key("ecdsa", 1), inter)
    assert _refused(end, [inter], [root]).startswith("certificate chain refused: ")


def test_small_rsa_ca_key() -> None:
    small = rsa.generate_private_key(65537, 1024)
    root = pki.issue("CN=Small Root", small, None, ca=True)
    end = pki.issue(EAST, pki.key("ecdsa", 1), root)
    assert _refused(end, [], [root]) == "RSA key of 1024 bits in 'CN=Small Root' is below the 2048-bit minimum"
    big_root = pki.root()
    inter = pki.issue("CN=Small Intermediate", small, big_root, ca=True)
    end = pki.issue(EAST, pki.key("ecdsa", 1), inter)
    assert _refused(end, [inter], [big_root]) == \
        "RSA key of 1024 bits in 'CN=Small Intermediate' is below the 2048-bit minimum"


# ------------------------------------------------------------------ rightca=

def _chain3() -> list[x509.Certificate]:
    root = pki.root(ROOT)
    inter = pki.issue("C=CA, O=Libreswan, CN=Libreswan intermediate", pki.key("ecdsa", 2), root, ca=True)
    end = pki.issue(EAST, pki.key("ecdsa", 1), inter)
    return verify_chain(end.cert, [inter.cert], [root.cert], NOW)


def test_rightca_dn_and_wildcards() -> None:
    chain = _chain3()
    assert check_ca(chain, ROOT) == 0
    assert check_ca(chain, ROOT.replace("C=CA", "C=cA")) == 0  # corpus: leftca="C=cA, ..."
    assert check_ca(chain, "C=CA, O=Libreswan, CN=Libreswan intermediate") == 0  # passes through
    assert check_ca(chain, "C=CA, O=*, CN=*") == 2
    with pytest.raises(ChainRefused) as info:
        check_ca(chain, ROOT.replace("mainca", "otherca"))
    assert str(info.value) == (
        f"no CA in the chain ('C=CA, O=Libreswan, CN=Libreswan intermediate', '{ROOT}') matches "
        f"rightca={ROOT.replace('mainca', 'otherca')} '{ROOT.replace('mainca', 'otherca')}'")
    # the end certificate itself is not a CA for rightca=
    with pytest.raises(ChainRefused):
        check_ca(chain, EAST)


def test_rightca_any_and_same() -> None:
    chain = _chain3()
    other = pki.root("CN=Other CA", "ecdsa", 9).cert
    assert check_ca(chain, "%any") == 0
    assert check_ca(chain, "%any", our_ca=other.subject) == 0
    assert check_ca(chain, "%same", our_ca=chain[-1].subject) == 0
    assert check_ca(chain, None, our_ca=chain[-1].subject.public_bytes()) == 0
    assert check_ca(chain, None) == 0  # no CA of our own: nothing to be the same as
    for rightca in ("%same", None):
        with pytest.raises(ChainRefused, match=r"matches rightca=%same 'CN=Other CA'"):
            check_ca(chain, rightca, our_ca=other.subject)


def test_rightca_one_certificate_chain() -> None:
    root = pki.issue("CN=east", pki.key("ecdsa", 1), None, ca=True)
    chain = verify_chain(root.cert, [], [root.cert], NOW)
    assert check_ca(chain, "CN=east") == 0
    with pytest.raises(ChainRefused):
        check_ca(chain, "CN=west")

