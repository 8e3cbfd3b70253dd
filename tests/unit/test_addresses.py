"""The address-source plugin point (docs/remote-access.md): ``pluto_address_lease`` plugins
are asked before the built-in ``addresspool=`` pool, a release goes back to whoever leased,
a plugin that raises is logged by name and skipped; and the built-in pool's rules."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pluggy
import pytest

from pluto_core import hookspecs
from pluto_core.addresses import HookAddresses
from pluto_core.hookspecs import hookimpl
from pluto_core.ikev2.pool import Pool, parse_range
from pluto_core.ikev2.types import IdSpec
from tests.engine.harness import Recorder, conn_pair

CONN = replace(conn_pair()[1], name="rw", options={"addresspool": ("10.9.0.0/30",)})


class Radius:
    """Leases 172.16.0.x to IDs @radius*, nothing to others."""

    def __init__(self) -> None:
        self.released: list[tuple[str, str]] = []

    @hookimpl
    def pluto_address_lease(self, peer: IdSpec, version: int) -> str | None:
        return f"172.16.0.{len(peer.text)}" if peer.text.startswith("@radius") and version == 4 else None

    @hookimpl
    def pluto_address_release(self, peer: IdSpec, address: str) -> None:
        self.released.append((peer.text, address))


class Broken:
    @hookimpl
    def pluto_address_lease(self, conn: Any) -> str | None:
        raise RuntimeError("the RADIUS server is down")


def _chain(*plugins: tuple[str, Any]) -> tuple[HookAddresses, Recorder]:
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    for name, plugin in plugins:
        manager.register(plugin, name=name)
    log = Recorder()
    return HookAddresses(manager.hook, log), log


def test_a_plugin_leases_first_and_gets_its_release_back() -> None:
    radius = Radius()
    chain, _ = _chain(("radius", radius))
    assert chain.lease(CONN, IdSpec.parse("@radius-a"), 4) == "172.16.0.9"
    assert chain.lease(CONN, IdSpec.parse("@other"), 4) == "10.9.0.0"  # not the plugin's: the pool's
    chain.release(CONN, IdSpec.parse("@radius-a"), "172.16.0.9")
    chain.release(CONN, IdSpec.parse("@other"), "10.9.0.0")
    assert radius.released == [("@radius-a", "172.16.0.9")]
    assert chain.pools.pools["10.9.0.0/30"].in_use == 0


def test_a_plugin_that_raises_is_named_in_the_log_and_skipped() -> None:
    chain, log = _chain(("radius", Radius()), ("broken", Broken()))
    assert chain.lease(CONN, IdSpec.parse("@radius-b"), 4) == "172.16.0.9"
    assert "\"rw\": address source broken: pluto_address_lease failed: RuntimeError: the RADIUS server is down: " \
           "skipped" in log.text()


def test_the_pool_lingers_per_id_and_hands_out_the_oldest_released_last() -> None:
    pool = Pool("10.9.0.1-10.9.0.2")
    assert [pool.lease("@a"), pool.lease("@b"), pool.lease("@c")] == ["10.9.0.1", "10.9.0.2", None]
    assert pool.release("@a", "10.9.0.1") and not pool.release("@a", "10.9.0.2")
    assert pool.holder("10.9.0.1") is None and pool.holder("10.9.0.2") == "@b"
    assert pool.lease("@a") == "10.9.0.1"  # its own, back
    pool.release("@a", "10.9.0.1")
    assert pool.lease("@c") == "10.9.0.1"  # taken from the lingering @a
    assert pool.lease("@a") is None


@pytest.mark.parametrize("text, expected", [
    ("192.0.2.0/24", (4, 0xC0000200, 256)),
    ("192.0.2.10-192.0.2.19", (4, 0xC000020A, 10)),
    ("2001:db8::/64", (6, 0x20010DB8 << 96, 3 << 30)),  # Libreswan's 3Gi cap
])
def test_ranges(text: str, expected: tuple[int, int, int]) -> None:
    assert parse_range(text) == expected


@pytest.mark.parametrize("text", ["192.0.2.9-192.0.2.1", "192.0.2.1-2001:db8::1", "nonsense"])
def test_bad_ranges_raise(text: str) -> None:
    with pytest.raises(ValueError):
        parse_range(text)
