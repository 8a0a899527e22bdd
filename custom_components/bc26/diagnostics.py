"""Diagnostics of a BC26 config entry: configuration, module, session, transcript."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import REDACTED, async_redact_data
from homeassistant.core import HomeAssistant

from .const import CONF_ENDPOINT, CONF_SERVER
from .coordinator import Bc26ConfigEntry

TO_REDACT = {CONF_SERVER, CONF_ENDPOINT, "imei", "ip_address"}
# How much of the modem transcript goes into the download.
TRANSCRIPT_LINES = 50


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: Bc26ConfigEntry
) -> dict[str, Any]:
    """What a maintainer needs to see what the session did, without identifying anyone."""
    coordinator = entry.runtime_data
    identity = coordinator.modem_identity
    secrets = [
        str(secret)
        for secret in (identity.imei, entry.data[CONF_SERVER], entry.data[CONF_ENDPOINT])
        if secret
    ]
    return {
        "entry": {
            "data": async_redact_data(dict(entry.data), TO_REDACT),
            "options": dict(entry.options),
        },
        "modem": async_redact_data(asdict(identity), TO_REDACT),
        "session": async_redact_data(coordinator.diagnostics(), TO_REDACT),
        "transcript": [
            _redact_text(line, secrets) for line in coordinator.transcript[-TRANSCRIPT_LINES:]
        ],
    }


def _redact_text(text: str, secrets: list[str]) -> str:
    """The IMEI, server and endpoint appear in AT lines too (AT+QLWCONF, AT+CGSN=1 ...)."""
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text
