"""Plain data types of the BC26 modem library."""

from __future__ import annotations

from dataclasses import dataclass
import enum
from typing import NamedTuple, Self

from .errors import InvalidArgumentError

MAX_ID = 65535  # object, instance and resource IDs (manual 3.3)
# Digits an ID may be written with (leading zeros allowed). Longer text is no ID, and
# not handed to int(), which refuses more than 4,300 digits with a bare ValueError.
_MAX_ID_DIGITS = 10


def parse_id(text: str) -> int | None:
    """`"5700"` -> 5700; None unless `text` is ASCII digits (spaces around) for 0 to 65535."""
    digits = text.strip()
    if not (digits.isdigit() and digits.isascii() and len(digits) <= _MAX_ID_DIGITS):
        return None
    number = int(digits)
    return number if number <= MAX_ID else None


class ResourcePath(NamedTuple):
    """/object/instance/resource, as the manual's <obj_id>,<ins_id>,<res_id>.

    The one place paths are read, written and checked. A plain tuple of the same
    three numbers compares equal, so `(19, 0, 0)` may stand for one.
    """

    object: int
    instance: int
    resource: int

    @classmethod
    def of(cls, obj: int, instance: int, resource: int) -> Self:
        """A checked path: three integers (not bools) from 0 to 65535; else InvalidArgumentError."""
        parts = (obj, instance, resource)
        if not all(type(part) is int and 0 <= part <= MAX_ID for part in parts):
            raise InvalidArgumentError(f"not an object/instance/resource path: {parts!r}")
        return cls(obj, instance, resource)

    @classmethod
    def parse(cls, text: str) -> Self:
        """`19/1/0` or `/19/1/0` as users write it; InvalidArgumentError when it is not one."""
        if not isinstance(text, str):
            raise InvalidArgumentError(f"not an object/instance/resource path: {type(text)}")
        parts = text.strip().strip("/").split("/")
        ids = [
            number
            for part in parts
            if part == part.strip() and (number := parse_id(part)) is not None
        ]
        if len(parts) != 3 or len(ids) != 3:
            raise InvalidArgumentError(f"not an object/instance/resource path: {text[:40]!r}")
        return cls(*ids)

    def __str__(self) -> str:
        """`19/1/0`: how users and the manual write a path."""
        return f"{self.object}/{self.instance}/{self.resource}"


@dataclass(frozen=True, slots=True)
class ObjectInstance:
    """One AT+QLWADDOBJ: an object instance and the resources the module declares in it."""

    object: int
    instance: int
    resources: tuple[int, ...]

    def paths(self) -> tuple[ResourcePath, ...]:
        """The resource paths this declaration makes."""
        return tuple(ResourcePath(self.object, self.instance, res) for res in self.resources)


@dataclass(frozen=True, slots=True)
class Timeouts:
    """How long each stage of a command may take, in seconds.

    `response`: the immediate answer (OK, ERROR, information lines); the manual gives
    300 ms for every command but AT+QLWDEL, for which `delete` applies (manual: 5 s).
    `final`: the later final result (CONNECT/UPDATE/CLOSE/SEND OK or FAIL; manual:
    about 128 s). `open`: opening the port (a socket:// peer may not answer). Each
    default is the manual's figure plus a margin for a busy host; the channel adds the
    command's wire time at the port's baud rate, and waits for an answer still arriving
    (up to `delete` more; see channel.py, Sending).
    """

    response: float = 1.0
    delete: float = 6.0
    final: float = 130.0
    open: float = 10.0


class DataMode(enum.IntEnum):
    """<mode> of AT+QLWOPEN."""

    DIRECT_PUSH = 0
    BUFFER_ACCESS = 1


class ConStatus(enum.IntEnum):
    """<status> of AT+QLWDATASTATUS? (manual 3.9)."""

    NOT_SENT = 0
    WAITING = 1
    FAILED = 2
    TIMEOUT = 3
    SUCCESS = 4
    RESET = 5


class NetworkRegistration(enum.IntEnum):
    """<stat> of AT+CEREG (3GPP TS 27.007)."""

    NOT_REGISTERED = 0
    REGISTERED_HOME = 1
    SEARCHING = 2
    DENIED = 3
    UNKNOWN = 4
    REGISTERED_ROAMING = 5


@dataclass(frozen=True, slots=True)
class ModemIdentity:
    """What ATI, AT+CGMR and AT+CGSN=1 say about the module."""

    manufacturer: str
    model: str
    revision: str
    firmware: str
    imei: str


@dataclass(frozen=True, slots=True)
class SignalQuality:
    """AT+CSQ: <rssi> as dBm (None when 99, not known) and <ber> (None when 99)."""

    rssi_dbm: int | None
    ber: int | None


@dataclass(frozen=True, slots=True)
class LinkStatus:
    """The radio link and the last CON message, as the module reports them now.

    None for what is not known: the module refused the query, or has no value (no
    signal, no PDN address).
    """

    signal_dbm: int | None = None
    network: NetworkRegistration | None = None
    ip_address: str | None = None
    con_status: ConStatus | None = None


@dataclass(frozen=True, slots=True)
class BufferRead:
    """One AT+QLWRD answer: the bytes read and what is left of the current node."""

    data: bytes
    remaining: int


@dataclass(frozen=True, slots=True)
class TranscriptLine:
    """One line of the bounded transcript kept for diagnostics."""

    timestamp: float  # time.time()
    direction: str  # "tx" (to the module) or "rx" (from the module)
    text: str
