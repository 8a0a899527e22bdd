"""Fault injection: reboot, unplug, garbage, split lines, interleaved URCs, slow and mute modems."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bc26sim import Bc26Simulator, ScriptedNetwork

from .sim_fixtures import Host, open_host, until

BANNER = (
    b"F1: 0000 0000\n\r"
    b"V0: 0000 0000 [0001]\n\r"
    b"00: 0006 000C\n\r"
    b"01: 0000 0000\n\r"
    b"U0: 0000 0001 [0000]\n\r"
    b"T0: 0000 00B4\n\r"
    b"Leaving the BROM\n\r"
)


async def ok(at_host: Host, command: str, *later: str) -> None:
    assert (await at_host.command(command)).endswith(b"\r\nOK\r\n"), command
    assert tuple(await at_host.lines(len(later))) == later, command


async def registered(at_host: Host) -> None:
    await ok(at_host, "ATE0")
    await ok(at_host, 'AT+QLWCFG="dataformat",1,1')
    await ok(at_host, 'AT+QLWSERV="127.0.0.1",5683')
    await ok(at_host, 'AT+QLWCONF="ep"')
    await ok(at_host, 'AT+QLWADDOBJ=19,0,1,"0"')
    await ok(at_host, "AT+QLWOPEN=0", "CONNECT OK", "+QLWOBSERVE: 0,19,0,0")


async def expect_boot(at_host: Host) -> None:
    assert await at_host.read_until(b"Leaving the BROM\n\r") == BANNER
    assert await at_host.read_until(b"+CPIN: READY\r\n") == b"\r\n+CPIN: READY\r\n"
    assert await at_host.read_until(b"+IP: 10.52.241.198\r\n") == b"\r\n+IP: 10.52.241.198\r\n"


async def test_reboot_loses_context_and_restores_defaults(
    sim: Bc26Simulator, at_host: Host, sim_net: ScriptedNetwork
) -> None:
    await registered(at_host)
    await ok(at_host, "AT+CMEE=1")
    await sim.reboot()
    await expect_boot(at_host)
    assert not sim.registered
    assert sim.echo
    assert sim_net.resets == 1
    assert await at_host.command("AT+QLWSERV?") == b"AT+QLWSERV?\r\r\nERROR\r\n"
    await ok(at_host, "ATE0")
    await ok(at_host, 'AT+QLWSERV="127.0.0.1",5683')
    await ok(at_host, 'AT+QLWCONF="ep"')
    await ok(at_host, 'AT+QLWADDOBJ=19,0,1,"0"')
    await ok(at_host, "AT+QLWOPEN=0", "CONNECT OK", "+QLWOBSERVE: 0,19,0,0")
    # the data format is back to text: 2 hex digits are 2 bytes, not 1
    assert await at_host.command("AT+QLWDATASEND=19,0,0,1,FF,0x0000") == b"\r\nERROR\r\n"
    await ok(at_host, "AT+QLWDATASEND=19,0,0,2,FF,0x0000")


async def test_qrst_answers_ok_then_reboots(sim: Bc26Simulator, at_host: Host) -> None:
    await registered(at_host)
    assert await at_host.command("AT+QRST=1") == b"\r\nOK\r\n"
    await expect_boot(at_host)
    assert not sim.registered
    assert await at_host.command("AT") == b"AT\r\r\nOK\r\n"


async def test_reboot_without_ip_address_has_no_ip_urc(sim: Bc26Simulator, at_host: Host) -> None:
    sim.ip_address = None
    await sim.reboot()
    assert await at_host.read_until(b"+CPIN: READY\r\n") == BANNER + b"\r\n+CPIN: READY\r\n"
    assert await at_host.quiet()


async def test_reboot_drops_commands_not_answered_yet(sim: Bc26Simulator, at_host: Host) -> None:
    sim.response_delay = 30.0  # the first command hangs in its answer; the second waits
    await at_host.send("AT+CSQ")
    await at_host.send("AT+CGMR")
    await until(lambda: list(sim.commands) == ["AT+CSQ"] and sim.modem.queued_lines == 1)
    sim.response_delay = 0.0
    await sim.reboot()
    assert await at_host.read_until(b"\r") == b"AT+CSQ\r"  # echoed, never answered
    await expect_boot(at_host)
    assert await at_host.command("AT") == b"AT\r\r\nOK\r\n"
    assert list(sim.commands) == ["AT+CSQ", "AT"]


async def test_unread_output_is_dropped_not_hoarded(sim: Bc26Simulator) -> None:
    sim.inject(b"x" * 1_000_000)  # no host reads the pty: the kernel buffer fills
    assert 0 < sim.dropped_output < 1_000_000


async def test_input_during_boot_is_ignored() -> None:
    """Time scale 10: the banner comes 1 s after the reboot, so the AT surely lands before."""
    simulator = Bc26Simulator(time_scale=10.0, banner_on_start=False)
    await simulator.start_pty()
    port = await open_host(simulator.url)
    try:
        assert await port.command("AT+QRST=1") == b"AT+QRST=1\r\r\nOK\r\n"
        await port.send("AT+CSQ")
        assert await port.read_until(b"Leaving the BROM\n\r") == BANNER
        assert await port.command("AT") == b"AT\r\r\nOK\r\n"
        assert list(simulator.commands) == ["AT+QRST=1", "AT"]
    finally:
        await port.close()
        await simulator.stop()


async def test_banner_on_start_reaches_a_host_that_is_already_open(tmp_path: Path) -> None:
    """A host that opens before power-up (its link is there already) sees the boot banner."""
    link = tmp_path / "bc26"
    first = Bc26Simulator(time_scale=0.001, banner_on_start=False)
    await first.start_pty(link)
    port = await open_host(str(link))
    try:
        await first.reboot()
        await expect_boot(port)
    finally:
        await port.close()
        await first.stop()
    assert not link.exists()


async def test_unplug_removes_the_link_and_replug_restores_it(tmp_path: Path) -> None:
    link = tmp_path / "ttyBC26"
    simulator = Bc26Simulator(time_scale=0.001)
    await simulator.start_pty(link)
    assert os.readlink(link) == simulator.path
    port = await open_host(str(link))
    try:
        await registered(port)
        await simulator.unplug()
        assert not simulator.plugged
        assert not link.exists()  # gone with the adapter, as udev does
        simulator.inject(b"lost\r\n")  # nobody to hear it
        with pytest.raises((EOFError, OSError)):
            await port.read_until(b"\r\n")
        await port.close()
        await simulator.replug()
        await simulator.replug()  # already plugged: nothing happens
        assert simulator.plugged
        assert os.readlink(link) == simulator.path
        port = await open_host(str(link))
        # the module kept running: still registered, echo still off
        assert simulator.registered
        assert await port.command("AT+QLWDATASEND=19,0,0,1,01,0x0000") == b"\r\nOK\r\n"
    finally:
        await port.close()
        await simulator.stop()
    assert not link.exists()


async def test_host_closing_and_reopening_the_pty(sim: Bc26Simulator) -> None:
    """The simulator holds the slave open: a host may close and come back (no EIO)."""
    for _ in range(2):
        port = await open_host(sim.url)
        assert await port.command("AT") == b"AT\r\r\nOK\r\n"
        await port.close()


async def test_garbage_to_the_host_is_delivered_as_is(sim: Bc26Simulator, at_host: Host) -> None:
    sim.inject(b"\x00\xff\xfe garbage\r\n")
    assert await at_host.read_until(b"garbage\r\n") == b"\x00\xff\xfe garbage\r\n"
    sim.inject(b"\r\n+QLWOBSERVE: 0,19,0,0\r\n")
    assert await at_host.line() == "+QLWOBSERVE: 0,19,0,0"


async def test_line_noise_from_the_host(sim: Bc26Simulator, at_host: Host) -> None:
    await at_host.write(b"\x00\xff\xfe  AT\r")  # noise before a command is skipped
    assert await at_host.read_until(b"OK\r\n") == b"AT\r\r\nOK\r\n"
    await at_host.write(b"hello\r\n\r\n\n")  # not a command, empty lines: nothing
    assert await at_host.quiet()
    assert list(sim.commands) == ["AT", "AT"]


async def test_overlong_line_is_dropped_with_error(sim: Bc26Simulator, at_host: Host) -> None:
    await at_host.command("AT+CMEE=1")
    await at_host.write(b"AT+QLWDATASEND=" + b"1" * 3000 + b"\r")
    assert await at_host.read_until(b"\r\n+CME ERROR: 100\r\n") == b"\r\n+CME ERROR: 100\r\n"
    assert await at_host.command("AT") == b"AT\r\r\nOK\r\n"


async def test_commands_split_at_every_byte(sim: Bc26Simulator, at_host: Host) -> None:
    for byte in b"AT+CGSN=1\r":
        await at_host.write(bytes([byte]))
    assert await at_host.read_until(b"OK\r\n") == (
        b"AT+CGSN=1\r\r\n+CGSN: 866971030001361\r\n\r\nOK\r\n"
    )


async def test_output_split_into_small_writes(sim: Bc26Simulator, at_host: Host) -> None:
    sim.split_writes = 1  # every byte on its own
    await at_host.send("ATI")
    reads = []
    data = b""
    while not data.endswith(b"\r\nOK\r\n"):
        chunk = await at_host.reader.read(4096)
        assert chunk
        reads.append(chunk)
        data += chunk
    assert data == b"ATI\r\r\nQuectel_Ltd\r\nQuectel_BC26\r\nRevision: BC26NBR01A02\r\n\r\nOK\r\n"
    assert max(len(chunk) for chunk in reads) < len(data)
    sim.split_writes = 0
    assert await at_host.command("AT") == b"AT\r\r\nOK\r\n"


async def test_urc_interleaved_into_a_response(sim: Bc26Simulator, at_host: Host) -> None:
    sim.interleave_next("+QLWOBSERVE: 0,19,0,0")
    assert await at_host.command("AT+CSQ") == (
        b"AT+CSQ\r\r\n+CSQ: 23,0\r\n\r\n+QLWOBSERVE: 0,19,0,0\r\n\r\nOK\r\n"
    )
    sim.interleave_next("+CEREG: 1")
    assert await at_host.command("AT") == b"AT\r\r\n+CEREG: 1\r\n\r\nOK\r\n"
    assert await at_host.command("AT") == b"AT\r\r\nOK\r\n"


async def test_slow_response_lets_a_urc_in_first(sim: Bc26Simulator, at_host: Host) -> None:
    sim.response_delay = 0.5
    assert sim.response_delay == 0.5
    await at_host.send("AT+CSQ")
    assert await at_host.read_until(b"\r") == b"AT+CSQ\r"
    sim.inject(b"\r\n+QLWOBSERVE: 0,19,0,0\r\n")
    assert await at_host.read_until(b"OK\r\n") == (
        b"\r\n+QLWOBSERVE: 0,19,0,0\r\n\r\n+CSQ: 23,0\r\n\r\nOK\r\n"
    )


async def test_mute_modem_records_but_does_not_answer(sim: Bc26Simulator, at_host: Host) -> None:
    sim.mute = True
    assert sim.mute
    await at_host.send("AT+CSQ")
    await at_host.send("AT+CGMR")
    await until(lambda: len(sim.commands) == 2)
    sim.mute = False
    assert await at_host.command("AT") == b"AT\r\r\nOK\r\n"  # nothing came before this answer
    assert list(sim.commands) == ["AT+CSQ", "AT+CGMR", "AT"]


async def test_refused_commands_are_unknown_until_taken_out(
    sim: Bc26Simulator, at_host: Host
) -> None:
    sim.refused_commands.add("+QLWDATASTATUS")
    await ok(at_host, "ATE0")
    await ok(at_host, "AT+CMEE=1")
    assert await at_host.command("AT+QLWDATASTATUS?") == b"\r\n+CME ERROR: 100\r\n"
    assert list(sim.commands)[-1] == "AT+QLWDATASTATUS?"  # recorded all the same
    sim.refused_commands.clear()
    assert await at_host.command("AT+QLWDATASTATUS?") == b"\r\n+QLWDATASTATUS: 0\r\n\r\nOK\r\n"


async def test_a_flood_of_lines_is_bounded(sim: Bc26Simulator, at_host: Host) -> None:
    await at_host.command("ATE0")
    await at_host.write(b"AT\r" * 20)
    for _ in range(16):
        assert await at_host.read_until(b"OK\r\n") == b"\r\nOK\r\n"
    assert sim.modem.dropped_lines == 4
    assert await at_host.quiet()


async def test_life_cycle_errors_and_idempotent_stop() -> None:
    simulator = Bc26Simulator(time_scale=0.001, banner_on_start=False)
    with pytest.raises(RuntimeError):
        _ = simulator.url
    assert simulator.path is None
    assert simulator.tcp_port is None
    await simulator.replug()  # not started: nothing to do
    await simulator.start_pty()
    with pytest.raises(RuntimeError):
        await simulator.start_pty()
    await simulator.stop()
    await simulator.stop()


async def test_garbled_reboot_hides_the_banner_but_not_what_follows(
    sim: Bc26Simulator, at_host: Host, sim_net: ScriptedNetwork
) -> None:
    await registered(at_host)
    await sim.reboot(garbled=True)
    noise = await at_host.read_until(b"+CPIN: READY\r\n")
    assert noise.endswith(b"\r\n+CPIN: READY\r\n")
    assert b"Leaving the BROM" not in noise
    assert all(byte >= 0x80 for byte in noise.removesuffix(b"\r\n+CPIN: READY\r\n"))
    assert not sim.registered
    assert sim_net.resets == 1


async def test_garble_next_urc_corrupts_one_byte_of_one_urc(
    sim: Bc26Simulator, at_host: Host
) -> None:
    sim.garble_next_urc("+QLWOBSERVE")
    await ok(at_host, "ATE0")
    await ok(at_host, 'AT+QLWCFG="dataformat",1,1')
    await ok(at_host, 'AT+QLWSERV="127.0.0.1",5683')
    await ok(at_host, 'AT+QLWCONF="ep"')
    await ok(at_host, 'AT+QLWADDOBJ=19,0,1,"0"')
    await ok(at_host, "AT+QLWOPEN=0", "CONNECT OK", "+QLWOBSERVE: 0,19,0,p")
    assert sim.observed == {(19, 0, 0)}  # the module observes; only the line is damaged
