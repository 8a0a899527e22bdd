"""Where the registration stands and what became of the attempts: recoveries, the issue.

The session reports each attempt and each recovery here; diagnostics and the
registration state sensor read it, and the repair issues follow it: "cannot register"
raised after `failures_before_issue` failures in a row, "firmware lacks a command"
at once (no other check helps), both gone with the next success.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
import enum
import logging
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util

from .const import DOMAIN
from .modem import ModemError

_LOGGER = logging.getLogger(__name__)

# Registration attempts kept for diagnostics.
ATTEMPT_HISTORY = 20


class RegistrationState(enum.StrEnum):
    """Where the session stands, as the registration state sensor shows it."""

    NOT_REGISTERED = "not_registered"
    CONFIGURING = "configuring"
    REGISTERING = "registering"
    REGISTERED = "registered"
    WAITING_TO_RETRY = "waiting_to_retry"


class Recovery(enum.StrEnum):
    """Why the session registered again by itself."""

    MODULE_RESTARTED = "module_restarted"  # the boot banner
    CONTEXT_LOST = "context_lost"  # the module refused a registration update
    PLATFORM_FORGOT = "platform_forgot"  # UPDATE FAIL
    MODULE_SILENT = "module_silent"  # several polls or reads in a row unanswered
    OBSERVATION_ENDED = "observation_ended"  # the module dropped an observer that did not ACK


class FirmwareLacksCommandError(ModemError):
    """The module refused a command registering needs: its firmware predates it."""

    def __init__(self, command: str, firmware: str) -> None:
        self.command = command
        self.firmware = firmware
        super().__init__(f"firmware {firmware} refused {command}")


_RECOVERY_TEXT = {
    Recovery.MODULE_RESTARTED: "the module restarted",
    Recovery.CONTEXT_LOST: "the module lost its LwM2M context",
    Recovery.PLATFORM_FORGOT: "the platform no longer knows the registration",
    Recovery.MODULE_SILENT: "the module stopped answering",
    Recovery.OBSERVATION_ENDED: "the module ended an observation the platform did not acknowledge",
}


@dataclass(frozen=True, slots=True)
class RegistrationAttempt:
    """One attempt to register and how it ended, for diagnostics."""

    started_at: datetime
    mode: str
    outcome: str  # "registered" or the error's class name
    detail: str = ""


@dataclass(slots=True)
class RegistrationLog:
    """Attempts, failures in a row and recoveries of one entry's module."""

    hass: HomeAssistant
    entry: ConfigEntry[Any]
    failures_before_issue: int
    attempts: deque[RegistrationAttempt] = field(
        default_factory=lambda: deque(maxlen=ATTEMPT_HISTORY)
    )
    consecutive_failures: int = 0
    recoveries: int = 0
    last_recovery: Recovery | None = None
    last_recovery_at: datetime | None = None

    @property
    def issue_id(self) -> str:
        """The repair issue raised when registration keeps failing."""
        return f"registration_failed_{self.entry.entry_id}"

    @property
    def firmware_issue_id(self) -> str:
        """The repair issue raised when the firmware lacks a command registering needs."""
        return f"firmware_lacks_command_{self.entry.entry_id}"

    def attempted(self, started: datetime, mode: str, err: Exception | None) -> None:
        """An attempt ended: registered (`err` None) or not."""
        if err is None:
            self.attempts.append(RegistrationAttempt(started, mode, "registered"))
        else:
            self.attempts.append(RegistrationAttempt(started, mode, type(err).__name__, str(err)))

    def failed(self, err: Exception, mode: str, before_registering: bool) -> None:
        """One more failure in a row; the repair issue once there are enough."""
        if before_registering:  # no answer, a refused setting, no address
            detail = f"before registering: {err}"
            self.attempts.append(
                RegistrationAttempt(dt_util.utcnow(), mode, type(err).__name__, detail)
            )
        self.consecutive_failures += 1
        _LOGGER.debug("Registration attempt %d failed: %s", self.consecutive_failures, err)
        if isinstance(err, FirmwareLacksCommandError):
            self._firmware_issue(err)
        elif self.consecutive_failures == self.failures_before_issue:
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                self.issue_id,
                is_fixable=True,  # the fix (repairs.py) is the entry's Reconfigure form
                data={"entry_id": self.entry.entry_id},
                severity=ir.IssueSeverity.ERROR,
                translation_key="registration_failed",
                translation_placeholders={"title": self.entry.title},
            )

    def _firmware_issue(self, err: FirmwareLacksCommandError) -> None:
        """Said at once: checking the server or the coverage would not help."""
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            self.firmware_issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key="firmware_lacks_command",
            translation_placeholders={
                "title": self.entry.title,
                "firmware": err.firmware,
                "command": err.command,
            },
        )

    def succeeded(self) -> None:
        """Registered: no failures in a row, no issue."""
        self.consecutive_failures = 0
        self._delete_issues()

    def _delete_issues(self) -> None:
        ir.async_delete_issue(self.hass, DOMAIN, self.issue_id)
        ir.async_delete_issue(self.hass, DOMAIN, self.firmware_issue_id)

    def recovered(self, reason: Recovery) -> None:
        """The session registers again by itself: one log line, counted."""
        _LOGGER.info("%s: %s; registering again", self.entry.title, _RECOVERY_TEXT[reason])
        self.recoveries += 1
        self.last_recovery = reason
        self.last_recovery_at = dt_util.utcnow()

    def closed(self) -> None:
        """The entry no longer runs a session: whatever the issues said is no longer known."""
        self._delete_issues()
