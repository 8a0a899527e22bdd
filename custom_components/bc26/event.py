"""The `data_received` event entity: one event per payload the platform writes."""

from __future__ import annotations

import asyncio
from collections import deque
import dataclasses

from homeassistant.components.event import EventEntity
from homeassistant.core import Context, HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.util import dt as dt_util

from .const import LOGGER
from .data import Bc26ConfigEntry, Bc26Data
from .downlink import event_attributes
from .entity import Bc26Entity
from .resources import Payload, Phase

EVENT_DATA_RECEIVED = "data_received"
# Events waiting for a millisecond of their own: a second of a flood no platform can
# produce over NB-IoT. Beyond it, payloads are counted and logged, not queued.
MAX_BACKLOG = 1000

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant, entry: Bc26ConfigEntry, async_add_entities: AddConfigEntryEntitiesCallback
) -> None:
    """One event entity per module."""
    async_add_entities([DownlinkEvent(entry.runtime_data)])


@dataclasses.dataclass(frozen=True, slots=True)
class _Waiting:
    """A payload queued behind a burst, with its context's identity instead of the context.

    Home Assistant ties a context to the first event it causes (the raw sensor's state
    change, which holds two states), so the queue must not hold the context itself. Nor a
    copy made now: a second in the queue makes it old to the garbage collector, and the
    state written with it later would be freed only by a full collection.
    """

    payload: Payload
    cause: tuple[str | None, str | None, str] | None  # user_id, parent_id, id

    @classmethod
    def of(cls, payload: Payload) -> _Waiting:
        """The payload, waiting without its context."""
        cause = payload.cause
        if not isinstance(cause, Context):
            return cls(payload, None)
        waiting = dataclasses.replace(payload, cause=None)
        return cls(waiting, (cause.user_id, cause.parent_id, cause.id))

    def fired(self) -> Payload:
        """The payload with a new context of the same identity, as its event fires."""
        if self.cause is None:
            return self.payload
        return dataclasses.replace(self.payload, cause=Context(*self.cause))


class DownlinkEvent(Bc26Entity, EventEntity):
    """Fires `data_received` with the path and the payload for every write of the platform.

    The entity's state is the event's time in milliseconds, and a state trigger with
    `to`, `from` or `not_from` ignores an event whose state equals the last one: two
    payloads in one millisecond would reach such an automation once. So each event
    gets a millisecond of its own (a burst is spread over consecutive ones, in order)
    and a sequence number.
    """

    _attr_translation_key = "downlink"

    def __init__(self, data: Bc26Data) -> None:
        super().__init__(data)
        self._attr_event_types = [EVENT_DATA_RECEIVED]
        self._attr_unique_id = f"{data.session.config_entry.unique_id}-downlink"
        self._sequence = 0
        self._backlog: deque[Payload | _Waiting] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._dropped = 0  # in the current flood

    async def async_added_to_hass(self) -> None:
        """Announce every payload, after the sensors have taken it."""
        await super().async_added_to_hass()
        self.async_on_remove(self.data.resources.listen(Phase.ANNOUNCE, None, self._on_payload))
        self.async_on_remove(self._cancel_timer)

    @callback
    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    @callback
    def _on_payload(self, payload: Payload) -> None:
        if len(self._backlog) >= MAX_BACKLOG:
            if not self._dropped:
                LOGGER.warning("%s: payloads arrive faster than events can fire", self.entity_id)
            self._dropped += 1
            return
        waits = bool(self._backlog) or self._timer is not None
        self._backlog.append(_Waiting.of(payload) if waits else payload)
        if self._timer is None:
            self._fire()

    @callback
    def _fire(self) -> None:
        """Fire waiting events, one per millisecond; come back for the next millisecond."""
        self._timer = None
        while self._backlog:
            now = dt_util.utcnow()
            if now.isoformat(timespec="milliseconds") == self.state:
                wait = (1000 - now.microsecond % 1000) / 1_000_000
                self._timer = self.hass.loop.call_later(wait, self._fire)
                return
            entry = self._backlog.popleft()
            payload = entry.fired() if isinstance(entry, _Waiting) else entry
            self._sequence += 1
            attributes = event_attributes(payload.path, payload.data)
            attributes["sequence"] = self._sequence
            self._trigger_event(EVENT_DATA_RECEIVED, attributes)
            self.async_write_caused_by(payload.cause)
        if self._dropped:
            LOGGER.warning("%s: %d payloads had no event", self.entity_id, self._dropped)
            self._dropped = 0
