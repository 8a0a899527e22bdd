"""A small LwM2M 1.0 server standing in for the IoT platform (aiocoap).

It accepts Register, Update and Deregister on `/rd`, observes the configured
resources after each registration (`/19/0/0` by default), writes and reads on
request, and records every notification with its bytes and message type. Any path
can be observed, read or written, in any content format: `write(...,
content_format=TEXT)`, `observe(..., accept=TLV)` (the device answers 4.04 for
what it did not declare, 4.15 or 4.06 for a format it does not take). CON
notifications are acknowledged, reset or ignored according to `con_policy`, so
tests can stage lost ACKs and resets (with "reset", NON notifications are rejected
with a Reset too, as RFC 7641 allows).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Coroutine, Iterable, Mapping
import contextlib
from dataclasses import dataclass, field, replace
import itertools
import logging
import re
import secrets
from types import MappingProxyType
from typing import Any, Literal

import aiocoap
from aiocoap.numbers.codes import Code
from aiocoap.numbers.types import ACK, CON

from bc26sim.coap import Answer, CoapEndpoint
from bc26sim.network import SendOutcome

_LOGGER = logging.getLogger(__name__)

type Path = tuple[int, ...]
type ConPolicy = Literal["ack", "reset", "ignore"]

# Content formats (LwM2M 1.0 6.4); what the virtual BC26 does with each: bc26sim.lwm2m.
TEXT = 0
OPAQUE = 42
TLV = 11542
JSON = 11543
RESULT_TIMEOUT = 128.0  # how long a request to the device may take, before scaling
DEFAULT_LIFETIME = 86400  # LwM2M 1.0: lifetime when Register has no lt
_RECENT_MIDS = 32  # per observation, to recognise retransmitted notifications


@dataclass(frozen=True, slots=True)
class ClientRegistration:
    """What the platform knows about one registered device."""

    endpoint: str
    location: str  # for example "/rd/3f2a"
    lifetime: int
    binding: str
    version: str
    objects: tuple[str, ...]  # the registered links, such as ("/19/0", "/19/1")
    address: tuple[str, int]  # where the device's requests come from
    updates: int = 0


@dataclass(frozen=True, slots=True)
class Uplink:
    """One notification received from a device (retransmissions counted once)."""

    endpoint: str
    path: Path
    payload: bytes
    confirmable: bool
    observe_seq: int | None
    content_format: int | None
    answer: Answer  # what the platform sent back: "ack", "reset" or nothing ("ignore")


@dataclass(frozen=True, slots=True)
class Reply:
    """A device's answer to a platform request."""

    code: str  # dotted, for example "2.04"
    payload: bytes = b""
    content_format: int | None = None

    @property
    def ok(self) -> bool:
        """A success (2.xx) code."""
        return self.code.startswith("2.")


@dataclass(frozen=True, slots=True)
class RegistrationEvent:
    """A device registered, updated, deregistered, or its registration expired."""

    kind: Literal["registered", "updated", "deregistered", "expired", "forgotten"]
    registration: ClientRegistration


@dataclass(frozen=True, slots=True)
class ObservationEvent:
    """An observation started, was refused, or ended."""

    kind: Literal["observed", "refused", "ended"]
    endpoint: str
    path: Path
    code: str


type PlatformEvent = RegistrationEvent | ObservationEvent | Uplink


@dataclass(frozen=True, slots=True)
class ObserveTarget:
    """A path to observe after each registration, and the Accept to ask with (none if None)."""

    path: Path
    accept: int | None = None


@dataclass(eq=False, slots=True)
class _Observation:
    endpoint: str
    path: Path
    token: bytes
    accept: int | None
    first: asyncio.Future[aiocoap.Message]
    cancel: asyncio.Future[aiocoap.Message] | None = None
    mids: deque[int] = field(default_factory=lambda: deque(maxlen=_RECENT_MIDS))


@dataclass(eq=False, slots=True)
class _Client:
    registration: ClientRegistration
    remote: Any
    expiry: asyncio.TimerHandle | None = None
    observations: dict[Path, _Observation] = field(default_factory=dict)


class LwM2mPlatform:
    """The local IoT platform. Create it with `await LwM2mPlatform.start(...)`."""

    def __init__(
        self,
        *,
        observe: Iterable[Path | ObserveTarget],
        time_scale: float,
        observe_delay: float,
        history: int,
        max_clients: int,
        on_event: Callable[[PlatformEvent], None] | None,
    ) -> None:
        self._observe = tuple(
            t if isinstance(t, ObserveTarget) else ObserveTarget(tuple(t)) for t in observe
        )
        self._scale = time_scale
        self._observe_delay = observe_delay
        self._max_clients = max_clients
        self._on_event = on_event
        self._endpoint: CoapEndpoint | None = None
        self._host = ""
        self._clients: dict[str, _Client] = {}
        self._by_location: dict[str, str] = {}
        self._uplinks: deque[Uplink] = deque(maxlen=history)
        self._tasks: set[asyncio.Task[None]] = set()
        self._waiters: list[asyncio.Future[None]] = []
        self._locations = itertools.count(1)
        self.con_policy: ConPolicy = "ack"
        # Seconds (scaled) before a Deregister is answered: NB-IoT round trips take ~1.5 s.
        self.deregister_delay = 0.0
        # Seconds (scaled) before an Update is answered (a slow platform or radio).
        self.update_delay = 0.0
        self.uplink_count = 0

    @classmethod
    async def start(
        cls,
        host: str = "127.0.0.1",
        port: int = 5683,
        *,
        observe: Iterable[Path | ObserveTarget] = ((19, 0, 0),),
        time_scale: float = 1.0,
        observe_delay: float = 0.0,
        history: int = 1000,
        max_clients: int = 1000,
        on_event: Callable[[PlatformEvent], None] | None = None,
    ) -> LwM2mPlatform:
        """Listen on `host`:`port` (0 picks a free port).

        `observe` lists what to observe on every new registration (a path, or an
        `ObserveTarget` with the Accept to ask for), `observe_delay`
        (seconds, scaled) how long to wait first. `time_scale` multiplies every
        duration: retransmissions, request timeouts, registration lifetimes.
        """
        platform = cls(
            observe=observe,
            time_scale=time_scale,
            observe_delay=observe_delay,
            history=history,
            max_clients=max_clients,
            on_event=on_event,
        )
        platform._host = host
        platform._endpoint = await CoapEndpoint.open(
            platform._handle, host, port, time_scale=time_scale, name="bc26sim.platform.coap"
        )
        return platform

    async def stop(self) -> None:
        """Close the socket; leaves no task or timer behind."""
        for client in self._clients.values():
            if client.expiry is not None:
                client.expiry.cancel()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        endpoint, self._endpoint = self._endpoint, None
        if endpoint is not None:
            await endpoint.close()

    # -- state -----------------------------------------------------------------------

    @property
    def host(self) -> str:
        """The address the platform listens on."""
        return self._host

    @property
    def port(self) -> int:
        """The UDP port the platform listens on."""
        return self._live().port

    @property
    def registrations(self) -> Mapping[str, ClientRegistration]:
        """Registered devices by endpoint name."""
        return MappingProxyType({ep: c.registration for ep, c in self._clients.items()})

    @property
    def uplinks(self) -> list[Uplink]:
        """The most recent uplinks, oldest first (bounded by `history`)."""
        return list(self._uplinks)

    def observations(self, endpoint: str) -> set[Path]:
        """The paths the platform observes on `endpoint`."""
        client = self._clients.get(endpoint)
        return set() if client is None else set(client.observations)

    def forget(self, endpoint: str) -> bool:
        """Drop `endpoint`'s registration and observations without telling the device.

        What a platform restarted without its state does, or one whose endpoint another
        device took over: the device's Update gets 4.04, its notifications a Reset.
        False when `endpoint` is not registered.
        """
        client = self._clients.get(endpoint)
        if client is None:
            return False
        self._forget(endpoint)
        self._emit(RegistrationEvent("forgotten", client.registration))
        return True

    async def wait_for[T](self, predicate: Callable[[], T | None]) -> T:
        """Wait until `predicate()` returns something truthy, and return it.

        It is checked after every platform event; bound the wait with asyncio.timeout.
        """
        loop = asyncio.get_running_loop()
        while not (result := predicate()):
            waiter = loop.create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
        return result

    async def wait_registered(
        self, endpoint: str, *, newer_than: ClientRegistration | None = None
    ) -> ClientRegistration:
        """The registration of `endpoint` (one other than `newer_than`, if given)."""

        def current() -> ClientRegistration | None:
            client = self._clients.get(endpoint)
            if client is None or (
                newer_than is not None and client.registration.location == newer_than.location
            ):
                return None
            return client.registration

        return await self.wait_for(current)

    async def wait_uplink(self, match: Callable[[Uplink], bool] | None = None) -> Uplink:
        """The first recorded uplink that `match` accepts (any, without `match`)."""
        return await self.wait_for(
            lambda: next((u for u in self._uplinks if match is None or match(u)), None)
        )

    # -- device management -----------------------------------------------------------

    async def observe(self, endpoint: str, path: Path, *, accept: int | None = None) -> Reply:
        """Observe `path` on `endpoint` (RFC 7641); the Reply is the first response.

        With `accept`, the GET carries that Accept option and the device answers and
        notifies in that content format (or refuses with 4.06).

        LookupError: `endpoint` is not registered; ConnectionError: the device reset
        the request or is unreachable; TimeoutError: it never answered. The same
        holds for `cancel_observe`, `write` and `read`.
        """
        client = self._client(endpoint)
        loop = asyncio.get_running_loop()
        observation = _Observation(
            endpoint, tuple(path), secrets.token_bytes(8), accept, loop.create_future()
        )
        live = self._live()
        live.route(observation.token, lambda message: self._on_message(observation, message))
        try:
            response = await self._exchange(client, observation, observe=0)
        except BaseException:
            live.unroute(observation.token)
            raise
        reply = _reply(response)
        if reply.ok and response.opt.observe is not None:
            previous = client.observations.pop(observation.path, None)
            if previous is not None:
                live.unroute(previous.token)
            client.observations[observation.path] = observation
            self._emit(ObservationEvent("observed", endpoint, observation.path, reply.code))
        else:
            live.unroute(observation.token)
            self._emit(ObservationEvent("refused", endpoint, observation.path, reply.code))
        return reply

    async def cancel_observe(self, endpoint: str, path: Path) -> Reply:
        """Cancel the observation of `path` with a GET carrying Observe: 1 (RFC 7641 3.6)."""
        client = self._client(endpoint)
        observation = client.observations.get(tuple(path))
        if observation is None:
            raise LookupError(f"{endpoint} {_text(path)} is not observed")
        observation.cancel = asyncio.get_running_loop().create_future()
        try:
            response = await self._exchange(client, observation, observe=1)
        finally:
            self._end(observation)
        return _reply(response)

    async def write(
        self, endpoint: str, path: Path, payload: bytes, *, content_format: int = OPAQUE
    ) -> Reply:
        """Write `payload` to `path` (PUT), as `content_format` says it is (opaque by default).

        The payload goes as given: for TLV, pass it encoded (`bc26sim.tlv`).
        """
        message = aiocoap.Message(code=Code.PUT, payload=payload, content_format=content_format)
        return await self._request(endpoint, path, message)

    async def read(self, endpoint: str, path: Path, *, accept: int | None = None) -> Reply:
        """Read `path` (GET)."""
        message = aiocoap.Message(code=Code.GET)
        if accept is not None:
            message.opt.accept = accept
        return await self._request(endpoint, path, message)

    async def _request(self, endpoint: str, path: Path, message: aiocoap.Message) -> Reply:
        client = self._client(endpoint)
        live = self._live()
        message.opt.uri_path = [str(p) for p in path]
        message.transport_tuning = live.tuning(True)
        message.remote = client.remote
        try:
            async with asyncio.timeout(RESULT_TIMEOUT * self._scale):
                return _reply(await live.request(message))
        except aiocoap.error.Error as err:
            raise ConnectionError(f"{endpoint} {_text(path)}: {err!r}") from err

    async def _exchange(
        self, client: _Client, observation: _Observation, observe: int
    ) -> aiocoap.Message:
        """GET on the observation's token; the response comes through `_on_message`."""
        live = self._live()
        message = aiocoap.Message(
            code=Code.GET,
            uri_path=[str(p) for p in observation.path],
            observe=observe,
            transport_tuning=live.tuning(True),
        )
        if observation.accept is not None:  # a cancel repeats the options (RFC 7641 3.6)
            message.opt.accept = observation.accept
        message.mtype = CON
        message.token = observation.token
        message.remote = client.remote
        waiter = observation.first if observation.cancel is None else observation.cancel
        async with asyncio.timeout(RESULT_TIMEOUT * self._scale):
            outcome = await live.send(message)
            if outcome is not SendOutcome.ACKNOWLEDGED:
                raise ConnectionError(f"{client.registration.endpoint}: {outcome.value}")
            return await waiter

    def _on_message(self, observation: _Observation, message: aiocoap.Message) -> Answer:
        """A response on an observation's token: our GET's answer or a notification."""
        if message.mtype is ACK:  # piggybacked on the ACK of our GET (observe or cancel)
            waiter = observation.first if observation.cancel is None else observation.cancel
            if not waiter.done():
                waiter.set_result(message)
            return "ack"
        if not observation.first.done():  # a separate first response
            observation.first.set_result(message)
            return "ack"
        if message.opt.observe is None or not message.code.is_successful():
            # A final response: the answer to our cancel, or the device ended it.
            if observation.cancel is not None and not observation.cancel.done():
                observation.cancel.set_result(message)
            self._end(observation)
            return "ack"
        return self._notification(observation, message)

    def _notification(self, observation: _Observation, message: aiocoap.Message) -> Answer:
        confirmable = message.mtype is CON
        # A NON needs no answer; a platform that resets rejects it too (RFC 7641 3.6).
        answer: Answer = self.con_policy
        if not confirmable and answer == "ack":
            answer = "ignore"
        if message.mid in observation.mids:
            return answer  # a retransmission: answer again, record once
        observation.mids.append(message.mid)
        uplink = Uplink(
            endpoint=observation.endpoint,
            path=observation.path,
            payload=bytes(message.payload),
            confirmable=confirmable,
            observe_seq=message.opt.observe,
            content_format=_int_or_none(message.opt.content_format),
            answer=answer,
        )
        self._uplinks.append(uplink)
        self.uplink_count += 1
        if answer == "reset":
            self._end(observation)  # a Reset tells the device we lost interest
        self._emit(uplink)
        return answer

    def _end(self, observation: _Observation) -> None:
        client = self._clients.get(observation.endpoint)
        if client is None or client.observations.get(observation.path) is not observation:
            return
        del client.observations[observation.path]
        self._live().unroute(observation.token)
        self._emit(ObservationEvent("ended", observation.endpoint, observation.path, ""))

    # -- the registration interface (LwM2M 1.0 section 5.3) ----------------------------

    async def _handle(self, request: aiocoap.Message) -> aiocoap.Message:
        path = tuple(request.opt.uri_path)
        allowed: dict[Code, Callable[[aiocoap.Message], aiocoap.Message]]
        if path == ("rd",):
            allowed = {Code.POST: self._register}
        elif len(path) == 2 and path[0] == "rd":
            endpoint = self._by_location.get("/rd/" + path[1])
            if endpoint is None:
                return self._response(Code.NOT_FOUND)
            allowed = {
                Code.POST: lambda r: self._update(endpoint, r),
                Code.DELETE: lambda r: self._deregister(endpoint),
            }
            delay = {Code.DELETE: self.deregister_delay, Code.POST: self.update_delay}
            if delay.get(request.code, 0.0) > 0:
                await asyncio.sleep(delay[request.code] * self._scale)
                if self._by_location.get("/rd/" + path[1]) != endpoint:
                    return self._response(Code.NOT_FOUND)
        else:
            return self._response(Code.NOT_FOUND)
        handler = allowed.get(request.code)
        if handler is None:
            return self._response(Code.METHOD_NOT_ALLOWED)
        return handler(request)

    def _register(self, request: aiocoap.Message) -> aiocoap.Message:
        query = _query(request.opt.uri_query)
        endpoint = query.get("ep", "")
        lifetime = _lifetime(query.get("lt"), DEFAULT_LIFETIME)
        if not endpoint or lifetime is None:
            return self._response(Code.BAD_REQUEST)
        if endpoint not in self._clients and len(self._clients) >= self._max_clients:
            return self._response(Code.SERVICE_UNAVAILABLE)
        self._forget(endpoint)
        location = f"/rd/{next(self._locations):x}"
        registration = ClientRegistration(
            endpoint=endpoint,
            location=location,
            lifetime=lifetime,
            binding=query.get("b", "U"),
            version=query.get("lwm2m", "1.0"),
            objects=_links(request.payload),
            address=_address(request.remote),
        )
        client = _Client(registration, request.remote)
        self._clients[endpoint] = client
        self._by_location[location] = endpoint
        self._arm_expiry(client)
        self._emit(RegistrationEvent("registered", registration))
        self._spawn(self._observe_configured(client))
        return self._response(Code.CREATED, location_path=tuple(location.split("/")[1:]))

    def _update(self, endpoint: str, request: aiocoap.Message) -> aiocoap.Message:
        client = self._clients[endpoint]
        query = _query(request.opt.uri_query)
        old = client.registration
        lifetime = _lifetime(query.get("lt"), old.lifetime)
        if lifetime is None:
            return self._response(Code.BAD_REQUEST)
        client.remote = request.remote  # the device may have moved (NAT rebinding)
        client.registration = replace(
            old,
            lifetime=lifetime,
            binding=query.get("b", old.binding),
            objects=_links(request.payload) if request.payload else old.objects,
            address=_address(request.remote),
            updates=old.updates + 1,
        )
        self._arm_expiry(client)
        self._emit(RegistrationEvent("updated", client.registration))
        return self._response(Code.CHANGED)

    def _deregister(self, endpoint: str) -> aiocoap.Message:
        registration = self._clients[endpoint].registration
        self._forget(endpoint)
        self._emit(RegistrationEvent("deregistered", registration))
        return self._response(Code.DELETED)

    def _expire(self, endpoint: str) -> None:
        client = self._clients.get(endpoint)
        if client is None:
            return
        self._forget(endpoint)
        registration = client.registration
        self._emit(RegistrationEvent("expired", registration))

    def _forget(self, endpoint: str) -> None:
        client = self._clients.pop(endpoint, None)
        if client is None:
            return
        self._by_location.pop(client.registration.location, None)
        if client.expiry is not None:
            client.expiry.cancel()
        for observation in client.observations.values():
            self._live().unroute(observation.token)
        client.observations.clear()

    def _arm_expiry(self, client: _Client) -> None:
        if client.expiry is not None:
            client.expiry.cancel()
        delay = client.registration.lifetime * self._scale
        client.expiry = asyncio.get_running_loop().call_later(
            delay, self._expire, client.registration.endpoint
        )

    async def _observe_configured(self, client: _Client) -> None:
        """Observe the configured paths the device registered, unless it re-registered."""
        await asyncio.sleep(self._observe_delay * self._scale)
        endpoint = client.registration.endpoint
        for target in self._observe:
            path = target.path
            if self._clients.get(endpoint) is not client:
                return
            if not _declares(client.registration.objects, path):
                continue
            try:
                await self.observe(endpoint, path, accept=target.accept)
            except (ConnectionError, TimeoutError, LookupError) as err:
                _LOGGER.info("Observe %s on %s failed: %r", _text(path), endpoint, err)
                self._emit(ObservationEvent("refused", endpoint, path, type(err).__name__))

    # -- plumbing --------------------------------------------------------------------

    def _client(self, endpoint: str) -> _Client:
        client = self._clients.get(endpoint)
        if client is None:
            raise LookupError(f"{endpoint} is not registered")
        return client

    def _live(self) -> CoapEndpoint:
        if self._endpoint is None:
            raise RuntimeError("the platform is stopped")
        return self._endpoint

    def _response(self, code: Code, **options: Any) -> aiocoap.Message:
        return aiocoap.Message(code=code, transport_tuning=self._live().tuning(), **options)

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task: asyncio.Task[None] = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _emit(self, event: PlatformEvent) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        if self._on_event is not None:
            self._on_event(event)


def _reply(message: aiocoap.Message) -> Reply:
    return Reply(
        code=message.code.dotted,
        payload=bytes(message.payload),
        content_format=_int_or_none(message.opt.content_format),
    )


def _int_or_none(value: object) -> int | None:
    return None if value is None else int(value)  # type: ignore[call-overload]


def _query(items: Iterable[str]) -> dict[str, str]:
    pairs = (item.partition("=") for item in items)
    return {key: value for key, _, value in pairs}


def _lifetime(text: str | None, default: int) -> int | None:
    if text is None:
        return default
    return int(text) if text.isdigit() and 0 < int(text) < 1 << 32 else None


def _links(payload: bytes) -> tuple[str, ...]:
    """The targets of a CoRE link-format payload, such as ("/19/0", "/19/1")."""
    text = payload.decode("utf-8", errors="replace")
    return tuple(re.findall(r"<([^>]*)>", text))


def _declares(objects: tuple[str, ...], path: Path) -> bool:
    """Whether the registered links cover `path` (its object or its instance)."""
    prefixes = {_text(path[:n]) for n in range(1, len(path) + 1)}
    return any(link.rstrip("/") in prefixes for link in objects)


def _address(remote: Any) -> tuple[str, int]:
    host, port = remote.sockaddr[0], remote.sockaddr[1]
    return str(host).removeprefix("::ffff:"), int(port)


def _text(path: Path) -> str:
    return "/" + "/".join(str(p) for p in path)
