"""Unsolicited result codes of the BC26, as typed events."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
import re

from .models import MAX_ID, NetworkRegistration, ResourcePath


@dataclass(frozen=True, slots=True)
class ObserveRequest:
    """+QLWOBSERVE: <flag>,<obj>,<ins>,<res>; resource -1 is the whole instance."""

    path: ResourcePath
    cancel: bool


@dataclass(frozen=True, slots=True)
class DataReceived:
    """+QLWDATARECV: <obj>,<ins>,<res>,<len>[,<data>].

    `data` is None in buffer access mode (read it with AT+QLWRD); otherwise the
    payload already decoded from hex to bytes.
    """

    path: ResourcePath
    length: int
    data: bytes | None


@dataclass(frozen=True, slots=True)
class ModemRebooted:
    """The ROM boot banner: the module restarted and lost its LwM2M context."""


@dataclass(frozen=True, slots=True)
class SimReady:
    """+CPIN: <code>."""

    code: str


@dataclass(frozen=True, slots=True)
class NetworkRegistrationChanged:
    """+CEREG: <stat>[,...]."""

    status: NetworkRegistration


@dataclass(frozen=True, slots=True)
class IpAddressAssigned:
    """+IP: <address>."""

    address: str


@dataclass(frozen=True, slots=True)
class UnknownUrc:
    """A line nobody asked for that matches no known URC; reported, never swallowed."""

    line: str


type UrcEvent = (
    ObserveRequest
    | DataReceived
    | ModemRebooted
    | SimReady
    | NetworkRegistrationChanged
    | IpAddressAssigned
    | UnknownUrc
)


# ---------------------------------------------------------------------- recognising them

# The ROM banner a BC26 prints at boot, lines ending in `\n\r` (field notes):
# `F1: 0000 0000`, `V0: 0000 0000 [0001]`, ..., `Leaving the BROM`.
BANNER_END = "Leaving the BROM"
_BANNER_LINE = re.compile(r"[0-9A-Z]{2}: [0-9A-F]{4} [0-9A-F]{4}(?: \[[0-9A-F]{4}\])?")
_INTEGER = re.compile(r"-?[0-9]{1,6}")
_ADDRESS = re.compile(r"[0-9A-Fa-f.:]{2,45}")
_MAX_PAYLOAD = 512  # bytes, manual 4.2


def is_banner_line(line: str) -> bool:
    """True for a line of the ROM boot banner."""
    if line[2:4] != ": ":  # cheap test first: this runs for every line received
        return line == BANNER_END
    return _BANNER_LINE.fullmatch(line) is not None


def parse_urc(line: str) -> UrcEvent | None:
    """The event a known unsolicited line stands for; None if it is not one.

    Known prefixes with malformed parameters are not events either: the channel
    reports such a line as `UnknownUrc` rather than guess. The boot banner is
    recognised by `is_banner_line` (it takes several lines and is stateful).
    """
    if not line.startswith("+"):
        return None
    name, colon, rest = line.partition(":")
    if not colon:
        return None
    parser = _PARSERS.get(name)
    return parser(rest.strip()) if parser is not None else None


_ID = r" *([0-9]{1,5}) *"
_OBSERVE = re.compile(rf" *([01]) *,{_ID},{_ID}, *(-1|[0-9]{{1,5}}) *")
_DATA_RECEIVED = re.compile(rf"{_ID},{_ID},{_ID}, *([0-9]{{1,3}}) *(?:,(.*))?", re.DOTALL)


def _path(obj: str, ins: str, res: str) -> ResourcePath | None:
    path = ResourcePath(int(obj), int(ins), int(res))
    return path if max(path) <= MAX_ID else None


def _observe(rest: str) -> ObserveRequest | None:
    """`<flag>,<obj>,<ins>,<res>`; <res> -1 is the whole instance."""
    match = _OBSERVE.fullmatch(rest)
    if match is None:
        return None
    flag, obj, ins, res = match.groups()
    path = _path(obj, ins, res)
    return ObserveRequest(path, flag == "1") if path is not None else None


def _data_received(rest: str) -> DataReceived | None:
    """`<obj>,<ins>,<res>,<length>[,<data>]`; no data in buffer access mode."""
    match = _DATA_RECEIVED.fullmatch(rest)
    if match is None:
        return None
    obj, ins, res, length_text, text = match.groups()
    path = _path(obj, ins, res)
    length = int(length_text)
    if path is None or length > _MAX_PAYLOAD:
        return None
    if text is None:
        return DataReceived(path, length, None)  # buffer access mode: read with AT+QLWRD
    data = _payload(text, length)
    return DataReceived(path, length, data) if data is not None else None


def _payload(text: str, length: int) -> bytes | None:
    """Hex (2 digits a byte) or text (1 character a byte) data; `length` tells which."""
    if len(text) == 2 * length:
        # bytes.fromhex checks the digits itself, in C (a regex first doubled the cost of
        # a long URC); it skips whitespace, but then fewer than `length` bytes come out.
        try:
            data = bytes.fromhex(text)
        except ValueError:
            pass
        else:
            if len(data) == length:
                return data
    if len(text) == length:
        return text.encode("latin-1")
    return None


def _sim(rest: str) -> SimReady | None:
    return SimReady(rest) if rest else None


def _registration(rest: str) -> NetworkRegistrationChanged | None:
    """`+CEREG: <stat>[,<tac>,<ci>,<AcT>...]`; `+CEREG: <n>,<stat>...` is AT+CEREG?'s answer.

    Told apart by the second field: a bare number in the read answer, a quoted
    <tac> (or nothing) in the URC.
    """
    fields = [field.strip() for field in rest.split(",")]
    if len(fields) > 1 and _INTEGER.fullmatch(fields[1]):
        return None
    if _INTEGER.fullmatch(fields[0]) is None:
        return None
    try:
        return NetworkRegistrationChanged(NetworkRegistration(int(fields[0])))
    except ValueError:
        return None


def _ip(rest: str) -> IpAddressAssigned | None:
    address = rest.strip('"')
    return IpAddressAssigned(address) if _ADDRESS.fullmatch(address) else None


_PARSERS: dict[str, Callable[[str], UrcEvent | None]] = {
    "+QLWOBSERVE": _observe,
    "+QLWDATARECV": _data_received,
    "+CPIN": _sim,
    "+CEREG": _registration,
    "+IP": _ip,
}
