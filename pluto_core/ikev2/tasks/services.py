"""What the tasks may ask of the engine (a Protocol the engine satisfies): the
SA table, message IDs and the window, timers, log lines and events, and the
ports. Tasks import this, never the engine, so imports run one way."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from pluto_core.ikev2.events import ChildInfo
from pluto_core.ikev2.message import Message
from pluto_core.ikev2.payloads import Notify, Payload
from pluto_core.ikev2.ports import Credentials, KernelPort
from pluto_core.ikev2.redirect_policy import RedirectPolicy
from pluto_core.ikev2.sa import ChildSa, IkeSa
from pluto_core.ikev2.stateless import DdosPolicy
from pluto_core.ikev2.timers import Timer
from pluto_core.ikev2.types import EngineConn


class Services(Protocol):
    kernel: KernelPort
    credentials: Credentials
    clock: Callable[[], float]
    wall_clock: Callable[[], Any] | None
    random: Callable[[int], bytes]
    log: Any
    uniqueids: bool
    keepalive_interval: float
    reqid_base: int
    ddos: DdosPolicy
    redirects: RedirectPolicy
    conns: dict[str, EngineConn]
    half_open: dict[tuple[bytes, str, int], IkeSa]

    # the SA table
    def next_serial(self) -> int: ...
    def register(self, sa: IkeSa) -> None: ...
    def forget(self, sa: IkeSa) -> None: ...
    def attach_child(self, sa: IkeSa, child: ChildSa) -> None: ...
    def ike_sas(self) -> list[IkeSa]: ...
    def revive_later(self, name: str) -> None: ...
    def initiate_conn(self, conn: EngineConn, redirected_from: str = "") -> int: ...

    # messages: the window of one (RFC 7296 2.3), responses, stateless answers
    def send_request(self, sa: IkeSa, exchange: int, payloads: Sequence[Payload], plain: bool = False,
                     ctx: Any = None) -> None: ...
    def send_response(self, sa: IkeSa, exchange: int, message_id: int, payloads: Sequence[Payload],
                      plain: bool = False) -> bytes | tuple[bytes, ...]: ...
    def send_once(self, sa: IkeSa, exchange: int, payloads: Sequence[Payload]) -> None: ...
    def transmit(self, sa: IkeSa, data: bytes | tuple[bytes, ...]) -> None: ...
    def send_keepalive(self, sa: IkeSa) -> None: ...
    def reply_stateless(self, request: Message, local: tuple[str, int], remote: tuple[str, int],
                        notify: Notify) -> None: ...
    def cookie_for(self, spi_i: bytes, nonce: bytes, remote: tuple[str, int]) -> bytes: ...
    def extensions_read(self, sa: IkeSa, msg: Message, payloads: list[Payload]) -> None: ...

    # crypto jobs: run now, or handed to the host; ``then(result)`` either way
    def submit_job(self, fn: Callable[..., Any], args: tuple[Any, ...], then: Callable[[Any], None],
                   kind: str = "crypto") -> None: ...

    # timers
    def schedule(self, sa: IkeSa, delay: float, timer: Timer) -> None: ...
    def schedule_serial(self, serial: int, delay: float, timer: Timer) -> None: ...

    # log lines and events
    def prefix(self, sa: IkeSa, serial: int | None = None) -> str: ...
    def peer_text(self, sa: IkeSa) -> str: ...
    def event(self, kind: str, sa: IkeSa, detail: str = "", serial: int | None = None,
              child: ChildInfo | None = None) -> None: ...
