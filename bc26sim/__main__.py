"""`python -m bc26sim`: the virtual BC26 on a pseudo-terminal or a TCP port.

    python -m bc26sim --pty [--link PATH]        prints the device path, e.g. /dev/pts/7
    python -m bc26sim --tcp 127.0.0.1:PORT       prints socket://127.0.0.1:PORT
    python -m bc26sim --pty --with-platform      also runs the local LwM2M platform

Runs until SIGINT or SIGTERM, then powers the module off cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
import signal
import sys

from .lwm2m import Lwm2mClient
from .modem import DEFAULT_IMEI
from .network import Network
from .platform.console import announce_platform, start_platform
from .scripted import ScriptedNetwork
from .simulator import Bc26Simulator


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m bc26sim", description=__doc__.split("\n")[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--pty", action="store_true", help="serve on a new pseudo-terminal")
    where.add_argument("--tcp", metavar="HOST:PORT", type=_address, help="serve as socket://")
    parser.add_argument("--link", metavar="PATH", help="keep a symlink to the pty at PATH")
    parser.add_argument("--imei", default=DEFAULT_IMEI, help="IMEI (AT+CGSN=1)")
    parser.add_argument(
        "--echo", action=argparse.BooleanOptionalAction, default=True, help="echo at power-up"
    )
    parser.add_argument(
        "--time-scale",
        type=_positive,
        default=1.0,
        help="multiply every modem delay (0.01: the 128 s timeout takes 1.28 s)",
    )
    add_network_arguments(parser)
    return parser


def add_network_arguments(parser: argparse.ArgumentParser) -> None:
    """Options choosing the network behind the modem."""
    parser.add_argument(
        "--with-platform",
        action="store_true",
        help="also run the local LwM2M platform (bc26sim.platform) and print what it sees",
    )
    parser.add_argument(
        "--platform-port", type=int, default=5683, help="UDP port of --with-platform"
    )
    parser.add_argument(
        "--scripted-network",
        action="store_true",
        help="answer LwM2M from a script (field-note timing) instead of real CoAP",
    )


def build_network(args: argparse.Namespace) -> Network:
    """The network behind the modem: the real LwM2M client, or a scripted platform."""
    if args.scripted_network:
        return ScriptedNetwork.field_timed(args.time_scale)
    return Lwm2mClient(time_scale=args.time_scale)


async def serve(
    args: argparse.Namespace, stop: asyncio.Event, announce: Callable[[str], None]
) -> None:
    """Run the simulator until `stop` is set; `announce` gets the URL a host opens."""
    platform = None
    if args.with_platform:
        platform = await start_platform(args.platform_port, args.time_scale, announce)
    simulator = Bc26Simulator(
        imei=args.imei, echo=args.echo, time_scale=args.time_scale, network=build_network(args)
    )
    try:
        if args.tcp is not None:
            host, port = args.tcp
            await simulator.start_tcp(host, port)
        else:
            await simulator.start_pty(args.link)
        announce(simulator.url)
        if platform is not None:
            announce_platform(platform, announce)
        await stop.wait()
    finally:
        await simulator.stop()
        if platform is not None:
            await platform.stop()


async def _until_signalled(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await serve(args, stop, _print_flushed)


def _print_flushed(text: str) -> None:
    print(text, flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse and cross-check the command line (exits with status 2 on a mistake)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.link is not None and not args.pty:
        parser.error("--link needs --pty")
    return args


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    asyncio.run(_until_signalled(parse_args(argv)))
    return 0


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdecimal() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host, int(port)


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


if __name__ == "__main__":
    sys.exit(main())
