"""Outages of days and weeks, staged in seconds: the session keeps trying and heals.

The tests' timing hook makes every back-off a millisecond, so that a thousand attempts
take a second or two; they check by counting and by state, not by the clock. The
doubling back-off once computed `first * 2 ** (attempt - 1)` before its cap, and from
attempt 1025 (3.5 days of an unplugged module at the 300-s cap, or 21 days of failed
registrations at 30 min) that no longer fit a float: the session task ended without a
word, and the entry could not even be unloaded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import dataclasses
import logging

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from bc26sim import Bc26Simulator
from custom_components.bc26.coordinator import Bc26Coordinator
from custom_components.bc26.registration import RegistrationState
from custom_components.bc26.timing import Backoff

from .ha_fixtures import FAST_TIMING, until

# A thousand attempts take 3-6 s here; a loaded machine may need several times that.
LONG_WAIT = 120.0


async def until_done(predicate: Callable[[], bool]) -> None:
    """As `until`, with room for a thousand attempts on a busy machine."""
    async with asyncio.timeout(LONG_WAIT):
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


TINY = Backoff(first=0.001, maximum=0.001)  # every back-off a millisecond
LONG_OUTAGE = 1030  # attempts: past 1024, where 2 ** (attempt - 1) leaves a float's range
TINY_RECONNECT = dataclasses.replace(FAST_TIMING, reconnect=TINY)
TINY_REGISTRATION = dataclasses.replace(FAST_TIMING, registration=TINY)


@pytest.mark.parametrize("attempt", [1025, 10**6])
def test_the_back_off_stays_at_its_maximum_however_long_it_tries(attempt: int) -> None:
    assert Backoff(first=5.0, maximum=300.0).delay(attempt) == 300.0


def _reconnect_attempts(caplog: pytest.LogCaptureFixture) -> int:
    return sum(record.getMessage().startswith("Reconnect attempt") for record in caplog.records)


def _still_running(coordinator: Bc26Coordinator) -> bool:
    task = coordinator._task
    return task is not None and not task.done()


async def _unplugged_for_days(
    coordinator: Bc26Coordinator, bc26: Bc26Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    """The module unplugged for LONG_OUTAGE reconnect attempts, then plugged in again."""
    caplog.set_level(logging.DEBUG, logger="custom_components.bc26")
    await bc26.unplug()
    await until_done(
        lambda: _reconnect_attempts(caplog) >= LONG_OUTAGE or not _still_running(coordinator)
    )
    await bc26.replug()


@pytest.mark.parametrize("session_timing", [TINY_RECONNECT], ids=["tiny_backoff"])
async def test_a_module_unplugged_for_days_is_reconnected_when_it_comes_back(
    coordinator: Bc26Coordinator, bc26: Bc26Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    await _unplugged_for_days(coordinator, bc26, caplog)
    await until(lambda: coordinator.registered or not _still_running(coordinator))
    assert _still_running(coordinator)
    assert coordinator.connected
    assert coordinator.registered


@pytest.mark.parametrize("session_timing", [TINY_REGISTRATION], ids=["tiny_backoff"])
async def test_registration_failing_for_weeks_still_registers_when_it_can(
    coordinator: Bc26Coordinator, bc26: Bc26Simulator
) -> None:
    bc26.refused_commands.add("+CMEE")  # every attempt fails at once (any failure would do)
    coordinator.async_schedule_reregister()
    log = coordinator.registrations
    await until_done(
        lambda: log.consecutive_failures >= LONG_OUTAGE or not _still_running(coordinator)
    )
    bc26.refused_commands.discard("+CMEE")  # the platform is back
    await until(lambda: coordinator.registered or not _still_running(coordinator))
    assert _still_running(coordinator)
    assert coordinator.state is RegistrationState.REGISTERED


@pytest.mark.parametrize("session_timing", [TINY_RECONNECT], ids=["tiny_backoff"])
async def test_an_entry_whose_module_was_gone_for_days_can_be_reloaded(
    hass: HomeAssistant,
    coordinator: Bc26Coordinator,
    bc26: Bc26Simulator,
    config_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The user's way out, a reload, works after such a run."""
    await _unplugged_for_days(coordinator, bc26, caplog)
    assert await hass.config_entries.async_reload(config_entry.entry_id)
    assert config_entry.state is ConfigEntryState.LOADED
    session: Bc26Coordinator = config_entry.runtime_data.session
    await until(lambda: session.registered)


class _BugOnce(Backoff):
    """A back-off that raises the first time: it stands for any bug in the session's code."""

    raised: list[int] = []  # noqa: RUF012 - one test's record, reset by it

    def delay(self, attempt: int) -> float:
        if not self.raised:
            self.raised.append(attempt)
            raise RuntimeError("a bug")
        return super().delay(attempt)


@pytest.mark.logs_errors
@pytest.mark.parametrize(
    "session_timing",
    [dataclasses.replace(FAST_TIMING, registration=_BugOnce(first=0.001, maximum=0.001))],
    ids=["bug_once"],
)
async def test_a_bug_in_the_session_is_logged_and_the_session_starts_over(
    coordinator: Bc26Coordinator, bc26: Bc26Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    _BugOnce.raised.clear()
    bc26.refused_commands.add("+CMEE")  # a failed registration asks the back-off for a delay
    coordinator.async_schedule_reregister()
    await until(lambda: bool(_BugOnce.raised) or not _still_running(coordinator))
    bc26.refused_commands.discard("+CMEE")
    await until(lambda: coordinator.registered or not _still_running(coordinator))
    assert _still_running(coordinator)
    assert coordinator.registered
    (record,) = [r for r in caplog.records if r.getMessage().startswith("Unexpected error")]
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], RuntimeError)
