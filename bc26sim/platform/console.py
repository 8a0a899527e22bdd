"""The platform's console: event lines, and downlinks typed or sent on a timer."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import string

from bc26sim.platform.server import (
    LwM2mPlatform,
    ObservationEvent,
    Path,
    PlatformEvent,
    RegistrationEvent,
    Uplink,
)

type Write = Callable[[str], None]

DOWNLINK_PATH: Path = (19, 1, 0)


def path_text(path: Path) -> str:
    """ "/19/0/0" for (19, 0, 0)."""
    return "/" + "/".join(str(p) for p in path)


def parse_path(text: str) -> Path:
    """(19, 0, 0) for "19/0/0" or "/19/0/0"; ValueError otherwise."""
    parts = text.strip().strip("/").split("/")
    if not 1 <= len(parts) <= 3 or not all(p.isdigit() for p in parts):
        raise ValueError(f"not an LwM2M path: {text!r}")
    return tuple(int(p) for p in parts)


def parse_payload(text: str) -> bytes:
    """A line typed by the user: hex digits (even count) as bytes, anything else as UTF-8."""
    line = text.strip()
    if line and len(line) % 2 == 0 and all(c in string.hexdigits for c in line):
        return bytes.fromhex(line)
    return line.encode()


def describe(event: PlatformEvent) -> str:
    """One line for the console."""
    if isinstance(event, Uplink):
        kind = "CON" if event.confirmable else "NON"
        answer = f", {event.answer}" if event.confirmable or event.answer == "reset" else ""
        return (
            f"uplink {event.endpoint} {path_text(event.path)} {kind} seq {event.observe_seq}"
            f" {len(event.payload)} bytes{answer}: {event.payload.hex().upper()}"
        )
    if isinstance(event, RegistrationEvent):
        reg = event.registration
        host, port = reg.address
        details = f" lifetime {reg.lifetime} s objects {','.join(reg.objects) or '-'}"
        extra = details if event.kind in ("registered", "updated") else ""
        return f"{event.kind} {reg.endpoint} {reg.location} from {host}:{port}{extra}"
    assert isinstance(event, ObservationEvent)
    code = f" ({event.code})" if event.code else ""
    return f"{event.kind} {event.endpoint} {path_text(event.path)}{code}"


async def send_downlink(
    platform: LwM2mPlatform, payload: bytes, write: Write, path: Path = DOWNLINK_PATH
) -> None:
    """Write `payload` to `path` on every registered device, one line per device."""
    endpoints = list(platform.registrations)
    if not endpoints:
        write("downlink: no device registered")
    for endpoint in endpoints:
        try:
            reply = await platform.write(endpoint, path, payload)
        except (ConnectionError, TimeoutError, LookupError) as err:
            outcome = f"failed ({err})"
        else:
            outcome = reply.code
        hexed = payload.hex().upper()
        write(f"downlink {endpoint} {path_text(path)} {len(payload)} bytes: {hexed} -> {outcome}")


async def downlink_every(
    platform: LwM2mPlatform,
    seconds: float,
    payload: bytes,
    write: Write,
    path: Path = DOWNLINK_PATH,
) -> None:
    """Send `payload` to every registered device every `seconds` (real time)."""
    while True:
        await asyncio.sleep(seconds)
        if platform.registrations:
            await send_downlink(platform, payload, write, path)


async def downlinks_from(
    reader: asyncio.StreamReader, platform: LwM2mPlatform, write: Write, path: Path = DOWNLINK_PATH
) -> None:
    """Each line read becomes a downlink to every registered device."""
    while line := await reader.readline():
        text = line.decode(errors="replace").strip()
        if text:
            await send_downlink(platform, parse_payload(text), write, path)


async def start_platform(port: int, time_scale: float, write: Write) -> LwM2mPlatform:
    """The platform on 127.0.0.1:`port`, printing what it sees (`--with-platform`)."""
    return await LwM2mPlatform.start(
        "127.0.0.1", port, time_scale=time_scale, on_event=lambda event: write(describe(event))
    )


def announce_platform(platform: LwM2mPlatform, write: Write) -> None:
    """Tell the user how to point the module at the platform."""
    write(f"LwM2M platform on coap://{platform.host}:{platform.port}")
    write(f'configure the module with AT+QLWSERV="{platform.host}",{platform.port}')
