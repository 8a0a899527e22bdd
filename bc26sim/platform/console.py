"""The platform's console: event lines, and downlinks typed or sent on a timer.

A downlink line is `[PATH [FORMAT]] PAYLOAD`:

    AAAA0000                    hex digits (an even count) are bytes ...
    on                          ... anything else is UTF-8 text; both go to the
                                default path (/19/1/0) in the default format (opaque)
    3311/0/5850 01              the first word names the path when it has a slash
    3303/0/5700 text 21.5       then a format: text (text/plain, 0; the rest of the
                                line as UTF-8, never read as hex), opaque (42) or
                                tlv (11542; the value, hex or text, wrapped in one
                                TLV resource entry, so a resource path is needed)

A format word counts only when a payload follows it (`19/1/0 text` writes "text").
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
import string

from bc26sim import tlv
from bc26sim.platform.server import (
    OPAQUE,
    TEXT,
    TLV,
    LwM2mPlatform,
    ObservationEvent,
    ObserveTarget,
    Path,
    PlatformEvent,
    RegistrationEvent,
    Uplink,
)

type Write = Callable[[str], None]

DOWNLINK_PATH: Path = (19, 1, 0)
FORMATS: dict[str, int] = {"opaque": OPAQUE, "text": TEXT, "tlv": TLV}


@dataclass(frozen=True, slots=True)
class Downlink:
    """One write the console sends: where, in which content format, the bytes on the wire."""

    path: Path
    content_format: int
    payload: bytes


def path_text(path: Path) -> str:
    """ "/19/0/0" for (19, 0, 0)."""
    return "/" + "/".join(str(p) for p in path)


def parse_path(text: str) -> Path:
    """(19, 0, 0) for "19/0/0" or "/19/0/0"; ValueError otherwise."""
    parts = text.strip().strip("/").split("/")
    if not 1 <= len(parts) <= 3 or not all(p.isdigit() and int(p) <= 65535 for p in parts):
        raise ValueError(f"not an LwM2M path: {text!r}")
    return tuple(int(p) for p in parts)


def parse_payload(text: str) -> bytes:
    """A line typed by the user: hex digits (even count) as bytes, anything else as UTF-8."""
    line = text.strip()
    if line and len(line) % 2 == 0 and all(c in string.hexdigits for c in line):
        return bytes.fromhex(line)
    return line.encode()


def parse_format(name: str) -> int:
    """The content format named `name` (opaque, text, tlv); ValueError otherwise."""
    try:
        return FORMATS[name.strip().lower()]
    except KeyError:
        raise ValueError(f"not a content format: {name!r} (one of {', '.join(FORMATS)})") from None


def format_name(content_format: int) -> str:
    """ "text" for 0, and so on; the number for a format without a name."""
    names = {number: name for name, number in FORMATS.items()}
    return names.get(content_format, str(content_format))


def parse_observe(text: str) -> ObserveTarget:
    """ "3303/0/5700:tlv" -> observe that path asking for TLV; no suffix asks for nothing."""
    path, _, name = text.partition(":")
    return ObserveTarget(parse_path(path), parse_format(name) if name else None)


def observe_text(target: ObserveTarget) -> str:
    """ "/3303/0/5700:tlv" for what `parse_observe` read."""
    suffix = "" if target.accept is None else ":" + format_name(target.accept)
    return path_text(target.path) + suffix


def encode_value(path: Path, content_format: int, value: bytes) -> bytes:
    """The payload that writes `value` to `path` in `content_format` (TLV wraps it)."""
    if content_format != TLV:
        return value
    if len(path) != 3:
        raise ValueError(f"tlv needs a resource path, not {path_text(path)}")
    return tlv.encode_resources([(path[2], value)])


def parse_downlink(line: str, path: Path = DOWNLINK_PATH, content_format: int = OPAQUE) -> Downlink:
    """A typed line `[PATH [FORMAT]] PAYLOAD` (see the module docstring).

    `path` and `content_format` apply when the line names none. ValueError: a path
    of more than three levels or an id past 65535, or tlv on a path that is not a
    resource.
    """
    rest = line.strip()
    words = rest.split(maxsplit=1)
    if len(words) == 2 and _names_path(words[0]):
        path, rest = parse_path(words[0]), words[1]
        words = rest.split(maxsplit=1)
        if len(words) == 2 and words[0].lower() in FORMATS:
            content_format, rest = FORMATS[words[0].lower()], words[1]
    value = rest.encode() if content_format == TEXT else parse_payload(rest)
    return Downlink(path, content_format, encode_value(path, content_format, value))


def describe(event: PlatformEvent) -> str:
    """One line for the console."""
    if isinstance(event, Uplink):
        kind = "CON" if event.confirmable else "NON"
        answer = f", {event.answer}" if event.confirmable or event.answer == "reset" else ""
        return (
            f"uplink {event.endpoint} {path_text(event.path)} {kind} seq {event.observe_seq}"
            f" {_format_label(event.content_format)}{len(event.payload)} bytes{answer}:"
            f" {event.payload.hex().upper()}"
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


def _names_path(word: str) -> bool:
    """Whether a line's first word is a path ("3303/0/5700"), not the start of a text."""
    return "/" in word and all(part.isdigit() for part in word.strip("/").split("/"))


def _format_label(content_format: int | None) -> str:
    """ "text " or "tlv " before a byte count; nothing for opaque (or no format)."""
    if content_format is None or content_format == OPAQUE:
        return ""
    return format_name(content_format) + " "


async def send_downlink(
    platform: LwM2mPlatform,
    payload: bytes,
    write: Write,
    path: Path = DOWNLINK_PATH,
    *,
    content_format: int = OPAQUE,
) -> None:
    """Write `payload` to `path` on every registered device, one line per device."""
    endpoints = list(platform.registrations)
    if not endpoints:
        write("downlink: no device registered")
    for endpoint in endpoints:
        try:
            reply = await platform.write(endpoint, path, payload, content_format=content_format)
        except (ConnectionError, TimeoutError, LookupError) as err:
            outcome = f"failed ({err})"
        else:
            outcome = reply.code
        write(
            f"downlink {endpoint} {path_text(path)} {_format_label(content_format)}"
            f"{len(payload)} bytes: {payload.hex().upper()} -> {outcome}"
        )


async def downlink_every(
    platform: LwM2mPlatform,
    seconds: float,
    payload: bytes,
    write: Write,
    path: Path = DOWNLINK_PATH,
    *,
    content_format: int = OPAQUE,
) -> None:
    """Send `payload` to every registered device every `seconds` (real time)."""
    while True:
        await asyncio.sleep(seconds)
        if platform.registrations:
            await send_downlink(platform, payload, write, path, content_format=content_format)


async def downlinks_from(
    reader: asyncio.StreamReader,
    platform: LwM2mPlatform,
    write: Write,
    path: Path = DOWNLINK_PATH,
    *,
    content_format: int = OPAQUE,
) -> None:
    """Each line read (`[PATH [FORMAT]] PAYLOAD`) becomes a downlink to every device."""
    while line := await reader.readline():
        text = line.decode(errors="replace").strip()
        if not text:
            continue
        try:
            downlink = parse_downlink(text, path, content_format)
        except ValueError as err:
            write(f"downlink: {err}")
            continue
        await send_downlink(
            platform,
            downlink.payload,
            write,
            downlink.path,
            content_format=downlink.content_format,
        )


async def start_platform(port: int, time_scale: float, write: Write) -> LwM2mPlatform:
    """The platform on 127.0.0.1:`port`, printing what it sees (`--with-platform`)."""
    return await LwM2mPlatform.start(
        "127.0.0.1", port, time_scale=time_scale, on_event=lambda event: write(describe(event))
    )


def announce_platform(platform: LwM2mPlatform, write: Write) -> None:
    """Tell the user how to point the module at the platform."""
    write(f"LwM2M platform on coap://{platform.host}:{platform.port}")
    write(f'configure the module with AT+QLWSERV="{platform.host}",{platform.port}')
