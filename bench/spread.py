"""The spread of the single-module latency figures over runs: `python -m bench.spread`.

Runs `python -m bench`'s latency comparison (row 1: 4 and 512 bytes, bc26's raw sensor
against the core serial sensor) `--runs` times, each in a fresh process with a fresh
Home Assistant, one after the other, and prints per run and size both p50/p99, whether
bc26's p99 is at or below the serial sensor's, how many samples a garbage collection
fell into, and the range over the runs. Prints, asserts nothing.

    python -m bench.spread [--runs 5] [--samples 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
import sys
import tempfile
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.hass_bench import Latency, measure_latency, rig

SIZES = (4, 512)


def _figures(result: Latency) -> dict[str, Any]:
    return {
        "p50": result.p50_ms,
        "p99": result.p99_ms,
        "p99_without_gc": result.p99_without_gc_ms,
        "gc_samples": len(result.samples) - len(result.without_gc),
        "n": len(result.samples),
        "lost": result.lost,
    }


async def _one_run(samples: int) -> dict[str, dict[str, dict[str, Any]]]:
    with tempfile.TemporaryDirectory(prefix="bc26-spread-") as directory:
        async with rig(Path(directory)) as bench:
            results = await measure_latency(bench, samples)
    report: dict[str, dict[str, dict[str, Any]]] = {}
    for result in results:
        report.setdefault(str(result.size), {})[result.lane] = _figures(result)
    return report


async def _runs(count: int, samples: int) -> list[dict[str, dict[str, dict[str, Any]]]]:
    reports = []
    for number in range(count):
        print(f"... run {number + 1} of {count}", file=sys.stderr, flush=True)
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.spread",
            "--one",
            "--samples",
            str(samples),
            stdout=asyncio.subprocess.PIPE,
        )
        output, _ = await process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"run {number + 1} failed ({process.returncode})")
        reports.append(json.loads(output.decode().strip().splitlines()[-1]))
    return reports


def _print(reports: list[dict[str, dict[str, dict[str, Any]]]]) -> None:
    print("| run | size | bc26 p50 / p99 (no GC), ms | serial p50 / p99 (no GC), ms | GC | lead |")
    print("|---|---|---|---|---|---|")
    for number, report in enumerate(reports, start=1):
        for size in SIZES:
            ours, theirs = report[str(size)]["bc26"], report[str(size)]["serial"]
            held = "yes" if ours["p99"] <= theirs["p99"] and not ours["lost"] else "NO"
            print(
                f"| {number} | {size} B | {ours['p50']:.3f} / {ours['p99']:.3f} "
                f"({ours['p99_without_gc']:.3f}) | {theirs['p50']:.3f} / {theirs['p99']:.3f} "
                f"({theirs['p99_without_gc']:.3f}) | {ours['gc_samples']} / "
                f"{theirs['gc_samples']} | {held} |"
            )
    for size in SIZES:
        bc26 = [report[str(size)]["bc26"]["p99"] for report in reports]
        serial = [report[str(size)]["serial"]["p99"] for report in reports]
        lead = sum(o <= t for o, t in zip(bc26, serial, strict=True))
        print(
            f"{size} B p99 over {len(reports)} runs: bc26 {min(bc26):.3f}-{max(bc26):.3f} ms, "
            f"serial sensor {min(serial):.3f}-{max(serial):.3f} ms; "
            f"bc26 at or below in {lead} of {len(reports)}"
        )


def main() -> None:
    """Entry point."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.spread", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--runs", type=int, default=5, help="fresh processes, one after another")
    parser.add_argument("--samples", type=int, default=3000, help="samples per lane and size")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # a child's run
    args = parser.parse_args()
    if args.one:
        print(json.dumps(asyncio.run(_one_run(args.samples))))
        return
    _print(asyncio.run(_runs(args.runs, args.samples)))


if __name__ == "__main__":
    main()
