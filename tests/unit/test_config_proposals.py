"""ike=/esp=/ah= proposals: the algparse-01/-02-fips transcripts, IANA numbers, conn wiring, fuzz."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pluto_core.config import load_config, parse_proposals
from pluto_core.config.checkconfig import main as checkconfig
from pluto_core.config.proposals import Proposal, ProposalError, default_proposals

# --------------------------------------------------------------------------------------------
# The `ipsec algparse --tp` transcripts: every string accepted or refused as Libreswan does,
# with the same expansion, the same warnings and the same error text.


@dataclass
class Case:
    version: int
    pfs: bool
    fips: bool
    protocol: str
    text: str | None
    expect: str
    warnings: list[str] = field(default_factory=list)
    output: list[str] = field(default_factory=list)
    error: str | None = None


_HEAD = re.compile(r"^algparse (?P<flags>.*?)'(?P<arg>.*)' \(expect (?P<expect>SUCCESS|ERROR)\)$")


def _cases(console: Path) -> list[Case]:
    cases: list[Case] = []
    cur: Case | None = None
    for line in console.read_text().split("\n"):
        m = _HEAD.match(line)
        if m:
            flags = m.group("flags").split()
            proto, eq, text = m.group("arg").partition("=")
            cur = Case(1 if "--ikev1" in flags else 2, "--pfs" in flags, "--fips" in flags, proto,
                       text if eq else None, m.group("expect"))
            cases.append(cur)
        elif line.startswith(("west #", " ")):
            cur = None  # a shell prompt or command ends the case
        elif cur is not None:
            if line.startswith("ipsec algparse: "):
                cur.warnings.append(line.removeprefix("ipsec algparse: "))
            elif line.startswith("\tERROR: "):
                cur.error = line.removeprefix("\tERROR: ")
            elif line.startswith("\t"):
                cur.output.append(line[1:])
    return cases


def _mismatch(case: Case) -> str | None:
    try:
        ps = parse_proposals(case.protocol, case.text, ike_version=case.version, pfs=case.pfs, fips=case.fips)
    except ProposalError as exc:
        if case.expect == "ERROR" and str(exc) == case.error:
            return None
        return f"want {case.error or case.output!r}, got ERROR {exc}"
    got = [str(p) for p in ps.proposals]
    if case.expect == "SUCCESS" and got == case.output and list(ps.warnings) == case.warnings:
        return None
    return f"want {case.error or (case.warnings, case.output)!r}, got {(list(ps.warnings), got)!r}"


@pytest.mark.parametrize("test", ["algparse-01", "algparse-02-fips"])
def test_algparse_transcript(corpus_data: Path, test: str) -> None:
    cases = _cases(corpus_data / "libreswan-expect" / test / "west.console.txt")
    # four runs (IKEv1/IKEv2, with and without --pfs) of 249 strings each: 73 ike, 147 esp, 29 ah
    assert len(cases) == 996
    assert sum(c.expect == "ERROR" for c in cases) > 300
    assert {c.fips for c in cases} == {test.endswith("fips")}
    # Nothing is skipped: IKEv1 and ah= are modelled too (IKEv1 only to validate files).
    failures = [f"{c.version} pfs={c.pfs} {c.protocol}={c.text}: {why}"
                for c in cases if (why := _mismatch(c)) is not None]
    assert failures == []


# --------------------------------------------------------------------------------------------
# Expansion to IANA numbers (RFC 7296 §3.3.2 registry values)


def test_ike_aes_gcm256_expands_prf_and_groups() -> None:
    (p,) = parse_proposals("ike", "aes_gcm256").proposals
    assert p.encr == ((20, 256),) and p.aead
    assert p.prf == (7, 5)  # PRF_HMAC_SHA2_512, PRF_HMAC_SHA2_256
    assert p.integ == (0,)  # AEAD: no integrity transform
    assert p.dh == (19, 20, 21, 31, 16, 15, 14, 18)
    assert str(p) == ("AES_GCM_16_256-HMAC_SHA2_512+HMAC_SHA2_256-"
                      "DH19+DH20+DH21+DH31+MODP4096+MODP3072+MODP2048+MODP8192")


def test_esp_aes_expands_key_lengths_and_integrity() -> None:
    (p,) = parse_proposals("esp", "aes").proposals
    assert p.encr == ((12, 0),) and p.wire_encr() == ((12, 256), (12, 128))
    assert p.integ == (14, 12) and p.dh == () and p.sn == ()
    (q,) = parse_proposals("esp", "3des-sha1;modp2048", pfs=True).proposals
    assert q.wire_encr() == ((3, None),) and q.integ == (2,) and q.dh == (14,)
    (r,) = parse_proposals("esp", "aes;sn=yes").proposals
    assert r.sn == (1,)


def test_typed_segments_and_addke() -> None:
    (p,) = parse_proposals("ike", "aes-sha2;prf=sha1;ke=dh20;addke1=mlkem768").proposals
    assert p.prf == (5, 2) and p.dh == (20,) and p.addke == ((36,),)
    assert str(p) == "AES_CBC-HMAC_SHA2_256+HMAC_SHA1-DH20;addke1=ML_KEM_768"


def test_defaults() -> None:
    ike = default_proposals("ike")
    assert [p.encr for p in ike.proposals] == [((20, 256),), ((20, 128),), ((28, 0),), ((12, 256),), ((12, 128),)]
    assert ike.is_default and parse_proposals("ike", None) == ike
    fips = default_proposals("esp", fips=True)
    assert all(p.encr[0][0] != 28 for p in fips.proposals)  # no ChaCha20-Poly1305 in FIPS mode


@pytest.mark.parametrize("protocol,text,error", [
    ("ike", "", "IKE proposal is empty"),
    ("ike", "aes;none", "IKE Key Exchange algorithm 'NONE' not permitted"),
    ("esp", "aes-sha1;modp1024", "ESP Key Exchange Method (DH) 'modp1024' is not supported"),
    ("esp", "aes224", "ESP encryption algorithm AES_CBC with key length 224 invalid; valid key lengths: 128, 192, 256"),
])
def test_errors(protocol: str, text: str, error: str) -> None:
    with pytest.raises(ProposalError, match=re.escape(error)):
        parse_proposals(protocol, text)


# --------------------------------------------------------------------------------------------
# Property: whatever parses prints in a form that parses back to the same proposals.

_WORDS = ["aes", "aes128", "aes_gcm", "aes_gcm_a", "3des", "chacha20poly1305", "null_auth_aes_gmac_256",
          "camellia", "aes_ctr", "256", "sha1", "sha2", "sha2_512", "sha1_96", "md5", "aes_xcbc", "none",
          "null", "modp2048", "dh19", "dh31", "ecp_384", "sn=yes", "prf=sha1", "ke=dh20", "integ=sha2",
          "addke1=modp3072", "bogus", ""]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["ike", "esp", "ah"]), st.integers(1, 2), st.booleans(),
       st.lists(st.tuples(st.sampled_from(_WORDS), st.sampled_from(["-", "+", ";", ","])), max_size=6))
def test_parse_print_parse(protocol: str, version: int, pfs: bool, parts: list[tuple[str, str]]) -> None:
    text = "".join(w + sep for w, sep in parts).rstrip("-+;,")
    try:
        first = parse_proposals(protocol, text, ike_version=version, pfs=pfs)
    except ProposalError:
        return  # refusing is fine; any other exception fails the test
    printed = ",".join(str(p) for p in first.proposals)
    again = parse_proposals(protocol, printed, ike_version=version, pfs=pfs)
    assert again.proposals == first.proposals, (text, printed)


_ENCR = ["aes", "aes128", "aes_gcm", "aes_gcm_a-256", "3des", "chacha20_poly1305", "aes_ctr192", "camellia256",
         "aes_ccm", "null_auth_aes_gmac"]
_PRF = ["sha1", "sha2", "sha2_512", "sha384", "md5", "aes_xcbc"]
_INTEG = ["sha1", "sha2", "sha2_512", "sha1_96", "md5", "aes_xcbc", "aes_cmac", "null"]
_DH = ["modp2048", "dh19", "dh20", "dh31", "modp8192", "none", "mlkem768"]


@st.composite
def _shaped(draw: st.DrawFn) -> tuple[str, str, int, bool]:
    """``ENCR[-PRF|INTEG][-KE]`` shaped strings (mostly valid) for each protocol."""
    protocol = draw(st.sampled_from(["ike", "esp", "ah"]))
    version = draw(st.integers(1, 2))
    plus = 2 if version == 2 else 1

    def some(words: list[str]) -> str:
        return "+".join(draw(st.lists(st.sampled_from(words), min_size=1, max_size=plus)))

    proposals = []
    for _ in range(draw(st.integers(1, 3))):
        parts = [] if protocol == "ah" else [some(_ENCR)]
        if draw(st.booleans()):
            parts.append(some(_PRF if protocol == "ike" else _INTEG))
        text = "-".join(parts) or some(_INTEG)
        if draw(st.booleans()):
            text += ";" + some(_DH)
        proposals.append(text)
    return protocol, ",".join(proposals), version, draw(st.booleans())


@settings(max_examples=200, deadline=None)
@given(_shaped())
def test_shaped_parse_print_parse(case: tuple[str, str, int, bool]) -> None:
    protocol, text, version, pfs = case
    try:
        first = parse_proposals(protocol, text, ike_version=version, pfs=pfs)
    except ProposalError:
        return
    if any(p.aead and p.dh == (0,) for p in first.proposals):
        return  # "AES_GCM_16-NONE" reads back as integ NONE: Libreswan's printed form is ambiguous here
    printed = ",".join(str(p) for p in first.proposals)
    assert parse_proposals(protocol, printed, ike_version=version, pfs=pfs).proposals == first.proposals


def test_proposal_is_frozen() -> None:
    p = Proposal("esp", ((12, 128),), (), (12,))
    with pytest.raises(AttributeError):
        p.integ = (2,)  # type: ignore[misc]


# --------------------------------------------------------------------------------------------
# Connection wiring


def _write(tmp_path: Path, text: str, name: str = "ipsec.conf") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_connection_carries_parsed_sets_and_defaults(tmp_path: Path) -> None:
    text = ("conn a\n\tleft=1.1.1.1\n\tright=2.2.2.2\n\tike=aes_gcm256\n\tphase2alg=aes-sha1\n"
            "conn b\n\tleft=1.1.1.1\n\tright=2.2.2.2\n"
            "conn v1\n\tleft=1.1.1.1\n\tright=2.2.2.2\n\tkeyexchange=ikev1\n\tike=3des-sha1\n")
    conf = load_config(_write(tmp_path, text))
    a, b, v1 = conf.conns["a"], conf.conns["b"], conf.conns["v1"]
    assert a.ike is not None and a.ike.proposals[0].encr == ((20, 256),)
    assert a.esp is not None and str(a.esp) == "AES_CBC-HMAC_SHA1_96" and a.ah is None
    assert b.ike == default_proposals("ike") and b.esp == default_proposals("esp")
    assert v1.ike is not None and len(v1.ike.proposals) == 4  # IKEv1: one per default group


def test_bad_proposal_fails_the_conn_with_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = ("conn bad\n\tleft=1.1.1.1\n\tright=2.2.2.2\n\tesp=aes-sha1555\n\tauto=add\n"
            "conn good\n\tleft=1.1.1.1\n\tright=2.2.2.2\n")
    p = _write(tmp_path, text)
    conf = load_config(p)
    assert set(conf.conns) == {"good"}
    err = conf.failed["bad"]
    assert (err.file, err.line) == (str(p), 4)
    assert str(err) == f"{p}:4: esp=\"aes-sha1555\" invalid, ESP Integrity Algorithm 'sha1555' is not recognized"
    assert checkconfig(["--config", str(p)]) == 1
    assert "ESP Integrity Algorithm 'sha1555' is not recognized" in capsys.readouterr().out


def test_pfs_no_drops_esp_groups_with_a_warning(tmp_path: Path) -> None:
    p = _write(tmp_path, "conn c\n\tleft=1.1.1.1\n\tright=2.2.2.2\n\tpfs=no\n\tesp=aes-sha2;dh19\n")
    conf = load_config(p)
    assert conf.conns["c"].esp.proposals[0].dh == ()
    assert conf.warnings == [
        f"{p}:5: \"c\": ignoring ESP Key Exchange algorithm 'DH19' as PFS policy is disabled"]


def test_esp_and_ah_conflict(tmp_path: Path) -> None:
    p = _write(tmp_path, "conn c\n\tleft=1.1.1.1\n\tright=2.2.2.2\n\tphase2=ah\n\tah=sha1\n\tesp=aes\n")
    conf = load_config(p)
    assert conf.failed["c"].message == 'ah="sha1" conficts with esp="aes"'


# --------------------------------------------------------------------------------------------
# Accepted-but-not-acted keywords: one notice per keyword per file, apart from warnings


def test_not_acted_notices(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = ("config setup\n\tlogfile=/tmp/x\n\tdnssec-enable=no\n"
            "conn a\n\tleft=1.1.1.1\n\tright=2.2.2.2\n\tnm-configured=yes\n\tleftcert=w\n"
            "conn b\n\tleft=1.1.1.1\n\tright=2.2.2.2\n\tnm-configured=no\n\trightcert=e\n\tikelifetime=1h\n"
            "conn c\n\tleft=1.1.1.1\n\tright=2.2.2.2\n\tmobike=no\n")  # honoured or refused: no notice
    p = _write(tmp_path, text)
    conf = load_config(p)
    assert conf.warnings == []
    assert conf.notices == [
        f"{p}:3: warning: dnssec-enable=no is accepted but not acted on yet",
        f"{p}:7: warning: nm-configured=yes is accepted but not acted on yet",
    ]  # leftcert= is acted on (a PSK conn ignores it)
    assert checkconfig(["--config", str(p)]) == 0
    assert f"{p}:7: warning: nm-configured=yes is accepted but not acted on yet" in capsys.readouterr().out
