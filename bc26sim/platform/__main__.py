"""Run the local LwM2M platform: `python -m bc26sim.platform --port 5683`.

It prints registrations, observations and uplinks as they arrive. Each line typed
on standard input (hex digits, or text) is written to /19/1/0 of every registered
device; `--downlink-every N --downlink-hex HEX` does the same on a timer.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import stat
import sys

from bc26sim.platform.console import (
    DOWNLINK_PATH,
    describe,
    downlink_every,
    downlinks_from,
    parse_path,
    path_text,
)
from bc26sim.platform.server import LwM2mPlatform


def _write(line: str) -> None:
    print(line, flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m bc26sim.platform", description="A local LwM2M server for the virtual BC26."
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=5683, help="UDP port (0: any free port)")
    parser.add_argument(
        "--observe",
        action="append",
        type=parse_path,
        metavar="PATH",
        help="observe PATH after each registration (default 19/0/0; repeatable)",
    )
    parser.add_argument("--no-observe", action="store_true", help="observe nothing by itself")
    parser.add_argument(
        "--downlink-path", type=parse_path, default=DOWNLINK_PATH, help="where downlinks go"
    )
    parser.add_argument(
        "--downlink-every", type=float, metavar="SECONDS", help="send a downlink periodically"
    )
    parser.add_argument("--downlink-hex", default="AAAA0000", help="the periodic downlink")
    parser.add_argument(
        "--time-scale", type=float, default=1.0, help="multiply protocol timers by this"
    )
    args = parser.parse_args(argv)
    try:
        args.downlink_payload = bytes.fromhex(args.downlink_hex)
    except ValueError:
        parser.error("--downlink-hex takes hex digits")
    return args


def _stdin_readable() -> bool:
    """Whether stdin is something the event loop can wait on (not a file, not /dev/null)."""
    try:
        mode = os.fstat(sys.stdin.fileno()).st_mode
    except (OSError, ValueError):
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or sys.stdin.isatty()


async def _read_stdin(platform: LwM2mPlatform, args: argparse.Namespace) -> None:
    if not _stdin_readable():
        return  # no typed downlinks; the timer ones still go out
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    await downlinks_from(reader, platform, _write, args.downlink_path)


async def run(args: argparse.Namespace) -> None:
    """Serve until interrupted (Ctrl-C or SIGTERM)."""
    observe = [] if args.no_observe else args.observe or [(19, 0, 0)]
    platform = await LwM2mPlatform.start(
        args.host,
        args.port,
        observe=observe,
        time_scale=args.time_scale,
        on_event=lambda event: _write(describe(event)),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    _write(f"LwM2M platform listening on coap://{args.host}:{platform.port}")
    observed = ", ".join(path_text(p) for p in observe) or "nothing"
    _write(f"observes {observed} after registration; type hex or text for a downlink")
    tasks = [asyncio.create_task(_read_stdin(platform, args))]
    if args.downlink_every:
        tasks.append(
            asyncio.create_task(
                downlink_every(
                    platform, args.downlink_every, args.downlink_payload, _write, args.downlink_path
                )
            )
        )
    try:
        await stop.wait()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await platform.stop()


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
