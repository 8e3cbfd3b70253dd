"""The built-in ``secrets`` auth source: pre-shared keys from ``ipsec.secrets``,
chosen as Libreswan chooses them (the most specific match of the two IDs)."""

from __future__ import annotations

from typing import Any

from pluto_core.hookspecs import hookimpl
from pluto_core.ikev2.types import EngineConn, IdSpec


class SecretsSource:
    def __init__(self) -> None:
        self.secrets: Any = None  # replaced whole on each (re)load: readers on other threads see one or the other

    @hookimpl
    def pluto_auth_load(self, secrets: Any) -> None:
        self.secrets = secrets

    @hookimpl
    def pluto_auth_psk(self, local_id: IdSpec, remote_id: IdSpec | None, conn: EngineConn) -> bytes | None:
        secrets = self.secrets
        if secrets is None:
            return None
        secret = secrets.lookup_psk(local_id.text, remote_id.text if remote_id is not None else "%any")
        return secret.reveal() if secret is not None else None


plugin = SecretsSource()
