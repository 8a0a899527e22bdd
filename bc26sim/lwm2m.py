"""The LwM2M 1.0 client of the virtual BC26: real CoAP over UDP (aiocoap).

The AT interpreter drives it through `bc26sim.network.Network`; the LwM2M server
(the IoT platform) reaches the modem through it with Observe, Write and Read.

- Register, Update, Deregister: LwM2M 1.0 section 5.3 (`POST /rd?ep=..&lt=..&lwm2m=1.0&b=U`,
  `POST /rd/<id>`, `DELETE /rd/<id>`). The registration is refreshed with an
  Update when half its lifetime is gone, and registered again if the server no
  longer knows it.
- Observe (RFC 7641) on an object, instance or resource; AT+QLWDATASEND becomes a
  notification on it, CON or NON as asked, with a growing Observe sequence. A
  Reset or an unanswered CON notification ends the observation (RFC 7641 4.5),
  and the modem hears about it like about a cancel.
- Resources are bytes the host wrote or will read; objects and instances read as
  TLV. Content formats: see the section below.

Content formats: what the module accepts and what the host sees
---------------------------------------------------------------
The module knows resource IDs, not types (AT+QLWADDOBJ declares IDs only), so it
converts no value: a server's bytes reach `+QLWDATARECV` as they came, and the
host's bytes (AT+QLWDATASEND) go out framed as the observer asked.

    Write (PUT, POST) on declared paths           what +QLWDATARECV carries
    opaque 42 (1544), a resource                  the payload
    text/plain 0 (1541), a resource               the payload: "21.5" is 4 bytes 32312E35;
                                                  base64 (an Opaque resource in text) is
                                                  not decoded
    TLV 11542 (1542), a resource or instance      each resource entry's value, one URC per
                                                  resource in TLV order; a multiple
                                                  resource gives its instances joined
    opaque or text on an instance or object       4.15
    JSON 11543 (1543), CBOR 60, SenML 110/112,
      LwM2M CBOR 11544, anything else             4.15
    any resource of the request not declared      4.04, and nothing reaches the host

    Read and Observe, by Accept (notifications keep the format of their Observe)
    none or opaque, a resource                    the host's bytes, as 42 (1544 if asked)
    text/plain, a resource                        the host's bytes, as 0 (1541 if asked)
    TLV, a resource                               one resource entry around them
    none or TLV, an instance or object            TLV of every declared resource
    anything else                                 4.06

Evidence. LwM2M 1.0 TS 6.4: a client MUST support TLV and MAY support plain text,
opaque and JSON; plain text and opaque carry single resources only (6.4.1, 6.4.2);
CBOR and SenML came with LwM2M 1.1. Appendix C: an Opaque value in plain text is
base64 (quoted in eclipse-leshan/leshan issue 675). Wakaama's `lwm2m_data_parse`
(eclipse-wakaama/wakaama core/data.c), and China Mobile's Wakaama-derived OneNET
client (cis `data_parse`), turn a text/plain write of a resource into one string
value holding the payload unchanged and refuse text or opaque on anything else.
Eclipse Leshan's server demo writes, reads and observes single values as TLV by
default, TEXT or OPAQUE when chosen (`singleformat` in leshan-server-demo's
ClientSetting.vue and ResourceControl.vue), and its opaque decoder refuses format
42 for a resource not typed Opaque (LwM2mNodeOpaqueDecoder): it cannot read an
opaque notification on /3303/0/5700. The field notes report SEND FAIL after
notifications Leshan could not parse, on /19/0/0, which Leshan models as a
multiple resource. Whether a real BC26 passes text through is not verified; this
is the Wakaama behaviour. So the host must send what the observer's format needs,
which +QLWOBSERVE does not tell: text ("21.5"; base64 for an Opaque resource), the
TLV value of the resource's type (a Float as 4 or 8 bytes IEEE 754, big-endian),
or raw bytes.

Every duration (CoAP retransmission, the 128 s result timeout, the lifetime) is
multiplied by `time_scale`, so tests run the protocol in milliseconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator
import contextlib
from dataclasses import dataclass
import ipaddress
import logging
import socket
from typing import Any

import aiocoap
from aiocoap.numbers.codes import Code
from aiocoap.numbers.types import CON, NON

from bc26sim import tlv
from bc26sim.coap import CoapEndpoint
from bc26sim.network import (
    ModemSide,
    ObjectInstance,
    Registration,
    ResourcePath,
    SendOutcome,
)

_LOGGER = logging.getLogger(__name__)

TEXT = 0  # text/plain; charset=utf-8
LINK_FORMAT = 40
OPAQUE = 42  # application/octet-stream, the LwM2M 1.0 opaque format
TLV = 11542
JSON = 11543  # refused: see "Content formats" above
# Numbers from before the IANA registration that older platforms still send.
LEGACY_TEXT = 1541
LEGACY_TLV = 1542
LEGACY_OPAQUE = 1544
TEXT_FORMATS = frozenset({TEXT, LEGACY_TEXT})
OPAQUE_FORMATS = frozenset({OPAQUE, LEGACY_OPAQUE})
TLV_FORMATS = frozenset({TLV, LEGACY_TLV})
# Formats that carry one resource's bytes unchanged (LwM2M 1.0 6.4.1, 6.4.2).
RAW_FORMATS = TEXT_FORMATS | OPAQUE_FORMATS

RESULT_TIMEOUT = 128.0  # manual 3.5-3.8: the final result comes within about 128 s
_OBSERVE_WRAP = 1 << 24  # RFC 7641 4.4: 24-bit sequence numbers

# An LwM2M path as the server addressed it: (object,), (object, instance) or
# (object, instance, resource).
type Target = tuple[int, ...]


@dataclass(slots=True)
class _Observation:
    target: Target
    token: bytes
    remote: Any
    content_format: int


class _RefusedError(Exception):
    """A request the client answers with an error code."""

    def __init__(self, code: Code) -> None:
        super().__init__(str(code))
        self.code = code


class Lwm2mClient:
    """The network side of the virtual BC26 (implements `bc26sim.network.Network`)."""

    def __init__(self, time_scale: float = 1.0) -> None:
        self._scale = time_scale
        self._modem: ModemSide | None = None
        self._endpoint: CoapEndpoint | None = None
        self._server: Any = None
        self._registration: Registration | None = None
        self._objects: tuple[ObjectInstance, ...] = ()
        self._announced: tuple[ObjectInstance, ...] = ()
        self._location: tuple[str, ...] | None = None
        self._observations: dict[Target, _Observation] = {}
        self._observe_seq = 0
        self._refresher: asyncio.Task[None] | None = None
        # Cleared while a Register is in flight: a server request that overtakes
        # the 2.01 waits, so CONNECT OK comes before +QLWOBSERVE (manual 5.1) and
        # a write finds the module registered.
        self._settled = asyncio.Event()
        self._settled.set()

    # -- what tests and diagnostics may look at --------------------------------

    @property
    def registered(self) -> bool:
        """Whether the server holds a registration of ours."""
        return self._location is not None

    @property
    def location(self) -> str | None:
        """The registration's location on the server, such as "/rd/5a3f"."""
        return None if self._location is None else "/" + "/".join(self._location)

    @property
    def local_port(self) -> int | None:
        """The UDP port the module's CoAP socket is bound to."""
        return None if self._endpoint is None else self._endpoint.port

    @property
    def observations(self) -> set[Target]:
        """The paths the server currently observes."""
        return set(self._observations)

    # -- Network -----------------------------------------------------------------

    def attach(self, modem: ModemSide) -> None:
        """Remember the modem to call back."""
        self._modem = modem

    async def register(self, registration: Registration) -> bool:
        """Register with the server named by AT+QLWSERV; True on 2.01 with a location."""
        await self._end_session()
        self._settled.clear()
        try:
            address = await _resolve(registration.host)
            if address is None:
                return False
            bind = "127.0.0.1" if ipaddress.ip_address(address).is_loopback else "0.0.0.0"  # noqa: S104
            self._endpoint = await CoapEndpoint.open(
                self._handle, bind, 0, time_scale=self._scale, name="bc26sim.lwm2m.coap"
            )
            self._server = self._endpoint.remote(address, registration.port)
            self._registration = registration
            self._objects = registration.objects
            if not await self._send_register():
                await self._end_session()
                return False
        except OSError:
            _LOGGER.info("Cannot reach %s", registration.host, exc_info=True)
            await self._end_session()
            return False
        else:
            self._refresher = asyncio.create_task(self._keep_registered())
            return True
        finally:
            self._settled.set()

    async def update(self, objects: tuple[ObjectInstance, ...]) -> bool:
        """Registration Update; the object list goes along when it changed."""
        self._objects = objects
        return await self._send_update()

    async def deregister(self) -> bool:
        """Deregister; True on 2.02 Deleted."""
        if self._location is None:
            return False
        await self._stop_refresher()
        response = await self._request(self._message(Code.DELETE, self._location))
        if response is None or response.code != Code.DELETED:
            self._refresher = asyncio.create_task(self._keep_registered())
            return False
        self._location = None
        self._observations.clear()
        return True

    async def notify(self, path: ResourcePath, payload: bytes, confirmable: bool) -> SendOutcome:
        """Send `payload` as a notification on the observation covering `path`."""
        observation = self._observation_for(path)
        if observation is None or self._endpoint is None:
            return SendOutcome.FAILED
        message = aiocoap.Message(
            code=Code.CONTENT,
            payload=self._notification_payload(observation, path, payload),
            content_format=observation.content_format,
            observe=self._next_observe_seq(),
            transport_tuning=self._endpoint.tuning(confirmable),
        )
        message.mtype = CON if confirmable else NON
        message.token = observation.token
        message.remote = observation.remote
        outcome = await self._endpoint.send(message, lambda: self._rejected(observation))
        if outcome in (SendOutcome.RESET, SendOutcome.TIMEOUT):
            # After the caller has reported the outcome: SEND FAIL, then the cancel.
            asyncio.get_running_loop().call_soon(self._rejected, observation)
        return outcome

    async def reset(self) -> None:
        """Forget registration and observations, silently (the module rebooted)."""
        await self._end_session()

    async def close(self) -> None:
        """Release the socket and the refresh task."""
        await self._end_session()

    # -- registration --------------------------------------------------------------

    async def _send_register(self) -> bool:
        registration = self._registration
        assert registration is not None
        message = self._message(Code.POST, ("rd",), links=self._objects)
        message.opt.uri_query = (
            f"ep={registration.endpoint}",
            f"lt={registration.lifetime}",
            "lwm2m=1.0",
            "b=U",
        )
        response = await self._request(message)
        if response is None or response.code != Code.CREATED or not response.opt.location_path:
            _LOGGER.info("Register refused: %s", response)
            return False
        self._location = tuple(response.opt.location_path)
        self._announced = self._objects
        return True

    async def _send_update(self) -> bool:
        if self._location is None:
            return False
        changed = self._objects != self._announced
        objects = self._objects
        message = self._message(Code.POST, self._location, links=objects if changed else None)
        response = await self._request(message)
        if response is None or response.code != Code.CHANGED:
            _LOGGER.info("Update refused: %s", response)
            return False
        self._announced = objects
        return True

    async def _keep_registered(self) -> None:
        """Refresh the registration at half its lifetime; register again if it is lost."""
        registration = self._registration
        if registration is None or registration.lifetime <= 0:
            return
        while True:
            await asyncio.sleep(registration.lifetime * self._scale / 2)
            if await self._send_update():
                continue
            _LOGGER.info("Registration lost; registering again")
            self._location = None
            for observation in list(self._observations.values()):
                self._rejected(observation)
            await self._send_register()

    async def _stop_refresher(self) -> None:
        task, self._refresher = self._refresher, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _end_session(self) -> None:
        await self._stop_refresher()
        self._location = None
        self._observations.clear()
        endpoint, self._endpoint = self._endpoint, None
        if endpoint is not None:
            await endpoint.close()

    def _message(
        self,
        code: Code,
        path: tuple[str, ...],
        links: tuple[ObjectInstance, ...] | None = None,
    ) -> aiocoap.Message:
        assert self._endpoint is not None
        message = aiocoap.Message(
            code=code, uri_path=path, transport_tuning=self._endpoint.tuning(True)
        )
        if links is not None:
            message.opt.content_format = LINK_FORMAT
            message.payload = _link_format(links).encode()
        message.remote = self._server
        return message

    async def _request(self, message: aiocoap.Message) -> aiocoap.Message | None:
        if self._endpoint is None:
            return None
        try:
            async with asyncio.timeout(RESULT_TIMEOUT * self._scale):
                return await self._endpoint.request(message)
        except (TimeoutError, OSError, aiocoap.error.Error) as err:
            _LOGGER.info("%s %s failed: %r", message.code, message.opt.uri_path, err)
            return None

    # -- requests from the server --------------------------------------------------

    async def _handle(self, request: aiocoap.Message) -> aiocoap.Message:
        await self._settled.wait()
        try:
            target = _target(request.opt.uri_path)
            code, content_format, payload = self._serve(target, request)
        except _RefusedError as refused:
            return self._response(refused.code)
        response = self._response(code, payload, content_format)
        if request.code == Code.GET and request.opt.observe == 0:
            response.opt.observe = self._next_observe_seq()
        return response

    def _serve(self, target: Target, request: aiocoap.Message) -> tuple[Code, int | None, bytes]:
        if request.code == Code.GET:
            if request.opt.observe == 0:
                return self._observe(target, request)
            if request.opt.observe == 1:
                self._cancel(target)
            if request.opt.accept == LINK_FORMAT:
                return Code.CONTENT, LINK_FORMAT, self._discover(target).encode()
            return (Code.CONTENT, *self._read(target, request.opt.accept))
        if request.code == Code.PUT and not request.payload and request.opt.uri_query:
            self._instances(target)  # Write-Attributes: accepted on any declared path
            return Code.CHANGED, None, b""
        if request.code == Code.PUT or (request.code == Code.POST and len(target) == 2):
            self._write(target, request)
            return Code.CHANGED, None, b""
        self._instances(target)
        raise _RefusedError(Code.METHOD_NOT_ALLOWED)

    def _observe(self, target: Target, request: aiocoap.Message) -> tuple[Code, int | None, bytes]:
        content_format, payload = self._read(target, request.opt.accept)
        accepted = [self._modem_observe(path, cancel=False) for path in self._modem_paths(target)]
        if not any(accepted):
            raise _RefusedError(Code.NOT_FOUND)
        self._observations[target] = _Observation(
            target, request.token, request.remote.as_response_address(), content_format
        )
        return Code.CONTENT, content_format, payload

    def _cancel(self, target: Target) -> None:
        if (observation := self._observations.get(target)) is not None:
            self._rejected(observation)

    def _rejected(self, observation: _Observation) -> None:
        """The observation ended (cancel, Reset, CON timeout): tell the modem once."""
        if self._observations.get(observation.target) is not observation:
            return
        del self._observations[observation.target]
        for path in self._modem_paths(observation.target):
            self._modem_observe(path, cancel=True)

    def _read(self, target: Target, accept: int | None) -> tuple[int, bytes]:
        if len(target) == 3:
            value = self._value(target)
            if accept is None:
                return OPAQUE, value
            if accept in RAW_FORMATS:
                return accept, value
            if accept in TLV_FORMATS:
                return accept, tlv.encode_resources([(target[2], value)])
            raise _RefusedError(Code.NOT_ACCEPTABLE)
        if accept is not None and accept not in TLV_FORMATS:
            raise _RefusedError(Code.NOT_ACCEPTABLE)
        return accept or TLV, self._tlv(target)

    def _tlv(self, target: Target, override: tuple[ResourcePath, bytes] | None = None) -> bytes:
        def values(instance: ObjectInstance) -> Iterator[tuple[int, bytes]]:
            for rid in instance.resource_ids:
                path = (instance.object_id, instance.instance_id, rid)
                yield rid, override[1] if override and override[0] == path else self._value(path)

        instances = self._instances(target)
        if len(target) == 2:
            return tlv.encode_resources(values(instances[0]))
        return tlv.encode_instances((i.instance_id, values(i)) for i in instances)

    def _value(self, path: Target) -> bytes:
        value = None if self._modem is None else self._modem.read((path[0], path[1], path[2]))
        if value is None:
            raise _RefusedError(Code.NOT_FOUND)
        return value

    def _write(self, target: Target, request: aiocoap.Message) -> None:
        values = self._written_values(target, request)
        paths = [(target[0], target[1], rid) for rid in values]
        for path in paths:  # every one declared before the host hears of any
            self._value(path)
        for path in paths:
            if self._modem is None or not self._modem.write(path, values[path[2]]):
                raise _RefusedError(Code.NOT_FOUND)

    def _written_values(self, target: Target, request: aiocoap.Message) -> dict[int, bytes]:
        """Resource id -> the bytes for the host, by the request's content format."""
        content_format = request.opt.content_format
        if content_format is None or content_format in RAW_FORMATS:
            if len(target) != 3:
                raise _RefusedError(Code.UNSUPPORTED_CONTENT_FORMAT)
            return {target[2]: request.payload}
        if content_format in TLV_FORMATS and len(target) >= 2:
            return self._tlv_values(target, request.payload)
        raise _RefusedError(Code.UNSUPPORTED_CONTENT_FORMAT)

    @staticmethod
    def _tlv_values(target: Target, payload: bytes) -> dict[int, bytes]:
        try:
            values = tlv.resource_values(payload)
        except ValueError as err:
            raise _RefusedError(Code.BAD_REQUEST) from err
        if len(target) == 3 and set(values) != {target[2]}:
            raise _RefusedError(Code.BAD_REQUEST)
        return values

    def _discover(self, target: Target) -> str:
        instances = self._instances(target)
        if len(target) == 3:
            return _link(target)
        head = [_link(target)]
        return ",".join(
            head
            + [
                _link((i.object_id, i.instance_id, rid))
                for i in instances
                for rid in i.resource_ids
            ]
        )

    def _instances(self, target: Target) -> list[ObjectInstance]:
        """The declared instances under `target`; 4.04 when there are none."""
        found = [
            instance
            for instance in self._objects
            if instance.object_id == target[0]
            and (len(target) < 2 or instance.instance_id == target[1])
            and (len(target) < 3 or target[2] in instance.resource_ids)
        ]
        if not found:
            raise _RefusedError(Code.NOT_FOUND)
        return found

    def _modem_paths(self, target: Target) -> list[ResourcePath]:
        if len(target) == 3:
            return [(target[0], target[1], target[2])]
        with contextlib.suppress(_RefusedError):
            return [(i.object_id, i.instance_id, -1) for i in self._instances(target)]
        return []

    def _modem_observe(self, path: ResourcePath, cancel: bool) -> bool:
        return self._modem is not None and self._modem.observe(path, cancel)

    def _response(
        self, code: Code, payload: bytes = b"", content_format: int | None = None
    ) -> aiocoap.Message:
        tuning = None if self._endpoint is None else self._endpoint.tuning()
        response = aiocoap.Message(code=code, payload=payload, transport_tuning=tuning)
        if content_format is not None:
            response.opt.content_format = content_format
        return response

    # -- notifications -------------------------------------------------------------

    def _observation_for(self, path: ResourcePath) -> _Observation | None:
        for target in (path, path[:2], path[:1]):
            if (observation := self._observations.get(target)) is not None:
                return observation
        return None

    def _notification_payload(
        self, observation: _Observation, path: ResourcePath, payload: bytes
    ) -> bytes:
        if observation.content_format in RAW_FORMATS:
            return payload
        if len(observation.target) == 3:
            return tlv.encode_resources([(path[2], payload)])
        try:
            return self._tlv(observation.target, override=(path, payload))
        except _RefusedError:
            return tlv.encode_resources([(path[2], payload)])

    def _next_observe_seq(self) -> int:
        self._observe_seq = (self._observe_seq + 1) % _OBSERVE_WRAP
        return self._observe_seq


async def _resolve(host: str) -> str | None:
    """The IPv4 address of `host` (the module's PDN is IPv4 only), or None."""
    with contextlib.suppress(ValueError):
        return str(ipaddress.IPv4Address(host))
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, None, family=socket.AF_INET, type=socket.SOCK_DGRAM
        )
    except OSError:
        _LOGGER.info("Cannot resolve %s", host)
        return None
    return str(infos[0][4][0]) if infos else None


def _target(segments: Iterable[str]) -> Target:
    path = tuple(segments)
    if not 1 <= len(path) <= 3 or not all(s.isdigit() and len(s) <= 5 for s in path):
        raise _RefusedError(Code.NOT_FOUND)
    return tuple(int(s) for s in path)


def _link(target: Target) -> str:
    return "</" + "/".join(str(p) for p in target) + ">"


def _link_format(objects: tuple[ObjectInstance, ...]) -> str:
    """The Register/Update payload: one link per declared object instance."""
    seen: dict[str, None] = {}
    for instance in objects:
        target: Target = (instance.object_id,)
        if instance.instance_id >= 0:
            target = (instance.object_id, instance.instance_id)
        seen[_link(target)] = None
    return ",".join(seen)
