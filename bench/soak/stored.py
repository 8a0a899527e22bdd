"""Store and forward under the faults: a reported entity that keeps changing.

Home Assistant's `sensor.soak_counter` goes up by one every step; the entry reports it
on /3303/0/5700 ("Report an entity": text, confirmable, history kept), so every value
must reach the platform once, in order. A value is *accepted* when the entry was
loaded and its outbox had room when the state changed; otherwise it was refused,
either beyond the user's limits (the outbox full) or because nothing ran to report it
(the entry reloading). The platform's records are read in `traffic.record_uplinks`.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant

from custom_components.bc26.const import DEFAULT_QUEUE_SIZE

from .rig import REPORTED, REPORTED_ENTITY, SoakRig
from .traffic import QUEUED_MARK, Handover, Ledger, counter_of

OUTBOX_FULL = "outbox_full"


class ReportedCounter:
    """Raise the reported entity's state by one every `interval` seconds."""

    def __init__(self, ledger: Ledger, rig: SoakRig, interval: float) -> None:
        self._ledger = ledger
        self._rig = rig
        self._interval = interval
        self._value = 0
        self._stopping = False

    def restore(self, hass: HomeAssistant) -> None:
        """A new Home Assistant: the entity comes back with its value (an `on_start` hook)."""
        hass.states.async_set(REPORTED_ENTITY, str(self._value))

    def stop(self) -> None:
        """Return from `run` after the step under way."""
        self._stopping = True

    async def run(self) -> None:
        """Count until stopped."""
        while not self._stopping:
            if self._rig.hass_running:
                self._step(self._rig.hass)
            await asyncio.sleep(self._interval)

    def _step(self, hass: HomeAssistant) -> None:
        counter = self._ledger.take()
        outcome = self._refusal(hass) or "queued"
        hass.states.async_set(REPORTED_ENTITY, str(counter))
        self._value = counter
        handover = Handover(counter, time.monotonic(), outcome == "queued", outcome, None, True)
        self._ledger.handed_over(handover)

    def _refusal(self, hass: HomeAssistant) -> str | None:
        """Why a change now would not be reported: None if it would."""
        entry = hass.config_entries.async_get_entry(self._rig.entry_id)
        if entry is None or entry.state is not ConfigEntryState.LOADED:
            return "entry_not_loaded"
        waiting = hass.states.get(self._rig.waiting_entity)
        full = waiting is not None and waiting.state.isdigit()
        if full and waiting is not None and int(waiting.state) >= DEFAULT_QUEUE_SIZE:
            return OUTBOX_FULL
        return None


def still_queued(rig: SoakRig) -> tuple[list[int], list[int]]:
    """What waits in the outbox at the end (queued sends, reported values): neither
    delivered nor lost. Read from the entry's outbox, as its diagnostics are.
    """
    queued: list[int] = []
    reported: list[int] = []
    if not rig.hass_running:
        return queued, reported
    entry = rig.hass.config_entries.async_get_entry(rig.entry_id)
    runtime: Any = getattr(entry, "runtime_data", None)
    if runtime is None:
        return queued, reported
    for item in runtime.forwarder.outbox.snapshot():
        data = bytes.fromhex(item["hex"])
        if item["path"].strip("/") == "/".join(map(str, REPORTED)) and data.isdigit():
            reported.append(int(data))
        elif (counter := counter_of(QUEUED_MARK, data)) is not None:
            queued.append(counter)
    return queued, reported
