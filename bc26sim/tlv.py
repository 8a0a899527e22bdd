"""The OMA LwM2M TLV format (content format 11542), as much as the BC26 needs.

LwM2M 1.0 section 6.4.3: each entry is a type byte (identifier kind in bits 7-6,
16-bit identifier in bit 5, length field size in bits 4-3, short length in bits
2-0), the identifier, the length, then the value. Reads and notifications of an
object or an instance must use TLV (or JSON); servers may also write a single
resource as TLV.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
import enum


class Kind(enum.IntEnum):
    """Bits 7-6 of the type byte."""

    OBJECT_INSTANCE = 0
    RESOURCE_INSTANCE = 1
    MULTIPLE_RESOURCE = 2
    RESOURCE = 3


@dataclass(frozen=True, slots=True)
class Entry:
    """One decoded TLV entry; `value` holds nested entries for the container kinds."""

    kind: Kind
    identifier: int
    value: bytes


def encode_entry(kind: Kind, identifier: int, value: bytes) -> bytes:
    """One entry of `kind` with `identifier` and `value`."""
    if not 0 <= identifier <= 0xFFFF or len(value) > 0xFFFFFF:
        raise ValueError("TLV identifier or length out of range")
    wide = identifier > 0xFF
    header = kind << 6 | (0x20 if wide else 0)
    size = len(value)
    if size < 8:
        header |= size
        length = b""
    else:
        width = 1 if size <= 0xFF else 2 if size <= 0xFFFF else 3
        header |= width << 3
        length = size.to_bytes(width, "big")
    return bytes([header]) + identifier.to_bytes(2 if wide else 1, "big") + length + value


def encode_resources(values: Iterable[tuple[int, bytes]]) -> bytes:
    """Resource entries, as in the read of one object instance."""
    return b"".join(encode_entry(Kind.RESOURCE, rid, value) for rid, value in values)


def encode_instances(instances: Iterable[tuple[int, Iterable[tuple[int, bytes]]]]) -> bytes:
    """Object instance entries wrapping their resources, as in the read of an object."""
    return b"".join(
        encode_entry(Kind.OBJECT_INSTANCE, iid, encode_resources(values))
        for iid, values in instances
    )


def decode(data: bytes) -> list[Entry]:
    """The entries at the top level of `data`; ValueError if it is not TLV."""
    entries: list[Entry] = []
    offset = 0
    while offset < len(data):
        entry, offset = _decode_one(data, offset)
        entries.append(entry)
    return entries


def _decode_one(data: bytes, offset: int) -> tuple[Entry, int]:
    header = data[offset]
    id_size = 2 if header & 0x20 else 1
    length_size = (header >> 3) & 0x03
    start = offset + 1
    if start + id_size + length_size > len(data):
        raise ValueError("TLV header runs past the end of the payload")
    identifier = int.from_bytes(data[start : start + id_size], "big")
    start += id_size
    if length_size:
        size = int.from_bytes(data[start : start + length_size], "big")
        start += length_size
    else:
        size = header & 0x07
    end = start + size
    if end > len(data):
        raise ValueError("TLV entry runs past the end of the payload")
    return Entry(Kind(header >> 6), identifier, data[start:end]), end


def resource_values(data: bytes) -> dict[int, bytes]:
    """Resource id -> value for the resource entries of `data`.

    A multiple resource (how some servers model /19/x/0) gives the concatenation
    of its instances, in order.
    """
    values: dict[int, bytes] = {}
    for entry in decode(data):
        if entry.kind is Kind.RESOURCE:
            values[entry.identifier] = entry.value
        elif entry.kind is Kind.MULTIPLE_RESOURCE:
            values[entry.identifier] = b"".join(e.value for e in decode(entry.value))
        else:
            raise ValueError(f"unexpected {entry.kind.name} entry where resources belong")
    return values
