"""`scripts/develop` (python -m bc26sim.develop) as a user runs it: a real subprocess.

Its command line: ports that are taken stop it with one clear line; a later run
follows the ports given; what the platform sees is printed; the demo has history
and no integration that fails to set up.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
import os
from pathlib import Path
import re
import signal
import socket
import sys
from typing import Any

import pytest

from bc26sim.hass_process import HassProcess, Login

ROOT = Path(__file__).parent.parent
WAIT = 120.0  # Home Assistant's first start on a loaded machine
UPLINK_HEX = "68656C6C6F"  # "hello"

# The demo module reports on /19/0/0 and /3303/0/5700: a send names its resource.
UPLINK_IDS = {"object_id": 19, "instance_id": 0, "resource_id": 0}


def _free_port(kind: socket.SocketKind) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Demo:
    """A running `python -m bc26sim.develop` and everything it printed so far."""

    process: asyncio.subprocess.Process
    lines: list[str] = field(default_factory=list)
    reader: asyncio.Task[None] | None = None

    async def read(self) -> None:
        assert self.process.stdout is not None
        while line := await self.process.stdout.readline():
            self.lines.append(line.decode().rstrip("\n"))

    async def wait_line(self, predicate: Callable[[str], bool]) -> str:
        """The first line printed (so far or later) for which `predicate` holds."""
        async with asyncio.timeout(WAIT):
            while True:
                found = [line for line in self.lines if predicate(line)]
                if found:
                    return found[0]
                if self.process.returncode is not None and self.reader and self.reader.done():
                    raise AssertionError(f"the demo ended: {self.lines}")
                await asyncio.sleep(0.1)

    async def interrupt(self) -> int:
        """Ctrl-C; the demo's exit code."""
        self.process.send_signal(signal.SIGINT)
        async with asyncio.timeout(WAIT):
            code = await self.process.wait()
            if self.reader is not None:
                await self.reader
        return code


async def _start(*options: str) -> Demo:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bc26sim.develop",
        *options,
        cwd=ROOT,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    demo = Demo(process)
    demo.reader = asyncio.create_task(demo.read())
    return demo


async def _refused(*options: str) -> tuple[int, list[str], list[str]]:
    """Run the demo to its end: exit code, stdout lines, stderr lines."""
    demo = await _start(*options)
    assert demo.process.stderr is not None
    async with asyncio.timeout(WAIT):
        errors = (await demo.process.stderr.read()).decode().splitlines()
        code = await demo.process.wait()
        assert demo.reader is not None
        await demo.reader
    return code, demo.lines, errors


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[list[Demo]]:
    """Demos a test starts; interrupted at the end, whatever the test did."""
    demos: list[Demo] = []
    yield demos
    for demo in demos:
        if demo.process.returncode is None:
            await demo.interrupt()


@pytest.mark.usefixtures("socket_enabled")
async def test_a_taken_http_port_stops_the_demo_with_one_line(tmp_path: Path) -> None:
    with socket.socket() as other_server:
        other_server.bind(("127.0.0.1", 0))
        other_server.listen()
        port = other_server.getsockname()[1]
        code, lines, errors = await _refused(
            "--config", str(tmp_path / "config"), "--port", str(port), "--platform-port", "0"
        )
    assert code != 0
    assert len(errors) == 1, errors
    assert f"TCP port {port}" in errors[0]
    assert "--port" in errors[0]
    assert not [line for line in lines if line.startswith("Home Assistant: http")]


@pytest.mark.usefixtures("socket_enabled")
async def test_a_taken_platform_port_stops_the_demo_with_one_line(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as other_platform:
        other_platform.bind(("127.0.0.1", 0))
        port = other_platform.getsockname()[1]
        code, _, errors = await _refused(
            "--config",
            str(tmp_path / "config"),
            "--port",
            str(_free_port(socket.SOCK_STREAM)),
            "--platform-port",
            str(port),
        )
    assert code != 0
    assert len(errors) == 1, errors
    assert f"UDP port {port}" in errors[0]
    assert "--platform-port" in errors[0]


async def _api(config: Path, port: int) -> HassProcess:
    """A client of the demo's Home Assistant, logged in as the demo user."""
    client = HassProcess(config, port, config / "unused.log")
    await client.attach()
    await client.log_in(Login())
    return client


async def _history(client: HassProcess, entity_id: str) -> list[dict[str, Any]]:
    found = await client.get_json(f"/api/history/period?filter_entity_id={entity_id}")
    return found[0] if found else []


async def _check_first_run(demo: Demo, config: Path, port: int) -> None:
    """What a user sees on the first run: platform events, history, no failed setup."""
    await demo.wait_line(lambda line: line.startswith("platform: registered 8669"))
    await demo.wait_line(lambda line: line.startswith("platform: observed 8669"))
    await demo.wait_line(lambda line: re.match(r"platform: downlink \d+ /19/1/0 4 bytes", line))
    # The general case too: an IPSO light the platform switches (text/plain), and the
    # decoded temperature Home Assistant reports on an IPSO resource ("Report an entity").
    await demo.wait_line(
        lambda line: re.match(
            r"platform: downlink \d+ /3311/0/5850 text 1 bytes: 3[01] -> 2.04", line
        )
    )
    await demo.wait_line(
        lambda line: re.match(r"platform: uplink \d+ /3303/0/5700 NON seq \d+ text 4 bytes", line)
    )
    client = await _api(config, port)
    try:
        entries = await client.get_json("/api/config/config_entries/entry")
        # Nothing failed to set up (no red card): every entry loaded, the module's too.
        assert {entry["state"] for entry in entries} == {"loaded"}
        (entry_id,) = [entry["entry_id"] for entry in entries if entry["domain"] == "bc26"]
        hello = {"config_entry_id": entry_id, "data": "hello", **UPLINK_IDS}
        await client.call_action("bc26", "send", hello)
        await demo.wait_line(
            lambda line: line.startswith("platform: uplink") and UPLINK_HEX in line
        )
        ids = await client.entity_ids("bc26")
        (temperature,) = [eid for uid, eid in ids.items() if "-decoded-" in uid]
        async with asyncio.timeout(WAIT):
            # The recorder commits every few seconds: look again until it did.
            while len({s["state"] for s in await _history(client, temperature)}) < 3:  # noqa: ASYNC110
                await asyncio.sleep(0.5)
    finally:
        await client.stop()


@pytest.mark.usefixtures("socket_enabled")
async def test_the_demo_shows_the_platform_and_a_later_run_follows_the_ports(
    tmp_path: Path, running: list[Demo]
) -> None:
    config = tmp_path / "config"
    http, platform = _free_port(socket.SOCK_STREAM), _free_port(socket.SOCK_DGRAM)
    first = await _start(
        "--config", str(config), "--port", str(http), "--platform-port", str(platform),
        "--downlink-every", "0.5",
    )  # fmt: skip
    running.append(first)
    await first.wait_line(lambda line: line.startswith(f"Home Assistant: http://127.0.0.1:{http}"))
    await _check_first_run(first, config, http)
    assert await first.interrupt() == 0

    http, platform = _free_port(socket.SOCK_STREAM), _free_port(socket.SOCK_DGRAM)
    second = await _start(
        "--config", str(config), "--port", str(http), "--platform-port", str(platform)
    )
    running.append(second)
    await second.wait_line(
        lambda line: line.endswith(f"now registers with udp 127.0.0.1:{platform}")
    )
    await second.wait_line(lambda line: line.startswith(f"Home Assistant: http://127.0.0.1:{http}"))
    await second.wait_line(lambda line: line.startswith("platform: registered 8669"))
    client = await _api(config, http)  # the demo user logs in on the new port
    await client.stop()
    assert await second.interrupt() == 0
