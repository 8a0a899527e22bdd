"""Run the local LwM2M platform: `python -m bc26sim.platform --port 5683`.

It prints registrations, observations and uplinks as they arrive, and writes each
line typed on standard input to every registered device:

    AAAA0000                 hex digits: these bytes to /19/1/0 (--downlink-path), opaque
    hello                    anything else: its UTF-8 text, the same way
    3311/0/5850 01           a first word with a slash is the path
    3303/0/5700 text 21.5    then a format: text (text/plain), opaque, or tlv (the value
                             wrapped in one TLV resource entry)

`--downlink-format` sets the format of lines that name none. `--downlink-every N`
sends `--downlink-hex HEX` (to --downlink-path, in --downlink-format) or
`--downlink-line LINE` (a line as typed) every N seconds. `--observe PATH[:FORMAT]`
observes PATH after each registration, asking for FORMAT (the Accept option); the
device answers and notifies in that format. What the virtual BC26 does with each
format: `bc26sim.lwm2m`.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
import contextlib
import os
import signal
import stat
import sys

from bc26sim.platform.console import (
    DOWNLINK_PATH,
    FORMATS,
    Downlink,
    describe,
    downlink_every,
    downlinks_from,
    encode_value,
    observe_text,
    parse_downlink,
    parse_format,
    parse_observe,
    parse_path,
)
from bc26sim.platform.server import LwM2mPlatform, ObserveTarget

DEFAULT_OBSERVE = ObserveTarget((19, 0, 0))


def _write(line: str) -> None:
    print(line, flush=True)


def _argument[T](parse: Callable[[str], T]) -> Callable[[str], T]:
    """`parse` for argparse: its ValueError text becomes the error shown."""

    def convert(text: str) -> T:
        try:
            return parse(text)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    return convert


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m bc26sim.platform",
        description="A local LwM2M server for the virtual BC26.",
        epilog=(__doc__ or "").partition("\n\n")[2],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=5683, help="UDP port (0: any free port)")
    parser.add_argument(
        "--observe",
        action="append",
        type=_argument(parse_observe),
        metavar="PATH[:FORMAT]",
        help="observe PATH after each registration, asking for FORMAT if given "
        f"({', '.join(FORMATS)}); default 19/0/0; repeatable",
    )
    parser.add_argument("--no-observe", action="store_true", help="observe nothing by itself")
    parser.add_argument(
        "--downlink-path",
        type=_argument(parse_path),
        default=DOWNLINK_PATH,
        help="where lines that name no path go (default 19/1/0)",
    )
    parser.add_argument(
        "--downlink-format",
        type=_argument(parse_format),
        default=FORMATS["opaque"],
        metavar="FORMAT",
        help=f"format of lines that name none: {', '.join(FORMATS)} (default opaque)",
    )
    parser.add_argument(
        "--downlink-every", type=float, metavar="SECONDS", help="send a downlink periodically"
    )
    periodic = parser.add_mutually_exclusive_group()
    periodic.add_argument("--downlink-hex", default="AAAA0000", help="the periodic downlink")
    periodic.add_argument("--downlink-line", metavar="LINE", help="the periodic downlink, as typed")
    parser.add_argument(
        "--time-scale", type=float, default=1.0, help="multiply protocol timers by this"
    )
    args = parser.parse_args(argv)
    try:
        args.downlink = _periodic_downlink(args)
    except ValueError as err:
        parser.error(str(err))
    return args


def _periodic_downlink(args: argparse.Namespace) -> Downlink:
    """What --downlink-every sends: --downlink-line as typed, or --downlink-hex."""
    if args.downlink_line is not None:
        return parse_downlink(args.downlink_line, args.downlink_path, args.downlink_format)
    try:
        value = bytes.fromhex(args.downlink_hex)
    except ValueError:
        raise ValueError("--downlink-hex takes hex digits") from None
    payload = encode_value(args.downlink_path, args.downlink_format, value)
    return Downlink(args.downlink_path, args.downlink_format, payload)


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
    await downlinks_from(
        reader, platform, _write, args.downlink_path, content_format=args.downlink_format
    )


async def _periodic(platform: LwM2mPlatform, args: argparse.Namespace) -> None:
    downlink: Downlink = args.downlink
    await downlink_every(
        platform,
        args.downlink_every,
        downlink.payload,
        _write,
        downlink.path,
        content_format=downlink.content_format,
    )


async def run(args: argparse.Namespace) -> None:
    """Serve until interrupted (Ctrl-C or SIGTERM)."""
    observe = [] if args.no_observe else args.observe or [DEFAULT_OBSERVE]
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
    observed = ", ".join(observe_text(t) for t in observe) or "nothing"
    _write(f"observes {observed} after registration; type [PATH [FORMAT]] PAYLOAD to write")
    tasks = [asyncio.create_task(_read_stdin(platform, args))]
    if args.downlink_every:
        tasks.append(asyncio.create_task(_periodic(platform, args)))
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
