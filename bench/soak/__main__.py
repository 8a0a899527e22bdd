"""`python -m bench.soak`: random faults under traffic both ways, and how the session came back.

    python -m bench.soak                   200 faults (about 6.5 minutes once every fault heals)
    python -m bench.soak --faults 60 --seed 7
    python -m bench.soak --quick           each kind of fault once

Prints tables; asserts nothing. Writes nothing outside a temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
import sys
import tempfile

from ..__main__ import machine
from .faults import Kind
from .report import (
    Windows,
    downlink_table,
    markdown,
    outcomes,
    recovery_table,
    refusals_by_fault,
    stored_table,
    strangers,
    uplink_table,
)
from .rig import LOG
from .run import BOUND, Result, soak

DEFAULT_FAULTS = 200
DEFAULT_SEED = 26


def _progress(text: str) -> None:
    print(f"... {text}", file=sys.stderr, flush=True)


async def _run(count: int, seed: int, quick: bool) -> Result:
    with tempfile.TemporaryDirectory(prefix="bc26-soak-") as directory:
        try:
            return await soak(count, seed, quick, Path(directory), _progress)
        except BaseException:
            log = Path(directory) / LOG
            if log.exists():
                text = await asyncio.to_thread(log.read_text, errors="replace")
                tail = text.splitlines()[-40:]
                print("\n".join(["Home Assistant's log ends:", *tail]), file=sys.stderr)
            raise


def report(result: Result) -> str:
    """The whole printout."""
    minutes, seconds = divmod(round(result.seconds), 60)
    timing = result.timing
    lines = [
        f"machine: {machine()}",
        f"{len(result.faults)} faults, seed {result.seed}; took {minutes} min {seconds:02d} s "
        "(set-up included)",
        f"time scale of the module, CoAP and the platform: {result.scale}; the integration's "
        f"timing: response {timing.timeouts.response:g} s, final result "
        f"{timing.timeouts.final:g} s, AT+QLWDEL {timing.timeouts.delete:g} s, reconnect "
        f"{timing.reconnect.first:g}-{timing.reconnect.maximum:g} s, registration retry "
        f"{timing.registration.first:g}-{timing.registration.maximum:g} s, deregistration "
        f"{timing.deregister_wait:g} s",
        f"recovered = registered end to end and payloads both ways again within "
        f"{BOUND:.0f} s of the fault's end, without bc26.reregister",
        "",
        markdown(recovery_table(result)),
        "",
        "Downlinks (the platform writes /19/1/0; Home Assistant's data_received event):",
        "",
        markdown(downlink_table(result)),
        "",
        f"still in the module's buffer at the end (neither delivered nor lost): "
        f"{len(result.held_at_end)}",
        f"arrivals of payloads the platform never wrote: "
        f"{strangers(result.downlinks.arrivals, result.downlinks.handovers)}",
        f"writes the module did not accept: {outcomes(result.downlinks.handovers, accepted=False)}",
        "",
        "Uplinks (bc26.send to /19/0/0; what the platform received):",
        "",
        markdown(uplink_table(result)),
        "",
        f"arrivals of payloads Home Assistant never sent: "
        f"{strangers(result.uplinks.arrivals, result.uplinks.handovers)}",
        "",
        "bc26.send refusals by fault (the error's translation key):",
        "",
        *(refusals_by_fault(result) or ["- none"]),
        *_stored(result),
    ]
    if result.log is not None:
        lines += [
            "",
            f"Home Assistant's logs ({result.log.runs} runs): {result.log.size / 1e6:.1f} MB, "
            f"{result.log.tracebacks:,} tracebacks, "
            f"{result.log.bc26_records:,} records of custom_components.bc26",
        ]
    return "\n".join(lines)


def _stored(result: Result) -> list[str]:
    """Store and forward: queued sends and the reported entity."""
    windows = Windows(result)
    return [
        "",
        "Queued sends (bc26.send with delivery: queue to /19/0/0, every other one confirmable):",
        "",
        markdown(stored_table(result.queued, result.queued_at_end, windows)),
        "",
        f"still in the outbox at the end: {len(result.queued_at_end)}; arrivals of payloads "
        f"never queued: {strangers(result.queued.arrivals, result.queued.handovers)}; refusals: "
        f"{outcomes(result.queued.handovers, accepted=False)}",
        "",
        "Reported entity (sensor.soak_counter on /3303/0/5700: text, confirmable, history kept):",
        "",
        markdown(stored_table(result.reported, result.reported_at_end, windows)),
        "",
        f"still in the outbox at the end: {len(result.reported_at_end)}; arrivals of values "
        f"the soak never counted to (its start value 0, reported when first observed): "
        f"{strangers(result.reported.arrivals, result.reported.handovers)}; refusals: "
        f"{outcomes(result.reported.handovers, accepted=False)}",
    ]


def main(argv: list[str] | None = None) -> None:
    """Entry point."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument(
        "--faults", type=int, default=DEFAULT_FAULTS, help="how many faults (default %(default)s)"
    )
    parser.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, help="random seed (default %(default)s)"
    )
    parser.add_argument(
        "--quick", action="store_true", help=f"each of the {len(Kind)} kinds of fault once"
    )
    args = parser.parse_args(argv)
    count = len(Kind) if args.quick else args.faults
    result = asyncio.run(_run(count, args.seed, args.quick))
    print(report(result))


if __name__ == "__main__":
    main()
