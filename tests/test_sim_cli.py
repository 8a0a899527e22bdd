"""`python -m bc26sim`: as a real subprocess, and its serve loop in-process."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
import signal
import sys

import pytest

from bc26sim.__main__ import parse_args, serve

from .sim_fixtures import open_host

ROOT = Path(__file__).parent.parent
START = 30.0  # a cold interpreter on a loaded machine can be slow to print its first line


async def start(*options: str) -> tuple[asyncio.subprocess.Process, str]:
    """Run the CLI; return the process and the first line it prints."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bc26sim",
        *options,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    async with asyncio.timeout(START):
        line = await process.stdout.readline()
    return process, line.decode().strip()


async def finish(process: asyncio.subprocess.Process, signum: int) -> int:
    process.send_signal(signum)
    async with asyncio.timeout(START):
        return await process.wait()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["term", "int"])
async def test_pty_with_link(tmp_path: Path, signum: int) -> None:
    link = tmp_path / "ttyBC26"
    process, path = await start("--pty", "--link", str(link), "--time-scale", "0.001")
    try:
        assert path.startswith("/dev/")
        assert os.readlink(link) == path
        port = await open_host(str(link))
        try:
            assert await port.command("AT+CGMR") == (
                b"AT+CGMR\r\r\nRevision: BC26NBR01A02\r\n\r\nOK\r\n"
            )
        finally:
            await port.close()
    finally:
        returncode = await finish(process, signum)
    assert returncode == 0
    assert not link.exists()


async def test_tcp(socket_enabled: None) -> None:
    process, url = await start(
        "--tcp", "127.0.0.1:0", "--no-echo", "--imei", "999888777666555", "--time-scale", "0.01"
    )
    try:
        assert url.startswith("socket://127.0.0.1:")
        port = await open_host(url)
        try:
            assert await port.command("AT+CGSN=1") == (b"\r\n+CGSN: 999888777666555\r\n\r\nOK\r\n")
        finally:
            await port.close()
    finally:
        returncode = await finish(process, signal.SIGTERM)
    assert returncode == 0


async def test_serve_in_process(tmp_path: Path) -> None:
    args = parse_args(["--pty", "--time-scale", "0.001", "--link", str(tmp_path / "l")])
    assert args.echo
    stop = asyncio.Event()
    announced: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(serve(args, stop, announced.set_result))
    url = await announced
    port = await open_host(url)
    try:
        assert await port.command("AT") == b"AT\r\r\nOK\r\n"
    finally:
        await port.close()
        stop.set()
        await task
    assert not (tmp_path / "l").exists()


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--pty", "--tcp", "127.0.0.1:1"],
        ["--tcp", "127.0.0.1:1", "--link", "ttyBC26"],
        ["--tcp", "nohost"],
        ["--tcp", ":80"],
        ["--tcp", "127.0.0.1:65536"],
        ["--pty", "--time-scale", "0"],
        ["--pty", "--time-scale", "fast"],
    ],
)
def test_bad_command_lines_exit_with_usage(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        parse_args(argv)
    assert exit_info.value.code == 2
