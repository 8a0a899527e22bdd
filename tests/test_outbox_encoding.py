"""The outbox and the encodings on their own: order, bounds, age, and no value sent wrong."""

from __future__ import annotations

import struct

import pytest

from custom_components.bc26.encoding import CannotEncodeError, Encoding, encode, number
from custom_components.bc26.modem import MAX_PAYLOAD, ResourcePath
from custom_components.bc26.outbox import Outbox, OutboxFullError
from custom_components.bc26.uplink import Uplink

A = ResourcePath(19, 0, 0)
B = ResourcePath(3303, 0, 5700)


def _uplink(data: bytes, path: ResourcePath = A) -> Uplink:
    return Uplink(path, data, confirmable=False)


def test_next_ready_keeps_each_resource_in_order() -> None:
    outbox = Outbox(limit=10, max_age=60)
    for index, path in enumerate((A, B, A, B)):
        outbox.put(_uplink(bytes([index]), path), now=0)
    # A is not ready: B's first goes, and A's second never overtakes A's first.
    first = outbox.next_ready(lambda path: path == B)
    assert first is not None
    assert first.uplink.data == b"\x01"
    outbox.done(first)
    second = outbox.next_ready(lambda path: path == B)
    assert second is not None
    assert second.uplink.data == b"\x03"
    assert outbox.next_ready(lambda path: False) is None


def test_a_full_outbox_refuses_and_keeps_what_it_holds() -> None:
    changes: list[int] = []
    outbox = Outbox(limit=2, max_age=60, on_change=lambda: changes.append(1))
    outbox.put(_uplink(b"1"), now=0)
    outbox.put(_uplink(b"2"), now=0)
    with pytest.raises(OutboxFullError):
        outbox.put(_uplink(b"3"), now=0)
    assert [each["hex"] for each in outbox.snapshot()] == ["31", "32"]
    assert outbox.refused_full == 1
    assert len(changes) == 2


def test_a_key_keeps_only_the_newest_value_in_place() -> None:
    outbox = Outbox(limit=2, max_age=60)
    outbox.put(_uplink(b"1"), now=0, key="temperature")
    outbox.put(_uplink(b"x", B), now=0)
    outbox.put(_uplink(b"2"), now=1, key="temperature")  # full, yet it takes the old one's place
    assert [each["hex"] for each in outbox.snapshot()] == ["32", "78"]


def test_old_uplinks_expire_and_are_counted() -> None:
    outbox = Outbox(limit=5, max_age=60)
    outbox.put(_uplink(b"old"), now=0)
    outbox.put(_uplink(b"new"), now=50)
    assert [each.uplink.data for each in outbox.expire(now=61)] == [b"old"]
    assert outbox.dropped_expired == 1
    assert len(outbox) == 1


def test_snapshot_and_restore_round_trip_and_skip_what_they_cannot_read() -> None:
    outbox = Outbox(limit=5, max_age=60)
    outbox.put(Uplink(B, b"\x00\xd7", confirmable=True), now=12.5, key="k", source="sensor.t")
    stored = outbox.snapshot()
    again = Outbox(limit=5, max_age=60)
    again.restore([*stored, {"path": "19/0", "hex": "00"}, {"hex": "zz"}])
    assert again.snapshot() == stored
    newest = again.newest(B, "sensor.t")
    assert newest is not None
    assert newest.data == b"\x00\xd7"


@pytest.mark.parametrize(
    ("value", "encoding", "scale", "expected"),
    [
        ("21.5", Encoding.TEXT, 1.0, b"21.5"),
        ("21.5", Encoding.FLOAT32, 1.0, struct.pack(">f", 21.5)),
        ("21.5", Encoding.INT16, 0.1, b"\x00\xd7"),
        ("21.44", Encoding.INT16, 0.1, b"\x00\xd6"),  # rounded, not cut
        ("-128", Encoding.INT8, 1.0, b"\x80"),
        ("255", Encoding.UINT8, 1.0, b"\xff"),
        ("01 ff", Encoding.HEX, 1.0, b"\x01\xff"),
    ],
)
def test_values_encode_as_documented(
    value: str, encoding: Encoding, scale: float, expected: bytes
) -> None:
    assert encode(value, encoding, scale) == expected


@pytest.mark.parametrize(
    ("value", "encoding"),
    [
        ("on", Encoding.FLOAT32),
        ("nan", Encoding.FLOAT64),
        ("inf", Encoding.INT32),
        ("128", Encoding.INT8),
        ("-1", Encoding.UINT16),
        ("4294967296", Encoding.UINT32),
        ("0g", Encoding.HEX),
        ("abc", Encoding.HEX),  # an odd count of digits
        ("", Encoding.TEXT),
        ("x" * (MAX_PAYLOAD + 1), Encoding.TEXT),
    ],
)
def test_values_that_do_not_fit_are_refused(value: str, encoding: Encoding) -> None:
    with pytest.raises(CannotEncodeError):
        encode(value, encoding)


def test_only_finite_numbers_are_numbers() -> None:
    assert number("21.5") == 21.5
    assert number("nan") is None
    assert number("-inf") is None
    assert number("on") is None
    assert number("0") == 0.0


@pytest.mark.parametrize(
    ("value", "encoding", "scale"),
    [
        ("1e300", Encoding.INT16, 1e-10),  # the quotient is infinite
        ("21.5", Encoding.INT32, 1e-320),  # so is this one, by a denormal scale
        ("1e300", Encoding.UINT32, 1.0),  # finite, far beyond 32 bits
        ("21.5", Encoding.INT16, float("nan")),
        ("21.5", Encoding.INT16, float("inf")),
        ("21.5", Encoding.INT16, float("-inf")),
        ("21.5", Encoding.INT16, 0.0),
        ("21.5", Encoding.INT8, -0.0),
        ("1e300", Encoding.FLOAT32, 1.0),  # beyond float32
        ("-1e39", Encoding.FLOAT32, 1.0),
        ("1e999", Encoding.FLOAT64, 1.0),  # infinite as read
        ("-inf", Encoding.FLOAT32, 1.0),
        ("NaN", Encoding.UINT8, 1.0),
    ],
)
def test_every_number_that_does_not_fit_is_refused_the_same_way(
    value: str, encoding: Encoding, scale: float
) -> None:
    with pytest.raises(CannotEncodeError):
        encode(value, encoding, scale)


def test_a_negative_scale_still_encodes() -> None:
    assert encode("21.5", Encoding.INT16, -0.1) == struct.pack(">h", -215)


def test_text_that_has_no_utf8_is_refused() -> None:
    with pytest.raises(CannotEncodeError):
        encode("21.5 \ud800", Encoding.TEXT)
