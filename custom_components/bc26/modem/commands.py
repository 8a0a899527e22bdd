"""One builder and one parser per AT command the library sends; nothing else formats AT.

Builders check every argument the way the manual implies (ranges, lengths, the
characters a quoted string may hold) and raise `InvalidArgumentError` before anything
is written, so no caller can put a `"`, a stray comma, CR or LF on the wire. They
return an `AtCommand`: the text to send and what its answer looks like, which the
channel needs to tell the command's information lines from unsolicited ones.

Parsers take the information lines of an answer that ended in OK and raise
`UnexpectedResponseError` when they cannot read them. Commands whose answer is a
bare OK have nothing to parse: the channel turns ERROR into `CommandRejectedError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
import enum
import ipaddress
import re

from .errors import InvalidArgumentError, UnexpectedResponseError
from .models import (
    MAX_ID,
    BufferRead,
    ConStatus,
    DataMode,
    NetworkRegistration,
    ResourcePath,
    SignalQuality,
)

MAX_PAYLOAD = 512  # bytes of one AT+QLWDATASEND or AT+QLWRD (manual 3.8, 3.10)
MAX_ENDPOINT = 64  # characters; the manual gives no limit, LwM2M servers accept this much
MAX_RESOURCES = 32  # resources declared by one AT+QLWADDOBJ
MAX_HOST = 253  # characters of a DNS name (RFC 1035)

# Printable ASCII but for: space, `"` (ends the quoted string), `,` (parameter separator
# to naive parsers), `\` (V.250 escape) and `&?#%`, which would break the registration
# URI `/rd?ep=<name>&...` that the module builds from it without escaping.
_ENDPOINT = re.compile(r"[!$'()*+\-./0-9:;<=>@A-Z\[\]^_`a-z{|}~]{1,64}")
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_NUMBER = re.compile(r"-?[0-9]{1,6}")
_HEX_DATA = re.compile(r"(?:[0-9A-Fa-f]{2})+")
_IMEI = re.compile(r"[0-9]{15}")
_WIRE_SAFE = re.compile(r"[ -~]+")  # printable ASCII, what may reach the wire


class Later(enum.Enum):
    """The kind of final result that follows a command's OK (manual 3.4-3.8)."""

    CONNECT = "CONNECT"
    UPDATE = "UPDATE"
    CLOSE = "CLOSE"
    SEND = "SEND"


# Each later final result: its kind and whether it reports success.
LATER_RESULTS: dict[str, tuple[Later, bool]] = {
    f"{kind.value} {word}": (kind, word == "OK") for kind in Later for word in ("OK", "FAIL")
}


@dataclass(frozen=True, slots=True)
class AtCommand:
    """A command line ready for the wire and the shape of its answer.

    `info` matches the start of the command's information lines; `free_lines` takes
    any line that is no URC and does not start with `+` (ATI, AT+CGMR print bare
    text; a `+NAME:` line there is an unsolicited one the library does not know,
    such as `+CSCON: 1`). `later` is the kind of
    final result that follows OK; `blocked_by` the kind whose pending result must
    come before this command may start (a send waits for the last CON result,
    manual 3.8 note 1). `slow` commands get the longer immediate timeout (AT+QLWDEL).
    `needs_info`: a final result counts only after an information line (the
    channel's resynchronisation probes, see channel.py).
    """

    text: str
    info: re.Pattern[str] | None = None
    free_lines: bool = False
    later: Later | None = None
    blocked_by: Later | None = None
    slow: bool = False
    needs_info: bool = False

    def __post_init__(self) -> None:
        # Last line of defence: whatever a builder made, nothing but printable ASCII
        # and never a quote outside the places builders put one.
        if _WIRE_SAFE.fullmatch(self.text) is None or not self.text.startswith("AT"):
            raise InvalidArgumentError(f"not a safe command line: {self.text!r}")

    def accepts(self, line: str) -> bool:
        """Whether `line` (known not to be a URC or a final result) is part of the answer."""
        if self.free_lines:
            return not line.startswith("+")
        return self.info is not None and self.info.match(line) is not None

    @property
    def waits_for(self) -> Later | None:
        """The kind of later result this command queues behind (and may itself start)."""
        return self.blocked_by or self.later


# ---------------------------------------------------------------------- checks for callers


def validate_endpoint(name: str) -> str:
    """Return `name` if AT+QLWCONF can carry it as an endpoint name; else InvalidArgumentError.

    1-64 characters of printable ASCII without space, `"`, `,`, `\\`, `&`, `?`, `#`, `%`.
    """
    if not isinstance(name, str) or _ENDPOINT.fullmatch(name) is None:
        raise InvalidArgumentError(
            f"endpoint name must be 1-{MAX_ENDPOINT} printable ASCII characters "
            'without space or any of " , \\ & ? # %'
        )
    return name


def validate_server_host(host: str) -> str:
    """Return `host` if it is an IPv4 dotted quad or an RFC 1123 host name; else raise."""
    if not isinstance(host, str) or not host.isascii() or not 0 < len(host) <= MAX_HOST:
        raise InvalidArgumentError("server must be an IPv4 address or a host name")
    labels = host.split(".")
    if all(label.isdigit() for label in labels):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise InvalidArgumentError(f"{host!r} is not an IPv4 address") from None
        return host
    if not all(_LABEL.fullmatch(label) for label in labels) or labels[-1].isdigit():
        raise InvalidArgumentError(f"{host!r} is not a valid host name")
    return host


def _check_int(value: int, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidArgumentError(f"{name} must be an integer in {low}-{high}, not {value!r}")
    return value


def _check_path(path: ResourcePath) -> ResourcePath:
    if not isinstance(path, tuple) or len(path) != 3:
        raise InvalidArgumentError(f"path must be (object, instance, resource), not {path!r}")
    return ResourcePath.of(*path)


def _info(prefix: str) -> re.Pattern[str]:
    return re.compile(re.escape(prefix))


# ---------------------------------------------------------------------- basic commands


def build_attention() -> AtCommand:
    """AT: is anybody there."""
    return AtCommand("AT")


def build_echo(enabled: bool) -> AtCommand:
    """ATE0 / ATE1: command echo off or on."""
    return AtCommand("ATE1" if enabled else "ATE0")


def build_error_format(mode: int = 1) -> AtCommand:
    """AT+CMEE=<n>: 1 makes errors `+CME ERROR: <code>` (0 plain ERROR, 2 verbose text)."""
    return AtCommand(f"AT+CMEE={_check_int(mode, 'mode', 0, 2)}")


def build_identity() -> AtCommand:
    """ATI: manufacturer, model and revision, one bare line each."""
    return AtCommand("ATI", free_lines=True)


def parse_identity(lines: Sequence[str]) -> tuple[str, str, str]:
    """(manufacturer, model, revision) from ATI's `Quectel_Ltd`, `Quectel_BC26`, `Revision: X`."""
    revision = ""
    names: list[str] = []
    for line in lines:
        if line.startswith("Revision:"):
            revision = line.removeprefix("Revision:").strip()
        else:
            names.append(line)
    if len(names) < 2 or not revision:
        raise UnexpectedResponseError(f"ATI answered {list(lines)!r}")
    return names[0], names[1], revision


def build_firmware() -> AtCommand:
    """AT+CGMR: the firmware revision."""
    return AtCommand("AT+CGMR", free_lines=True)


def parse_firmware(lines: Sequence[str]) -> str:
    """The revision from `Revision: BC26NBR01A02` (or a bare revision line)."""
    for line in lines:
        text = line.removeprefix("Revision:").strip()
        if text:
            return text
    raise UnexpectedResponseError(f"AT+CGMR answered {list(lines)!r}")


_CGSN = _info("+CGSN:")


def build_imei() -> AtCommand:
    """AT+CGSN=1: the IMEI."""
    return AtCommand("AT+CGSN=1", info=_CGSN)


def parse_imei(lines: Sequence[str]) -> str:
    """The 15 digits of `+CGSN: <imei>`."""
    for line in lines:
        imei = line.removeprefix("+CGSN:").strip().strip('"')
        if _IMEI.fullmatch(imei):
            return imei
    raise UnexpectedResponseError(f"AT+CGSN=1 answered {list(lines)!r}")


def _fields(lines: Sequence[str], prefix: str, command: str) -> list[str]:
    """The comma-separated fields after `prefix` on the first line that has it."""
    for line in lines:
        if line.startswith(prefix):
            return [field.strip() for field in line.removeprefix(prefix).split(",")]
    raise UnexpectedResponseError(f"{command} answered {list(lines)!r}")


def _number(text: str, command: str) -> int:
    if _NUMBER.fullmatch(text) is None:
        raise UnexpectedResponseError(f"{command}: {text!r} is not a number")
    return int(text)


_CSQ = _info("+CSQ:")


def build_signal() -> AtCommand:
    """AT+CSQ: signal quality."""
    return AtCommand("AT+CSQ", info=_CSQ)


def parse_signal(lines: Sequence[str]) -> SignalQuality:
    """`+CSQ: <rssi>,<ber>`; rssi 0-31 is -113 + 2*rssi dBm (TS 27.007), 99 unknown."""
    fields = _fields(lines, "+CSQ:", "AT+CSQ")
    if len(fields) != 2:
        raise UnexpectedResponseError(f"AT+CSQ answered {list(lines)!r}")
    rssi, ber = (_number(field, "AT+CSQ") for field in fields)
    if not (0 <= rssi <= 31 or rssi == 99) or not (0 <= ber <= 7 or ber == 99):
        raise UnexpectedResponseError(f"AT+CSQ answered {list(lines)!r}")
    return SignalQuality(
        rssi_dbm=None if rssi == 99 else -113 + 2 * rssi,
        ber=None if ber == 99 else ber,
    )


_CEREG = _info("+CEREG:")


def build_network_registration() -> AtCommand:
    """AT+CEREG?: EPS network registration status."""
    return AtCommand("AT+CEREG?", info=_CEREG)


def parse_network_registration(lines: Sequence[str]) -> NetworkRegistration:
    """<stat> of `+CEREG: <n>,<stat>[,...]`."""
    fields = _fields(lines, "+CEREG:", "AT+CEREG?")
    if len(fields) < 2:
        raise UnexpectedResponseError(f"AT+CEREG? answered {list(lines)!r}")
    try:
        return NetworkRegistration(_number(fields[1], "AT+CEREG?"))
    except ValueError:
        raise UnexpectedResponseError(f"AT+CEREG? answered {list(lines)!r}") from None


_CGPADDR = _info("+CGPADDR:")


def build_ip_address() -> AtCommand:
    """AT+CGPADDR=1: the address of the default PDN context."""
    return AtCommand("AT+CGPADDR=1", info=_CGPADDR)


def parse_ip_address(lines: Sequence[str]) -> str | None:
    """The address of `+CGPADDR: 1,<address>`; None for `+CGPADDR: 1` or no line."""
    for line in lines:
        fields = [field.strip().strip('"') for field in line.removeprefix("+CGPADDR:").split(",")]
        if fields[0] == "1":
            return fields[1] if len(fields) > 1 and fields[1] else None
    return None


# ---------------------------------------------------------------------- LwM2M (manual 3.x)


def build_server(address: str, port: int) -> AtCommand:
    """AT+QLWSERV="<ip_address>",<port> (3.1): an IPv4 address; the host resolves a name."""
    try:
        ipaddress.IPv4Address(address)
    except ValueError:
        raise InvalidArgumentError(f"AT+QLWSERV takes an IPv4 address, not {address!r}") from None
    return AtCommand(f'AT+QLWSERV="{address}",{_check_int(port, "port", 0, 65535)}')


def build_endpoint(name: str) -> AtCommand:
    """AT+QLWCONF="<endpoint name>" (3.2)."""
    return AtCommand(f'AT+QLWCONF="{validate_endpoint(name)}"')


def build_add_object(obj: int, instance: int, resources: Sequence[int] = ()) -> AtCommand:
    """AT+QLWADDOBJ=<obj>,<ins>[,<res_num>,"<res_id>[;<res_id>...]"] (3.3)."""
    _check_int(obj, "object", 0, MAX_ID)
    _check_int(instance, "instance", 0, MAX_ID)
    ids = [_check_int(res, "resource", 0, MAX_ID) for res in resources]
    if len(ids) > MAX_RESOURCES or len(set(ids)) != len(ids):
        raise InvalidArgumentError(f"resources must be at most {MAX_RESOURCES} distinct IDs")
    if not ids:
        return AtCommand(f"AT+QLWADDOBJ={obj},{instance}")
    listed = ";".join(str(res) for res in ids)
    return AtCommand(f'AT+QLWADDOBJ={obj},{instance},{len(ids)},"{listed}"')


def build_delete_object(obj: int, registered: bool) -> AtCommand:
    """AT+QLWDELOBJ=<obj> (3.4); when registered, the module follows with UPDATE OK/FAIL."""
    text = f"AT+QLWDELOBJ={_check_int(obj, 'object', 0, MAX_ID)}"
    return AtCommand(text, later=Later.UPDATE if registered else None, blocked_by=Later.UPDATE)


def build_register(mode: DataMode) -> AtCommand:
    """AT+QLWOPEN=<mode> (3.5), then CONNECT OK/FAIL."""
    if not isinstance(mode, DataMode):
        raise InvalidArgumentError(f"mode must be a DataMode, not {mode!r}")
    return AtCommand(f"AT+QLWOPEN={mode.value}", later=Later.CONNECT)


def build_update() -> AtCommand:
    """AT+QLWUPDATE (3.6), then UPDATE OK/FAIL."""
    return AtCommand("AT+QLWUPDATE", later=Later.UPDATE)


def build_deregister() -> AtCommand:
    """AT+QLWCLOSE (3.7), then CLOSE OK/FAIL."""
    return AtCommand("AT+QLWCLOSE", later=Later.CLOSE)


def build_send(path: ResourcePath, data: bytes | bytearray, confirmable: bool) -> AtCommand:
    """AT+QLWDATASEND=<obj>,<ins>,<res>,<length>,<hex data>,0x0000|0x0100 (3.8).

    Hex data format (AT+QLWCFG="dataformat",1,x): binary-safe, nothing to escape.
    A CON send is followed by SEND OK/FAIL; any send waits for a pending CON result.
    """
    obj, ins, res = _check_path(path)
    if not isinstance(data, bytes | bytearray) or not 1 <= len(data) <= MAX_PAYLOAD:
        raise InvalidArgumentError(f"data must be 1-{MAX_PAYLOAD} bytes")
    mode = "0x0100" if confirmable else "0x0000"
    text = f"AT+QLWDATASEND={obj},{ins},{res},{len(data)},{bytes(data).hex().upper()},{mode}"
    return AtCommand(text, later=Later.SEND if confirmable else None, blocked_by=Later.SEND)


_QLWDATASTATUS = _info("+QLWDATASTATUS:")


def build_con_status() -> AtCommand:
    """AT+QLWDATASTATUS? (3.9)."""
    return AtCommand("AT+QLWDATASTATUS?", info=_QLWDATASTATUS)


def parse_con_status(lines: Sequence[str]) -> ConStatus:
    """`+QLWDATASTATUS: <status>` (with or without the space, both appear in the manual)."""
    fields = _fields(lines, "+QLWDATASTATUS:", "AT+QLWDATASTATUS?")
    try:
        return ConStatus(_number(fields[0], "AT+QLWDATASTATUS?"))
    except ValueError:
        raise UnexpectedResponseError(f"AT+QLWDATASTATUS? answered {list(lines)!r}") from None


# The header line, or the data line that follows it (hex data format only).
_QLWRD = re.compile(r"\+QLWRD:|(?:[0-9A-Fa-f]{2})+$")


def build_read(length: int = MAX_PAYLOAD) -> AtCommand:
    """AT+QLWRD=<read_length> (3.10)."""
    return AtCommand(f"AT+QLWRD={_check_int(length, 'length', 1, MAX_PAYLOAD)}", info=_QLWRD)


def parse_read(lines: Sequence[str]) -> BufferRead:
    """`+QLWRD: <actual>,<remain>` and the hex data line; `+QLWRD: 0` when empty."""
    fields = _fields(lines, "+QLWRD:", "AT+QLWRD")
    numbers = [_number(field, "AT+QLWRD") for field in fields]
    if numbers == [0]:
        return BufferRead(b"", 0)
    data = [line for line in lines if _HEX_DATA.fullmatch(line)]
    if len(numbers) != 2 or len(data) != 1 or len(data[0]) != 2 * numbers[0] or numbers[1] < 0:
        raise UnexpectedResponseError(f"AT+QLWRD answered {list(lines)!r} (hex data format?)")
    return BufferRead(bytes.fromhex(data[0]), numbers[1])


def build_data_format(send_hex: bool, recv_hex: bool) -> AtCommand:
    """AT+QLWCFG="dataformat",<send>,<recv> (3.11): 1 hex, 0 text."""
    return AtCommand(f'AT+QLWCFG="dataformat",{int(bool(send_hex))},{int(bool(recv_hex))}')


def build_delete_context() -> AtCommand:
    """AT+QLWDEL (3.12): up to 5 s for its answer."""
    return AtCommand("AT+QLWDEL", slow=True)


# ---------------------------------------------------------------------- resynchronisation

# Side-effect-free queries with answers no other command of the library produces and
# no unsolicited line looks like, each distinct from the others (see channel.py for how
# they are used). Not AT+CFUN?: its `+CFUN: 1` is also a URC (field notes).
SYNC_PROBES: tuple[AtCommand, ...] = (
    AtCommand("AT+CMEE?", info=re.compile(r"\+CMEE: ?[0-9]"), needs_info=True),
    AtCommand("AT+CMEE=?", info=re.compile(r"\+CMEE: ?\("), needs_info=True),
    AtCommand("AT+CSQ=?", info=re.compile(r"\+CSQ: ?\("), needs_info=True),
    AtCommand("AT+CEREG=?", info=re.compile(r"\+CEREG: ?\("), needs_info=True),
)
