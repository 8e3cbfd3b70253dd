"""The contract of an authentication source: what a plugin implements to serve
credentials to the daemon, and to have a last word on who may connect.

An auth source is a plugin in the entry-point group ``pluto.auth``::

    [project.entry-points."pluto.auth"]
    mystore = "my_package.source:plugin"

It is asked only when ``config setup`` names it in ``auth-sources=`` (default:
``secrets nss files x509``, the built-ins serving ``ipsec.secrets``, Libreswan's NSS
database, the key files ipsec.secrets names and the certificates under the ipsecdir):
installing a package never adds a credential source by itself. Sources are asked in that order; for a lookup the
first answer that is not ``None`` wins; for ``pluto_auth_authorize`` every source is
asked and the first veto wins. A source that raises is logged with its name and
skipped; one that does not answer within ``auth-timeout=`` seconds (default 10) is
logged and skipped too, except in ``pluto_auth_check_chain``, where either refuses the
chain (a check that was not made is no pass).

Every hook runs in a worker thread, off the daemon's event loop, so a source may
block on a network store; an IKE_AUTH waiting for one does not hold up the others.
Implementations must be thread-safe. Arguments are passed by keyword; an
implementation may accept any subset. IDs are :class:`pluto_core.ikev2.types.IdSpec`
(``.text`` is the ID as ipsec.conf writes it: ``@east``, ``192.0.2.1``,
``user@example.com``); ``conn`` is the :class:`~pluto_core.ikev2.types.EngineConn`
(``conn.name``, ``conn.options`` with the conn's keywords).

Secrets a hook returns are never logged by the daemon; a source must not log them
either.

All hooks below appeared in pluto 0.1.0, except the certificate hooks
(``pluto_auth_certificates``, ``pluto_auth_trust_anchors``, ``pluto_auth_check_chain``,
and for revocation ``pluto_auth_purge_ocsp``, ``pluto_auth_fetch_crls``), which appeared in
0.2.0. Certificates are ``cryptography.x509.Certificate`` objects.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

from pluto_core import PLUGIN_PROJECT

if TYPE_CHECKING:
    from pluto_core.config.secrets import Secrets
    from pluto_core.ikev2.types import EngineConn, IdSpec

hookspec = pluggy.HookspecMarker(PLUGIN_PROJECT)


@hookspec
def pluto_auth_load(secrets: Secrets, log: Any) -> None:
    """Called at start-up and on ``ipsec rereadsecrets`` with the parsed
    ``ipsec.secrets`` (:class:`pluto_core.config.secrets.Secrets`), after it was read.
    A source that serves entries of it (the built-in ``secrets``) keeps them; one that
    has a store of its own may reopen it here. An exception is logged and the source
    keeps what it had."""


@hookspec
def pluto_auth_psk(local_id: IdSpec, remote_id: IdSpec | None, conn: EngineConn) -> bytes | None:
    """The pre-shared key of ``local_id`` and ``remote_id`` for ``conn``, or ``None``
    when this source has none. ``remote_id`` is ``None`` when an initiator does not
    know the peer's ID yet (``rightid=%any``): a source then answers with a key for
    any peer of ``local_id``, or ``None``. First non-``None`` answer wins."""


@hookspec
def pluto_auth_signer(local_id: IdSpec, conn: EngineConn) -> Any:
    """Something that signs for ``local_id`` on ``conn`` (``authby=rsasig``, ``ecdsa``,
    ``eddsa``), or ``None``. ``conn.local_ckaid`` names the key the conn asks for (from
    ``leftckaid=``, or the CKAID of ``leftrsasigkey=``/``leftpubkey=``) when it names one.

    The answer is a :class:`pluto_core.ikev2.crypto.signatures.Signer`: ``schemes()``,
    ``public_key()`` and ``sign(scheme, data)``. The private key need not leave the
    source (a PKCS#11 token, a TPM, a remote signer); ``signatures.KeySigner(private_key)``
    wraps a ``cryptography`` key. ``sign`` is called on a worker thread. First
    non-``None`` answer wins."""


@hookspec
def pluto_auth_public_keys(peer_id: IdSpec, conn: EngineConn) -> list[Any] | None:
    """Public keys (``cryptography`` RSA, EC or EdDSA public-key objects) trusted for
    ``peer_id`` on ``conn``, besides the raw keys the conn names itself
    (``rightrsasigkey=``/``rightpubkey=``). The peer's signature must verify with one of
    them. First non-empty answer wins."""


@hookspec
def pluto_auth_authorize(peer_id: IdSpec, conn: EngineConn, method: str) -> str | None:
    """The last word on a peer that has just proved ``peer_id`` with ``method`` (the
    conn's ``rightauth=`` value: ``secret``, ...). Return ``None`` to let it use
    ``conn``, or a short reason to refuse it: the daemon logs ``vetoed by plugin
    NAME: reason`` and answers AUTHENTICATION_FAILED. Every source is asked; the first
    veto wins."""


@hookspec
def pluto_auth_certificates(local_id: IdSpec, conn: EngineConn) -> list[Any] | None:
    """Our certificate chain for ``local_id`` on ``conn``: the end certificate first, then
    the intermediate CAs a peer may need (never a root), or ``None``. ``conn.local_cert``
    names the certificate the conn asks for (``leftcert=``). The private key is not part of
    the answer: ``pluto_auth_signer`` finds it by ``conn.local_ckaid``, the CKAID of this
    certificate's public key. First non-``None`` answer wins."""


@hookspec
def pluto_auth_trust_anchors(conn: EngineConn) -> list[Any] | None:
    """CA certificates trusted for peers of ``conn``, or ``None``. Unlike the lookups above,
    the answers of every source are combined (duplicates once). They name the CAs of our
    CERTREQ (RFC 7296 3.7) and anchor the validation of the peer's chain. The engine asks
    when it answers an IKE_SA_INIT of a certificate conn too, so answer from memory: load
    certificates in ``pluto_auth_load``, not per call."""


@hookspec
def pluto_auth_check_chain(chain: list[Any], conn: EngineConn) -> str | None:
    """A last look at the peer's validated ``chain`` (end certificate first, trust anchor
    last): revocation (CRL, OCSP) and the like. Return ``None`` to accept it, or the reason
    to refuse it (``certificate revoked (...)``): the daemon logs it and the peer gets
    AUTHENTICATION_FAILED. Every source is asked; the first refusal wins. May block on
    the network (it runs on a worker thread) within ``auth-timeout=``: a source that
    raises or answers later refuses the chain."""


@hookspec
def pluto_auth_purge_ocsp() -> int | None:
    """``ipsec purgeocsp``: forget every cached OCSP answer, so that the next check asks the
    responder again. Return how many were forgotten, or ``None`` when this source caches none.
    Every source is asked, on the daemon's loop: do not block."""


@hookspec
def pluto_auth_fetch_crls() -> int | None:
    """``ipsec fetchcrls`` (and ``ipsec rereadall``): fetch the CRLs of every distribution
    point known again, now. Return how many points will be fetched, or ``None`` when this
    source fetches none. Every source is asked, on the daemon's loop: start the fetches on a
    thread of your own and return (a fetch waits on the network)."""


AUTH_HOOKS = (pluto_auth_load, pluto_auth_psk, pluto_auth_signer, pluto_auth_public_keys, pluto_auth_authorize,
              pluto_auth_certificates, pluto_auth_trust_anchors, pluto_auth_check_chain, pluto_auth_purge_ocsp,
              pluto_auth_fetch_crls)
