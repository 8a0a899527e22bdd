"""Payload rendering: text or hex, attributes, template variables, resource paths."""

from __future__ import annotations

from datetime import UTC, datetime

from homeassistant.core import HomeAssistant
from homeassistant.helpers.template import Template
from hypothesis import given, strategies as st
import pytest

from custom_components.bc26.downlink import (
    MAX_STATE_LENGTH,
    event_attributes,
    payload_attributes,
    payload_hex,
    payload_state,
    payload_text,
    template_variables,
)


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (b"ON", "ON"),
        (b"", ""),
        ("temp=21.5 °C".encode(), "temp=21.5 °C"),
        (b"line one\r\nline two\t!", "line one\r\nline two\t!"),
        (b"\xaa\xaa\x00\x00", None),  # the manual's AAAA0000: not UTF-8
        (b"OK\x00", None),  # valid UTF-8 but a control character
        (b"\x1b[31m", None),
    ],
)
def test_payload_text_only_for_printable_utf8(data: bytes, text: str | None) -> None:
    assert payload_text(data) == text


def _text_by_definition(data: bytes) -> str | None:
    """Printable UTF-8, tab, CR and LF allowed: the rule, one character at a time."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text if all(c.isprintable() or c in "\t\r\n" for c in text) else None


@given(
    st.one_of(
        st.binary(max_size=64),
        st.text(max_size=32).map(str.encode),
        st.text(alphabet=st.sampled_from("ab \t\r\n\x0b\x1f\x7f\u00a0\u2028°"), max_size=16).map(
            str.encode
        ),
    )
)
def test_payload_text_follows_its_rule_for_any_bytes(data: bytes) -> None:
    assert payload_text(data) == _text_by_definition(data)


def test_state_is_text_when_printable_else_upper_case_hex() -> None:
    assert payload_state(b"reboot") == "reboot"
    assert payload_state(bytes.fromhex("AAAA0000")) == "AAAA0000"
    assert payload_hex(bytes([0, 15, 255])) == "000FFF"


def test_long_payload_state_is_cut_but_attributes_keep_everything() -> None:
    data = bytes(range(256)) * 2  # 512 bytes, the manual's maximum
    state = payload_state(data)
    assert len(state) == MAX_STATE_LENGTH
    assert state.endswith("…")
    assert data.hex().upper().startswith(state[:-1])
    received = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
    attributes = payload_attributes(data, received)
    assert attributes == {
        "hex": data.hex().upper(),
        "length": 512,
        "received_at": "2026-11-24T08:00:00+00:00",
    }
    assert payload_state(b"x" * MAX_STATE_LENGTH) == "x" * MAX_STATE_LENGTH
    # A caller that has the hex already passes it in; the result is the same.
    hex_text = payload_hex(data)
    assert payload_state(data, hex_text) == state
    assert payload_attributes(data, received, hex_text) == attributes


def test_event_attributes_carry_text_only_when_printable() -> None:
    assert event_attributes((19, 1, 0), b"ON") == {
        "object": 19,
        "instance": 1,
        "resource": 0,
        "hex": "4F4E",
        "length": 2,
        "text": "ON",
    }
    binary = event_attributes((19, 1, 0), b"\x01\xff")
    assert "text" not in binary
    assert binary["hex"] == "01FF"


async def test_template_decodes_big_endian_temperature(hass: HomeAssistant) -> None:
    # A frame: 2 header bytes, then the temperature in tenths of a degree, big-endian.
    frame = bytes([0x01, 0x02, 0x00, 0xD7])
    template = Template("{{ (value_bytes[2] * 256 + value_bytes[3]) / 10 }}", hass)
    assert template.async_render(template_variables(frame)) == 21.5
    text = Template("{{ value | upper }} {{ value_hex }}", hass)
    assert text.async_render(template_variables(b"on")) == "ON 6F6E"
