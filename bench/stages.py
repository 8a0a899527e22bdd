"""Where single-module samples spend their time, traced without allocating.

Runs the latency comparison of `python -m bench` (row 1) with a timestamp taken at the
entry of each stage of a payload's way, and splits every 4-byte sample that no garbage
collection fell into:

- bc26: the simulator's write -> the channel's read (`AtChannel.data_received`) ->
  the line parsed (`parse_urc`, after the line is cut and recorded) -> the payload
  handed to the entities (`Resources.deliver`) -> the raw sensor's update
  (`RawResourceSensor.show`) -> Home Assistant's state write
  (`Entity._async_write_ha_state`, after the sensor rendered the payload) -> the state.
- the core serial sensor: the write -> the stream's read (`data_received` of asyncio's
  `StreamReaderProtocol`) -> its first state write (the empty line; its reading
  task's `readline` returns in a later loop iteration) -> its second (the line) ->
  the state.

`python -m bench.tail` splits samples by event-loop callback, but its records (a tuple
per callback) allocate, and so put collections into the samples it should explain.
Here each stamp is an integer written into a preallocated array: nothing the garbage
collector counts, so the samples keep their collections where they were. Prints each
stage's p50 / p99 and its mean in the slowest 1 % of samples; asserts nothing. A
sample is cut at each stage's first stamp after the cut before, so a read of something
else inside a sample (an answer to a link poll, every 300 s at the defaults), or another
entity's state write, would be taken for the sample's own.

    python -m bench.stages [--samples 3000]
"""

from __future__ import annotations

import argparse
import array
import asyncio
import bisect
from collections.abc import Callable
from dataclasses import dataclass
import itertools
from pathlib import Path
import sys
import tempfile
import time
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from homeassistant.helpers.entity import Entity

from bench.hass_bench import Latency, measure_latency, rig
from bench.probes import percentile
from custom_components.bc26.modem import channel
from custom_components.bc26.modem.channel import AtChannel
from custom_components.bc26.resource_sensor import RawResourceSensor
from custom_components.bc26.resources import Resources

# Stamps per stage: a sample adds one or two (the state write: every entity's), a few more
# for 512-byte reads; past it the last slot is overwritten.
CAPACITY = 1 << 18


class Stamps:
    """The entry times of one stage, ns, in a preallocated array."""

    def __init__(self) -> None:
        self.times = array.array("q", bytes(8 * CAPACITY))
        self.count = 0

    def stamp(self) -> None:
        """Record now; past the capacity, the last slot is overwritten."""
        self.times[min(self.count, CAPACITY - 1)] = time.perf_counter_ns()
        self.count += 1

    def first_after(self, moment: int) -> int | None:
        """The first stamp after `moment`, ns (a stage that comes twice is cut twice)."""
        end = min(self.count, CAPACITY)
        index = bisect.bisect_right(self.times, moment, 0, end)
        return self.times[index] if index < end else None


STAGES: dict[str, Stamps] = {
    name: Stamps()
    for name in ("bc26 read", "parse", "deliver", "show", "state write", "serial read")
}
_undo: list[Callable[[], None]] = []


def _wrap(cls: Any, name: str, stage: Stamps) -> None:
    """Stamp `stage` at every call of `cls.name` (one positional argument, no tuple)."""
    original = getattr(cls, name)

    def stamped(self: Any, argument: Any) -> Any:
        stage.stamp()
        return original(self, argument)

    setattr(cls, name, stamped)
    _undo.append(lambda: setattr(cls, name, original))


def _wrap_parser(stage: Stamps) -> None:
    """Stamp `stage` at every call of the channel's `parse_urc` (a module function)."""
    original = vars(channel)["parse_urc"]

    def stamped(line: str) -> Any:
        stage.stamp()
        return original(line)

    setattr(channel, "parse_urc", stamped)  # noqa: B010 - the name the channel calls
    _undo.append(lambda: setattr(channel, "parse_urc", original))


def _wrap_state_write(stage: Stamps) -> None:
    """Stamp `stage` at every entity's state write (no argument but the entity)."""
    original = Entity._async_write_ha_state

    def stamped(entity: Entity) -> None:
        stage.stamp()
        original(entity)

    setattr(Entity, "_async_write_ha_state", stamped)  # noqa: B010 - private, not in stubs
    _undo.append(lambda: setattr(Entity, "_async_write_ha_state", original))


def install() -> None:
    """Wrap the stages' entry points."""
    _wrap(AtChannel, "data_received", STAGES["bc26 read"])
    _wrap_parser(STAGES["parse"])
    _wrap(Resources, "deliver", STAGES["deliver"])
    _wrap(RawResourceSensor, "show", STAGES["show"])
    _wrap_state_write(STAGES["state write"])
    _wrap(asyncio.StreamReaderProtocol, "data_received", STAGES["serial read"])


def uninstall() -> None:
    """Put the originals back."""
    while _undo:
        _undo.pop()()


@dataclass
class Split:
    """One sample's stages, ns, in the order of `names`."""

    total: int
    parts: list[int]


def split(write: int, took: int, names: tuple[str, ...]) -> Split | None:
    """Cut the sample at each stage's first stamp after the cut before; None if one is missing."""
    end = write + took
    cuts = [write]
    for name in names:
        moment = STAGES[name].first_after(cuts[-1])
        if moment is None or moment > end:
            return None
        cuts.append(moment)
    cuts.append(end)
    return Split(took, [later - earlier for earlier, later in itertools.pairwise(cuts)])


LANES = {
    "bc26": (
        ("bc26 read", "parse", "deliver", "show", "state write"),
        ("to read", "cut, record", "parse, dispatch", "to sensor", "render", "state write"),
    ),
    "serial": (
        ("serial read", "state write", "state write"),
        ("to read", "to 1st write", "1st write, read, JSON", "2nd write"),
    ),
}


def report(result: Latency) -> None:
    """Each stage's p50 / p99 and its mean in the slowest 1 %, us."""
    names, labels = LANES[result.lane]
    clean = set(result.without_gc)
    splits = [
        found
        for write, took in zip(result.writes, result.samples, strict=True)
        if took in clean and (found := split(write, took, names)) is not None
    ]
    if not splits:
        print(f"\n{result.lane}: no sample could be split")
        return
    slowest = sorted(splits, key=lambda one: one.total)[-max(1, len(splits) // 100) :]
    print(
        f"\n{result.lane} {result.size} B: {len(splits)} of the {len(result.without_gc)} "
        "samples without a collection could be split (us)"
    )
    print("| stage | p50 | p99 | mean of the slowest 1 % |")
    print("|---|---|---|---|")
    for index, label in enumerate(["total", *labels]):
        values = [one.total if index == 0 else one.parts[index - 1] for one in splits]
        tail = [one.total if index == 0 else one.parts[index - 1] for one in slowest]
        print(
            f"| {label} | {percentile(values, 0.5) / 1000:.0f} | "
            f"{percentile(values, 0.99) / 1000:.0f} | {sum(tail) / len(tail) / 1000:.0f} |"
        )


async def _run(samples: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bc26-stages-") as directory:
        async with rig(Path(directory)) as bench:
            await measure_latency(bench, 200)  # warm up
            install()
            try:
                results = await measure_latency(bench, samples)
            finally:
                uninstall()
    for result in results:
        if result.size == 4:
            report(result)


def main() -> None:
    """Entry point."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.stages", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--samples", type=int, default=3000, help="4-byte samples per lane")
    args = parser.parse_args()
    asyncio.run(_run(args.samples))


if __name__ == "__main__":
    main()
