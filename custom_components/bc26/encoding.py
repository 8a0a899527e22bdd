"""How a reported value becomes the bytes of an uplink.

`text` is LwM2M's plain-text format (a number as its decimal text, `21.5`); the binary
encodings are for platforms that decode frames: IEEE 754 floats and signed or
unsigned integers, all big-endian (network order), an integer being the value
divided by a scale factor and rounded (21.5 with scale 0.1 is 215). `hex` takes hex
digits as they are. A value that does not fit its encoding (a word for a number, a
number out of range, a scale of 0 or not finite, more than 512 bytes) raises
CannotEncodeError, and nothing else does: nothing is ever sent in its place.
"""

from __future__ import annotations

import enum
import math
import struct

from .modem import MAX_PAYLOAD


class Encoding(enum.StrEnum):
    """How a value is sent."""

    TEXT = "text"
    FLOAT32 = "float32"
    FLOAT64 = "float64"
    INT8 = "int8"
    UINT8 = "uint8"
    INT16 = "int16"
    UINT16 = "uint16"
    INT32 = "int32"
    UINT32 = "uint32"
    HEX = "hex"

    @property
    def numeric(self) -> bool:
        """The value must be a number."""
        return self not in (Encoding.TEXT, Encoding.HEX)


# struct formats, big-endian.
_FORMATS = {
    Encoding.FLOAT32: ">f",
    Encoding.FLOAT64: ">d",
    Encoding.INT8: ">b",
    Encoding.UINT8: ">B",
    Encoding.INT16: ">h",
    Encoding.UINT16: ">H",
    Encoding.INT32: ">i",
    Encoding.UINT32: ">I",
}


class CannotEncodeError(ValueError):
    """The value does not fit the encoding; the message says why, for the log."""


def number(value: str) -> float | None:
    """`value` as a finite number, or None ("on", "unknown", "nan")."""
    try:
        result = float(value)
    except ValueError:
        return None
    return result if math.isfinite(result) else None


def encode(value: str, encoding: Encoding, scale: float = 1.0) -> bytes:
    """The bytes that send `value` (a state, an attribute, a template's text) as `encoding`."""
    if encoding is Encoding.TEXT:
        data = _text(value)
    elif encoding is Encoding.HEX:
        data = _hex(value)
    else:
        data = _binary(value, encoding, scale)
    if not 1 <= len(data) <= MAX_PAYLOAD:
        raise CannotEncodeError(f"{len(data)} bytes; the module sends 1 to {MAX_PAYLOAD}")
    return data


def _text(value: str) -> bytes:
    try:
        return value.encode()
    except UnicodeEncodeError:  # a lone surrogate (a template can make one): no UTF-8 for it
        raise CannotEncodeError(f"{value[:40]!r} is not valid text") from None


def _hex(value: str) -> bytes:
    digits = "".join(value.split())
    try:
        data = bytes.fromhex(digits)
    except ValueError:
        data = b""
    if not data or len(data) * 2 != len(digits):
        raise CannotEncodeError(f"{value[:40]!r} is not hex digits, two a byte")
    return data


def _binary(value: str, encoding: Encoding, scale: float) -> bytes:
    found = number(value)
    if found is None:
        raise CannotEncodeError(f"{value[:40]!r} is not a number")
    raw: float = found
    if encoding not in (Encoding.FLOAT32, Encoding.FLOAT64):
        raw = _scaled(found, scale, encoding)
    try:
        return struct.pack(_FORMATS[encoding], raw)
    except (struct.error, OverflowError):
        raise CannotEncodeError(f"{raw} is out of range for {encoding}") from None


def _scaled(found: float, scale: float, encoding: Encoding) -> int:
    """`found` divided by `scale` and rounded; only a finite quotient becomes an integer."""
    if scale == 0 or not math.isfinite(scale):
        raise CannotEncodeError(f"the scale {scale} is not a finite number other than 0")
    quotient = found / scale  # a tiny scale makes it infinite: round() would overflow
    if not math.isfinite(quotient):
        raise CannotEncodeError(f"{found:g} / {scale:g} is out of range for {encoding}")
    return round(quotient)
