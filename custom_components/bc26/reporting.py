"""Home Assistant entities reported to the platform, without automations.

Each "Report an entity" subentry makes one Reporter. It follows the entity's state
(or one of its attributes), optionally through a template, encodes it (encoding.py)
and puts it in the outbox for its resource (forwarding.py), which sends it once the
module can. It reports:
- as soon as the platform starts observing the resource: the current value, as LwM2M
  expects of a device;
- on change, when the value moved by at least the deadband (numbers), at most once per
  minimum interval: a change inside the interval is sent at its end, the latest one;
- on the heartbeat, the current value even when unchanged.
Without history only the newest value of a resource waits in the outbox (a thermostat
needs no fifty stale readings); with history every value does. A value that cannot be
encoded (`unknown`, `unavailable`, a word for a number) is skipped with one log line
per run of such values, never sent in some other form.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
import logging
from typing import Any

from homeassistant.config_entries import (
    SIGNAL_CONFIG_ENTRY_CHANGED,
    ConfigEntry,
    ConfigEntryChange,
)
from homeassistant.const import (
    CONF_ENTITY_ID,
    CONF_VALUE_TEMPLATE,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
)
from homeassistant.core import (
    CALLBACK_TYPE,
    Event,
    EventStateChangedData,
    HomeAssistant,
    State,
    callback,
)
from homeassistant.exceptions import TemplateError
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.event import (
    async_call_later,
    async_track_state_change_event,
    async_track_time_interval,
)
from homeassistant.helpers.template import Template
from homeassistant.util import dt as dt_util

from .const import SUBENTRY_REPORT
from .coordinator import Bc26Coordinator
from .encoding import CannotEncodeError, Encoding, encode, number
from .forwarding import Forwarder
from .modem import ResourcePath
from .outbox import OutboxFullError
from .uplink import Uplink

_LOGGER = logging.getLogger(__name__)

CONF_ATTRIBUTE = "attribute"
CONF_RESOURCE_PATH = "resource_path"
CONF_ENCODING = "encoding"
CONF_SCALE = "scale"
CONF_CONFIRMABLE = "confirmable"
CONF_MIN_INTERVAL = "min_interval"
CONF_DEADBAND = "deadband"
CONF_HEARTBEAT = "heartbeat"
CONF_KEEP_HISTORY = "keep_history"


@dataclass(frozen=True, slots=True)
class ReportConfig:
    """What one "Report an entity" subentry says."""

    entity_id: str
    attribute: str | None
    path: ResourcePath
    encoding: Encoding
    scale: float
    template: str | None
    confirmable: bool
    min_interval: float
    deadband: float | None
    heartbeat: float
    keep_history: bool

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> ReportConfig:
        """Read a subentry's data."""
        deadband = data.get(CONF_DEADBAND)
        return cls(
            entity_id=str(data[CONF_ENTITY_ID]),
            attribute=data.get(CONF_ATTRIBUTE) or None,
            path=ResourcePath.parse(str(data[CONF_RESOURCE_PATH])),
            encoding=Encoding(data.get(CONF_ENCODING, Encoding.TEXT)),
            scale=float(data.get(CONF_SCALE) or 1.0),
            template=data.get(CONF_VALUE_TEMPLATE) or None,
            confirmable=bool(data.get(CONF_CONFIRMABLE, False)),
            # null: a NaN the form once took, as Home Assistant's storage writes it
            min_interval=float(data.get(CONF_MIN_INTERVAL) or 0),
            deadband=float(deadband) if deadband not in (None, "") else None,
            heartbeat=float(data.get(CONF_HEARTBEAT) or 0),
            keep_history=bool(data.get(CONF_KEEP_HISTORY, False)),
        )


class SkipError(Exception):
    """The entity's value cannot be reported now; the message says why."""


def value_of(hass: HomeAssistant, config: ReportConfig, state: State | None) -> str:
    """The text to encode: the state or attribute, through the template; SkipError if none."""
    if state is None or state.state in (STATE_UNKNOWN, STATE_UNAVAILABLE):
        raise SkipError(f"{config.entity_id} is {state.state if state else 'missing'}")
    raw: Any = state.state
    if config.attribute is not None:
        if config.attribute not in state.attributes:
            raise SkipError(f"{config.entity_id} has no attribute {config.attribute}")
        raw = state.attributes[config.attribute]
    if config.template is None:
        return str(raw)
    try:
        rendered = Template(config.template, hass).async_render({"value": raw}, parse_result=False)
    except TemplateError as err:
        raise SkipError(f"the template failed: {err}") from err
    return str(rendered)


def payload_of(
    hass: HomeAssistant, config: ReportConfig, state: State | None
) -> tuple[bytes, float | None]:
    """The uplink's bytes for `state` and the number they stand for; SkipError if none."""
    text = value_of(hass, config, state)
    try:
        return encode(text, config.encoding, config.scale), number(text)
    except CannotEncodeError as err:
        raise SkipError(f"{config.entity_id}: {err}") from err


@dataclass(frozen=True, slots=True)
class LastReport:
    """What a reporter last put in the outbox."""

    at: datetime
    data: bytes
    value: float | None  # the number it stood for, for the deadband


class Reporter:
    """One entity reported on one resource."""

    def __init__(
        self,
        hass: HomeAssistant,
        subentry_id: str,
        config: ReportConfig,
        session: Bc26Coordinator,
        forwarder: Forwarder,
    ) -> None:
        self._hass = hass
        self.subentry_id = subentry_id
        self.config = config
        self._session = session
        self._forwarder = forwarder
        self.last: LastReport | None = None
        self.skipped = 0
        self.last_skip: str | None = None
        self._failing = False
        self._observed = False
        self._trailing: CALLBACK_TYPE | None = None
        self._room_wait: Callable[[], None] | None = None  # listening for room in the outbox
        self._removers: list[CALLBACK_TYPE] = []

    @callback
    def start(self) -> None:
        """Follow the entity, the platform's observation and the heartbeat."""
        config = self.config
        self._observed = self._session.resources.observed_now(config.path)
        self._removers = [
            async_track_state_change_event(self._hass, config.entity_id, self._state_changed),
            self._session.async_add_listener(self._session_changed),
        ]
        if config.heartbeat > 0:
            every = timedelta(seconds=config.heartbeat)
            self._removers.append(async_track_time_interval(self._hass, self._beat, every))
        if self._observed:  # observed already (a new or changed report): its value now
            self._consider(self._hass.states.get(config.entity_id), force=True)

    @callback
    def stop(self) -> None:
        """Follow nothing any more."""
        for remove in self._removers:
            remove()
        self._removers = []
        self._cancel_trailing()
        if self._room_wait is not None:
            self._room_wait()
            self._room_wait = None

    @callback
    def _state_changed(self, event: Event[EventStateChangedData]) -> None:
        self._consider(event.data["new_state"], force=False)

    @callback
    def _session_changed(self) -> None:
        observed, was = self._session.resources.observed_now(self.config.path), self._observed
        self._observed = observed
        if observed and not was:  # the platform starts observing: report now
            self._consider(self._hass.states.get(self.config.entity_id), force=True, observing=True)

    @callback
    def _beat(self, _: datetime) -> None:
        self._consider(self._hass.states.get(self.config.entity_id), force=True)

    @callback
    def _consider(self, state: State | None, force: bool, observing: bool = False) -> None:
        """Report `state` now, later (the minimum interval) or not at all (deadband, skip).

        `observing`: the platform starts observing; the value is not sent twice when the
        outbox holds it already (it goes first thing, to the new observation).
        """
        try:
            data, value = payload_of(self._hass, self.config, state)
        except SkipError as err:
            self._skip(str(err))
            return
        if self._failing:
            _LOGGER.info("%s can be reported again", self.config.entity_id)
            self._failing = False
        if observing and self._waits_already(data):
            return
        if not force and self._within_deadband(data, value):
            return
        wait = self._wait()
        if not force and wait > 0:
            self._cancel_trailing()
            self._trailing = async_call_later(self._hass, wait, self._trailing_report)
            return
        self._report(data, value)

    def _waits_already(self, data: bytes) -> bool:
        """The outbox holds this reporter's uplinks, the newest of them `data`.

        Asked of the outbox, not of `last`: after a restart the outbox comes back from
        storage while the reporter starts knowing nothing.
        """
        newest = self._forwarder.outbox.newest(self.config.path, self.config.entity_id)
        return newest is not None and newest.data == data

    def _within_deadband(self, data: bytes, value: float | None) -> bool:
        last = self.last
        if last is None:
            return False
        if self.config.deadband is not None and value is not None and last.value is not None:
            return abs(value - last.value) < self.config.deadband
        return data == last.data

    def _wait(self) -> float:
        """Seconds until the minimum interval since the last report is over."""
        if self.last is None:
            return 0.0
        elapsed = (dt_util.utcnow() - self.last.at).total_seconds()
        return max(self.config.min_interval - elapsed, 0.0)

    @callback
    def _trailing_report(self, _: datetime) -> None:
        """The end of the minimum interval: the latest value, if it still differs."""
        self._trailing = None
        self._consider(self._hass.states.get(self.config.entity_id), force=False)

    def _cancel_trailing(self) -> None:
        if self._trailing is not None:
            self._trailing()
            self._trailing = None

    def _report(self, data: bytes, value: float | None) -> None:
        self._cancel_trailing()
        uplink = Uplink(self.config.path, data, self.config.confirmable)
        key = None if self.config.keep_history else self.subentry_id
        try:
            self._forwarder.put(uplink, key=key, source=self.config.entity_id)
        except OutboxFullError:
            self._skip(f"the outbox is full ({self._forwarder.outbox.limit} uplinks)")
            self._await_room()
            return
        self.last = LastReport(dt_util.utcnow(), data, value)

    def _await_room(self) -> None:
        """Report the value of the moment once the outbox has room again."""
        if self._room_wait is not None:
            return

        @callback
        def changed() -> None:
            outbox = self._forwarder.outbox
            if len(outbox) < outbox.limit and self._room_wait is not None:
                self._room_wait()
                self._room_wait = None
                self._consider(self._hass.states.get(self.config.entity_id), force=True)

        self._room_wait = self._forwarder.async_add_listener(changed)

    def _skip(self, reason: str) -> None:
        self.skipped += 1
        self.last_skip = reason
        if not self._failing:
            _LOGGER.warning("Not reported: %s", reason)
            self._failing = True

    def diagnostics(self) -> dict[str, Any]:
        """For the diagnostics download."""
        last = self.last
        return {
            "entity_id": self.config.entity_id,
            "attribute": self.config.attribute,
            "path": str(self.config.path),
            "encoding": self.config.encoding.value,
            "last_report_at": last.at.isoformat() if last else None,
            "last_report_bytes": len(last.data) if last else None,  # the bytes are the user's
            "skipped": self.skipped,
            "last_skip": self.last_skip,
        }


class Reporters:
    """The reporters of an entry's "Report an entity" subentries, kept in step with them."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry[Any],
        session: Bc26Coordinator,
        forwarder: Forwarder,
    ) -> None:
        self._hass = hass
        self._entry = entry
        self._session = session
        self._forwarder = forwarder
        self.reporters: dict[str, Reporter] = {}
        self._unfollow: Callable[[], None] | None = None  # of the entry's changes

    @callback
    def start(self) -> None:
        """Report every configured entity."""
        self._sync()
        self._unfollow = async_dispatcher_connect(
            self._hass, SIGNAL_CONFIG_ENTRY_CHANGED, self._changed
        )

    @callback
    def stop(self) -> None:
        """Report nothing more; stopping again does nothing."""
        if self._unfollow is not None:
            self._unfollow()
            self._unfollow = None
        for reporter in self.reporters.values():
            reporter.stop()
        self.reporters.clear()

    @callback
    def _changed(self, change: ConfigEntryChange, entry: ConfigEntry[Any]) -> None:
        if entry.entry_id == self._entry.entry_id and change is ConfigEntryChange.UPDATED:
            self._sync()

    def _sync(self) -> None:
        """Start reporters of new subentries, stop those of removed ones, restart changed ones."""
        wanted = {
            subentry_id: ReportConfig.from_data(subentry.data)
            for subentry_id, subentry in self._entry.subentries.items()
            if subentry.subentry_type == SUBENTRY_REPORT
        }
        for subentry_id, reporter in list(self.reporters.items()):
            if wanted.get(subentry_id) != reporter.config:
                reporter.stop()
                del self.reporters[subentry_id]
        for subentry_id, config in wanted.items():
            if subentry_id not in self.reporters:
                reporter = Reporter(self._hass, subentry_id, config, self._session, self._forwarder)
                self.reporters[subentry_id] = reporter
                reporter.start()

    def diagnostics(self) -> list[dict[str, Any]]:
        """What each reporter did last."""
        return [reporter.diagnostics() for reporter in self.reporters.values()]
