"""AT command syntax as the virtual BC26 reads it: lines, command forms, parameters, errors.

Nothing here knows what a command does; `bc26sim.modem` does. This module turns the
bytes a host sends into `Command` values and gives the error codes both share.
"""

from __future__ import annotations

from dataclasses import dataclass
import enum
import re

# A full-size hex AT+QLWDATASEND is about 1,070 characters; anything past this is noise.
MAX_LINE = 2048


class Form(enum.Enum):
    """The four forms of manual table 1."""

    EXECUTE = "AT+<x>"
    READ = "AT+<x>?"
    TEST = "AT+<x>=?"
    WRITE = "AT+<x>=<...>"


class CmeError(enum.IntEnum):
    """The `+CME ERROR: <n>` codes the simulator uses (3GPP TS 27.007 numbering)."""

    OPERATION_NOT_ALLOWED = 3  # the command is fine but the module's state forbids it
    OPERATION_NOT_SUPPORTED = 4  # a form the manual does not list for this command
    MEMORY_FULL = 20  # a bounded table is full (objects, sends in flight)
    INCORRECT_PARAMETERS = 50  # malformed, missing or out-of-range parameters
    UNKNOWN = 100  # not a command the module knows; an overlong line


CME_TEXT = {
    CmeError.OPERATION_NOT_ALLOWED: "operation not allowed",
    CmeError.OPERATION_NOT_SUPPORTED: "operation not supported",
    CmeError.MEMORY_FULL: "memory full",
    CmeError.INCORRECT_PARAMETERS: "incorrect parameters",
    CmeError.UNKNOWN: "unknown",
}


class CommandError(Exception):
    """A command ends in ERROR (or +CME ERROR: <code>)."""

    def __init__(self, code: CmeError) -> None:
        super().__init__(CME_TEXT[code])
        self.code = code


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter as written: its text (quotes removed) and whether it was quoted."""

    text: str
    quoted: bool


@dataclass(frozen=True, slots=True)
class Command:
    """One parsed command line.

    `name` is upper case: "" for a bare `AT`, "E" or "I" for basic commands, "+QLWSERV"
    for extended ones. A basic command's digit (`ATE0`) is its one WRITE parameter.
    """

    name: str
    form: Form
    params: tuple[Param, ...] = ()


_EXTENDED = re.compile(r"(\+[A-Za-z]+)(.*)", re.DOTALL)
_BASIC = re.compile(r"([A-Za-z])(\d*)")


def command_text(line: bytes) -> str | None:
    """The command in a received line, from its `AT` on; None if the line holds none.

    Line noise before the command (NUL, 0xFF, stray spaces) is skipped, as a UART
    front end would; a line that does not then start with `AT` is not a command.
    """
    text = line.decode("latin-1").lstrip(_NOISE)
    if text[:2].upper() != "AT":
        return None
    return text


_NOISE = "".join(chr(code) for code in range(256) if not 0x21 <= code <= 0x7E)


def parse_command(body: str) -> Command:
    """Parse what follows `AT` on a command line."""
    if not body:
        return Command("", Form.EXECUTE)
    extended = _EXTENDED.fullmatch(body)
    if extended:
        return _parse_extended(extended.group(1).upper(), extended.group(2))
    basic = _BASIC.fullmatch(body)
    if basic is None:
        raise CommandError(CmeError.UNKNOWN)
    name, digits = basic.group(1).upper(), basic.group(2)
    if not digits:
        return Command(name, Form.EXECUTE)
    return Command(name, Form.WRITE, (Param(digits, quoted=False),))


def _parse_extended(name: str, rest: str) -> Command:
    stripped = rest.strip()
    if stripped == "":
        return Command(name, Form.EXECUTE)
    if stripped == "?":
        return Command(name, Form.READ)
    if not stripped.startswith("="):
        raise CommandError(CmeError.INCORRECT_PARAMETERS)
    params = stripped[1:].strip()
    if params == "?":
        return Command(name, Form.TEST)
    return Command(name, Form.WRITE, split_params(params))


def split_params(text: str) -> tuple[Param, ...]:
    """Split `a, "b,c" ,d` into parameters; spaces around each are not part of it."""
    params: list[Param] = []
    current: list[str] = []
    in_quotes = False
    for char in text:
        if char == '"':
            in_quotes = not in_quotes
        if char == "," and not in_quotes:
            params.append(_param("".join(current)))
            current = []
        else:
            current.append(char)
    if in_quotes:
        raise CommandError(CmeError.INCORRECT_PARAMETERS)
    params.append(_param("".join(current)))
    return tuple(params)


def _param(raw: str) -> Param:
    text = raw.strip()
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"' and '"' not in text[1:-1]:
        return Param(text[1:-1], quoted=True)
    if '"' in text:
        raise CommandError(CmeError.INCORRECT_PARAMETERS)
    return Param(text, quoted=False)


def int_param(param: Param, low: int, high: int) -> int:
    """An unquoted decimal integer within [low, high]."""
    if param.quoted or not param.text.isdecimal() or not param.text.isascii():
        raise CommandError(CmeError.INCORRECT_PARAMETERS)
    value = int(param.text)
    if not low <= value <= high:
        raise CommandError(CmeError.INCORRECT_PARAMETERS)
    return value


def str_param(param: Param) -> str:
    """A string parameter: the manual writes them "with double quotation marks"."""
    if not param.quoted:
        raise CommandError(CmeError.INCORRECT_PARAMETERS)
    return param.text


def param_count(command: Command, *allowed: int) -> None:
    """Raise unless the command has one of the allowed numbers of parameters."""
    if len(command.params) not in allowed:
        raise CommandError(CmeError.INCORRECT_PARAMETERS)


class LineSplitter:
    """Cuts the host's byte stream into lines, bounded by MAX_LINE.

    `\\r`, `\\n` and `\\r\\n` all end a line; empty lines vanish. A line that grows
    past MAX_LINE is dropped and reported as None once its end arrives, so the
    module can answer ERROR for it.
    """

    def __init__(self, max_line: int = MAX_LINE) -> None:
        self._max_line = max_line
        self._pending = bytearray()
        self._overlong = False

    def feed(self, data: bytes) -> list[bytes | None]:
        """Return the lines completed by `data` (None for an overlong one)."""
        lines: list[bytes | None] = []
        for byte in data:
            if byte in b"\r\n":
                lines.extend(self._finish())
            elif self._overlong:
                continue
            elif len(self._pending) >= self._max_line:
                self._overlong = True
                self._pending.clear()
            else:
                self._pending.append(byte)
        return lines

    def clear(self) -> None:
        """Forget a partial line (the module rebooted)."""
        self._pending.clear()
        self._overlong = False

    def _finish(self) -> list[bytes | None]:
        if self._overlong:
            self._overlong = False
            return [None]
        if not self._pending:
            return []
        line = bytes(self._pending)
        self._pending.clear()
        return [line]
