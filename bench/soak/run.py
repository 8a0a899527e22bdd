"""The soak itself: traffic both ways without pause, one fault at a time, recovery timed.

After each fault the soak waits until the session is back by itself: registered end
to end (Home Assistant, the module and the platform all agree, in the data mode the
user chose; see `SoakRig.registered_end_to_end`), then payloads flowing both ways
(a downlink written and an uplink sent after that moment both arrived). If that does
not happen within `BOUND` of the fault's end, the soak does what a user would: presses
"Register again" (`bc26.reregister`), and if that is not enough reloads the entry;
the fault counts as not recovered without a hand.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
import contextlib
from dataclasses import dataclass, field
from pathlib import Path
import random
import time

from homeassistant.exceptions import HomeAssistantError

from custom_components.bc26.const import DOMAIN
from custom_components.bc26.timing import SessionTiming

from .faults import Fault, Injector, Kind, LineWatch, buffered_downlinks, eligible
from .rig import LOG, SoakRig, earlier_logs, soak_rig, soak_timing
from .stored import ReportedCounter, still_queued
from .traffic import DownlinkReceiver, DownlinkWriter, Ledger, UplinkSender, record_uplinks

# Module, CoAP and platform times at 1/50: an ACK timeout of 40 ms, the manual's 128 s
# final result in 2.6 s, a CON send that gets no ACK gives up after about 1.9 s.
SCALE = 0.02
TRAFFIC_INTERVAL = 0.02  # seconds between one payload's outcome and the next, each way
# Seconds between queued sends, and between changes of the reported entity: 8 a second
# together, so an outage of 12 s fills the outbox's 100 places (the default limit).
STORED_INTERVAL = 0.25
BOUND = 15.0  # seconds (12.5 minutes at the module's scale) to be back without a hand
BASELINE = 3.0  # seconds of traffic before the first fault
SETTLE = (0.5, 1.5)  # seconds of traffic after a recovery, before the next fault
QUIET = 1.0  # the end: no new arrival for this long ...
DRAIN = 10.0  # ... or this long at most
LOOK_EVERY = 0.025  # seconds between looks at the session while waiting for it


@dataclass
class Result:
    """Everything the report needs."""

    seed: int
    scale: float
    timing: SessionTiming
    started: float  # time.monotonic() when traffic began (the baseline)
    faults: list[Fault] = field(default_factory=list)
    downlinks: Ledger = field(default_factory=Ledger)
    uplinks: Ledger = field(default_factory=Ledger)
    held_at_end: list[int] = field(default_factory=list)  # downlinks still in the module
    # Store and forward: queued sends and the reported entity's values (stored.py), and
    # what of them still waits in the outbox at the end.
    queued: Ledger = field(default_factory=Ledger)
    reported: Ledger = field(default_factory=Ledger)
    queued_at_end: list[int] = field(default_factory=list)
    reported_at_end: list[int] = field(default_factory=list)
    seconds: float = 0.0  # the whole run, set-up included
    log: LogSize | None = None


@dataclass(frozen=True)
class LogSize:
    """What the run left in Home Assistant's logs (refusals should not flood them)."""

    size: int  # bytes
    tracebacks: int
    bc26_records: int  # records of custom_components.bc26 (warning and above)
    runs: int  # Home Assistant's runs (1 + restarts), one log each


def measure_logs(paths: list[Path]) -> LogSize:
    """Read Home Assistant's logs line by line (they can grow to tens of MB)."""
    size = tracebacks = records = 0
    for path in paths:
        with path.open("rb") as log:
            for line in log:
                size += len(line)
                tracebacks += line.startswith(b"Traceback (most recent call last)")
                records += b"[custom_components.bc26" in line
    return LogSize(size, tracebacks, records, len(paths))


type Progress = Callable[[str], None]


async def soak(count: int, seed: int, quick: bool, workdir: Path, progress: Progress) -> Result:
    """Bring everything up, run `count` faults with traffic, bring everything down."""
    began = time.monotonic()
    rng = random.Random(seed)
    result = Result(seed, SCALE, soak_timing(SCALE), began)
    progress("starting Home Assistant, the virtual BC26 and the platform")
    recorder = record_uplinks(result.uplinks, result.queued, result.reported)
    async with soak_rig(workdir, SCALE, recorder) as rig:
        receiver = DownlinkReceiver(result.downlinks)
        receiver.attach(rig.hass, rig.event_entity)
        rig.on_start.append(lambda hass: receiver.attach(hass, rig.event_entity))
        sender = UplinkSender(result.uplinks, rig, TRAFFIC_INTERVAL)
        queuer = UplinkSender(result.queued, rig, STORED_INTERVAL, queue=True)
        counter = ReportedCounter(result.reported, rig, STORED_INTERVAL)
        rig.on_start.append(counter.restore)
        writer = DownlinkWriter(result.downlinks, rig.platforms, rig.sim, TRAFFIC_INTERVAL)
        line = await rig.thread.call(lambda: LineWatch(rig.sim, rig.link))
        injector = Injector(rig, rng, sender, line)
        writing = asyncio.create_task(rig.thread.run(writer.run()))
        sending = asyncio.create_task(sender.run())
        stored = [asyncio.create_task(queuer.run()), asyncio.create_task(counter.run())]
        try:
            result.started = time.monotonic()
            progress(f"traffic both ways; {BASELINE:.0f} s before the first fault")
            await asyncio.sleep(BASELINE)
            for number, kind in enumerate(_schedule(rng, rig, count, quick), start=1):
                fault = Fault(number, kind, rig.data_mode, time.monotonic())
                result.faults.append(fault)
                await injector.inject(fault)
                await _recover(rig, fault, result)
                progress(_progress_line(fault, count))
                await asyncio.sleep(rng.uniform(*SETTLE))
        finally:
            for each in (sender, queuer, counter):
                each.stop()
            await rig.thread.call(writer.stop)
            # All finish what is under way (a confirmable send waits for its result).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(BOUND):
                    await asyncio.gather(sending, writing, *stored, return_exceptions=True)
        progress("traffic stopped; waiting for the last payloads")
        await _drain(result, rig)
        result.held_at_end = await rig.thread.call(lambda: buffered_downlinks(rig.sim))
        result.queued_at_end, result.reported_at_end = still_queued(rig)
        receiver.detach()
    logs = [*earlier_logs(workdir), workdir / LOG]
    result.log = await asyncio.to_thread(measure_logs, [log for log in logs if log.exists()])
    result.seconds = time.monotonic() - began
    return result


def _schedule(rng: random.Random, rig: SoakRig, count: int, quick: bool) -> Iterator[Kind]:
    """Random kinds, each drawn among those eligible now; `quick`: each kind once.

    Home Assistant restarts only in buffer access mode, so in the quick order it comes
    before the data-mode change (the entry starts in buffer access mode).
    """
    if quick:
        kinds = list(Kind)
        rng.shuffle(kinds)
        restart, change = kinds.index(Kind.HA_RESTART), kinds.index(Kind.DATA_MODE)
        if restart > change:
            kinds[restart], kinds[change] = kinds[change], kinds[restart]
        yield from kinds
        return
    for _ in range(count):
        yield rng.choice([kind for kind in Kind if eligible(kind, rig.data_mode)])


async def _recover(rig: SoakRig, fault: Fault, result: Result) -> None:
    """Wait for the session to come back; lend a hand as a user would if it does not."""
    if await _back(rig, fault, result, unaided=True):
        return
    for hand in ("reregister", "reload"):
        fault.hand = hand
        with contextlib.suppress(HomeAssistantError, TimeoutError):
            async with asyncio.timeout(BOUND):
                await _lend_a_hand(rig, hand)
        if await _back(rig, fault, result, unaided=False):
            return
    fault.hand = "stuck"


async def _lend_a_hand(rig: SoakRig, hand: str) -> None:
    if not rig.hass_running:
        return
    if hand == "reregister":  # the "Register again" button
        await rig.hass.services.async_call(
            DOMAIN, "reregister", {"config_entry_id": rig.entry_id}, blocking=True
        )
    else:
        await rig.hass.config_entries.async_reload(rig.entry_id)


async def _back(rig: SoakRig, fault: Fault, result: Result, *, unaided: bool) -> bool:
    """Whether, within BOUND, the session is registered end to end and payloads flow again.

    Flowing means a downlink written and an uplink sent after the session was seen
    registered have both arrived: what was sent before may have gone through just
    before the fault took effect (a data-mode change reloads the entry a moment after
    the options flow returns). Without a hand, the moments are noted on `fault`.
    """
    marks: tuple[int, int] | None = None
    deadline = time.monotonic() + BOUND
    while time.monotonic() < deadline:
        if marks is None and await rig.registered_end_to_end():
            marks = (result.downlinks.next_counter, result.uplinks.next_counter)
            if unaided:
                fault.registered_at = time.monotonic()
        if (
            marks is not None
            and result.downlinks.arrived_since(marks[0])
            and result.uplinks.arrived_since(marks[1])
        ):
            if unaided:
                fault.flowing_at = time.monotonic()
            return True
        await asyncio.sleep(LOOK_EVERY)
    return False


async def _drain(result: Result, rig: SoakRig) -> None:
    """Wait until nothing has arrived for QUIET seconds and the outbox is empty (DRAIN at most)."""
    deadline = time.monotonic() + DRAIN
    last: tuple[int, ...] = ()
    quiet_since = time.monotonic()
    ledgers = (result.downlinks, result.uplinks, result.queued, result.reported)
    while time.monotonic() < deadline:
        now_count = tuple(len(ledger.arrivals) for ledger in ledgers)
        if now_count != last:
            last, quiet_since = now_count, time.monotonic()
        elif time.monotonic() - quiet_since >= QUIET and _outbox_empty(rig):
            return
        await asyncio.sleep(LOOK_EVERY)


def _outbox_empty(rig: SoakRig) -> bool:
    """The Waiting uplinks sensor says 0 (or Home Assistant is not running to say more)."""
    if not rig.hass_running:
        return True
    state = rig.hass.states.get(rig.waiting_entity)
    return state is None or state.state == "0"


def _progress_line(fault: Fault, count: int) -> str:
    what = f"{fault.number}/{count} {fault.kind}" + (f" ({fault.detail})" if fault.detail else "")
    if fault.registered_at is not None and fault.flowing_at is not None:
        return (
            f"{what}: registered after {fault.registered_at - fault.started:.2f} s, "
            f"payloads both ways after {fault.flowing_at - fault.started:.2f} s"
        )
    if fault.hand == "stuck":
        return f"{what}: NOT back within {BOUND:.0f} s, nor after reregister and reload"
    return f"{what}: NOT back within {BOUND:.0f} s by itself; back after {fault.hand}"
