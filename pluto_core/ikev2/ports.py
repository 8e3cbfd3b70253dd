"""Every call the engine makes out: the kernel, credentials and extensions
(plugins that add to and read messages). The host injects real ones
(``pluto_core.ike_host``), tests in-memory ones, so the engine stays sans-I/O.
The kernel port's method names are shared with the host-side kernel code.
Crypto jobs are not a call out: the engine hands them over as
:class:`~pluto_core.ikev2.events.CryptoJob` outputs and takes their results back
with ``Engine.job_done``."""

from __future__ import annotations

from typing import Any, Protocol

from pluto_core.ikev2.types import ChildInstall, EngineConn, IdSpec, MessageContext, TransportHint


class KernelPort(Protocol):
    """The kernel as the engine sees it. Errors are ``KernelError``."""

    def allocate_spi(self, src: str, dst: str, protocol: int) -> int: ...

    def release_spi(self, src: str, dst: str, protocol: int, spi: int) -> None:
        """Give back an SPI from ``allocate_spi`` whose Child SA was never installed (the
        kernel's larval SA goes at once, not when it times out). Never raises."""
        ...

    def install_child(self, child: ChildInstall) -> None: ...

    def remove_child(self, child: ChildInstall) -> tuple[int, int] | None:
        """Remove the SAs and policies; return the bytes that went (in, out) where known."""
        ...

    def migrate_refusal(self) -> str | None:
        """Why installed Child SAs cannot move to new addresses in place (None: they can)."""
        ...

    def migrate_child(self, old: ChildInstall, new: ChildInstall) -> None:
        """Move an installed Child SA to ``new``'s addresses and ports, keys and sequence
        numbers kept (MOBIKE, RFC 4555)."""
        ...


class Credentials(Protocol):
    """Where credentials come from (the daemon: the auth-source chain of
    ``pluto_core.auth``). The calls may be slow: the engine makes them in ``lookup``
    jobs, which the daemon runs off its event loop."""

    def psk(self, local: IdSpec, remote: IdSpec | None, conn: EngineConn) -> bytes | None:
        """The shared secret of ``local`` and ``remote`` (None: the peer's ID is not known yet)."""
        ...

    def signer(self, local: IdSpec, conn: EngineConn) -> Any:
        """Something that signs for ``local`` (a ``pluto_core.ikev2.crypto.signatures.Signer``:
        ``schemes()``, ``public_key()``, ``sign(scheme, data)``), or None."""
        ...

    def public_keys(self, peer: IdSpec, conn: EngineConn) -> list[Any]:
        """The public keys trusted for ``peer`` besides the conn's own raw keys."""
        ...

    def authorize(self, peer: IdSpec, conn: EngineConn, method: str) -> str | None:
        """The last word on a peer that proved its ID with ``method``: None lets it use
        ``conn``; a text is why not (logged, and the peer gets AUTHENTICATION_FAILED)."""
        ...


    def certificates(self, local: IdSpec, conn: EngineConn) -> list[Any]:
        """Our certificate chain for ``local`` (``cryptography`` certificates, end certificate
        first, then intermediates); empty when there is none."""
        ...

    def trust_anchors(self, conn: EngineConn) -> list[Any]:
        """The CA certificates trusted for ``conn``'s peers (also asked on the loop, for the
        CERTREQ of an IKE_SA_INIT response: sources answer from memory)."""
        ...

    def check_chain(self, chain: list[Any], conn: EngineConn) -> str | None:
        """Revocation and the like for the peer's validated chain: None accepts it; a text
        is why not (logged, and the peer gets AUTHENTICATION_FAILED)."""
        ...


class Extensions(Protocol):
    """Plugins adding payloads to the messages we send and reading those we receive
    (NAT detection, fragmentation, vendor IDs...), instead of branches in the engine.
    ``read`` may return :class:`TransportHint` objects for the IKE SA."""

    def build(self, ctx: MessageContext) -> list[Any]: ...

    def read(self, ctx: MessageContext, payloads: list[Any]) -> list[TransportHint] | None: ...


class Addresses(Protocol):
    """Where the addresses a road warrior is given come from (RFC 7296 3.15, the
    Configuration payload): the built-in pools of ``addresspool=``
    (:class:`pluto_core.ikev2.pool.Pools`), or in the daemon the ``pluto_address_lease``
    plugins first (``pluto_core/addresses.py``). Called on the engine's path: must not block."""

    def lease(self, conn: EngineConn, peer: IdSpec, version: int) -> str | None:
        """An address of IP ``version`` (4 or 6) for ``peer`` on ``conn`` (the template),
        the same one again for the same ID while it is free; None: none left (or no pool)."""
        ...

    def release(self, conn: EngineConn, peer: IdSpec, address: str) -> None:
        """``peer``'s last IKE SA holding ``address`` is gone. Never raises."""
        ...


class NoExtensions:
    def build(self, ctx: MessageContext) -> list[Any]:
        return []

    def read(self, ctx: MessageContext, payloads: list[Any]) -> list[TransportHint] | None:
        return None

