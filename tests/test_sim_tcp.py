"""The same modem served as socket://127.0.0.1:PORT, one host at a time (like ser2net)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bc26sim import Bc26Simulator, ScriptedNetwork

from .sim_fixtures import Host, open_host, until
from .test_sim_manual import SECTION_5_3, replay


@pytest.fixture
async def tcp_sim(socket_enabled: None, sim_net: ScriptedNetwork) -> AsyncIterator[Bc26Simulator]:
    simulator = Bc26Simulator(time_scale=0.001, network=sim_net)
    port = await simulator.start_tcp("127.0.0.1", 0)
    assert simulator.tcp_port == port
    assert simulator.url == f"socket://127.0.0.1:{port}"
    assert simulator.path is None
    yield simulator
    await simulator.stop()


@pytest.fixture
async def tcp_host(tcp_sim: Bc26Simulator) -> AsyncIterator[Host]:
    port = await open_host(tcp_sim.url)
    yield port
    await port.close()


async def test_manual_example_over_tcp(
    tcp_sim: Bc26Simulator, tcp_host: Host, sim_net: ScriptedNetwork
) -> None:
    await replay(tcp_host, sim_net, SECTION_5_3, echo=True)


async def test_second_host_is_turned_away(tcp_sim: Bc26Simulator, tcp_host: Host) -> None:
    await until(lambda: tcp_sim.host_connected is True)
    reader, writer = await asyncio.open_connection("127.0.0.1", tcp_sim.tcp_port)
    try:
        assert await reader.read() == b""  # closed at once by the simulator
    finally:
        writer.close()
        await writer.wait_closed()
    assert await tcp_host.command("AT") == b"AT\r\r\nOK\r\n"


async def test_next_host_after_the_first_leaves(tcp_sim: Bc26Simulator, tcp_host: Host) -> None:
    assert await tcp_host.command("ATE0") == b"ATE0\r\r\nOK\r\n"
    await tcp_host.close()
    port = tcp_sim.tcp_port
    assert port is not None
    # The simulator notices the first host leave, then accepts the next.
    await until(lambda: tcp_sim.host_connected is False)
    second = await open_host(tcp_sim.url)
    try:
        assert await second.command("AT") == b"\r\nOK\r\n"  # same modem: echo still off
    finally:
        await second.close()


async def test_unplug_closes_the_connection_and_replug_listens_again(
    tcp_sim: Bc26Simulator, tcp_host: Host
) -> None:
    await tcp_sim.unplug()
    with pytest.raises((EOFError, OSError)):
        await tcp_host.read_until(b"\r\n")
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", tcp_sim.tcp_port)
    await tcp_sim.replug()
    again = await open_host(tcp_sim.url)
    try:
        assert await again.command("AT") == b"AT\r\r\nOK\r\n"
    finally:
        await again.close()


async def test_output_without_a_host_is_dropped(tcp_sim: Bc26Simulator) -> None:
    assert tcp_sim.host_connected is False
    before = tcp_sim.dropped_output  # the boot output at start went nowhere too
    tcp_sim.inject(b"nobody hears this\r\n")
    assert tcp_sim.dropped_output - before == len(b"nobody hears this\r\n")
    port = await open_host(tcp_sim.url)
    try:
        await until(lambda: tcp_sim.host_connected is True)
        assert await port.command("AT") == b"AT\r\r\nOK\r\n"
    finally:
        await port.close()
