"""The names the engine's callers knew from here, now in :mod:`pluto_core.ikev2.types`
(data the engine takes) and :mod:`pluto_core.ikev2.ports` (calls it makes out)."""

from pluto_core.ikev2.ports import Credentials, Extensions, KernelPort, NoExtensions
from pluto_core.ikev2.types import ChildInstall, ChildKeys, EngineConn, IdSpec, MessageContext, TransportHint

__all__ = ["ChildInstall", "ChildKeys", "Credentials", "EngineConn", "Extensions", "IdSpec",
           "KernelPort", "MessageContext", "NoExtensions", "TransportHint"]
