"""The paced line: the virtual BC26 at a UART's byte rate instead of whole writes at once."""

from __future__ import annotations

import pytest

from bc26sim import Bc26Simulator
from bc26sim.line import Direction, byte_ns

from .sim_fixtures import Host, until

BAUD = 115200
BYTE = byte_ns(BAUD)  # 86.8 us
FAST = 1_000_000  # tests pace fast: the same code, a tenth of the wire time


def test_a_byte_is_ten_bit_times() -> None:
    assert byte_ns(115200) == pytest.approx(86_805.6, abs=0.1)
    assert byte_ns(9600) == pytest.approx(1_041_666.7, abs=0.1)
    with pytest.raises(ValueError, match="positive"):
        byte_ns(0)


def test_writes_queue_back_to_back() -> None:
    line = Direction(BAUD)
    first = line.schedule(b"AT\r", 1_000.0)
    assert (first.start_ns, first.end_ns) == (1_000.0, 1_000.0 + 3 * BYTE)
    second = line.schedule(b"OK", 1_500.0)  # the line is still busy with the first
    assert second.start_ns == first.end_ns
    assert second.end_ns == first.end_ns + 2 * BYTE
    later = line.schedule(b"X", second.end_ns + 10 * BYTE)  # the line was idle meanwhile
    assert later.start_ns == second.end_ns + 10 * BYTE


def test_a_byte_is_delivered_when_its_stop_bit_ends() -> None:
    line = Direction(BAUD)
    line.schedule(b"ABC", 0.0)
    assert line.take_due(BYTE * 0.99) == (b"", 0.0)
    assert line.next_due_ns() == pytest.approx(BYTE)
    assert line.take_due(BYTE * 1.01) == (b"A", pytest.approx(BYTE))
    assert line.take_due(BYTE * 2.5) == (b"B", pytest.approx(2 * BYTE))
    assert line.take_due(BYTE * 3) == (b"C", pytest.approx(3 * BYTE))
    assert not line
    assert line.next_due_ns() is None


def test_a_late_reader_gets_every_byte_due_at_once_across_writes() -> None:
    line = Direction(BAUD)
    line.schedule(b"OK\r\n", 0.0)
    line.schedule(b"+CEREG: 1\r\n", 0.0)
    data, due = line.take_due(6 * BYTE)
    assert data == b"OK\r\n+C"
    assert due == pytest.approx(6 * BYTE)
    data, _ = line.take_due(1e12)
    assert data == b"EREG: 1\r\n"


def test_chunks_go_whole_and_the_end_of_a_write_at_once() -> None:
    line = Direction(BAUD, chunk=4)
    line.schedule(b"0123456789", 0.0)
    assert line.take_due(3.5 * BYTE) == (b"", 0.0)
    assert line.next_due_ns() == pytest.approx(4 * BYTE)
    assert line.take_due(7.5 * BYTE)[0] == b"0123"
    assert line.take_due(8 * BYTE)[0] == b"4567"
    assert line.next_due_ns() == pytest.approx(10 * BYTE)  # the rest, at the write's end
    assert line.take_due(9.5 * BYTE)[0] == b""
    assert line.take_due(10 * BYTE)[0] == b"89"


def test_nothing_before_a_write_starts() -> None:
    line = Direction(BAUD)
    line.schedule(b"A", 0.0)
    line.schedule(b"B", 0.0)  # starts when A is done
    assert line.take_due(1.5 * BYTE)[0] == b"A"
    assert line.take_due(1.6 * BYTE) == (b"", 0.0)
    with pytest.raises(ValueError, match="chunk"):
        Direction(BAUD, chunk=0)


async def test_paced_both_ways_same_bytes_in_order(sim: Bc26Simulator, at_host: Host) -> None:
    sim.pace(FAST)
    assert await at_host.command("ATI") == (
        b"ATI\r\r\nQuectel_Ltd\r\nQuectel_BC26\r\nRevision: BC26NBR01A02\r\n\r\nOK\r\n"
    )
    sim.inject(b"\r\n+QLWDATARECV: 19,1,0,2,ABCD\r\n")
    assert await at_host.line() == "+QLWDATARECV: 19,1,0,2,ABCD"
    line = sim.line
    assert line is not None
    await until(lambda: bool(line.lateness) and line.lateness[-1][0] >= line.busy_until_ns - 1)
    assert all(written >= due for due, written in line.lateness)  # never early
    assert sim.dropped_output == 0


async def test_paced_output_in_chunks(sim: Bc26Simulator, at_host: Host) -> None:
    sim.pace(FAST, chunk=8)
    urc = b"\r\n+QLWDATARECV: 19,1,0,16," + b"0" * 32 + b"\r\n"  # 60 bytes
    sim.inject(urc)
    assert await at_host.line() == "+QLWDATARECV: 19,1,0,16," + "0" * 32
    line = sim.line
    assert line is not None
    await until(lambda: bool(line.lateness) and line.lateness[-1][0] >= line.busy_until_ns - 1)
    start = line.last_output.start_ns
    # Bytes on the line at each write: how many writes depends on how late the line's
    # thread woke (all 60 bytes are due within 0.6 ms), but each ends on a chunk.
    ends = [round((due - start) / byte_ns(FAST)) for due, _ in line.lateness if due > start]
    assert ends[-1] == len(urc)
    assert all(end % 8 == 0 for end in ends[:-1])


async def test_pacing_off_again_delivers_whole_writes(sim: Bc26Simulator, at_host: Host) -> None:
    sim.pace(FAST)
    sim.inject(b"\r\n+CEREG: 1\r\n")
    sim.pace(None)  # waits for what is on the line
    assert sim.line is None
    assert await at_host.line() == "+CEREG: 1"
    assert await at_host.command("AT") == b"AT\r\r\nOK\r\n"


async def test_pacing_survives_unplug_and_replug(sim: Bc26Simulator) -> None:
    sim.pace(FAST)
    await sim.unplug()
    assert sim.line is None
    await sim.replug()
    assert sim.line is not None
    assert sim.line.baudrate == FAST


async def test_pacing_needs_a_pty() -> None:
    simulator = Bc26Simulator(time_scale=0.001)
    with pytest.raises(RuntimeError, match="pseudo-terminal"):
        simulator.pace(BAUD)
