"""The site's measurements: several modules, idle cost, the paced line, a pending send, set-up.

`run_site` brings one site up (bench/site.py) and runs the selected parts in an order
that keeps them apart: the idle baseline before any module, then 1, 4 and 10 modules
flooding, the idle window with ten registered modules, the poll and check costs, the
paced line, the pending send, and last Home Assistant's start with 0, 1 and 10
modules (child processes, bench/startup.py). Each part returns rows for the table.

`python -m bench.scale` runs it on its own (`python -m bench` runs it in a child
process after the single-module rig, since Home Assistant starts once per process).
"""

from __future__ import annotations

import argparse
from array import array
import asyncio
import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
import itertools
import json
from pathlib import Path
import random
import sys
import tempfile
import time
from typing import Any

from homeassistant.const import EVENT_STATE_CHANGED
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback

from bc26sim import Bc26Simulator, ScriptedNetwork
from bc26sim.line import PacedLine
from custom_components.bc26.downlink import MAX_STATE_LENGTH, payload_state

from .inprocess import print_log_tail
from .probes import GC, percentile, rss_bytes
from .site import (
    BAUD,
    MAX_MODULES,
    USB_PACKET,
    Site,
    SiteModule,
    history_bytes,
    serial_entity,
    site,
    until,
)
from .startup import StartRun, measure_startup
from .wakeups import WakeupWatch

PARTS = ("modules", "idle", "paced", "startup", "pending")
COUNTS = (1, 4, 10)
MIB = 1024 * 1024
DOWNLINK = (19, 1, 0)
HOUR = 3600.0
DEFAULT_POLL = 300.0  # the link poll's default interval, s (const.DEFAULT_POLL_INTERVAL)
DEFAULT_CHECK = 3600.0  # the registration check's default interval, s
LEAD = 0.040  # seconds of URCs a flood keeps queued on each line ahead of the wire
RSS_EVERY = 0.5  # seconds between memory samples during a flood
WAIT = 60.0

type Row = tuple[str, str, str, str]  # metric, figure, target, met
type Target = tuple[Bc26Simulator, str, Callable[[bytes], str]]  # line, entity, its state


@dataclass(frozen=True)
class Sizes:
    """How long and how many, per part."""

    flood_seconds: float
    idle_seconds: float
    polls: int
    checks: int
    paced: tuple[int, int, int]  # samples per lane: 4 B at 115200, 4 B at 9600, 512 B at 115200
    pending_seconds: float
    starts: tuple[int, ...]  # module counts Home Assistant starts with
    start_runs: int
    platform_scale: float  # the platform's delays (registration 2 s ...) times this


FULL = Sizes(10.0, 120.0, 20, 5, (1000, 200, 300), 20.0, (0, 1, 10), 3, 1.0)
QUICK = Sizes(1.0, 3.0, 3, 1, (100, 20, 4), 3.0, (0, 10), 1, 0.1)


def _yes(condition: bool) -> str:
    return "yes" if condition else "NO"


def _ms(samples: Sequence[float], fraction: float) -> float:
    return percentile([int(s) for s in samples], fraction) / 1e6 if samples else float("nan")


def urc(counter: int, size: int = 4) -> bytes:
    """A direct-push +QLWDATARECV whose payload starts with `counter` (< 2**24: never text)."""
    payload = counter.to_bytes(4, "big") + bytes(i % 256 for i in range(size - 4))
    return f"\r\n+QLWDATARECV: 19,1,0,{size},{payload.hex().upper()}\r\n".encode()


def raw_state(line: bytes) -> str:
    """The raw sensor's state for a URC line."""
    return payload_state(bytes.fromhex(line.decode().strip().rpartition(",")[2]))


def serial_state(line: bytes) -> str:
    """The core serial sensor's state for a line."""
    return line.decode().strip()[:MAX_STATE_LENGTH]


def _wire_s(size: int, baud: int = BAUD) -> float:
    return size * 10 / baud


_counter = 1


def _next_counter() -> int:
    global _counter  # noqa: PLW0603 - every URC of a run differs
    _counter += 1
    return _counter


# ---------------------------------------------------------------------- what arrives


class Arrivals:
    """Expected states per entity, each with the moment its line was complete; stamps them.

    The stamps are kept in arrays (8 bytes a figure, not a Python object each) of the
    flood's size, allocated before it starts, so that the flood's peak memory shows
    Home Assistant's and the integration's, not these (growing arrays as the states
    came took about 1 MiB at ten modules).
    """

    def __init__(self, hass: HomeAssistant, capacity: int) -> None:
        self.expected: dict[str, dict[str, float]] = {}
        self.entities: dict[str, int] = {}
        self._samples = array("d", bytes(8 * capacity))  # ns from the due moment to the state
        self._which = array("H", bytes(2 * capacity))  # its entity's number in `entities`
        self._due = array("d", bytes(8 * capacity))  # when its line's last byte was due, ns
        self._stamped = array("q", bytes(8 * capacity))  # when it was written, ns
        self.arrived = 0
        self.progress = asyncio.Event()
        self._remove = hass.bus.async_listen(EVENT_STATE_CHANGED, self._on_change)

    def expect(self, entity_id: str, state: str, due_ns: float) -> None:
        """`entity_id` is to show `state`; its line was complete at `due_ns`."""
        self.expected.setdefault(entity_id, {})[state] = due_ns
        self.entities.setdefault(entity_id, len(self.entities))

    def close(self) -> None:
        """Stop listening."""
        self._remove()

    @callback
    def _on_change(self, event: Event[EventStateChangedData]) -> None:
        now = time.perf_counter_ns()
        entity_id = event.data["entity_id"]
        table = self.expected.get(entity_id)
        new_state = event.data["new_state"]
        if table is None or new_state is None:
            return
        due = table.pop(new_state.state, None)
        if due is None or self.arrived == len(self._samples):
            return
        index = self.arrived
        self._samples[index] = now - due
        self._which[index] = self.entities[entity_id]
        self._due[index] = due
        self._stamped[index] = now
        self.arrived += 1
        self.progress.set()

    @property
    def samples(self) -> array[float]:
        """Per state so far: ns from its line's due moment to the state."""
        return self._samples[: self.arrived]

    def from_writes(
        self, lines: dict[str, PacedLine], collections: Sequence[int]
    ) -> tuple[array[float], array[float]]:
        """Each state's delay from the moment the line's thread actually wrote its last byte.

        That thread needs the interpreter lock to write, so it may write late while the
        event loop runs (a real UART does not wait for Python); the host's own latency
        runs from the write. A URC written together with later ones has the later one's
        write. Second: the same for the states no garbage collection (their starts,
        ascending, in `collections`) fell between write and state.
        """
        writes: dict[int, tuple[list[float], list[int]]] = {}
        for entity_id, line in lines.items():
            record = sorted(line.lateness)
            writes[self.entities[entity_id]] = ([d for d, _ in record], [w for _, w in record])
        samples, without_gc = array("d"), array("d")
        count = self.arrived
        stamps = zip(self._which[:count], self._due[:count], self._stamped[:count], strict=True)
        for which, due, now in stamps:
            dues, wrote = writes[which]
            index = bisect.bisect_left(dues, due)
            if index < len(dues):
                samples.append(now - wrote[index])
                if bisect.bisect_right(collections, now) == bisect.bisect_left(
                    collections, wrote[index]
                ):
                    without_gc.append(now - wrote[index])
        return samples, without_gc


def _thread_cpu_s(simulators: list[Bc26Simulator]) -> float:
    """CPU time of the paced lines' threads (the virtual modules' UARTs, not the host's)."""
    total = 0.0
    for simulator in simulators:
        line = simulator.line
        if line is None or line.thread_id is None:
            continue
        try:
            total += time.clock_gettime(time.pthread_getcpuclockid(line.thread_id))
        except (OSError, AttributeError):
            continue
    return total


# ---------------------------------------------------------------------- 1. several modules


@dataclass
class Flood:
    """All lines of one lane at full rate at once."""

    lane: str
    count: int
    sent: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # the process, less the lines' threads and the idle process
    idle_cpu: float = 0.0  # CPU seconds per second of the process doing nothing, before
    # Arrays, not lists: kept from one module count to the next, as little memory as may be.
    samples: array[float] = field(default_factory=lambda: array("d"))  # from the due moment
    host: array[float] = field(default_factory=lambda: array("d"))  # from the actual write
    host_without_gc: array[float] = field(default_factory=lambda: array("d"))  # of those
    rss_before: int = 0  # right before the flood, its record allocated
    rss_peak: int = 0

    @property
    def lost(self) -> int:
        """URCs whose state never came."""
        return self.sent - len(self.samples)

    @property
    def cpu_us(self) -> float:
        """CPU per URC, us."""
        return self.cpu_seconds / max(1, len(self.samples)) * 1e6


async def flood(
    site: Site,
    lane: str,
    targets: list[Target],
    seconds: float,
) -> Flood:
    """Every target's line at full rate for `seconds`: URCs back to back on each wire.

    A feeder keeps LEAD seconds of URCs queued on each paced line, so that URCs arrive
    on time whatever the event loop does; each URC's latency runs from the moment its
    last byte is complete to the state it gives.
    """
    result = Flood(lane, len(targets))
    per_line = int(seconds / _wire_s(len(urc(0))))
    simulators = site.simulators
    GC.collect()
    result.idle_cpu = await _idle_cpu(simulators, min(2.0, seconds / 2))
    arrivals = Arrivals(site.hass, per_line * len(targets))
    result.rss_before = rss_bytes()
    start_cpu, start_lines = time.process_time(), _thread_cpu_s(simulators)
    start = time.perf_counter()
    with GC.logging() as gc_starts:
        try:
            await _feed(targets, arrivals, result, per_line, seconds)
        finally:
            arrivals.close()
    result.seconds = time.perf_counter() - start
    lines_cpu = _thread_cpu_s(simulators) - start_lines
    process_cpu = time.process_time() - start_cpu - lines_cpu
    result.cpu_seconds = process_cpu - result.idle_cpu * result.seconds
    result.samples = arrivals.samples
    lines = {entity_id: simulator.line for simulator, entity_id, _ in targets}
    result.host, result.host_without_gc = arrivals.from_writes(
        {e: ln for e, ln in lines.items() if ln}, gc_starts
    )
    return result


async def _feed(
    targets: list[Target],
    arrivals: Arrivals,
    result: Flood,
    per_line: int,
    seconds: float,
) -> None:
    """Keep LEAD seconds of URCs queued on each line until every state came (or time ran out)."""
    queued = dict.fromkeys(range(len(targets)), 0)
    next_rss = time.perf_counter()
    try:
        async with asyncio.timeout(seconds + WAIT):
            while arrivals.arrived < per_line * len(targets):
                horizon = time.perf_counter_ns() + LEAD * 1e9
                for index, (simulator, entity_id, state_of) in enumerate(targets):
                    line = simulator.line
                    assert line is not None
                    while queued[index] < per_line and line.busy_until_ns < horizon:
                        text = urc(_next_counter())
                        simulator.inject(text)
                        arrivals.expect(entity_id, state_of(text), line.last_output.end_ns)
                        queued[index] += 1
                        result.sent += 1
                if time.perf_counter() >= next_rss:  # reading /proc costs; not every round
                    result.rss_peak = max(result.rss_peak, rss_bytes())
                    next_rss += RSS_EVERY
                await asyncio.sleep(LEAD / 2)
    except TimeoutError:
        pass


async def _idle_cpu(simulators: list[Bc26Simulator], seconds: float) -> float:
    """The process's CPU seconds per second with nothing to do (Home Assistant's own)."""
    start_cpu, start_lines = time.process_time(), _thread_cpu_s(simulators)
    start = time.perf_counter()
    await asyncio.sleep(seconds)
    lines_cpu = _thread_cpu_s(simulators) - start_lines
    return (time.process_time() - start_cpu - lines_cpu) / (time.perf_counter() - start)


@dataclass
class ModulesResult:
    """Per module count: both lanes' floods, and the memory with that many modules."""

    floods: dict[tuple[str, int], Flood] = field(default_factory=dict)
    rss: dict[int, int] = field(default_factory=dict)
    history: int = 0  # bytes of one virtual module's lateness record (the simulator's)


async def add_modules(site: Site, total: int, events: bool = True) -> list[SiteModule]:
    """Direct-push modules through the config flow until `total`; registered, raw sensors up.

    Without `events`, each new module's Data received entity is disabled (as a user does
    in its settings) and its entry reloaded.
    """
    new = [await site.add_module() for _ in range(total - len(site.modules))]
    await site.wait_registered(new)
    if not events:
        await site.disable_events(new)
    for module in new:
        await site.raw_sensor(module, urc(_next_counter()))
    return new


async def measure_modules(site: Site, sizes: Sizes, events: bool = True) -> ModulesResult:
    """1, 4 and 10 modules flooding at once, then as many serial sensors; ten again (memory)."""
    result = ModulesResult()
    for count in COUNTS:
        _progress(f"modules: {count} module(s) through the config flow")
        await add_modules(site, count, events)
        await asyncio.sleep(0.2 + site.platform_scale)  # the polls after registration are over
        GC.collect()
        result.rss[count] = rss_bytes()
        result.history = history_bytes(site.modules[0].simulator)
        ours: list[Target] = [(m.simulator, m.raw_entity, raw_state) for m in site.modules[:count]]
        _progress(f"modules: {count} module(s) and {count} serial sensor(s) at full line rate")
        result.floods[("bc26", count)] = await flood(site, "bc26", ours, sizes.flood_seconds)
        result.floods[("serial", count)] = await flood(
            site,
            "serial",
            [(site.feeds[n], serial_entity(n), serial_state) for n in range(count)],
            sizes.flood_seconds,
        )
    last = COUNTS[-1]
    _progress(f"modules: {last} module(s) again, for the memory of a second flood")
    result.floods[("bc26 again", last)] = await flood(site, "bc26", ours, sizes.flood_seconds)
    return result


def modules_rows(result: ModulesResult) -> list[Row]:
    """Per count: CPU, p50/p99, RSS as ratios to one module and against the serial sensor."""
    rows: list[Row] = []
    one = result.floods[("bc26", 1)]
    one_serial = result.floods[("serial", 1)]
    for count in COUNTS:
        ours = result.floods[("bc26", count)]
        theirs = result.floods[("serial", count)]
        cpu_ratio = ours.cpu_us / one.cpu_us
        p99, serial_p99 = _ms(ours.host, 0.99), _ms(theirs.host, 0.99)
        lost = f"; lost {ours.lost} / {theirs.lost}" if ours.lost or theirs.lost else ""
        rows.append(
            (
                f"6. {count} module(s) at full line rate (n={len(ours.samples)})",
                f"bc26 {ours.cpu_us:.0f} us CPU/URC (x{cpu_ratio:.2f} of 1 module), "
                f"p50 {_ms(ours.host, 0.5):.3f} / p99 {p99:.3f} ms "
                f"(x{p99 / _ms(one.host, 0.99):.2f}); serial sensor {theirs.cpu_us:.0f} us "
                f"(x{theirs.cpu_us / one_serial.cpu_us:.2f}), p50 "
                f"{_ms(theirs.host, 0.5):.3f} / p99 {serial_p99:.3f} ms "
                f"(x{serial_p99 / _ms(one_serial.host, 0.99):.2f}); from the last byte's due "
                f"moment (the line thread's lateness in): p99 {_ms(ours.samples, 0.99):.3f} / "
                f"{_ms(theirs.samples, 0.99):.3f} ms; p99 of the states no garbage "
                f"collection fell into: bc26 {_ms(ours.host_without_gc, 0.99):.3f} "
                f"({_gc_share(ours)}), serial sensor {_ms(theirs.host_without_gc, 0.99):.3f} ms "
                f"({_gc_share(theirs)}); RSS "
                f"{result.rss[count] / MIB:.0f} MiB (x{result.rss[count] / result.rss[1]:.2f})"
                f"{lost}",
                f"CPU/URC x<= 1.1 of 1 module; p99 <= serial p99 ({serial_p99:.3f})",
                _yes(cpu_ratio <= 1.1 and p99 <= serial_p99 and not ours.lost),
            )
        )
    rows.append(_memory_row(result))
    return rows


def _gc_share(flood: Flood) -> str:
    """How many of a flood's states a garbage collection fell into."""
    share = 1 - len(flood.host_without_gc) / max(1, len(flood.host))
    return f"{share:.1%} had one"


def _memory_row(result: ModulesResult) -> Row:
    """Per extra module, and the peak of the floods over the level right before each."""
    first, last = COUNTS[0], COUNTS[-1]
    per_module = (result.rss[last] - result.rss[first]) / (last - first)
    peaks = {
        lane: max(flood.rss_peak - flood.rss_before, 0) / MIB
        for (lane, count), flood in result.floods.items()
        if count == last
    }
    again = f", bc26 again {peaks['bc26 again']:.1f}" if "bc26 again" in peaks else ""
    return (
        "6. memory per extra module",
        f"{per_module / MIB:.2f} MiB ({first} -> {last} modules: "
        f"{result.rss[first] / MIB:.0f} -> {result.rss[last] / MIB:.0f} MiB), of which "
        f"the virtual module's line record {result.history / MIB:.2f} MiB; "
        f"peak during the {last}-module floods, over the level before each: bc26 (the "
        f"first) +{peaks['bc26']:.1f} MiB, serial sensors (after it) "
        f"+{peaks['serial']:.1f}{again}",
        "<= 1 MiB per module besides the simulator's record; first flood's peak <= 2 MiB",
        _yes(per_module - result.history <= MIB and peaks["bc26"] <= 2),
    )


# ---------------------------------------------------------------------- 2. idle cost


@dataclass
class Idle:
    """The idle window, and the cost of one poll and one registration check."""

    modules: int = 0
    baseline: WakeupWatch | None = None  # no module
    quiet: WakeupWatch | None = None  # `modules` registered, defaults, no traffic
    polls: int = 0
    poll: WakeupWatch | None = None
    checks: int = 0
    check: WakeupWatch | None = None


async def idle_window(seconds: float) -> WakeupWatch:
    """Watch the loop for `seconds`, doing nothing."""
    GC.collect()
    with WakeupWatch() as watch:
        await asyncio.sleep(seconds)
    return watch


def _commands(module: SiteModule, prefix: bytes, since_ns: int = 0) -> list[int]:
    """When the module received each command line starting with `prefix` (its last byte)."""
    times: list[int] = []
    text = bytearray()
    for stamp, data in module.received:
        if stamp < since_ns:
            continue
        text += data
        while b"\r" in text:
            line, _, rest = bytes(text).partition(b"\r")
            text = bytearray(rest)
            if line.strip().startswith(prefix):
                times.append(stamp)
    return times


async def measure_idle_costs(site: Site, sizes: Sizes, result: Idle) -> None:
    """One module polling every second, then one checking its registration every second."""
    _progress(f"idle: the cost of {sizes.polls} polls")
    settle = 0.5 + 1.5 * site.platform_scale  # the first poll, the observation
    module = await site.add_module(options={"poll_interval": 1, "check_interval": 0})
    await site.wait_registered([module])
    await asyncio.sleep(settle)
    since = time.perf_counter_ns()
    with WakeupWatch() as watch:
        await until(lambda: len(_commands(module, b"AT+CSQ", since)) >= sizes.polls, 0.1)
        await asyncio.sleep(0.3)  # the last poll's answers
    result.poll, result.polls = watch, len(_commands(module, b"AT+CSQ", since))
    await site.remove(module)

    _progress(f"idle: the cost of {sizes.checks} registration checks")
    network = ScriptedNetwork.field_timed(site.platform_scale)
    network.update_delay = 0.2 / site.platform_scale  # UPDATE OK in 0.2 s: checks come sooner
    module = await site.add_module(
        network=network, options={"poll_interval": 0, "check_interval": 1}
    )
    await site.wait_registered([module])
    await asyncio.sleep(settle)
    since = time.perf_counter_ns()
    with WakeupWatch() as watch:
        await until(lambda: len(_commands(module, b"AT+QLWUPDATE", since)) >= sizes.checks, 0.1)
        await asyncio.sleep(0.5)  # UPDATE OK
    result.check, result.checks = watch, len(_commands(module, b"AT+QLWUPDATE", since))
    await site.remove(module)


def idle_rows(result: Idle) -> list[Row]:
    """Per module: wakeups per minute and CPU seconds per hour, from the windows, extrapolated."""
    quiet, poll, check = result.quiet, result.poll, result.check
    if quiet is None or poll is None or check is None or not result.modules:
        return []
    modules = result.modules
    per_poll = poll.wakeups / max(result.polls, 1)
    per_check = check.wakeups / max(result.checks, 1)
    cpu_poll = poll.own_ns / 1e9 / max(result.polls, 1)
    cpu_check = check.own_ns / 1e9 / max(result.checks, 1)
    session_timer = "coordinator.Bc26Coordinator._async_wait"
    others = {owner: n for owner, n in quiet.timers.items() if owner != session_timer}
    other_rate = sum(others.values()) / modules / quiet.seconds  # per module per second
    polls_h, checks_h = HOUR / DEFAULT_POLL, HOUR / DEFAULT_CHECK
    wakeups_h = polls_h * per_poll + checks_h * per_check + other_rate * HOUR
    cpu_h = (
        polls_h * cpu_poll
        + checks_h * cpu_check
        + quiet.own_ns / 1e9 / modules / quiet.seconds * HOUR
    )
    baseline = result.baseline
    process = ""
    if baseline is not None:
        extra = quiet.cpu_seconds / quiet.seconds - baseline.cpu_seconds / baseline.seconds
        process = (
            f"; whole process, {modules} modules against none: "
            f"{extra / modules * HOUR:+.2f} s/h per module"
        )
    listed = ", ".join(f"{owner} {n}" for owner, n in sorted(quiet.timers.items())) or "none"
    return [
        (
            f"7. idle: {modules} registered modules, {quiet.seconds:.0f} s, defaults",
            f"the integration's wakeups: timers {listed}; reads {quiet.reads}; "
            f"its callbacks {quiet.own_ns / 1e6:.1f} ms{process}",
            "no wakeup but a poll, a registration check or the module speaking",
            _yes(not others),
        ),
        (
            "7. idle cost per module (12 polls + 1 check an hour)",
            f"{wakeups_h / 60:.2f} wakeups/min ({per_poll:.1f} a poll over {result.polls}, "
            f"{per_check:.1f} a check over {result.checks}, other "
            f"{other_rate * 60:.2f}/min); {cpu_h:.3f} CPU s/h "
            f"({cpu_poll * 1e3:.2f} ms a poll, {cpu_check * 1e3:.2f} ms a check)",
            "only polls, checks and the module's answers",
            _yes(not others),
        ),
    ]


# ---------------------------------------------------------------------- 3. the paced line


@dataclass
class PacedLane:
    """Samples of one lane on a paced line: first byte to state, and the wire time."""

    lane: str
    baud: int
    size: int
    latency: list[float] = field(default_factory=list)  # ns, first byte to state
    beyond: list[float] = field(default_factory=list)  # ns, latency less the wire time
    late_line: list[float] = field(default_factory=list)  # ns the last byte came late
    after_last: list[float] = field(default_factory=list)  # ns from the last byte's write
    wire_ns: float = 0.0
    lost: int = 0


BLOCKS = (20, 80)


@dataclass
class _Turn:
    """Who writes a lane's lines and whose state is stamped."""

    result: PacedLane
    simulator: Bc26Simulator
    entity_id: str
    state_of: Callable[[bytes], str]
    event_entity: str | None = None  # bc26: waited for, to keep its work out of the next sample

    @property
    def taken(self) -> int:
        """Samples tried so far."""
        return len(self.result.latency) + self.result.lost


async def _paced_sample(site: Site, turn: _Turn, text: bytes) -> None:
    result, simulator, entity_id = turn.result, turn.simulator, turn.entity_id
    state, event_entity = turn.state_of(text), turn.event_entity
    loop = asyncio.get_running_loop()
    done: asyncio.Future[int] = loop.create_future()
    announced: asyncio.Future[None] = loop.create_future()

    @callback
    def on_change(event: Event[EventStateChangedData]) -> None:
        new_state = event.data["new_state"]
        if new_state is None:
            return
        if event.data["entity_id"] == entity_id and new_state.state == state and not done.done():
            done.set_result(time.perf_counter_ns())
        elif event.data["entity_id"] == event_entity and not announced.done():
            announced.set_result(None)

    remove = site.hass.bus.async_listen(EVENT_STATE_CHANGED, on_change)
    try:
        simulator.inject(text)
        line = simulator.line
        assert line is not None
        scheduled = line.last_output
        async with asyncio.timeout(WAIT / 3 + (scheduled.end_ns - scheduled.start_ns) / 1e9):
            stamp = await done
            if event_entity is not None:
                await announced  # keeps the event entity's work out of the next sample
        # The state may come before the URC's last byte (its line ends at the CR, before
        # the LF): the line's lateness is known once that byte is out too.
        await until(lambda: time.perf_counter_ns() > scheduled.end_ns + 1e6, 0.001)
    except TimeoutError:
        result.lost += 1
        return
    finally:
        remove()
    result.latency.append(stamp - scheduled.start_ns)
    result.beyond.append(stamp - scheduled.end_ns)
    result.wire_ns = scheduled.end_ns - scheduled.start_ns
    late = next((w - d for d, w in reversed(line.lateness) if d == scheduled.end_ns), None)
    if late is not None:
        result.late_line.append(late)
        result.after_last.append(stamp - scheduled.end_ns - late)


async def measure_paced(site: Site, sizes: Sizes) -> list[PacedLane]:
    """Module 0 and serial sensor 0 byte by byte at 115200 and 9600 baud, in turns."""
    module = site.modules[0]
    rng = random.Random(26)
    results = []
    long_feed = len(site.feeds) - 1  # the serial sensor that cuts lines to 255 characters
    for (baud, size), count in zip(((BAUD, 4), (9600, 4), (BAUD, 512)), sizes.paced, strict=True):
        _progress(f"paced: {count} URCs of {size} B per lane at {baud} baud, byte by byte")
        number = 0 if size <= 4 else long_feed
        feed = site.feeds[number]
        for simulator in (module.simulator, feed):
            simulator.pace(baud, 1)
        ours, theirs = PacedLane("bc26", baud, size), PacedLane("serial", baud, size)
        turns = (
            _Turn(ours, module.simulator, module.raw_entity, raw_state, module.event_entity),
            _Turn(theirs, feed, serial_entity(number), serial_state),
        )
        while any(turn.taken < count for turn in turns):
            for turn in turns:
                for _ in range(min(rng.randint(*BLOCKS), count - turn.taken)):
                    await _paced_sample(site, turn, urc(_next_counter(), size))
        results += [ours, theirs]
        for simulator in (module.simulator, feed):
            simulator.pace(BAUD, USB_PACKET)
    return results


def paced_rows(results: list[PacedLane]) -> list[Row]:
    """Per rate and size: p50/p99 from the first byte, against the wire time."""
    rows: list[Row] = []
    for ours, theirs in zip(results[::2], results[1::2], strict=True):
        wire_ms = ours.wire_ns / 1e6
        beyond_p99 = _ms(ours.beyond, 0.99)
        # The thread that paces the line needs the interpreter lock to write, so its last
        # byte may come late (a real UART does not wait for Python): the target is judged
        # from the moment that byte was written, and the line's own lateness is shown.
        host_p99 = _ms(ours.after_last, 0.99)
        rows.append(
            (
                f"8. paced line {ours.baud} baud, {ours.size} B (n={len(ours.latency)})",
                f"first byte to state: bc26 p50 {_ms(ours.latency, 0.5):.3f} / p99 "
                f"{_ms(ours.latency, 0.99):.3f} ms = wire {wire_ms:.3f} ms + "
                f"{_ms(ours.beyond, 0.5):.3f} / {beyond_p99:.3f} ms (x"
                f"{_ms(ours.latency, 0.99) / wire_ms:.3f} of the wire); serial sensor + "
                f"{_ms(theirs.beyond, 0.5):.3f} / {_ms(theirs.beyond, 0.99):.3f} ms; "
                f"the line's own lateness (last byte) p99 {_ms(ours.late_line, 0.99):.3f} ms; "
                f"from the last byte's write: bc26 p50 {_ms(ours.after_last, 0.5):.3f} / p99 "
                f"{host_p99:.3f} ms, serial sensor {_ms(theirs.after_last, 0.5):.3f} / "
                f"{_ms(theirs.after_last, 0.99):.3f} ms"
                + (f"; lost {ours.lost}" if ours.lost else ""),
                f"p99 <= wire + 0.5 ms ({wire_ms + 0.5:.3f}), from the last byte's write",
                _yes(host_p99 <= 0.5 and not ours.lost),
            )
        )
    return rows


# ---------------------------------------------------------------------- 5. a pending send


# How long before a downlink a poll's start (its AT+CSQ) may lie and still hold the line:
# a poll's commands and answers at 115200 baud, with a wide margin.
POLL_SPAN = 100_000_000  # ns
SCAN_OVERLAP = 200_000_000  # ns: a command whose bytes straddle a scan is whole in the next


@dataclass
class Pending:
    """Buffer-access downlinks and poll periods, without and with a CON send waiting."""

    latency: dict[bool, list[float]] = field(default_factory=lambda: {False: [], True: []})
    starts: dict[bool, list[float]] = field(default_factory=lambda: {False: [], True: []})
    # The latencies split: no poll was near (see POLL_SPAN), or one was.
    clear: dict[bool, list[float]] = field(default_factory=lambda: {False: [], True: []})
    met_poll: dict[bool, list[float]] = field(default_factory=lambda: {False: [], True: []})
    poll_late: dict[bool, list[float]] = field(default_factory=lambda: {False: [], True: []})
    interval: float = 1.0
    send_status: str = ""
    lost: int = 0


async def _buffered_downlink(
    site: Site, module: SiteModule, result: Pending, waiting: bool
) -> None:
    """The platform writes /19/1/0; from the module's +QLWDATARECV to the raw sensor's state."""
    payload = _next_counter().to_bytes(4, "big")
    state = payload_state(payload)
    loop = asyncio.get_running_loop()
    done: asyncio.Future[int] = loop.create_future()

    @callback
    def on_change(event: Event[EventStateChangedData]) -> None:
        new_state = event.data["new_state"]
        if (
            event.data["entity_id"] == module.raw_entity
            and new_state is not None
            and new_state.state == state
            and not done.done()
        ):
            done.set_result(time.perf_counter_ns())

    remove = site.hass.bus.async_listen(EVENT_STATE_CHANGED, on_change)
    try:
        await module.network.write(DOWNLINK, payload)  # the URC is on the line now
        line = module.simulator.line
        assert line is not None
        start = line.last_output.start_ns
        async with asyncio.timeout(WAIT / 3):
            result.latency[waiting].append(await done - start)
        result.starts[waiting].append(start)
    except TimeoutError:
        result.lost += 1
    finally:
        remove()


async def _window(
    site: Site, module: SiteModule, seconds: float, result: Pending, waiting: bool
) -> None:
    since = time.perf_counter_ns()
    first = len(result.latency[waiting])
    # The module's record of the host's bytes keeps only its last 2,048 entries (a byte
    # each here), fewer than a window's: collect the polls as they come. A poll that began
    # before the window still counts for its first downlinks.
    polls: set[int] = set()
    scanned = since - POLL_SPAN
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        await _buffered_downlink(site, module, result, waiting)
        await asyncio.sleep(0.05)
        now = time.perf_counter_ns()
        polls.update(_commands(module, b"AT+CSQ", scanned))
        scanned = now - SCAN_OVERLAP
    starts = result.starts[waiting][first:]
    for start, took in zip(starts, result.latency[waiting][first:], strict=True):
        met = any(start - POLL_SPAN <= poll <= start + took for poll in polls)
        (result.met_poll if met else result.clear)[waiting].append(took)
    inside = sorted(poll for poll in polls if poll >= since)
    result.poll_late[waiting] += [
        (later - earlier) - result.interval * 1e9 for earlier, later in itertools.pairwise(inside)
    ]


async def measure_pending(site: Site, sizes: Sizes) -> Pending:
    """A buffer-access module polling every second: downlinks and polls, then with a CON waiting."""
    result = Pending()
    _progress("pending: a buffer-access module, polled every second")
    module = await site.add_module(
        data_mode="buffer_access",
        options={"poll_interval": result.interval, "check_interval": 0},
    )
    await site.wait_registered([module])
    await module.network.write(DOWNLINK, b"\x00\x00\x00\x01")
    await site.wait_raw_sensor(module)
    _progress(f"pending: {sizes.pending_seconds:.0f} s of downlinks, no send waiting")
    await _window(site, module, sizes.pending_seconds, result, False)
    _progress(f"pending: {sizes.pending_seconds:.0f} s of downlinks while a CON send waits")
    module.network.ack_delay = (sizes.pending_seconds + 2.0) / site.platform_scale
    send = asyncio.ensure_future(
        site.hass.services.async_call(
            "bc26",
            "send",
            {
                "config_entry_id": module.entry_id,
                "data": "00ff",
                "encoding": "hex",
                "confirmable": True,
            },
            blocking=True,
            return_response=True,
        )
    )
    async with asyncio.timeout(WAIT):
        await until(lambda: module.simulator.modem.context.con_pending, 0.01)
    await _window(site, module, sizes.pending_seconds, result, True)
    waited = module.simulator.modem.context.con_pending
    response: Any = await send
    result.send_status = f"{response.get('status')}" + ("" if waited else " (the ack came early)")
    await site.remove(module)
    return result


def pending_rows(result: Pending) -> list[Row]:
    """Latency and poll delay, without and with the send waiting."""
    before, during = result.latency[False], result.latency[True]
    clear_before, clear_during = result.clear[False], result.clear[True]
    polls_before, polls_during = result.poll_late[False], result.poll_late[True]
    p99_before, p99_during = _ms(clear_before, 0.99), _ms(clear_during, 0.99)
    poll_before = max(polls_before, default=float("nan")) / 1e6
    poll_during = max(polls_during, default=float("nan")) / 1e6
    # Those a poll was near, loosely (a send that made polls hold the line longer shows
    # there), by their p90: one full collection (over 100 ms) must not decide it.
    near_before = _ms(result.met_poll[False], 0.9) if result.met_poll[False] else 0.0
    met_bound = max(near_before, p99_before) * 1.5 + 10.0
    met_during = _ms(result.met_poll[True], 0.9) if result.met_poll[True] else 0.0
    same = (
        p99_during <= p99_before * 1.25 + 0.5
        and met_during <= met_bound
        and poll_during <= poll_before + 10.0
    )
    return [
        (
            f"10. buffer access while a CON send waits (n={len(before)}/{len(during)})",
            f"+QLWDATARECV to state p50 {_ms(before, 0.5):.2f} / p99 {_ms(before, 0.99):.2f} ms "
            f"without, {_ms(during, 0.5):.2f} / {_ms(during, 0.99):.2f} ms with the send waiting; "
            f"those no poll was near: p99 {p99_before:.2f} ({len(clear_before)}) "
            f"and {p99_during:.2f} ms ({len(clear_during)}), those a poll was near: p90 / longest "
            f"{_near(result.met_poll[False])} and {_near(result.met_poll[True])} ms; "
            f"poll period beyond its {result.interval:.0f} s: up to {poll_before:.1f} ms without "
            f"({len(polls_before)}), {poll_during:.1f} ms with ({len(polls_during)}); the send: "
            f"{result.send_status}" + (f"; lost {result.lost}" if result.lost else ""),
            "the same within noise (p99 without a poll x<= 1.25 + 0.5 ms; with one, p90 "
            "x<= 1.5 + 10 ms; polls + 10 ms)",
            _yes(same and not result.lost),
        )
    ]


def _near(samples: list[float]) -> str:
    """p90 / longest, ms, with the count."""
    if not samples:
        return "- (0)"
    return f"{_ms(samples, 0.9):.2f} / {max(samples) / 1e6:.2f} ({len(samples)})"


# ---------------------------------------------------------------------- 4. set-up


def setup_rows(site: Site, starts: list[StartRun]) -> list[Row]:
    """async_setup_entry at 115200 baud, and Home Assistant's start with 0, 1, 10 modules."""
    times = sorted(t.seconds for t in site.setup_clock.times)
    states = sorted({t.state_at_load for t in site.setup_clock.times})
    slow = list(site.slow.messages)
    rows: list[Row] = [
        (
            f"9. async_setup_entry to loaded, 115200 baud (n={len(times)}, config flow)",
            f"median {percentile([int(t * 1e6) for t in times], 0.5) / 1e3:.1f} ms, "
            f"longest {times[-1] * 1e3:.1f} ms; session state when loaded: {', '.join(states)}",
            "not waiting for registration (no 'registered' at load)",
            _yes("registered" not in states and not slow),
        )
    ]
    by_count: dict[int, list[StartRun]] = {}
    for run in starts:
        by_count.setdefault(run.modules, []).append(run)
    for count, runs in sorted(by_count.items()):
        started = sorted(run.started_s for run in runs)
        loaded = sorted(run.last_loaded_s for run in runs if run.modules)
        setups = sorted(s for run in runs for s in run.setup_s)
        warnings = [w for run in runs for w in run.slow]
        at_load = sorted({s for run in runs for s in run.states_at_load})
        detail = (
            f"; bc26 entries loaded {loaded[len(loaded) // 2]:.2f} s after start; "
            f"each setup median {setups[len(setups) // 2] * 1e3:.0f} ms, longest "
            f"{setups[-1] * 1e3:.0f} ms; at load: {', '.join(at_load)}"
            if loaded and setups
            else ""
        )
        rows.append(
            (
                f"9. Home Assistant start, {count} module(s) (runs={len(runs)})",
                f"bootstrap to running median {started[len(started) // 2]:.2f} s "
                f"(range {started[0]:.2f}-{started[-1]:.2f}); process start to running "
                f"{sorted(run.process_s for run in runs)[len(runs) // 2]:.2f} s{detail}; "
                f"slow-setup warnings: {len(warnings)}",
                "no 'taking over 10 seconds'; setup does not wait for registration",
                _yes(not warnings and "registered" not in at_load),
            )
        )
    if slow:
        rows.append(("9. warnings in the site's run", "; ".join(slow[:3]), "none", "NO"))
    return rows


# ---------------------------------------------------------------------- the run


def _progress(text: str) -> None:
    print(f"... {text}", file=sys.stderr, flush=True)


async def run_site(selected: set[str], sizes: Sizes, events: bool = True) -> list[Row]:
    """Bring a site up and run the selected parts; the rows of the table."""
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bc26-site-") as directory:
        _progress("starting Home Assistant with ten core serial sensors")
        workdir = Path(directory)
        try:
            async with site(workdir, platform_scale=sizes.platform_scale) as here:
                rows += await _parts(here, selected, sizes, events)
        except BaseException:
            await print_log_tail(workdir / "home-assistant.log")
            raise
    return rows


async def _parts(here: Site, selected: set[str], sizes: Sizes, events: bool) -> list[Row]:
    rows: list[Row] = []
    idle = Idle()
    if "idle" in selected:
        _progress(f"idle: {sizes.idle_seconds:.0f} s without any module")
        idle.baseline = await idle_window(sizes.idle_seconds)
    if "modules" in selected:
        rows += modules_rows(await measure_modules(here, sizes, events))
    else:
        wanted = MAX_MODULES if "idle" in selected or "startup" in selected else 1
        _progress(f"adding {wanted} module(s) through the config flow")
        await add_modules(here, wanted)
    if "idle" in selected:
        await asyncio.sleep(0.5 + 1.5 * here.platform_scale)  # the last observation and poll
        idle.modules = len(here.modules)
        _progress(f"idle: {sizes.idle_seconds:.0f} s with {idle.modules} registered modules")
        idle.quiet = await idle_window(sizes.idle_seconds)
        await measure_idle_costs(here, sizes, idle)
        rows += idle_rows(idle)
    if "paced" in selected:
        rows += paced_rows(await measure_paced(here, sizes))
    if "pending" in selected:
        rows += pending_rows(await measure_pending(here, sizes))
    if "startup" in selected:
        await here.stop_hass()
        flooded = list(here.modules[:MAX_MODULES])
        starts = await measure_startup(here.workdir, flooded, sizes.starts, sizes.start_runs)
        rows += setup_rows(here, starts)
    return rows


def main(argv: list[str] | None = None) -> None:
    """Run the site's parts; print the rows (as JSON with --json)."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.scale", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="a few seconds per part")
    parser.add_argument("--only", default=",".join(PARTS), help=f"subset of {','.join(PARTS)}")
    parser.add_argument("--json", action="store_true", help="rows as JSON, for python -m bench")
    parser.add_argument(
        "--without-events",
        action="store_true",
        help="row 6 with every module's Data received entity disabled",
    )
    args = parser.parse_args(argv)
    selected = {name.strip() for name in args.only.split(",") if name.strip()}
    if unknown := selected - set(PARTS):
        parser.error(f"unknown part(s): {', '.join(sorted(unknown))}")
    sizes = QUICK if args.quick else FULL
    rows = asyncio.run(run_site(selected, sizes, events=not args.without_events))
    if args.json:
        print(json.dumps(rows))
        return
    for row in rows:
        print(" | ".join(row))


if __name__ == "__main__":
    main()
