"""What the slowest downlink samples spent their time on: `python -m bench.tail`.

Runs the single-module latency comparison of `python -m bench` (4-byte URCs, bc26's
raw sensor against the core serial sensor) with every event-loop callback and every
wait in `epoll` recorded, then splits each sample, from the simulator's write to the
state, into:

- **to the read** (`to_read`): from the write until the lane's read callback starts. Within it,
  *kernel*: the time the loop sat in `epoll` after the write before the data woke it
  (the pseudo-terminal's hand-over: a kernel worker moves the bytes to the reading
  side), and *others*: callbacks of anyone else that ran in between.
- **read to state**: the lane's own work, up to the state; split into the first read
  callback and anything after it (the serial sensor's reading task runs one loop
  iteration later, bc26 writes its state inside the read).
- **GC**: collector pauses inside the sample (part of the above).

It prints the median sample and the mean of the slowest 1 % of each lane side by side,
and the callbacks that most often ran inside slow samples. Prints, asserts nothing.

    python -m bench.tail [--samples 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
import gc
from pathlib import Path
import sys
import tempfile
import time
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.hass_bench import Latency, measure_latency, rig
from bench.wakeups import is_integration_read

RING = 1 << 16  # callbacks kept; a sample needs only the few around it


def _kind(handle: asyncio.Handle) -> str:
    """Whose callback: bc26's read, the serial sensor's read or task, or a name."""
    if is_integration_read(handle):
        return "bc26 read"
    owner = getattr(getattr(handle, "_callback", None), "__self__", None)
    if isinstance(owner, asyncio.Task):
        code = getattr(owner.get_coro(), "cr_code", None)
        name = "" if code is None else code.co_filename
        if "components/serial/" in name:
            return "serial task"
        if "custom_components/bc26/" in name:
            return "bc26 task"
        return f"task {getattr(owner.get_coro(), '__qualname__', '?')}"
    protocol = getattr(owner, "_protocol", None)
    if protocol is not None and type(protocol).__name__ == "StreamReaderProtocol":
        return "serial read"
    callback = getattr(handle, "_callback", None)
    return getattr(callback, "__qualname__", repr(callback))[:60]


class Trace:
    """Every callback the loop runs and every epoll wait, in two rings."""

    def __init__(self) -> None:
        self.callbacks: deque[tuple[int, int, asyncio.Handle]] = deque(maxlen=RING)
        self.waits: deque[tuple[int, int]] = deque(maxlen=RING)
        self.gc: deque[tuple[int, int, int]] = deque(maxlen=RING)  # start, end, generation
        self._undo: list[Callable[[], None]] = []
        self._gc_start = 0

    def __enter__(self) -> Trace:
        loop = asyncio.get_running_loop()
        selector: Any = getattr(loop, "_selector")  # noqa: B009 - the loop's epoll
        select = selector.select
        waits, callbacks, clock = self.waits, self.callbacks, time.perf_counter_ns

        def timed_select(timeout: float | None = None) -> Any:
            before = clock()
            events = select(timeout)
            waits.append((before, clock()))
            return events

        selector.select = timed_select
        self._undo.append(lambda: delattr(selector, "select"))
        original: Callable[[asyncio.Handle], None] = getattr(asyncio.Handle, "_run")  # noqa: B009

        def timed_run(handle: asyncio.Handle) -> None:
            start = clock()
            original(handle)
            callbacks.append((start, clock(), handle))

        setattr(asyncio.Handle, "_run", timed_run)  # noqa: B010
        self._undo.append(lambda: setattr(asyncio.Handle, "_run", original))
        gc.callbacks.append(self._on_gc)
        self._undo.append(lambda: gc.callbacks.remove(self._on_gc))
        return self

    def __exit__(self, *exc_info: object) -> None:
        for undo in reversed(self._undo):
            undo()

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_start = time.perf_counter_ns()
        else:
            self.gc.append((self._gc_start, time.perf_counter_ns(), info["generation"]))


@dataclass
class Split:
    """One sample, taken apart (ns)."""

    total: int
    to_read: int  # from the write to the lane's read callback
    kernel: int  # in epoll between the write and the lane's read
    others: int  # other callbacks between the write and the lane's read
    read: int  # the lane's first read callback
    after_read: int  # from the end of that read to the state
    gc: int
    foreign: tuple[str, ...]  # what else ran between the write and the state
    collections: tuple[tuple[int, int], ...]  # (generation, ns) of the pauses inside


@dataclass
class Snapshot:
    """The rings as lists in time order (callbacks do not nest), for bisection."""

    callbacks: list[tuple[int, int, asyncio.Handle]]
    starts: list[int]
    waits: list[tuple[int, int]]
    wait_ends: list[int]
    gc: list[tuple[int, int, int]]

    @classmethod
    def of(cls, trace: Trace) -> Snapshot:
        callbacks = list(trace.callbacks)
        waits = list(trace.waits)
        return cls(
            callbacks, [c[0] for c in callbacks], waits, [w[1] for w in waits], list(trace.gc)
        )


def _split(snapshot: Snapshot, write: int, total: int, read_kind: str) -> Split | None:
    end = write + total
    first = max(0, bisect.bisect_left(snapshot.starts, write) - 1)
    last = bisect.bisect_right(snapshot.starts, end)
    inside = [(s, e, h) for s, e, h in snapshot.callbacks[first:last] if e >= write]
    read = next(((s, e) for s, e, h in inside if s >= write and _kind(h) == read_kind), None)
    if read is None:
        return None
    low = bisect.bisect_left(snapshot.wait_ends, write)
    kernel = 0
    for before, after in snapshot.waits[low:]:
        if before > read[0]:
            break
        kernel += max(0, min(after, read[0]) - max(before, write))
    others = [(s, e, h) for s, e, h in inside if s >= write and e <= read[0]]
    own = {read_kind, "serial task", "bc26 task"}
    foreign = tuple(_kind(h) for s, e, h in inside if s > write and _kind(h) not in own)
    return Split(
        total=total,
        to_read=read[0] - write,
        kernel=kernel,
        others=sum(e - max(s, write) for s, e, _ in others),
        read=read[1] - read[0],
        after_read=max(0, end - read[1]),
        gc=sum(
            max(0, min(e, end) - max(s, write))
            for s, e, _ in snapshot.gc
            if e >= write and s <= end
        ),
        foreign=foreign,
        collections=tuple((g, e - s) for s, e, g in snapshot.gc if e >= write and s <= end),
    )


def _report(name: str, splits: list[Split]) -> None:
    ordered = sorted(splits, key=lambda split: split.total)
    median = ordered[len(ordered) // 2]
    tail = ordered[-max(1, len(ordered) // 100) :]

    def mean(field: str, rows: list[Split]) -> float:
        return float(sum(getattr(row, field) for row in rows)) / len(rows) / 1000

    def quantile(field: str, fraction: float) -> float:
        values = sorted(getattr(row, field) for row in splits)
        return float(values[min(len(values) - 1, int(fraction * len(values)))]) / 1000

    print(
        f"\n{name}: {len(splits)} samples; the median sample, the mean of the slowest 1 %, "
        "and each part's own p90 / p99 (us)"
    )
    for field in ("total", "to_read", "kernel", "others", "read", "after_read", "gc"):
        print(
            f"  {field:<11} {getattr(median, field) / 1000:8.1f}  {mean(field, tail):8.1f}"
            f"    {quantile(field, 0.9):8.1f} {quantile(field, 0.99):8.1f}"
        )
    counted = Counter(kind for split in tail for kind in split.foreign)
    print("  other callbacks in the slowest 1 %:", dict(counted.most_common(8)) or "none")
    for generation in (0, 1, 2):
        pauses = [ns for split in splits for g, ns in split.collections if g == generation]
        if pauses:
            print(
                f"  samples with a generation-{generation} collection: {len(pauses)}, "
                f"pause median {sorted(pauses)[len(pauses) // 2] / 1000:.0f} us"
            )


async def _run(samples: int, collector: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="bc26-tail-") as directory:
        async with rig(Path(directory)) as bench:
            await measure_latency(bench, 200)  # warm up
            with Trace() as trace:
                if not collector:
                    gc.disable()  # the tail without collections: what else is in it
                try:
                    results = await _measure(bench, samples, trace)
                finally:
                    gc.enable()
    for result, splits in results:
        _report(f"{result.lane} {result.size} B", splits)


async def _measure(bench: Any, samples: int, trace: Trace) -> list[tuple[Latency, list[Split]]]:
    done: list[tuple[Latency, list[Split]]] = []
    chunk = 100
    totals: dict[str, tuple[Latency, list[Split]]] = {}
    taken = 0
    while taken < samples:
        results = await measure_latency(bench, chunk)
        snapshot = Snapshot.of(trace)
        if not gc.isenabled():
            gc.collect()  # between chunks, outside the samples
        for result in results:
            if result.size != 4:
                continue
            kind = "bc26 read" if result.lane == "bc26" else "serial read"
            entry = totals.setdefault(result.lane, (Latency(result.lane, 4), []))
            for write, total in zip(result.writes, result.samples, strict=True):
                split = _split(snapshot, write, total, kind)
                if split is not None:
                    entry[1].append(split)
                    entry[0].samples.append(total)
        taken += chunk
    done += totals.values()
    return done


def main() -> None:
    """Entry point."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.tail", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--samples", type=int, default=3000, help="4-byte samples per lane")
    parser.add_argument(
        "--no-gc", action="store_true", help="collect only between chunks of 100 samples"
    )
    args = parser.parse_args()
    asyncio.run(_run(args.samples, not args.no_gc))


if __name__ == "__main__":
    main()
