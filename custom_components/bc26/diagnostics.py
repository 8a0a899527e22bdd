"""Diagnostics of a BC26 config entry: configuration, module, session, transcript.

Nothing in the download identifies the module, its owner or what it carries: the
IMEI, the endpoint name, the configured and the resolved server, the module's IP
address, a serial server's address (`socket://…`) and every payload are redacted.
Payloads and addresses are found by the shape of the lines that carry them; names are
then replaced token by token (the characters AT lines separate fields with), not as
substrings: an endpoint named `2`
must not turn `+CSQ: 23,0` into nonsense. A name that holds such a character itself
(an endpoint `urn:dev:ops:meter-42`, as LwM2M recommends) is no single token, and is
replaced wherever it occurs.
"""

from __future__ import annotations

from dataclasses import asdict
import enum
import re
from typing import Any
from urllib.parse import urlsplit

from homeassistant.components.diagnostics import REDACTED, async_redact_data
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util

from .const import CONF_ENDPOINT, CONF_PORT, CONF_SERVER
from .coordinator import Bc26Coordinator
from .data import Bc26ConfigEntry
from .forwarding import Forwarder

TO_REDACT = {CONF_SERVER, CONF_ENDPOINT, "imei", "ip_address"}
# How much of the modem transcript goes into the download.
TRANSCRIPT_LINES = 50

# Lines whose fields carry a payload or an address: (pattern, the groups to redact).
_SHAPES = (
    # AT+QLWDATASEND=<obj>,<ins>,<res>,<length>,<data>,<mode>
    re.compile(r"(tx AT\+QLWDATASEND=[^,]*,[^,]*,[^,]*,[^,]*,)([^,]*)(,.*)"),
    # +QLWDATARECV: <obj>,<ins>,<res>,<length>,<data>
    re.compile(r"(rx \+QLWDATARECV: ?[^,]*,[^,]*,[^,]*,[^,]*,)(.*)()"),
    # The data line of an AT+QLWRD answer (hex data format)
    re.compile(r"(rx )((?:[0-9A-Fa-f]{2})+)()"),
    # +CGPADDR: <cid>,<address>[,<address>]
    re.compile(r"(rx \+CGPADDR: ?[^,]*,)(.+)()"),
    # +IP: <address>
    re.compile(r"(rx \+IP: ?)(.+)()"),
)
_TOKEN_SEPARATORS = re.compile(r'([\s,":=;]+)')


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: Bc26ConfigEntry
) -> dict[str, Any]:
    """What a maintainer needs to see what the session did, without identifying anyone."""
    coordinator = entry.runtime_data.session
    identity = coordinator.modem_identity
    secrets = {
        str(secret)
        for secret in (
            identity.imei,
            entry.data[CONF_SERVER],
            entry.data[CONF_ENDPOINT],
            coordinator.server_address,
            coordinator.link.ip_address,
            _serial_server(entry.data[CONF_PORT]),
        )
        if secret
    }
    data = async_redact_data(dict(entry.data), TO_REDACT)
    data[CONF_PORT] = redact_tokens(str(data[CONF_PORT]), secrets)
    session = async_redact_data(session_diagnostics(coordinator), TO_REDACT)
    return {
        "entry": {
            "data": data,
            "options": dict(entry.options),
        },
        "modem": async_redact_data(asdict(identity), TO_REDACT),
        "session": _redact_strings(session, secrets),
        "outbox": _outbox(entry.runtime_data.forwarder),
        "reported": entry.runtime_data.reporters.diagnostics(),
        "transcript": [
            redact_line(line, secrets) for line in coordinator.transcript[-TRANSCRIPT_LINES:]
        ],
    }


def _serial_server(port: str) -> str | None:
    """`//192.168.1.20` of `socket://192.168.1.20:4000`: a serial server's LAN address.

    With its slashes, so that it is one field of an AT line's or an error's text.
    """
    if "://" not in port:
        return None  # a device path: nothing to hide
    netloc = urlsplit(port).netloc  # [user@]host[:port]
    host = netloc if netloc.endswith("]") or ":" not in netloc else netloc.rpartition(":")[0]
    return f"//{host}" if host else None


def _outbox(forwarder: Forwarder) -> dict[str, Any]:
    """How many uplinks wait, since when the oldest, and what became of the others."""
    outbox = forwarder.outbox
    oldest = outbox.oldest
    return {
        "waiting": len(outbox),
        "oldest_queued_at": (
            dt_util.utc_from_timestamp(oldest.queued_at).isoformat() if oldest else None
        ),
        "sent": forwarder.sent,
        "refused_full": outbox.refused_full,
        "dropped_expired": outbox.dropped_expired,
        "limit": outbox.limit,
        "max_age": outbox.max_age,
    }


def session_diagnostics(coordinator: Bc26Coordinator) -> dict[str, Any]:
    """What the session did and believes, before redaction."""
    log, link, resources = coordinator.registrations, coordinator.link, coordinator.resources
    return {
        "connected": coordinator.connected,
        "state": coordinator.state.value,
        "data_mode": coordinator.data_mode.name.lower(),
        "declared": [
            {"path": str(each.path), "direction": each.direction.value, "name": each.name}
            for each in coordinator.declared.declarations
        ],
        "observed": [str(path) for path in sorted(resources.observed)],
        "con_status": _name(coordinator.con_status),
        "signal_dbm": link.signal_dbm,
        "network": _name(link.network),
        "ip_address": link.ip_address,
        "consecutive_failures": log.consecutive_failures,
        "downlinks_received": resources.received,
        "recoveries": log.recoveries,
        "last_recovery": _name(log.last_recovery),
        "registration_attempts": [
            {
                "started_at": attempt.started_at.isoformat(),
                "mode": attempt.mode,
                "outcome": attempt.outcome,
                "detail": attempt.detail,
            }
            for attempt in log.attempts
        ],
    }


def _name(value: enum.Enum | None) -> str | None:
    """`module_restarted`, `registered_home`: how an enum's value reads in a download."""
    return value.name.lower() if value is not None else None


def redact_line(line: str, secrets: set[str]) -> str:
    """One transcript line (`tx ...` / `rx ...`) without payloads, addresses or names."""
    for shape in _SHAPES:
        if (match := shape.fullmatch(line)) is not None:
            line = f"{match[1]}{REDACTED}{match[3]}"
            break
    return redact_tokens(line, secrets)


def redact_tokens(text: str, secrets: set[str]) -> str:
    """`text` with every field equal to a secret replaced (quotes and separators kept)."""
    for secret in sorted(secrets, key=len, reverse=True):
        if _TOKEN_SEPARATORS.search(secret):
            text = text.replace(secret, REDACTED)
    pieces = _TOKEN_SEPARATORS.split(text)
    return "".join(REDACTED if piece in secrets else piece for piece in pieces)


def _redact_strings(value: Any, secrets: set[str]) -> Any:
    """Every string inside `value` through `redact_tokens` (error texts name the server)."""
    if isinstance(value, str):
        return redact_tokens(value, secrets)
    if isinstance(value, dict):
        return {key: _redact_strings(item, secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [_redact_strings(item, secrets) for item in value]
    return value
