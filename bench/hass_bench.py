"""The measurements, in one real Home Assistant with the virtual BC26 on a pseudo-terminal.

Home Assistant runs in this process (see `bench.inprocess`); the module is added
through the real config flow and the resource sensors through the real subentry
flow, over the HTTP API, as `scripts/develop` and the end-to-end test do. Beside the
module, two more virtual BC26s on their own pseudo-terminals feed Home Assistant's
core `serial` sensor the same lines (one sensor per payload size: a 512-byte
payload's line is longer than a state may be, so that sensor cuts it with a value
template, as a user would have to).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
import contextlib
from dataclasses import dataclass, field
from pathlib import Path
import random
import sys
import time
from typing import Any

from homeassistant.core import HomeAssistant

from bc26sim import Bc26Simulator
from bc26sim.develop import add_module
from bc26sim.hass_process import Login
from bc26sim.lwm2m import Lwm2mClient
from bc26sim.platform.server import LwM2mPlatform
from custom_components.bc26.downlink import MAX_STATE_LENGTH, payload_state

from .inprocess import InProcessHass, free_tcp_port, prepare
from .probes import (
    GC,
    Longest,
    LoopWatch,
    StateWatch,
    Watched,
    WireProbe,
    percentile,
    rss_bytes,
    wire_ns,
)

IMEI = "866971030001361"
DOWNLINK = (19, 1, 0)
UPLINK = (19, 0, 0)
WAIT = 30.0  # seconds for anything to happen; generous, the machine is shared
# Resources per object instance the benchmark declares for sensors off the flooded path.
OBJECT_RESOURCES = 16
WINDOW_BYTES = 2048  # bytes in flight on the pty during a flood: well inside its buffer

SERIAL_SENSORS = """\
sensor:
  - platform: serial
    name: Serial short
    serial_port: {short}
    baudrate: 115200
  - platform: serial
    name: Serial long
    serial_port: {long}
    baudrate: 115200
    value_template: "{{{{ value[:255] }}}}"
"""
SERIAL_SHORT = "sensor.serial_short"
SERIAL_LONG = "sensor.serial_long"


def urc(counter: int, size: int, path: tuple[int, int, int] = DOWNLINK) -> bytes:
    """A direct-push +QLWDATARECV of `size` bytes; the counter leads, so each state differs."""
    payload = counter.to_bytes(4, "big") + bytes(i % 256 for i in range(size - 4))
    obj, ins, res = path
    return f"\r\n+QLWDATARECV: {obj},{ins},{res},{size},{payload.hex().upper()}\r\n".encode()


@dataclass
class Rig:
    """The platform, the module, the two serial-sensor feeds and Home Assistant."""

    platform: LwM2mPlatform
    module: Bc26Simulator
    module_wire: WireProbe
    serial_short: Bc26Simulator
    serial_short_wire: WireProbe
    serial_long: Bc26Simulator
    serial_long_wire: WireProbe
    api: InProcessHass
    entry_id: str
    raw_entity: str
    event_entity: str
    states: StateWatch
    sensors: int = 0
    loop_watch: LoopWatch = field(default_factory=LoopWatch)

    @property
    def hass(self) -> HomeAssistant:
        """The Home Assistant object."""
        return self.api.hass

    @property
    def downlinks_received(self) -> int:
        """The count of payloads the session delivered."""
        entry = self.hass.config_entries.async_get_entry(self.entry_id)
        assert entry is not None
        count: int = entry.runtime_data.resources.received
        return count

    async def add_sensors(self, total: int) -> None:
        """Add resource sensors through the subentry flow until `total` are configured.

        The first decodes /19/1/0 (the flooded path); the others sit on other paths.
        """
        while self.sensors < total:
            number = self.sensors
            path = "19/1/0" if number == 0 else await self._declared_elsewhere(number - 1)
            result = await self.api.subentry_flow(
                self.entry_id,
                "resource_sensor",
                [
                    {
                        "name": f"Bench {number}",
                        "resource_path": path,
                        "value_template": "{{ value_bytes[3] }}",
                    }
                ],
            )
            if result.get("type") != "create_entry":
                raise RuntimeError(f"the resource sensor flow did not finish: {result}")
            self.sensors += 1

    async def _declared_elsewhere(self, index: int) -> str:
        """A writable path other than /19/1/0, declared (object /19/2, /19/3 ...) on first use.

        A sensor can only decode a resource the module declares; these are declared in
        the entry (through the object flow, as a user would) without registering again.
        """
        instance, resource = 2 + index // OBJECT_RESOURCES, index % OBJECT_RESOURCES
        if resource == 0:
            written = ", ".join(str(res) for res in range(OBJECT_RESOURCES))
            answer = {"object": 19, "instance": instance, "written": written, "reported": ""}
            result = await self.api.subentry_flow(
                self.entry_id, "lwm2m_object", [{**answer, "register_now": False}]
            )
            if result.get("type") != "create_entry":
                raise RuntimeError(f"the object flow did not finish: {result}")
        return f"19/{instance}/{resource}"


async def _observed_by_home_assistant(api: InProcessHass, path: tuple[int, int, int]) -> None:
    """Wait until the integration, not only the platform, knows `path` is observed.

    The platform counts the observation when the module answers it; the integration
    learns of it from the module's URC a moment later, and refuses sends until then.
    """
    entity_id = (await api.entity_ids("bc26"))[f"{IMEI}-observed_resources"]
    wanted = "/".join(map(str, path))
    while True:
        state = api.hass.states.get(entity_id)
        if state is not None and wanted in state.attributes.get("paths", []):
            return
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def rig(workdir: Path) -> AsyncIterator[Rig]:
    """Bring everything up, add the module, wait for registration and observation."""
    platform = await LwM2mPlatform.start("127.0.0.1", 0)
    module = Bc26Simulator(imei=IMEI, network=Lwm2mClient(), time_scale=0.1)
    feeds = [Bc26Simulator(imei=IMEI, time_scale=0.1) for _ in range(2)]
    wires = [WireProbe(simulator) for simulator in (module, *feeds)]
    port = free_tcp_port()
    api = InProcessHass(workdir / "config", port, workdir / "home-assistant.log")
    states: StateWatch | None = None
    try:
        module_path = await module.start_pty(link=workdir / "bc26-modem")
        await feeds[0].start_pty(link=workdir / "serial-short")
        await feeds[1].start_pty(link=workdir / "serial-long")
        extra = SERIAL_SENSORS.format(short=workdir / "serial-short", long=workdir / "serial-long")
        prepare(workdir / "config", extra)
        await api.start()
        await api.log_in(Login())
        entry_id = await add_module(api, module_path, platform.port)
        async with asyncio.timeout(WAIT):
            await platform.wait_registered(IMEI)
            await platform.wait_for(lambda: UPLINK in platform.observations(IMEI) or None)
            await _observed_by_home_assistant(api, UPLINK)
        states = StateWatch(api.hass)
        rig = Rig(
            platform,
            module,
            wires[0],
            feeds[0],
            wires[1],
            feeds[1],
            wires[2],
            api,
            entry_id,
            "",
            (await api.entity_ids("bc26"))[f"{IMEI}-downlink"],
            states,
        )
        # The raw sensor of /19/1/0 appears with its first payload.
        module.inject(urc(0, 4))
        async with asyncio.timeout(WAIT):
            while not (raw := await _raw_entity(api)):  # noqa: ASYNC110 - polls the HTTP API
                await asyncio.sleep(0.05)
        rig.raw_entity = raw
        yield rig
    finally:
        if states is not None:
            states.close()
        await api.stop()
        for simulator in (module, *feeds):
            await simulator.stop()
        await platform.stop()


async def _raw_entity(api: InProcessHass) -> str | None:
    ids = await api.entity_ids("bc26")
    return ids.get(f"{IMEI}-resource-19-1-0")


# ---------------------------------------------------------------------- 1. latency


@dataclass
class Latency:
    """Per-payload latencies (ns) of one lane."""

    lane: str
    size: int
    samples: list[int] = field(default_factory=list)
    without_gc: list[int] = field(default_factory=list)  # samples no collection fell into
    event_samples: list[int] = field(default_factory=list)  # bc26: to the event entity's state
    writes: list[int] = field(default_factory=list)  # when each sample's line was written, ns
    lost: int = 0

    @property
    def p50_ms(self) -> float:
        """Median, ms."""
        return percentile(self.samples, 0.50) / 1e6

    @property
    def p99_ms(self) -> float:
        """99th percentile, ms."""
        return percentile(self.samples, 0.99) / 1e6

    @property
    def p99_without_gc_ms(self) -> float:
        """99th percentile of the samples without a garbage collection, ms."""
        return percentile(self.without_gc, 0.99) / 1e6 if self.without_gc else float("nan")


async def _one(
    simulator: Bc26Simulator, wire: WireProbe, watched: Watched, line: bytes, expect: str
) -> int | None:
    """Write one line; the time from the write to the watched entity's state `expect`, ns.

    The state itself, not the first change: the core serial sensor also writes an
    empty state for the empty line before each URC (`\\r\\n` before the text).
    """
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[int] = loop.create_future()
    watched.waiter = waiter
    watched.expect = expect
    wire.armed_write = True
    simulator.inject(line)
    try:
        async with asyncio.timeout(WAIT / 3):
            done = await waiter
    except TimeoutError:
        return None
    finally:
        watched.waiter = None
        watched.expect = None
    return done - wire.write_ns


async def _announced(event: Watched, before: int) -> bool:
    """Wait until the event entity has changed since `before` changes; False on timeout."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(WAIT / 3):
            while event.changes <= before:
                event.progress.clear()
                await event.progress.wait()
    return event.changes > before


BLOCKS = (20, 80)  # samples a lane takes in a row: a random count in this range
# Seconds the event loop idles before each sample, in both lanes. URCs come seconds apart,
# to an idle process; and bc26's event entity fires in the millisecond after its sensors
# (one event a millisecond), so its lane idled before each sample anyway while the serial
# sensor's ran back to back, its CPU warm. An idle CPU hands a pty's bytes over and runs
# the first callback slower (serial sensor p99 125 -> 206 us with a 1 ms pause).
PAUSE = 0.002


@dataclass
class _Lane:
    """One lane of the latency comparison: who writes the line, whose state is stamped."""

    result: Latency
    simulator: Bc26Simulator
    wire: WireProbe
    watched: Watched
    event: Watched | None = None  # bc26: its event entity, announced after the sensors
    expect: Callable[[bytes], str] = field(default=lambda line: "")  # the state a line gives

    @property
    def taken(self) -> int:
        """Samples tried so far."""
        return len(self.result.samples) + self.result.lost


async def measure_latency(rig: Rig, count: int) -> list[Latency]:
    """bc26 and the serial sensor take turns, in blocks of random length, for 4 and 512 B.

    Garbage collections are charged to the lane whose garbage triggered them: Python
    collects when the count of live young objects passes a threshold, so a collection
    falls into whichever callback allocates at that moment. Turn by turn, payload by
    payload, both lanes' allocations repeat with a fixed period and the collections
    lock onto one point of it: a one-line change elsewhere moved them all from one
    lane to the other. In blocks, a lane's own allocations fill the count while it
    runs; random block lengths keep the switches out of step with the collections.
    """
    rng = random.Random(26)  # a fixed schedule, the same every run
    results = []
    for size, serial, serial_wire, serial_entity in (
        (4, rig.serial_short, rig.serial_short_wire, SERIAL_SHORT),
        (512, rig.serial_long, rig.serial_long_wire, SERIAL_LONG),
    ):
        ours = _Lane(
            Latency("bc26", size),
            rig.module,
            rig.module_wire,
            rig.states.watch(rig.raw_entity),
            rig.states.watch(rig.event_entity),
            _raw_state,
        )
        theirs = _Lane(
            Latency("serial", size),
            serial,
            serial_wire,
            rig.states.watch(serial_entity),
            expect=lambda line: line.decode().strip()[:MAX_STATE_LENGTH],
        )
        while any(lane.taken < count for lane in (ours, theirs)):
            for lane in (ours, theirs):
                taken = lane.taken
                block = min(rng.randint(*BLOCKS), count - taken)
                lines = [urc(size * 1_000_000 + taken + number, size) for number in range(block)]
                for line in lines:
                    await asyncio.sleep(PAUSE)
                    await _sample(lane, line)
        results += [ours.result, theirs.result]
    return results


def _raw_state(line: bytes) -> str:
    """The raw sensor's state for a URC line: its payload, as bc26 shows payloads."""
    return payload_state(bytes.fromhex(line.decode().strip().rpartition(",")[2]))


async def _sample(lane: _Lane, line: bytes) -> None:
    result = lane.result
    events = lane.event.changes if lane.event is not None else 0
    took = await _one(lane.simulator, lane.wire, lane.watched, line, lane.expect(line))
    if took is None:
        result.lost += 1
        return
    result.samples.append(took)
    result.writes.append(lane.wire.write_ns)
    if not GC.started_between(lane.wire.write_ns, lane.wire.write_ns + took):
        result.without_gc.append(took)
    if lane.event is not None and await _announced(lane.event, events):
        # Waiting for the event keeps bc26's work out of the next sample.
        result.event_samples.append(lane.event.last_ns - lane.wire.write_ns)


# ---------------------------------------------------------------------- 2. throughput


@dataclass
class Flood:
    """One flood of URCs on /19/1/0."""

    sensors: int
    sent: int
    seconds: float
    cpu_seconds: float
    state_changes: int
    dispatched: int
    dropped_bytes: int

    @property
    def rate(self) -> float:
        """URCs per second turned into state changes."""
        return self.state_changes / self.seconds

    @property
    def cpu_us_per_urc(self) -> float:
        """Process CPU time per URC (Home Assistant, integration and simulator together), us."""
        return self.cpu_seconds / self.sent * 1e6

    @property
    def lost(self) -> int:
        """URCs sent that did not become a state change."""
        return self.sent - self.state_changes


_counter = 10_000_000


async def flood(rig: Rig, count: int, size: int = 4, *, collect_first: bool = True) -> Flood:
    """Send `count` URCs as fast as the reader takes them, keeping the pty buffer from filling.

    The simulator's pty drops what its buffer cannot take (as a UART without flow
    control would); so the sender keeps at most WINDOW_BYTES unread in flight and
    writes more each time the integration turned earlier ones into states.
    """
    global _counter  # noqa: PLW0603 - states must differ from every earlier run's
    watched = rig.states.watch(rig.raw_entity)
    window = max(1, WINDOW_BYTES // len(urc(0, size)))
    changes_before = watched.changes
    dispatched_before = rig.downlinks_received
    dropped_before = rig.module.dropped_output
    result = Flood(rig.sensors, count, 0.0, 0.0, 0, 0, 0)
    sent = 0
    if collect_first:
        # Each throughput flood starts from a fresh heap, so that a full collection (100+
        # ms in Home Assistant's heap) falls into none or all of them alike. Within the
        # memory runs and the sends the collector runs by itself: row 5 reports its pauses.
        GC.collect()
    start_cpu = time.process_time()
    start = time.perf_counter()
    async with asyncio.timeout(WAIT + count / 100):
        while True:
            done = watched.changes - changes_before
            if done >= count:
                break
            while sent < count and sent - done < window:
                rig.module.inject(urc(_counter, size))
                _counter += 1
                sent += 1
            watched.progress.clear()
            await watched.progress.wait()
    result.seconds = time.perf_counter() - start
    result.cpu_seconds = time.process_time() - start_cpu
    result.state_changes = watched.changes - changes_before
    result.dispatched = rig.downlinks_received - dispatched_before
    result.dropped_bytes = rig.module.dropped_output - dropped_before
    return result


# ---------------------------------------------------------------------- 3. uplink


@dataclass
class Sends:
    """`count` bc26.send NON calls, one after the other."""

    count: int
    seconds: float = 0.0
    overhead_ns: list[int] = field(default_factory=list)  # simulator and platform left out
    end_to_end_ns: list[int] = field(default_factory=list)  # everything but the module's time
    wire_times_ns: list[float] = field(default_factory=list)
    delivered: int = 0

    @property
    def rate(self) -> float:
        """Sends per second, the last one seen at the platform."""
        return self.count / self.seconds

    @property
    def overhead_fraction(self) -> float:
        """Median software overhead per send over its wire time at 115200 baud."""
        return self._median_fraction(self.overhead_ns)

    @property
    def overhead_us(self) -> float:
        """Median software overhead per send, us."""
        return percentile(self.overhead_ns, 0.5) / 1000

    @property
    def end_to_end_fraction(self) -> float:
        """Median of everything but the module's own time over the wire time."""
        return self._median_fraction(self.end_to_end_ns)

    @property
    def end_to_end_us(self) -> float:
        """Median of everything but the module's own time, us."""
        return percentile(self.end_to_end_ns, 0.5) / 1000

    def _median_fraction(self, spent_ns: list[int]) -> float:
        ratios = sorted(s / w for s, w in zip(spent_ns, self.wire_times_ns, strict=True))
        return ratios[len(ratios) // 2]


BATCH = 500  # sends between checks that the platform received every one (its history: 1000)
_sent = 0  # sends so far in this process: each payload starts with its number


async def measure_sends(rig: Rig, count: int, size: int = 4) -> Sends:
    """Call bc26.send (NON) `count` times as an automation would, awaiting each.

    Software overhead of one send: from the action call to the action returning, less
    the module's own time (from the command's last byte reaching it to its OK; on a
    real BC26, the radio's) and less the time the simulator and the platform ran on
    this event loop outside it (on a real installation they are not on the host).
    Without that second part (`end_to_end_ns`) the figure is an upper bound.
    """

    hass = rig.hass
    wire = rig.module_wire
    global _sent  # noqa: PLW0603 - payloads must differ from every earlier run's (see _delivered)
    result = Sends(count)
    start = time.perf_counter()
    batch: list[bytes] = []
    for number in range(count):
        _sent += 1
        payload = _sent.to_bytes(4, "big") + bytes(i % 256 for i in range(size - 4))
        read_before, written_before = wire.read, wire.written
        begin = time.perf_counter_ns()
        response: Any = await hass.services.async_call(
            "bc26",
            "send",
            {"config_entry_id": rig.entry_id, "data": payload.hex(), "encoding": "hex"},
            blocking=True,
            return_response=True,
        )
        end = time.perf_counter_ns()
        if response != {"status": "sent"}:
            raise RuntimeError(f"bc26.send answered {response}")
        line_end, ok_written = wire.last_line_end_ns, wire.ok_after_line_ns
        if line_end >= begin and ok_written >= line_end:
            module_ns = ok_written - line_end
            foreign = rig.loop_watch.foreign_ns(begin, end, (line_end, ok_written))
            result.end_to_end_ns.append(end - begin - module_ns)
            result.overhead_ns.append(end - begin - module_ns - foreign)
            result.wire_times_ns.append(
                wire_ns(wire.read - read_before + wire.written - written_before)
            )
        batch.append(payload)
        if len(batch) == BATCH or number == count - 1:
            result.delivered += await _delivered(rig.platform, batch)
            batch = []
    result.seconds = time.perf_counter() - start
    return result


# ---------------------------------------------------------------------- 4. memory


MEMORY_RUNS = 3


@dataclass
class Memory:
    """What each of MEMORY_RUNS runs of `count` left behind (after one warm-up)."""

    count: int
    rss: list[int] = field(default_factory=list)  # RSS growth over each run, bytes
    blocks: list[int] = field(default_factory=list)  # live blocks, one collection to the next
    counted: bool = True  # False when Python does not count blocks (PYTHONMALLOC=malloc)


async def measure_memory(run: Callable[[int], Awaitable[object]], count: int) -> Memory:
    """Run `run(count)` MEMORY_RUNS times after a warm-up of a fifth, with a full collection
    before and after each: what the heap keeps (live blocks) and what the process grows by.

    Python frees the reference cycles of state changes (each state change's event and
    context form one) only in a collection, and those a young collection finds alive
    wait in the oldest generation for the next full one. That comes when what reached
    the oldest generation since the last one passes a quarter of what lives there, which
    in Home Assistant's heap can be hundreds of thousands of URCs away; until then RSS
    grows. The live blocks after a full collection are what a run kept; RSS over the
    later runs, each starting with the memory the collection before freed, shows whether
    the process levels off. `sys.getallocatedblocks()` counts the small blocks (objects
    up to 512 bytes); larger ones show in RSS only.
    """
    memory = Memory(count)
    await run(max(1, count // 5))
    GC.collect()
    blocks, rss = sys.getallocatedblocks(), rss_bytes()
    memory.counted = blocks > 0
    for _ in range(MEMORY_RUNS):
        await run(count)
        grown = rss_bytes()
        GC.collect()
        memory.rss.append(grown - rss)
        memory.blocks.append(sys.getallocatedblocks() - blocks)
        blocks, rss = sys.getallocatedblocks(), rss_bytes()
    return memory


async def _delivered(platform: LwM2mPlatform, batch: list[bytes]) -> int:
    """How many of `batch` the platform received (waiting for the last one)."""
    last = batch[-1]
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(WAIT):
            await platform.wait_for(lambda: any(u.payload == last for u in platform.uplinks))
    seen = {u.payload for u in platform.uplinks}
    return sum(1 for payload in batch if payload in seen)


__all__ = [
    "MEMORY_RUNS",
    "Flood",
    "Latency",
    "Longest",
    "Memory",
    "Rig",
    "Sends",
    "flood",
    "measure_latency",
    "measure_memory",
    "measure_sends",
    "rig",
]
