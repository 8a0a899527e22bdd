"""`python -m bench`: latency, throughput, uplink, memory and event-loop figures in one table.

Runs one real Home Assistant (in this process) with the virtual BC26 on a
pseudo-terminal and the local LwM2M platform, and Home Assistant's core `serial`
sensor on two more pseudo-terminals; then, in a child process, a site of up to ten
modules on paced lines (bench/scale.py); prints one table. Writes nothing outside a
temporary directory. Benchmarks print; they assert nothing.

    python -m bench                      everything, full sizes (several minutes)
    python -m bench --quick              smaller counts (about a minute)
    python -m bench --only latency,uplink
"""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass
import json
import logging
import os
from pathlib import Path
import platform
import sys
import tempfile

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from homeassistant import const as ha_const

from bench import hass_bench, scale
from bench.hass_bench import (
    MEMORY_RUNS,
    Flood,
    Latency,
    Memory,
    Rig,
    Sends,
    flood,
    measure_latency,
    measure_memory,
    measure_sends,
    rig,
    urc,
)
from bench.inprocess import print_log_tail
from bench.probes import percentile, wire_ns

MEASUREMENTS = ("latency", "throughput", "uplink", "memory", "loop")
SITE = scale.PARTS  # modules, idle, paced, startup, pending: the site, in a child process
SHORT_URC_RATE = 1e9 / wire_ns(len(urc(0, 4)))  # short URCs a 115200-baud line carries per s
ROUNDS = 3  # floods per sensor count; the least disturbed one counts (the machine is shared)
MIB = 1024 * 1024
# A run keeps nothing: the least any run kept (a leak shows in every run, noise does not) is
# under one live block per this many URCs or sends, or under the noise, whichever is more;
# and the last run's RSS levels off.
BLOCKS_PER = 10
NOISE_BLOCKS = 2_000  # seen between runs without a leak: -3,600 to +1,200
LEVEL_BOUND = 1 * MIB


@dataclass(frozen=True)
class Sizes:
    """How much of everything."""

    latency: int
    throughput: int
    flood: int
    sends: int


FULL = Sizes(latency=3000, throughput=20_000, flood=100_000, sends=10_000)
QUICK = Sizes(latency=1000, throughput=3_000, flood=10_000, sends=1_000)


@dataclass
class Row:
    """One line of the table."""

    metric: str
    figure: str
    target: str
    met: str


def _yes(condition: bool) -> str:
    return "yes" if condition else "NO"


def _ms(samples: list[int], fraction: float) -> float:
    return percentile(samples, fraction) / 1e6 if samples else float("nan")


def latency_rows(results: list[Latency]) -> list[Row]:
    """Our p50/p99 and the serial sensor's, per size; met when ours beats both limits."""
    rows = []
    for size in (4, 512):
        ours = next(r for r in results if r.lane == "bc26" and r.size == size)
        theirs = next(r for r in results if r.lane == "serial" and r.size == size)
        wire_ms = wire_ns(len(urc(0, size))) / 1e6
        lost = f", {ours.lost}/{theirs.lost} lost" if ours.lost or theirs.lost else ""
        rows.append(
            Row(
                f"1. downlink latency {size} B (n={len(ours.samples)})",
                f"bc26 raw sensor p50 {ours.p50_ms:.3f} / p99 {ours.p99_ms:.3f} ms "
                f"(its event entity, announced after the sensors: "
                f"p50 {_ms(ours.event_samples, 0.5):.3f} / "
                f"p99 {_ms(ours.event_samples, 0.99):.3f} ms); "
                f"serial sensor p50 {theirs.p50_ms:.3f} / p99 {theirs.p99_ms:.3f} ms{lost}; "
                f"p99 of samples no collection fell into: bc26 {ours.p99_without_gc_ms:.3f} "
                f"({len(ours.without_gc)}), serial {theirs.p99_without_gc_ms:.3f} "
                f"({len(theirs.without_gc)})",
                f"p99 <= serial p99 ({theirs.p99_ms:.3f}) and < wire {wire_ms:.1f} ms",
                _yes(ours.p99_ms <= theirs.p99_ms and ours.p99_ms < wire_ms and not ours.lost),
            )
        )
    return rows


def throughput_rows(floods: list[Flood]) -> list[Row]:
    """URCs per second per sensor count, and whether the cost per URC grows with sensors."""
    rows = []
    target = 10 * SHORT_URC_RATE
    for result in floods:
        rows.append(
            Row(
                f"2. downlink throughput, {result.sensors} sensor(s)",
                f"{result.rate:,.0f} URC/s, {result.lost} lost, "
                f"{result.cpu_us_per_urc:.0f} us CPU/URC",
                f">= {target:,.0f} URC/s, none lost",
                _yes(result.rate >= target and result.lost == 0 and result.dropped_bytes == 0),
            )
        )
    if len(floods) > 1:
        first, last = floods[0], floods[-1]
        growth = last.cpu_us_per_urc / first.cpu_us_per_urc
        rows.append(
            Row(
                "2. cost per URC, most vs fewest sensors",
                f"x{growth:.2f} ({first.sensors} -> {last.sensors} sensors)",
                "does not grow (<= x1.25, noise)",
                _yes(growth <= 1.25),
            )
        )
    return rows


def uplink_rows(sends: Sends) -> list[Row]:
    """Sends per second and the software overhead against the wire time."""
    return [
        Row(
            f"3. uplink bc26.send NON (n={sends.count})",
            f"{sends.rate:,.0f} sends/s, {sends.delivered}/{sends.count} at the platform",
            "all delivered",
            _yes(sends.delivered == sends.count),
        ),
        Row(
            "3. software overhead per send",
            f"{sends.overhead_us:.0f} us = {100 * sends.overhead_fraction:.1f} % of "
            f"{percentile_wire_ms(sends):.1f} ms wire time; with the co-located simulator's "
            f"and platform's callbacks: {sends.end_to_end_us:.0f} us = "
            f"{100 * sends.end_to_end_fraction:.1f} %",
            "< 5 %",
            _yes(sends.overhead_fraction < 0.05),
        ),
    ]


def percentile_wire_ms(sends: Sends) -> float:
    """Median wire time of one send, ms."""
    ordered = sorted(sends.wire_times_ns)
    return ordered[len(ordered) // 2] / 1e6 if ordered else 0.0


def memory_rows(kind: str, memory: Memory) -> list[Row]:
    """What the heap keeps over each run of `kind` (URCs, sends), and whether RSS levels off."""
    kept = min(memory.blocks)
    allowed = max(memory.count // BLOCKS_PER, NOISE_BLOCKS)
    blocks = (
        "live blocks kept " + " / ".join(f"{blocks:+,}" for blocks in memory.blocks)
        if memory.counted
        else "live blocks not counted (Python's small-object allocator is off)"
    )
    return [
        Row(
            f"4. memory over {memory.count:,} {kind}",
            "RSS "
            + " / ".join(f"{grown / MIB:+.2f}" for grown in memory.rss)
            + f" MiB over {len(memory.rss)} runs, each after a full collection (a run's growth "
            "includes the garbage waiting for Python's next one); " + blocks,
            f"nothing kept (the least a run kept <= +{allowed:,} live blocks: one per "
            f"{BLOCKS_PER} {kind}, at least {NOISE_BLOCKS:,}); RSS levels off (last run <= "
            f"{LEVEL_BOUND / MIB:.0f} MiB)",
            _yes(kept <= allowed and memory.rss[-1] <= LEVEL_BOUND),
        )
    ]


def print_table(rows: list[Row]) -> None:
    """The table, as Markdown (so it pastes into bench/README.md)."""
    header = Row("metric", "figure", "target", "met?")
    widths = [
        max(len(getattr(row, name)) for row in [header, *rows])
        for name in ("metric", "figure", "target", "met")
    ]

    def line(row: Row) -> str:
        cells = (row.metric, row.figure, row.target, row.met)
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    print(line(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print(line(row))


def machine() -> str:
    """nproc, CPU model, Python and Home Assistant versions."""
    model = "unknown CPU"
    with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        for entry in cpuinfo:
            if entry.startswith("model name"):
                model = entry.split(":", 1)[1].strip()
                break
    return (
        f"{os.cpu_count()} CPUs ({model}), Python {platform.python_version()}, "
        f"Home Assistant {ha_const.__version__}"
    )


class SlowCallbacks(logging.Handler):
    """asyncio debug mode's "Executing <Handle ...> took 0.012 seconds" reports."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.reports: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("Executing"):
            self.reports.append(message)

    def row(self) -> Row:
        """Row 5 as asyncio debug mode sees it."""
        bc26 = [report for report in self.reports if any(mark in report for mark in _BC26_MARKS)]
        longest = max(bc26, key=_seconds, default="")
        return Row(
            "5. asyncio debug: slow callbacks (> 10 ms)",
            f"{len(self.reports)} reported, {len(bc26)} of bc26"
            + (f"; longest of bc26 {_seconds(longest) * 1000:.1f} ms" if bc26 else ""),
            "none of bc26 (< 10 ms)",
            _yes(not bc26),
        )


# Debug mode's reports name the transport, not the protocol. On 2025.4 serialx's transport is
# bc26's alone; newer core serial sensors use serialx too, and their reports then count
# against bc26 (the conservative side). Row 5 proper (LoopWatch) tells them apart.
_BC26_MARKS = ("custom_components/bc26", "custom_components.bc26", "LinuxSerialTransport")


def _seconds(report: str) -> float:
    try:
        return float(report.rsplit(" took ", 1)[1].split(maxsplit=1)[0])
    except (IndexError, ValueError):
        return 0.0


def _progress(text: str) -> None:
    print(f"... {text}", file=sys.stderr, flush=True)


async def run_site(selected: set[str], quick: bool) -> list[Row]:
    """The site's parts in a child process (Home Assistant starts once per process)."""
    command = [sys.executable, "-m", "bench.scale", "--json", "--only", ",".join(sorted(selected))]
    process = await asyncio.create_subprocess_exec(
        *command, *(["--quick"] if quick else []), stdout=asyncio.subprocess.PIPE
    )
    output, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"python -m bench.scale failed ({process.returncode})")
    return [Row(*row) for row in json.loads(output.decode().strip().splitlines()[-1])]


async def run(selected: set[str], sizes: Sizes, asyncio_debug: bool = False) -> list[Row]:
    """Bring the rig up once and run the selected measurements in order."""
    rows: list[Row] = []
    if not selected & set(MEASUREMENTS):
        return rows
    slow = SlowCallbacks()
    if asyncio_debug:
        loop = asyncio.get_running_loop()
        loop.set_debug(True)
        loop.slow_callback_duration = 0.010
        logging.getLogger("asyncio").addHandler(slow)
    with tempfile.TemporaryDirectory(prefix="bc26-bench-") as directory:
        _progress("starting Home Assistant, the virtual BC26 and the platform")
        try:
            async with rig(Path(directory)) as bench:
                rows += await _measure(bench, selected, sizes)
                if asyncio_debug:
                    rows.append(slow.row())
        except BaseException:
            await print_log_tail(Path(directory) / "home-assistant.log")
            raise
    return rows


async def _measure(bench: Rig, selected: set[str], sizes: Sizes) -> list[Row]:
    rows: list[Row] = []
    if "latency" in selected:
        _progress(f"latency: {sizes.latency} payloads of 4 and 512 bytes, two lanes")
        rows += latency_rows(await measure_latency(bench, sizes.latency))
    with bench.loop_watch:
        if "throughput" in selected:
            floods = []
            for sensors in (1, 10, 100):
                await bench.add_sensors(sensors)
                await flood(bench, sizes.throughput // 10)  # warm-up
                _progress(
                    f"throughput: best of {ROUNDS} floods of {sizes.throughput} URCs, "
                    f"{sensors} sensor(s)"
                )
                rounds = [await flood(bench, sizes.throughput) for _ in range(ROUNDS)]
                floods.append(min(rounds, key=lambda result: result.cpu_seconds))
            rows += throughput_rows(floods)
        if "memory" in selected:
            _progress(f"memory: {MEMORY_RUNS} x {sizes.flood} URCs ({bench.sensors} sensors)")
            urcs = await measure_memory(
                lambda count: flood(bench, count, collect_first=False), sizes.flood
            )
            rows += memory_rows("URCs", urcs)
        if "uplink" in selected:
            _progress(f"uplink: {sizes.sends} bc26.send NON calls")
            rows += uplink_rows(await measure_sends(bench, sizes.sends))
        if "memory" in selected:
            _progress(f"memory: {MEMORY_RUNS} x {sizes.sends} bc26.send NON calls")
            sends = await measure_memory(lambda count: measure_sends(bench, count), sizes.sends)
            rows += memory_rows("sends", sends)
    if "loop" in selected:
        longest = bench.loop_watch.longest
        if longest.overall_s == 0.0:
            rows.append(Row("5. longest callback", "no flood ran", "< 10 ms", "-"))
        else:
            rows.append(
                Row(
                    "5. longest bc26 callback in the floods",
                    f"{longest.bc26_own_s * 1000:.2f} ms without GC pauses "
                    f"({longest.bc26_own_what}; on the CPU {longest.bc26_own_cpu_s * 1000:.2f} "
                    f"ms of it); the most CPU time of a bc26 callback "
                    f"{longest.bc26_cpu_s * 1000:.2f} ms; with GC pauses "
                    f"{longest.bc26_s * 1000:.2f} ms; "
                    f"longest GC pause {longest.gc_pause_s * 1000:.2f} ms "
                    f"(generation {longest.gc_generation}); any callback "
                    f"{longest.overall_s * 1000:.2f} ms ({longest.overall_what})",
                    "< 10 ms",
                    _yes(longest.bc26_own_s < 0.010)
                    + ("" if longest.bc26_s < 0.010 else " (own work); NO with GC pause"),
                )
            )
    return rows


def main(argv: list[str] | None = None) -> None:
    """Entry point."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts, about a minute")
    parser.add_argument(
        "--only",
        default=",".join(MEASUREMENTS + SITE),
        help=f"comma-separated subset of {','.join(MEASUREMENTS + SITE)} (default: all)",
    )
    parser.add_argument(
        "--asyncio-debug",
        action="store_true",
        help="also run the floods in asyncio debug mode and count its slow-callback reports "
        "(over 10 ms); debug mode slows everything, so figures 1-3 are not comparable then",
    )
    parser.add_argument(
        "--window",
        type=int,
        default=hass_bench.WINDOW_BYTES,
        help="bytes a flood keeps unread on the pty (default %(default)s; the pty drops "
        "what does not fit, and one read callback handles all the lines of a read)",
    )
    args = parser.parse_args(argv)
    hass_bench.WINDOW_BYTES = args.window
    selected = {name.strip() for name in args.only.split(",") if name.strip()}
    unknown = selected - set(MEASUREMENTS + SITE)
    if unknown:
        parser.error(f"unknown measurement(s): {', '.join(sorted(unknown))}")
    sizes = QUICK if args.quick else FULL
    rows = asyncio.run(run(selected, sizes, args.asyncio_debug))
    if selected & set(SITE):
        rows += asyncio.run(run_site(selected & set(SITE), args.quick))
    rows.sort(key=lambda row: int(row.metric.split(".")[0]))  # in the order
    print(f"machine: {machine()}")
    print(
        "wire at 115200 baud 8N1: 86.8 us/byte; a 4-byte URC "
        f"({len(urc(0, 4))} bytes) {wire_ns(len(urc(0, 4))) / 1e6:.2f} ms, "
        f"{SHORT_URC_RATE:.0f} URC/s"
    )
    print_table(rows)


if __name__ == "__main__":
    main()
