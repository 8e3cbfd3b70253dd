"""``ike=``/``esp=``/``ah=``/``phase2alg=`` proposal strings, parsed and expanded like Libreswan 5.

A string is a comma list of proposals. An IKEv2 proposal is ``ENCR[-PRF][-INTEG][-KE]`` (each a
``+`` list, ``aes256`` or ``aes-256`` for a key length), then ``;KE`` and/or ``;type=LIST``
segments (``encrypt=``, ``prf=``, ``integ=``, ``ke=``, ``sn=``, ``addke1..7=``). IKEv1 takes
``ENCR[-PRF|INTEG][-KE]`` with one algorithm per slot. Missing parts get Libreswan's defaults
(``esp=aes`` -> AES_CBC with HMAC_SHA2_512_256+HMAC_SHA2_256_128). Error texts and the printed
form (``str(Proposal)``) are those of ``ipsec algparse`` (corpus ``algparse-01``), so the two can
be compared line by line. Syntax: ipsec.conf(5) "Proposals" (corpus ``sect__proposals.txt``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pluto_core.config import proposal_algs as A
from pluto_core.config.proposal_algs import Alg

__all__ = ["Proposal", "ProposalSet", "ProposalError", "parse_proposals", "default_proposals"]

_PROTO_TITLE = {"ike": "IKE", "esp": "ESP", "ah": "AH"}
_MAX_KEY_BITS = 0xFFFF  # RFC 7296 §3.3.5: the Key Length attribute is 16 bits
_ADDKE = tuple(f"addke{i}" for i in range(1, 8))  # RFC 9370 §2.2.1: ADDKE1..ADDKE7


class ProposalError(ValueError):
    """A proposal string Libreswan refuses; the message is its wording (without ``ERROR: ``)."""


@dataclass(frozen=True, slots=True)
class Proposal:
    """One expanded proposal, as IANA IKEv2 transform IDs.

    ``encr`` holds (transform id, key bits); 0 bits = not given (``wire_encr`` expands it).
    ``integ`` is ``(0,)`` (NONE) for AEAD ciphers. ``dh`` is empty for an ESP/AH proposal
    without a PFS group (the Child SA uses the IKE SA's keys). ``sn`` (type 5) is empty unless
    the string sets ``sn=``; the conn's ``esn=`` applies then. ``addke`` holds RFC 9370 ADDKE1..
    lists, in order.
    """

    protocol: str  # "ike", "esp" or "ah"
    encr: tuple[tuple[int, int], ...] = ()
    prf: tuple[int, ...] = ()
    integ: tuple[int, ...] = ()
    dh: tuple[int, ...] = ()
    sn: tuple[int, ...] = ()
    addke: tuple[tuple[int, ...], ...] = ()
    ike_version: int = 2

    @property
    def aead(self) -> bool:
        return any(A.by_id("encr", e).aead for e, _ in self.encr)

    def wire_encr(self) -> tuple[tuple[int, int | None], ...]:
        """Encryption transforms to send: a missing key length becomes 256 then 128.

        (id, None) for ciphers without a Key Length attribute (3DES, ChaCha20-Poly1305, NULL).
        """
        out: list[tuple[int, int | None]] = []
        for ident, bits in self.encr:
            keys = A.by_id("encr", ident).keys
            if not keys:
                out.append((ident, None))
            elif bits:
                out.append((ident, bits))
            else:
                out.extend((ident, b) for b in (256, 128) if b in keys)
        return tuple(out)

    def __str__(self) -> str:
        """The ``ipsec algparse`` form: ``AES_GCM_16_256-HMAC_SHA2_512+HMAC_SHA2_256-DH19``."""
        parts: list[str] = []
        if self.encr:
            parts.append("+".join(_encr_name(A.by_id("encr", e), b) for e, b in self.encr))
        if self.protocol == "ike":
            parts.append(_names("prf", self.prf))
            implied = tuple(_PRF_INTEG.get(p, -1) for p in self.prf)
            if self.integ and self.integ != (0,) and self.integ != implied:
                parts.append(_names("integ", self.integ))
        elif self.integ and self.integ != (0,):
            parts.append(_names("integ", self.integ))
        if self.dh:
            parts.append(_names("dh", self.dh))
        text = "-".join(parts)
        if self.sn:
            text += ";sn=" + _names("sn", self.sn)
        for i, groups in enumerate(self.addke, 1):
            if groups:
                text += f";addke{i}=" + _names("dh", groups)
        return text


@dataclass(frozen=True, slots=True)
class ProposalSet:
    """The proposals of one ``ike=``/``esp=``/``ah=`` (``text`` None: the defaults)."""

    protocol: str
    text: str | None
    proposals: tuple[Proposal, ...] = ()
    warnings: tuple[str, ...] = field(default=(), compare=False)

    @property
    def is_default(self) -> bool:
        return self.text is None

    def __str__(self) -> str:
        return ", ".join(str(p) for p in self.proposals)


# PRF -> the integrity algorithm Libreswan pairs with it (hidden in the printed form).
_PRF_INTEG = {1: 1, 2: 2, 5: 12, 6: 13, 7: 14, 4: 5}


def _encr_name(alg: Alg, bits: int) -> str:
    return f"{alg.name}_{bits}" if bits else alg.name


def _names(kind: str, ids: tuple[int, ...]) -> str:
    return "+".join(A.by_id(kind, i).name for i in ids)


# --------------------------------------------------------------------------------------------
# Defaults (Libreswan 5: pluto's "default IKEv2 ike proposals" and friends)
_IKE2_ENCR = ((20, 256), (20, 128), (28, 0), (12, 256), (12, 128))
_IKE2_PRF = (7, 5)
_IKE2_DH = (19, 20, 21, 31, 16, 15, 14, 18)
_ESP2 = (((20, 256),), ((20, 128),), ((28, 0),), ((12, 256),), ((12, 128),))
_ESP2_INTEG = (14, 12)
_IKE1_ENCR = ((12, 0), (3, 0))
_IKE1_PRF = (5, 7, 2)
_IKE1_DH = (14, 5, 19, 31)
_ESP1 = ((12, 0), (20, 128), (20, 256), (3, 0))
_ESP1_INTEG = (2, 14, 12)


def _ok(kind: str, ident: int, version: int, protocol: str, fips: bool) -> bool:
    alg = A.by_id(kind, ident)
    return alg.usable(version, protocol) and (alg.fips or not fips)


def default_proposals(protocol: str, *, ike_version: int = 2, fips: bool = False) -> ProposalSet:
    """Libreswan's proposals for an unset ``ike=``/``esp=``/``ah=`` (FIPS drops what it forbids)."""
    v, out = ike_version, []

    def keep(kind: str, ids: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(i for i in ids if _ok(kind, i, v, protocol, fips))

    if protocol == "ike":
        if v == 2:
            for e in _IKE2_ENCR:
                if _ok("encr", e[0], v, protocol, fips):
                    # (Libreswan does not FIPS-filter the IKEv2 default groups: DH31 stays)
                    out.append(Proposal("ike", (e,), _IKE2_PRF, (0,) if _aead(e[0]) else (14, 12),
                                        _IKE2_DH))
        else:
            for e in _IKE1_ENCR:
                for g in keep("dh", _IKE1_DH):
                    for p in _IKE1_PRF:
                        out.append(Proposal("ike", (e,), (p,), (_PRF_INTEG[p],), (g,), ike_version=1))
    elif protocol == "esp":
        if v == 2:
            for encr in _ESP2:
                if _ok("encr", encr[0][0], v, protocol, fips):
                    out.append(Proposal("esp", encr, (), (0,) if _aead(encr[0][0]) else _ESP2_INTEG))
        else:
            for e in _ESP1:
                if _aead(e[0]):
                    out.append(Proposal("esp", (e,), (), (0,), ike_version=1))
                else:
                    out.extend(Proposal("esp", (e,), (), (i,), ike_version=1) for i in _ESP1_INTEG)
    else:
        if v == 2:
            out.extend(Proposal("ah", (), (), (i,)) for i in _ESP2_INTEG)
        else:
            out.extend(Proposal("ah", (), (), (i,), ike_version=1) for i in _ESP1_INTEG)
    return ProposalSet(protocol, None, tuple(out))


def _aead(encr_id: int) -> bool:
    return A.by_id("encr", encr_id).aead


# --------------------------------------------------------------------------------------------
@dataclass(slots=True)
class _Raw:
    """One proposal while it is being read: (alg, key bits) for encr, algs for the rest."""

    encr: list[tuple[Alg, int]] = field(default_factory=list)
    prf: list[Alg] = field(default_factory=list)
    integ: list[Alg] = field(default_factory=list)
    dh: list[Alg] = field(default_factory=list)
    sn: list[Alg] = field(default_factory=list)
    addke: dict[int, list[Alg]] = field(default_factory=dict)
    dh_set: bool = False


class _Parser:
    def __init__(self, protocol: str, version: int, pfs: bool, fips: bool) -> None:
        self.protocol = protocol
        self.P = _PROTO_TITLE[protocol]
        self.v = version
        self.pfs = pfs
        self.fips = fips
        self.warnings: list[str] = []

    # -- lookups -------------------------------------------------------------------------------
    def err_empty(self, kind: str) -> ProposalError:
        what = "encryption algorithm" if kind == "encr" else A.KIND_TITLE[kind]
        if kind == "integ" and self.protocol == "ah":
            what = "integrity algorithm"
        return ProposalError(f"{self.P} {what} is empty")

    def find(self, kind: str, name: str) -> Alg:
        """``name`` as a ``kind`` usable here, or the error Libreswan gives."""
        title = f"{self.P} {A.KIND_TITLE[kind]} '{name}'"
        if not name:
            raise self.err_empty(kind)
        alg = A.lookup(kind, name)
        if alg is None:
            if name.lower() in A.UNIMPLEMENTED[kind]:
                raise ProposalError(f"{title} is not supported")
            raise ProposalError(f"{title} is not recognized")
        if kind == "integ" and alg.id == 0 and self.protocol == "ah":
            raise ProposalError("AH cannot have 'none' as the integrity algorithm")
        if kind == "dh" and alg.id == 0 and self.v == 1:
            raise ProposalError(f"{title} is not supported by IKEv1")
        if self.fips and not alg.fips:
            raise ProposalError(f"{title} is not supported")
        if not alg.usable(self.v, self.protocol):
            raise ProposalError(f"{title} is not supported" + (" by IKEv1" if self.v == 1 else ""))
        return alg

    def known(self, kind: str, name: str) -> bool:
        return A.lookup(kind, name) is not None

    def find_encr(self, name: str, keylen_text: str | None = None) -> tuple[Alg, int]:
        """``aes``, ``aes256``, ``aes_gcm_16_256`` (and ``aes``+``-256`` via ``keylen_text``)."""
        if not name:
            raise self.err_empty("encr")
        digits = None
        alg_name = name
        if A.lookup("encr", name) is None and name.lower() not in A.UNIMPLEMENTED["encr"]:
            m = re.fullmatch(r"(.*?)_?(\d+)", name)
            if m and (A.lookup("encr", m.group(1)) or m.group(1).lower() in A.UNIMPLEMENTED["encr"]):
                alg_name, digits = m.group(1), m.group(2)
        try:
            alg = self.find("encr", alg_name)
        except ProposalError as exc:
            if digits is not None:  # report the whole word: 'camellia666' is not supported
                raise ProposalError(str(exc).replace(f"'{alg_name}'", f"'{name}'")) from None
            raise
        shown = name
        if keylen_text is not None:
            digits, shown = keylen_text, f"{name}-{keylen_text}"
        if digits is None:
            return alg, 0
        bits = int(digits)
        if bits > _MAX_KEY_BITS:
            raise ProposalError(f"{self.P} encryption algorithm '{shown}' key length WAY too big")
        if bits == 0:
            raise ProposalError(f"{self.P} encryption key length is zero")
        if not alg.keys:
            raise ProposalError(f"{self.P} encryption algorithm {alg.name} does not allow a key lengths")
        if bits not in alg.keys:
            valid = ", ".join(str(k) for k in alg.keys)
            raise ProposalError(f"{self.P} encryption algorithm {alg.name} with key length {bits} invalid; "
                                f"valid key lengths: {valid}")
        return alg, bits

    def find_list(self, kind: str, text: str) -> list[Alg]:
        if self.v == 1 and "+" in text:
            raise ProposalError("'+' invalid, IKEv1 proposals do not support multiple transforms of the same type")
        return [self.find(kind, n) for n in text.split("+")]

    def encr_list(self, text: str, keylen_text: str | None = None) -> list[tuple[Alg, int]]:
        if self.v == 1 and "+" in text:
            raise ProposalError("'+' invalid, IKEv1 proposals do not support multiple transforms of the same type")
        names = text.split("+")
        if any(not n for n in names):
            raise self.err_empty("encr")
        if keylen_text is not None and len(names) == 1:
            return [self.find_encr(names[0], keylen_text)]
        return [self.find_encr(n) for n in names]

    # -- one proposal --------------------------------------------------------------------------
    def proposal(self, text: str) -> _Raw:
        raw = _Raw()
        segments = text.split(";")
        first = segments[0]
        rest = segments[1:]
        if "=" in first:
            rest = segments
        else:
            self.positional(first, raw)
        for seg in rest:
            if "=" in seg:
                self.typed(seg, raw)
                continue
            if raw.dh_set:
                raise ProposalError(f"{self.P} proposal contains unexpected ';{seg}', "
                                    "expecting ';<transform>=...'")
            head, dash, tail = seg.partition("-")
            if not head:
                raise self.err_empty("dh")
            raw.dh.extend(self.find_list("dh", head))
            raw.dh_set = True
            if dash:
                raise ProposalError(f"{self.P} proposal contains unexpected '-{tail}', "
                                    "expecting ';<transform>=...'")
        return raw

    def unexpected(self, token: str) -> ProposalError:
        return ProposalError(f"{self.P} proposal contains unexpected '-{token}', expecting ';<transform>=...'")

    def positional(self, text: str, raw: _Raw) -> None:
        tokens = text.split("-")
        if self.protocol == "ah":
            slots = ["integ", "dh"]
        else:
            if not tokens[0]:
                raise self.err_empty("encr")
            encr_text = tokens.pop(0)
            keylen = None
            if tokens and tokens[0].isdigit() and "+" not in encr_text:
                keylen = tokens.pop(0)
            raw.encr.extend(self.encr_list(encr_text, keylen))
            if self.protocol == "esp":
                slots = ["integ", "dh"]
            elif self.v == 1:
                slots = ["prf", "dh"]
            else:
                self.ike_v2_slots(tokens, raw)
                return
        for token in tokens:
            if not slots:
                raise self.unexpected(token)
            kind = slots.pop(0)
            if not token:
                raise self.err_empty(kind)
            names = token.split("+")
            if (kind == "integ" and self.protocol == "esp"
                    and all(self.known("dh", n) for n in names)
                    and not all(self.known("integ", n) for n in names)):
                # ENCR-KE: the printed form of an AEAD proposal with a PFS group
                kind = slots.pop(0)
            getattr(raw, kind).extend(self.find_list(kind, token))
            if kind == "dh":
                raw.dh_set = True

    def ike_v2_slots(self, tokens: list[str], raw: _Raw) -> None:
        """IKEv2 ``ENCR-PRF[-INTEG][-KE]``, also the old ``ENCR-INTEG-PRF[-KE]`` order (warned)."""
        integ_first = False
        for token in tokens:
            if not token:
                raise self.err_empty("prf" if not raw.prf else "dh")
            names = token.split("+")
            if not raw.prf and not raw.integ:
                if all(self.known("prf", n) for n in names):
                    raw.prf.extend(self.find_list("prf", token))
                elif all(self.known("integ", n) for n in names):
                    raw.integ.extend(self.find_list("integ", token))
                    integ_first = True
                else:
                    raw.prf.extend(self.find_list("prf", token))  # raises the PRF error
            elif integ_first and not raw.prf:
                if any(i.id != 0 for i in raw.integ):
                    self.warnings.append("WARNING: IKE proposal has integ specified before prf; "
                                         "use encrypt-prf-integ-ke order")
                raw.prf.extend(self.find_list("prf", token))
            elif (not integ_first and not raw.integ and not raw.dh_set
                  and all(self.known("integ", n) and not self.known("prf", n) and not self.known("dh", n)
                          for n in names)):
                raw.integ.extend(self.find_list("integ", token))
            elif not raw.dh_set:
                raw.dh.extend(self.find_list("dh", token))
                raw.dh_set = True
            else:
                raise self.unexpected(token)

    def typed(self, seg: str, raw: _Raw) -> None:
        key, _, value = seg.partition("=")
        k = key.strip().lower()
        if self.v == 1:
            if k in ("encrypt", "ke") and not raw.encr and not raw.integ:
                what = "integ" if self.protocol == "ah" else "encrypt"
                raise ProposalError(f"{self.P} proposal missing {what} transform")
            if k == "integ":
                raise ProposalError(f"{self.P} proposal contains unexpected explicit integ=")
            if k in ("encrypt", "prf", "ke", "sn"):
                if k == "sn":
                    raise ProposalError(f"{self.P} Sequence Number '{value}' is not supported by IKEv1")
                raise ProposalError("IKEv1 does not support multiple transforms of the same type ('=' invalid)")
            raise ProposalError(f"transform '{key}' invalid")
        if k == "encrypt":
            raw.encr.extend(self.encr_list(value))
        elif k in ("prf", "integ", "sn"):
            if not value:
                raise self.err_empty(k)
            getattr(raw, k).extend(self.find_list(k, value))
        elif k == "ke":
            if not value:
                raise self.err_empty("dh")
            raw.dh.extend(self.find_list("dh", value))
            raw.dh_set = True
        elif k in _ADDKE:
            if not value:
                raise self.err_empty("dh")
            raw.addke.setdefault(_ADDKE.index(k) + 1, []).extend(self.find_list("dh", value))
        else:
            raise ProposalError(f"transform '{key}' invalid")

    # -- checks and defaults -------------------------------------------------------------------
    def finish(self, raw: _Raw) -> list[Proposal]:
        """Apply defaults and checks; IKEv1 proposals expand to one per combination."""
        P = self.P
        if self.protocol != "ah" and not raw.encr:
            raise ProposalError(f"{P} proposal missing encrypt transform")
        if self.protocol == "ah" and not raw.integ and self.v == 1:
            raise ProposalError(f"{P} proposal missing integ transform")
        encr = _dedup_encr(raw.encr, self.warnings, P) if self.v == 2 else raw.encr
        prf = self.dedup("prf", raw.prf)
        integ = self.dedup("integ", raw.integ)
        dh = self.dedup("dh", raw.dh)
        aeads = {alg.aead for alg, _ in encr}
        if len(aeads) > 1:
            raise ProposalError(f"AEAD and non-AEAD {P} encryption algorithm cannot be combined")
        aead = aeads == {True}
        if encr:
            name = encr[0][0].name
            if aead and integ and any(i.id != 0 for i in integ):
                raise ProposalError(f"AEAD {P} encryption algorithm {name} must have 'NONE' as the "
                                    "integrity algorithm")
            if not aead and any(i.id == 0 for i in integ):
                raise ProposalError(f"non-AEAD {P} encryption algorithm {name} cannot have 'NONE' as the "
                                    "integrity algorithm")
        if self.protocol == "ike":
            if any(g.id == 0 for g in dh):
                raise ProposalError(f"{P} Key Exchange algorithm 'NONE' not permitted")
        elif dh and not self.pfs:
            # IKEv1 expands first and warns once per expanded proposal
            times = 1 if self.v == 2 else len(self.expand(encr, prf, integ, [], raw, aead))
            for _ in range(times):
                for g in dh:
                    redundant = "redundant " if g.id == 0 else ""
                    self.warnings.append(f"ignoring {redundant}{P} Key Exchange algorithm '{g.name}' "
                                         "as PFS policy is disabled")
            dh = []
        return self.expand(encr, prf, integ, dh, raw, aead)

    def dedup(self, kind: str, algs: list[Alg]) -> list[Alg]:
        out: list[Alg] = []
        for alg in algs:
            if alg in out:
                self.warnings.append(f"discarding duplicate {self.P} {A.KIND_TITLE[kind]} {alg.name}")
            else:
                out.append(alg)
        return out

    def expand(self, encr: list[tuple[Alg, int]], prf: list[Alg], integ: list[Alg], dh: list[Alg],
               raw: _Raw, aead: bool) -> list[Proposal]:
        ids = _ids
        e = tuple((a.id, b) for a, b in encr)
        sn = ids(self.dedup("sn", raw.sn))
        addke = tuple(ids(raw.addke.get(i, [])) for i in range(1, 1 + max(raw.addke, default=0)))
        fips, v, proto = self.fips, self.v, self.protocol

        def usable(kind: str, ident: int) -> bool:
            return _ok(kind, ident, v, proto, fips)

        if v == 2:
            if proto == "ike":
                p = ids(prf) or _IKE2_PRF
                i = (0,) if aead else (ids(integ) or tuple(_PRF_INTEG[x] for x in p))
                g = ids(dh) or _IKE2_DH
                return [Proposal("ike", e, p, i, g, sn, addke)]
            default_integ = (0,) if aead else _ESP2_INTEG
            return [Proposal(proto, e, (), ids(integ) or default_integ, ids(dh), sn, addke)]
        # IKEv1: one transform per slot, so the defaults multiply out
        out: list[Proposal] = []
        if proto == "ike":
            for x in e:
                for group in (ids(dh) or tuple(d for d in _IKE1_DH if usable("dh", d))):
                    for hash_ in (ids(prf) or _IKE1_PRF):
                        out.append(Proposal("ike", (x,), (hash_,), (_PRF_INTEG[hash_],), (group,),
                                            ike_version=1))
            return out
        integs = (0,) if aead and proto == "esp" else (ids(integ) or _ESP1_INTEG)
        for x in (e or ((0, 0),)):
            for one in integs:
                out.append(Proposal(proto, (x,) if e else (), (), (one,), ids(dh), ike_version=1))
        return out


def _ids(algs: list[Alg]) -> tuple[int, ...]:
    return tuple(a.id for a in algs)


def _dedup_encr(encr: list[tuple[Alg, int]], warnings: list[str], P: str) -> list[tuple[Alg, int]]:
    """``aes+aes128``: an entry already covered (same cipher, same or unspecified key) goes."""
    out: list[tuple[Alg, int]] = []
    for alg, bits in encr:
        if any(a is alg and (b == 0 or b == bits) for a, b in out):
            warnings.append(f"discarding duplicate {P} {A.KIND_TITLE['encr']} {_encr_name(alg, bits)}")
        else:
            out.append((alg, bits))
    return out


def parse_proposals(protocol: str, text: str | None, *, ike_version: int = 2, pfs: bool = True,
                    fips: bool = False) -> ProposalSet:
    """Parse one ``ike=``/``esp=``/``ah=`` value; ``None`` gives the defaults.

    ``pfs=False`` drops ESP/AH key exchange groups with a warning, as Libreswan does for a conn
    with ``pfs=no``. Raises ``ProposalError`` (a ``ValueError``) with Libreswan's message.
    """
    protocol = protocol.lower()
    if protocol == "phase2alg":
        protocol = "esp"
    if protocol not in _PROTO_TITLE:
        raise ValueError(f"unknown proposal protocol {protocol!r}")
    if text is None:
        return default_proposals(protocol, ike_version=ike_version, fips=fips)
    P = _PROTO_TITLE[protocol]
    if not text.strip():
        raise ProposalError(f"{P} proposal is empty")
    parser = _Parser(protocol, ike_version, pfs, fips)
    proposals: list[Proposal] = []
    for piece in text.split(","):
        piece = piece.strip()
        if not piece:
            raise parser.err_empty("integ" if protocol == "ah" else "encr")
        for p in parser.finish(parser.proposal(piece)):
            if p not in proposals:
                proposals.append(p)
    if protocol != "ike" and pfs:
        with_dh = [bool(p.dh) for p in proposals]
        if any(with_dh) and not all(with_dh):
            raise ProposalError(f"either all or no {P} proposals should specify Key Exchange")
        groups: list[int] = []
        for p in proposals:
            for g in p.dh:
                if g != 0 and g not in groups:
                    groups.append(g)
        if len(groups) > 1:
            names = ", ".join(A.by_id("dh", g).name for g in groups)
            if ike_version == 1:
                raise ProposalError(f"more than one IKEv1 {P} Key Exchange algorithm ({names}) is not "
                                    "allowed in quick mode")
            raise ProposalError(f"more than one IKEv2 {P} Key Exchange algorithm ({names}) requires "
                                "unimplemented CREATE_CHILD_SA INVALID_KE")
    return ProposalSet(protocol, text, tuple(proposals), tuple(parser.warnings))
