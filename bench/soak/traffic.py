"""Numbered payloads both ways, and the ledgers of what was handed over and what arrived.

Downlinks: the platform writes `dl00000001`, `dl00000002` ... to /19/1/0, one after
the other, from the simulator's thread (a platform does not wait for Home
Assistant's loop); a write the module answered with 2.04 is accepted. Home Assistant
receives them as state changes of the `data_received` event entity.

Uplinks: Home Assistant calls `bc26.send` with `ul00000001` ... as an automation
does, one after the other; a call that returned a status is accepted, one that raised
is refused. The platform records what arrives.

Store and forward: a second sender calls `bc26.send` with `delivery: queue` and
`uq00000001` ...; Home Assistant's counter entity, reported on /3303/0/5700, goes up
by one every step (stored.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
import threading
import time
from typing import Any

from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.event import async_track_state_change_event

from bc26sim import Bc26Simulator
from bc26sim.platform import ObservationEvent, PlatformEvent, Reply, Uplink
from custom_components.bc26.const import DOMAIN

from .rig import DOWNLINK, ENDPOINT, REPORTED, UPLINK, PlatformHolder, SoakRig

DOWNLINK_MARK = b"dl"
UPLINK_MARK = b"ul"
QUEUED_MARK = b"uq"
DIGITS = 8
CONFIRMABLE_EVERY = 10  # one uplink in ten is confirmable, all of them while ACKs are lost


def payload(mark: bytes, counter: int) -> bytes:
    """`dl00000042`: the direction, then the counter (every payload differs)."""
    return mark + str(counter).zfill(DIGITS).encode()


def counter_of(mark: bytes, data: bytes) -> int | None:
    """The counter of a soak payload; None for anything else."""
    digits = data.removeprefix(mark)
    if len(digits) != DIGITS or not data.startswith(mark) or not digits.isdigit():
        return None
    return int(digits)


@dataclass(frozen=True, slots=True)
class Handover:
    """One payload handed to the other end: accepted or refused, when, and how."""

    counter: int
    at: float  # time.monotonic() when the outcome was known
    accepted: bool
    outcome: str  # a CoAP code, a send status, or what was raised
    mode: str | None = None  # downlinks: the module's data mode when it accepted
    confirmable: bool = False  # uplinks


@dataclass(frozen=True, slots=True)
class Arrival:
    """One payload received at the far end."""

    counter: int
    at: float
    acknowledged: bool = True  # a confirmable one the platform acknowledged (or a NON)


@dataclass
class Ledger:
    """One direction: every handover and every arrival, written from either thread."""

    handovers: list[Handover] = field(default_factory=list)
    arrivals: list[Arrival] = field(default_factory=list)
    # When the platform began observing the resource (the reported one only): a device
    # reports its current value then, so one repeat of it after each is expected.
    observed_at: list[float] = field(default_factory=list)
    next_counter: int = 1  # the counter the next payload takes
    highest_arrived: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def take(self) -> int:
        """The counter for the next payload."""
        with self._lock:
            counter = self.next_counter
            self.next_counter += 1
            return counter

    def handed_over(self, handover: Handover) -> None:
        """Record what happened to one payload at the sending end."""
        with self._lock:
            self.handovers.append(handover)

    def arrived(self, counter: int, acknowledged: bool = True) -> None:
        """Record one payload at the receiving end."""
        with self._lock:
            self.arrivals.append(Arrival(counter, time.monotonic(), acknowledged))
            self.highest_arrived = max(self.highest_arrived, counter)

    def observed(self, at: float) -> None:
        """The platform began observing the resource."""
        with self._lock:
            self.observed_at.append(at)

    def arrived_since(self, mark: int) -> bool:
        """Whether a payload sent at or after counter `mark` has arrived."""
        return self.highest_arrived >= mark


def mode_name(sim: Bc26Simulator) -> str | None:
    """The module's data mode, as the integration's option names it."""
    mode = sim.data_mode
    return None if mode is None else mode.name.lower()


class DownlinkWriter:
    """The platform's side: write the next payload shortly after the last write's answer.

    Runs on the simulator thread. While the platform does not know the device (it is
    down, forgot it, or the module is not registered) there is nothing to write to.
    """

    def __init__(
        self, ledger: Ledger, platforms: PlatformHolder, sim: Bc26Simulator, interval: float
    ) -> None:
        self._ledger = ledger
        self._platforms = platforms
        self._sim = sim
        self._interval = interval
        self._stopping = False

    def stop(self) -> None:
        """Finish the write under way, then return from `run` (call on the simulator thread).

        Cancelling instead would leave a write the module may have accepted unrecorded.
        """
        self._stopping = True

    async def run(self) -> None:
        """Write until stopped."""
        while not self._stopping:
            platform = self._platforms.platform
            if platform is not None and ENDPOINT in platform.registrations:
                counter = self._ledger.take()
                outcome = await _written(
                    platform.write(ENDPOINT, DOWNLINK, payload(DOWNLINK_MARK, counter))
                )
                self._ledger.handed_over(
                    Handover(
                        counter,
                        time.monotonic(),
                        outcome == "2.04",
                        outcome,
                        # Read right after the 2.04, before the module can change mode.
                        mode=mode_name(self._sim),
                    )
                )
            await asyncio.sleep(self._interval)


async def _written(write: Awaitable[Reply]) -> str:
    """The reply code of a platform write, or the name of what it raised."""
    try:
        reply = await write
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise  # the writer is being stopped
        return "cancelled"  # the platform stopped under the write
    except (LookupError, ConnectionError, TimeoutError, RuntimeError) as err:
        return type(err).__name__
    return str(reply.code)


def record_uplinks(
    ledger: Ledger, queued: Ledger, reported: Ledger
) -> Callable[[PlatformEvent], None]:
    """The platform's event callback: what arrives, into the ledger of its kind.

    On /19/0/0 the mark tells `bc26.send` now (`ledger`) from queued sends; on the
    reported resource the payload is the counter's value as text.
    """

    def on_event(event: PlatformEvent) -> None:
        if isinstance(event, ObservationEvent) and event.path == REPORTED:
            if event.kind == "observed":
                reported.observed(time.monotonic())
        elif isinstance(event, Uplink) and event.path == UPLINK:
            for mark, book in ((UPLINK_MARK, ledger), (QUEUED_MARK, queued)):
                if (counter := counter_of(mark, event.payload)) is not None:
                    book.arrived(counter, acknowledged=_acknowledged(event))
        elif isinstance(event, Uplink) and event.path == REPORTED and event.payload.isdigit():
            reported.arrived(int(event.payload), _acknowledged(event))

    return on_event


def _acknowledged(uplink: Uplink) -> bool:
    """Whether the platform acknowledged a confirmable uplink (a NON needs nothing)."""
    return not uplink.confirmable or uplink.answer == "ack"


class UplinkSender:
    """Home Assistant's side: call `bc26.send` again shortly after the last call returned."""

    def __init__(self, ledger: Ledger, rig: SoakRig, interval: float, queue: bool = False) -> None:
        self._ledger = ledger
        self._rig = rig
        self._interval = interval
        # Queued sends (`delivery: queue`): their own mark, every other one confirmable.
        self._queue = queue
        self.paused = False  # set while Home Assistant restarts
        self.all_confirmable = False  # set while the platform loses ACKs
        self._stopping = False

    def stop(self) -> None:
        """Finish the call under way, then return from `run`.

        Cancelling instead would leave a call whose payload may have gone out unrecorded.
        """
        self._stopping = True

    async def run(self) -> None:
        """Send until stopped."""
        while not self._stopping:
            if not self.paused and self._rig.hass_running:
                await self._send_one(self._rig.hass)
            await asyncio.sleep(self._interval)

    async def _send_one(self, hass: HomeAssistant) -> None:
        counter = self._ledger.take()
        every = 2 if self._queue else CONFIRMABLE_EVERY
        confirmable = self.all_confirmable or counter % every == 0
        data = {
            "config_entry_id": self._rig.entry_id,
            "data": payload(QUEUED_MARK if self._queue else UPLINK_MARK, counter).decode(),
            "confirmable": confirmable,
            "delivery": "queue" if self._queue else "now",
            # The module declares two resources it reports: the path is needed.
            **dict(zip(("object_id", "instance_id", "resource_id"), UPLINK, strict=True)),
        }
        try:
            response: Any = await hass.services.async_call(
                DOMAIN, "send", data, blocking=True, return_response=True
            )
        except HomeAssistantError as err:
            outcome, accepted = err.translation_key or type(err).__name__, False
        except Exception as err:  # noqa: BLE001 - whatever a call raises is its outcome
            outcome, accepted = type(err).__name__, False
        else:
            outcome, accepted = str(response.get("status")), True
        self._ledger.handed_over(
            Handover(counter, time.monotonic(), accepted, outcome, confirmable=confirmable)
        )


class DownlinkReceiver:
    """Every payload the `data_received` event entity announces, into the ledger.

    The entity also writes its state when it is added (after a restart, restoring the
    last event) and when its availability changes: such a write repeats an event
    already seen, same time stamp and same payload, and is not an arrival. A payload
    delivered twice gets a time stamp of its own (milliseconds) and counts twice.
    """

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self._seen: set[tuple[str, str]] = set()
        self._remove: Callable[[], None] | None = None

    def attach(self, hass: HomeAssistant, entity_id: str) -> None:
        """Listen to `entity_id` on this Home Assistant (again after a restart)."""
        self.detach()
        self._remove = async_track_state_change_event(hass, [entity_id], self._changed)

    def detach(self) -> None:
        """Stop listening."""
        if self._remove is not None:
            self._remove()
            self._remove = None

    @callback
    def _changed(self, event: Event[EventStateChangedData]) -> None:
        state = event.data["new_state"]
        if state is None:
            return
        hex_text = state.attributes.get("hex")
        if not isinstance(hex_text, str):
            return
        key = (state.state, hex_text)
        if key in self._seen:
            return
        self._seen.add(key)
        try:
            data = bytes.fromhex(hex_text)
        except ValueError:
            return
        counter = counter_of(DOWNLINK_MARK, data)
        if counter is not None:
            self._ledger.arrived(counter)
