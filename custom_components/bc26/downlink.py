"""How a payload the platform wrote looks in Home Assistant: text or hex, attributes, variables."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .modem import ResourcePath

# Home Assistant refuses states longer than this; the full payload stays in the attributes.
MAX_STATE_LENGTH = 255
_ELLIPSIS = "…"


def payload_text(data: bytes) -> str | None:
    """The payload as text when it is printable UTF-8 (tab, CR and LF allowed), else None."""
    # Bytes that are not UTF-8 become lone surrogates, which are not printable: binary
    # payloads are common, and raising UnicodeDecodeError for each cost more than this.
    text = data.decode("utf-8", "surrogateescape")
    # str methods run in C; this runs for every payload (a per-character loop cost 2 us,
    # str.translate 40 us for 512 bytes).
    if text.isprintable():
        return text
    bare = text.replace("\t", "").replace("\r", "").replace("\n", "")
    return text if len(bare) < len(text) and bare.isprintable() else None


def payload_hex(data: bytes) -> str:
    """Upper-case hex, as the module itself prints payloads."""
    return data.hex().upper()


def payload_state(data: bytes, hex_text: str | None = None) -> str:
    """The state of a raw resource sensor: text when printable, else hex, cut to fit.

    `hex_text` is `payload_hex(data)` when the caller has it already.
    """
    state = payload_text(data)
    if state is None:
        state = payload_hex(data) if hex_text is None else hex_text
    if len(state) > MAX_STATE_LENGTH:
        return state[: MAX_STATE_LENGTH - len(_ELLIPSIS)] + _ELLIPSIS
    return state


def payload_attributes(
    data: bytes, received_at: datetime, hex_text: str | None = None
) -> dict[str, Any]:
    """Attributes of a raw resource sensor: the whole payload in hex, its length and time."""
    return {
        "hex": payload_hex(data) if hex_text is None else hex_text,
        "length": len(data),
        "received_at": received_at.isoformat(),
    }


def event_attributes(path: ResourcePath, data: bytes) -> dict[str, Any]:
    """Attributes of one `data_received` event."""
    attributes: dict[str, Any] = {
        "object": path[0],
        "instance": path[1],
        "resource": path[2],
        "hex": payload_hex(data),
        "length": len(data),
    }
    if (text := payload_text(data)) is not None:
        attributes["text"] = text
    return attributes


def template_variables(data: bytes) -> dict[str, Any]:
    """What a decoded sensor's value template sees: text, hex and the byte values."""
    return {
        "value": data.decode("utf-8", errors="replace"),
        "value_hex": payload_hex(data),
        "value_bytes": list(data),
    }
