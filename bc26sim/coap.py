"""One CoAP-over-UDP endpoint (aiocoap) for the virtual BC26 and its platform.

LwM2M needs two things aiocoap's high-level API does not offer:

- sending a message of our own making (a notification as CON or NON, a request on
  a token we keep for an observation) and learning what became of it: ACK, RST,
  retransmissions exhausted, or an ICMP error;
- seeing the responses that arrive on such a token before aiocoap's request
  tracking does, so the platform can ACK, reset or ignore each notification.

So `CoapEndpoint` assembles the usual aiocoap server context by hand (what
`Context.create_server_context` does) around a `MessageManager` subclass that
reports those events. Message IDs, retransmission, duplicate detection,
piggybacked responses and ordinary requests all stay aiocoap's. The hooks use a
few internals of aiocoap's message layer (written against aiocoap 0.4.17).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable
import contextlib
import ipaddress
import logging
import socket
from typing import Any, Literal

import aiocoap
from aiocoap.messagemanager import MessageManager
from aiocoap.numbers.constants import TransportTuning
from aiocoap.numbers.types import ACK, CON, NON, RST
from aiocoap.tokenmanager import TokenManager
from aiocoap.transports.udp6 import MessageInterfaceUDP6, UDP6EndpointAddress

from bc26sim.network import SendOutcome

_LOGGER = logging.getLogger(__name__)

# How a notification (a response on a routed token) is answered: an empty ACK
# (a no-op for NON), a Reset, or nothing at all (as if it was lost).
type Answer = Literal["ack", "reset", "ignore"]
type Route = Callable[[aiocoap.Message], Answer]
type RequestHandler = Callable[[aiocoap.Message], Awaitable[aiocoap.Message]]

# Recently sent NON messages whose Reset we still want to hear about.
_NON_MEMORY = 64
# aiocoap's default for answering a request with an empty ACK before the response.
_EMPTY_ACK_DELAY = TransportTuning.EMPTY_ACK_DELAY


class ScaledTuning(TransportTuning):  # type: ignore[misc]
    """RFC 7252 transmission parameters with every duration multiplied by `scale`.

    `reliability` picks CON (True) or NON (False) where aiocoap chooses the type.
    """

    def __init__(self, scale: float, reliability: bool | None = None) -> None:
        self.ACK_TIMEOUT = TransportTuning.ACK_TIMEOUT * scale
        self.MAX_LATENCY = TransportTuning.MAX_LATENCY * scale
        self.DEFAULT_LEISURE = TransportTuning.DEFAULT_LEISURE * scale
        self.OBSERVATION_RESET_TIME = TransportTuning.OBSERVATION_RESET_TIME * scale
        # Piggybacking is an implementation choice, not a protocol timer: keep
        # aiocoap's delay unless the peer's scaled ACK_TIMEOUT is shorter.
        self.EMPTY_ACK_DELAY = min(_EMPTY_ACK_DELAY, self.ACK_TIMEOUT / 4)
        self.reliability = reliability


class _Timers:
    """The event loop as aiocoap's message layer sees it, remembering its timers.

    aiocoap schedules a duplicate-detection timer for every request it receives
    (EXCHANGE_LIFETIME) and never cancels it; the endpoint cancels what is left
    when it closes, so nothing outlives it.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._handles: set[asyncio.TimerHandle] = set()

    def call_later(self, delay: float, callback: Callable[..., object], *args: Any) -> Any:
        handle: asyncio.TimerHandle

        def fire() -> None:
            self._handles.discard(handle)
            callback(*args)

        handle = self._loop.call_later(delay, fire)
        if len(self._handles) > 64:
            self._handles = {h for h in self._handles if not h.cancelled()}
        self._handles.add(handle)
        return handle

    def cancel_all(self) -> None:
        for handle in self._handles:
            handle.cancel()
        self._handles.clear()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loop, name)


class _ReportingMessageManager(MessageManager):  # type: ignore[misc]
    """aiocoap's RFC 7252 message layer, telling us about our own messages."""

    def __init__(self, token_manager: Any, tuning: ScaledTuning) -> None:
        super().__init__(token_manager)
        self.timers = _Timers(token_manager.loop)
        self.loop = self.timers
        self._tuning = tuning
        self._pending: dict[tuple[Any, int], asyncio.Future[SendOutcome]] = {}
        self._non_resets: OrderedDict[tuple[Any, int], Callable[[], None]] = OrderedDict()
        self.routes: dict[bytes, Route] = {}

    def send_watched(
        self, message: aiocoap.Message, on_reset: Callable[[], None] | None
    ) -> asyncio.Future[SendOutcome]:
        outcome: asyncio.Future[SendOutcome] = self.timers.create_future()
        if message.mtype is CON:
            # RST and timeout are reported through dispatch_message/_retransmit.
            self.send_message(message, lambda: None)
            self._pending[(message.remote, message.mid)] = outcome
            return outcome
        self.send_message(message, None)
        if on_reset is not None:
            self._non_resets[(message.remote, message.mid)] = on_reset
            while len(self._non_resets) > _NON_MEMORY:
                self._non_resets.popitem(last=False)
        outcome.set_result(SendOutcome.SENT)
        return outcome

    def dispatch_message(self, message: aiocoap.Message) -> None:
        # Incoming messages get our timers too (duplicate detection, empty ACKs).
        message.transport_tuning = self._tuning
        if message.mtype in (ACK, RST):
            self._settle(message)
        route = self.routes.get(message.token) if message.code.is_response() else None
        if route is None:
            self._to_aiocoap(message)
            return
        answer = route(message)
        if message.mtype is ACK:
            self._to_aiocoap(message)  # lets aiocoap close the exchange
        elif message.mtype is CON and answer == "ack":
            self._answer(message, ACK)
        elif message.mtype in (CON, NON) and answer == "reset":
            self._answer(message, RST)

    def _to_aiocoap(self, message: aiocoap.Message) -> None:
        try:
            super().dispatch_message(message)
        except asyncio.InvalidStateError:
            # aiocoap sets the result of a request whose sender gave up on it (a stop, a
            # timeout) when the answer comes in the same loop iteration as the giving up,
            # before its own cancellation handler ran: nobody waits for that answer.
            _LOGGER.debug("answer to a request given up on: %r", message)

    def dispatch_error(self, error: Exception, remote: Any) -> None:
        super().dispatch_error(error, remote)
        for key in [key for key in self._pending if key[0] == remote]:
            _resolve(self._pending.pop(key), SendOutcome.FAILED)

    def _retransmit(self, message: Any, timeout: float, counter: int) -> None:
        key = (message.remote, message.mid)
        super()._retransmit(message, timeout, counter)
        if key in self._active_exchanges:
            return
        # Given up: aiocoap also dropped what waited behind it for that peer (NSTART 1).
        if key in self._pending:
            _resolve(self._pending.pop(key), SendOutcome.TIMEOUT)
        for other in [k for k in self._pending if k[0] == message.remote]:
            if other not in self._active_exchanges:
                _resolve(self._pending.pop(other), SendOutcome.FAILED)

    def _settle(self, message: aiocoap.Message) -> None:
        key = (message.remote, message.mid)
        if (outcome := self._pending.pop(key, None)) is not None:
            acked = message.mtype is ACK
            _resolve(outcome, SendOutcome.ACKNOWLEDGED if acked else SendOutcome.RESET)
        elif message.mtype is RST and (on_reset := self._non_resets.pop(key, None)):
            on_reset()

    def _answer(self, message: aiocoap.Message, mtype: Any) -> None:
        empty = aiocoap.Message(code=aiocoap.EMPTY)
        empty.mtype = mtype
        empty.mid = message.mid
        empty.remote = message.remote.as_response_address()
        self.message_interface.send(empty)

    async def shutdown(self) -> None:
        for outcome in self._pending.values():
            _resolve(outcome, SendOutcome.FAILED)
        self._pending.clear()
        self._non_resets.clear()
        self.routes.clear()
        await super().shutdown()
        self.timers.cancel_all()


async def _bound_socket(host: str, port: int) -> socket.socket:
    """A dual-stack UDP socket bound to `host` (IP literal or name) and `port`."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, family=socket.AF_INET, type=socket.SOCK_DGRAM
        )
        address = ipaddress.ip_address(infos[0][4][0])
    if address.version == 4:
        text = "::" if address.is_unspecified else f"::ffff:{address}"
    else:
        text = str(address)
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind((text, port))
    except OSError:
        sock.close()
        raise
    return sock


def _resolve(outcome: asyncio.Future[SendOutcome], value: SendOutcome) -> None:
    if not outcome.done():
        outcome.set_result(value)


class _Site:
    """The server side of the endpoint: every request goes to one handler."""

    def __init__(self, handler: RequestHandler) -> None:
        self._handler = handler

    async def render_to_pipe(self, pipe: Any) -> None:
        response = await self._handler(pipe.request)
        pipe.add_response(response, is_last=True)


class CoapEndpoint:
    """A UDP socket speaking CoAP as client and server at once."""

    def __init__(
        self, context: aiocoap.Context, messages: _ReportingMessageManager, scale: float
    ) -> None:
        self.context = context
        self._messages = messages
        self._transport: Any = messages.message_interface
        self._scale = scale
        self._closed = False

    @classmethod
    async def open(
        cls, handler: RequestHandler, host: str, port: int, *, time_scale: float, name: str
    ) -> CoapEndpoint:
        """Bind to `host`:`port` (0 picks a free port) and serve requests with `handler`."""
        loop = asyncio.get_running_loop()
        context = aiocoap.Context(loop=loop, serversite=_Site(handler), loggername=name)
        tokens = TokenManager(context)
        messages = _ReportingMessageManager(tokens, ScaledTuning(time_scale))
        sock = await _bound_socket(host, port)
        try:
            # The socket is ours (no SO_REUSEPORT, no route probing by connect());
            # aiocoap's udp6 transport runs on it.
            transport = await MessageInterfaceUDP6._create_transport_endpoint(
                sock, messages, context.log, loop
            )
        except BaseException:
            sock.close()
            messages.timers.cancel_all()
            raise
        messages.message_interface = transport
        tokens.token_interface = messages
        context.request_interfaces.append(tokens)
        return cls(context, messages, time_scale)

    @property
    def port(self) -> int:
        """The local UDP port."""
        return int(self._transport.transport.get_extra_info("socket").getsockname()[1])

    def tuning(self, reliable: bool | None = None) -> ScaledTuning:
        """Transmission parameters for a message we send (CON if `reliable`)."""
        return ScaledTuning(self._scale, reliable)

    def remote(self, host: str, port: int) -> Any:
        """The aiocoap address of `host` (an IP literal) and `port` on this socket."""
        address = ipaddress.ip_address(host)
        text = f"::ffff:{address}" if address.version == 4 else str(address)
        return UDP6EndpointAddress((text, port, 0, 0), self._transport)

    async def request(self, message: aiocoap.Message) -> aiocoap.Message:
        """Send a request through aiocoap and return its response (aiocoap errors raise)."""
        return await self.context.request(message, handle_blockwise=False).response

    async def send(
        self, message: aiocoap.Message, on_reset: Callable[[], None] | None = None
    ) -> SendOutcome:
        """Send a message we built ourselves (remote, token, type set).

        CON: returns on ACK, RST, retransmissions exhausted or a network error.
        NON: returns SENT at once; `on_reset` runs if the peer answers with RST.
        """
        try:
            outcome = self._messages.send_watched(message, on_reset)
        except (OSError, aiocoap.error.Error):
            _LOGGER.info("Could not send %r", message, exc_info=True)
            return SendOutcome.FAILED
        return await outcome

    def route(self, token: bytes, route: Route) -> None:
        """Give every response arriving on `token` to `route`, before aiocoap sees it."""
        self._messages.routes[token] = route

    def unroute(self, token: bytes) -> None:
        """Stop routing `token`; aiocoap resets notifications that still arrive on it."""
        self._messages.routes.pop(token, None)

    async def close(self) -> None:
        """Close the socket; pending sends end as FAILED, nothing is left scheduled."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(OSError):
            await self.context.shutdown()
        self._messages.timers.cancel_all()
