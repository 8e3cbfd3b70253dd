"""ESP algorithms the kernel backend cannot install are not offered; none left refuses the conn."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from pluto_core.engine_conn import default_esp_proposals
from pluto_core.errors import ConfigError
from pluto_core.esp_filter import kernel_filter
from pluto_core.ikev2.conn import EngineConn, IdSpec
from pluto_core.kernel.types import KernelFeatures


def check(encr_id: int, key_bits: int | None, integ_id: int | None) -> str | None:
    """Like Linux af_key: no AEAD, no HMAC-SHA2-256-128."""
    if encr_id in (20, 28):
        return f"ENCR {encr_id} is an AEAD, which af_key cannot install"
    if integ_id == 12:
        return "af_key installs HMAC-SHA2-256 with a 96-bit ICV"
    return None


def _kernel(esn: str | None) -> Any:
    features = KernelFeatures(esn_refusal=esn, algorithm_check=True)
    return SimpleNamespace(features=lambda: features, check_child=check)


def _filter(lines: list[str], conn: EngineConn, esn: str | None = "PF_KEY v2 carries no extended sequence numbers "
            "(ESN)") -> EngineConn:
    return kernel_filter(conn, _kernel(esn), "bsdkame", lines.append)


def _conn(esp: tuple) -> EngineConn:  # type: ignore[type-arg]
    return EngineConn("c", "192.0.2.1", "192.0.2.2", IdSpec.parse("@a"), IdSpec.parse("@b"), (), (), (), esp)


def test_unsupported_algorithms_are_left_out() -> None:
    lines: list[str] = []
    conn = _filter(lines, _conn(default_esp_proposals()))
    # Only AES-CBC with HMAC-SHA2-512-256 remains of the defaults.
    (only,) = conn.esp_proposals
    assert sorted((t.type, t.id) for t in only.transforms if t.type in (1, 3)) == [(1, 12), (1, 12), (3, 14)]
    assert any("AEAD" in line for line in lines) and any("96-bit" in line for line in lines)


def test_nothing_left_refuses_the_conn() -> None:
    from pluto_core.ikev2.proposal_build import esp_proposal

    with pytest.raises(ConfigError, match="cannot install any of its ESP algorithms"):
        _filter([], _conn((esp_proposal(1, [(20, 256)]),)))


def _esn_ids(conn: EngineConn) -> list[list[int]]:
    return [[t.id for t in p.transforms if t.type == 5] for p in conn.esp_proposals]


def test_esn_not_offered_where_the_kernel_cannot() -> None:
    """esn=either offers ESN=1 first; a peer that picks it would get a Child SA the
    kernel refuses (seen with Libreswan over af_key): only ESN=0 is offered."""
    from pluto_core.ikev2.proposal_build import esp_proposal

    either = esp_proposal(1, [(12, 256)], [2], esn=(1, 0))
    lines: list[str] = []
    conn = _filter(lines, _conn((either,)))
    assert _esn_ids(conn) == [[0]]
    assert lines == ['"c": ESN not offered: PF_KEY v2 carries no extended sequence numbers (ESN)']
    # a kernel with ESN keeps both
    assert _esn_ids(_filter([], _conn((either,)), esn=None)) == [[1, 0]]
    # esn=yes cannot be met: the conn is refused, saying why
    with pytest.raises(ConfigError, match=r"esn=yes, but kernel backend 'bsdkame' cannot: PF_KEY v2"):
        _filter([], _conn((esp_proposal(1, [(12, 256)], [2], esn=(1,)),)))
