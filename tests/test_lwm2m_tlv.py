"""The OMA LwM2M TLV format used for object and instance reads and TLV writes."""

from __future__ import annotations

from hypothesis import given, strategies as st
import pytest

from bc26sim import tlv
from bc26sim.tlv import Entry, Kind

# Hypothesis warns about its own global PRNG on Python 3.14; nothing of ours.
pytestmark = pytest.mark.filterwarnings("ignore:It looks like `register_random`")

ids = st.integers(min_value=0, max_value=0xFFFF)
values = st.binary(max_size=300)


def test_known_encodings() -> None:
    # LwM2M 1.0 section 6.4.3 examples: resource 0 with a 20-byte string, and a
    # resource with a 16-bit identifier and a short value.
    manufacturer = b"Open Mobile Alliance"
    assert tlv.encode_entry(Kind.RESOURCE, 0, manufacturer) == b"\xc8\x00\x14" + manufacturer
    assert tlv.encode_entry(Kind.RESOURCE, 0x1234, b"\x01") == b"\xe1\x12\x34\x01"
    assert tlv.encode_entry(Kind.OBJECT_INSTANCE, 1, b"") == b"\x00\x01"
    long_value = bytes(300)
    assert tlv.encode_entry(Kind.RESOURCE, 5, long_value)[:4] == b"\xd0\x05\x01\x2c"
    assert tlv.encode_entry(Kind.RESOURCE, 5, bytes(70000))[:5] == b"\xd8\x05\x01\x11\x70"


@given(st.lists(st.tuples(ids, values), max_size=5))
def test_resources_round_trip(resources: list[tuple[int, bytes]]) -> None:
    encoded = tlv.encode_resources(resources)
    assert tlv.resource_values(encoded) == dict(resources)
    assert [(e.kind, e.identifier, e.value) for e in tlv.decode(encoded)] == [
        (Kind.RESOURCE, rid, value) for rid, value in resources
    ]


@given(st.lists(st.tuples(ids, st.lists(st.tuples(ids, values), max_size=3)), max_size=3))
def test_instances_round_trip(instances: list[tuple[int, list[tuple[int, bytes]]]]) -> None:
    decoded = tlv.decode(tlv.encode_instances(instances))
    assert [(e.identifier, tlv.resource_values(e.value)) for e in decoded] == [
        (iid, dict(resources)) for iid, resources in instances
    ]
    assert all(e.kind is Kind.OBJECT_INSTANCE for e in decoded)


def test_multiple_resource_joins_its_instances() -> None:
    instances = tlv.encode_entry(Kind.RESOURCE_INSTANCE, 0, b"\xaa\xaa") + tlv.encode_entry(
        Kind.RESOURCE_INSTANCE, 1, b"\x00\x00"
    )
    payload = tlv.encode_entry(Kind.MULTIPLE_RESOURCE, 0, instances)
    assert tlv.resource_values(payload) == {0: b"\xaa\xaa\x00\x00"}


@pytest.mark.parametrize(
    "payload",
    [
        b"\xc8\x00\x05ab",  # length says 5, two bytes follow
        b"\xc8",  # header cut short
        b"\xf0\x12",  # 16-bit id and 16-bit length announced, nothing follows
        tlv.encode_entry(Kind.OBJECT_INSTANCE, 0, b""),  # not a resource
    ],
)
def test_malformed_payloads_are_rejected(payload: bytes) -> None:
    with pytest.raises(ValueError, match=r"TLV|unexpected"):
        tlv.resource_values(payload)


def test_out_of_range_entries_cannot_be_encoded() -> None:
    with pytest.raises(ValueError, match="out of range"):
        tlv.encode_entry(Kind.RESOURCE, 0x10000, b"")
    assert Entry(Kind.RESOURCE, 1, b"x") == tlv.decode(b"\xc1\x01x")[0]
