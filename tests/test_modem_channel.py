"""AtChannel over a real pseudo-terminal whose module end the test drives byte by byte."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import logging

import pytest

from custom_components.bc26.modem import (
    AtChannel,
    Bc26Modem,
    CommandRejectedError,
    DataMode,
    DataReceived,
    IpAddressAssigned,
    ModemError,
    ModemRebooted,
    ModemRebootedError,
    ModemTimeoutError,
    ObserveRequest,
    PortError,
    SimReady,
    Timeouts,
    UnexpectedResponseError,
    UnknownUrc,
    commands,
)
from custom_components.bc26.modem.channel import MAX_LINE, LineReader
from tests.modem_fixtures import WAIT, Events, ModuleSide, stall_the_event_loop, until

SHORT = Timeouts(response=0.3, delete=0.6, final=1.0, open=5.0)
OBSERVE = "+QLWOBSERVE: 0,19,0,0"
# AT+QLWDEL's allowance (the late-answer horizon) longer than four probe timeouts.
LONG_HORIZON = Timeouts(response=0.2, delete=1.5, final=3.0, open=5.0)
PROBE_ANSWERS = {
    "AT+CMEE?": "+CMEE: 1",
    "AT+CMEE=?": "+CMEE: (0-2)",
    "AT+CSQ=?": "+CSQ: (0-31,99),(0-7,99)",
    "AT+CEREG=?": "+CEREG: (0,1)",
}


@pytest.fixture
async def channel(module_side: ModuleSide) -> AsyncIterator[AtChannel]:
    """An AtChannel opened on the test's pseudo-terminal."""
    at = AtChannel(SHORT, transcript_size=50)
    await at.open(module_side.path, 115200)
    yield at
    await at.close()


@pytest.fixture
async def horizon_channel(module_side: ModuleSide) -> AsyncIterator[AtChannel]:
    """A channel whose probes stay out long enough for all of them to be out at once."""
    at = AtChannel(LONG_HORIZON, transcript_size=50)
    await at.open(module_side.path, 115200)
    yield at
    await at.close()


@pytest.fixture
def events(channel: AtChannel) -> Events:
    """The channel's URC events."""
    received = Events()
    channel.subscribe(received)
    return received


def _start(channel: AtChannel, command: commands.AtCommand) -> asyncio.Task[object]:
    return asyncio.create_task(channel.execute(command))


async def _unanswered(
    channel: AtChannel, module_side: ModuleSide, command: commands.AtCommand
) -> str:
    """Send `command`, let it time out unanswered; return the line the module received."""
    task = _start(channel, command)
    line = await module_side.command()
    with pytest.raises(ModemTimeoutError):
        await task
    return line


# ---------------------------------------------------------------------- line framing


def test_line_reader_endings_and_noise() -> None:
    reader = LineReader()
    data = b"a\r\nb\n\rc\rd\n\r\n\r\n\x00\xff e \x1b\r\npartial"
    assert reader.feed(data) == ["a", "b", "c", "d", "e"]
    assert reader.feed(b" line\r") == ["partial line"]


def test_line_reader_split_anywhere() -> None:
    data = b"\r\n+QLWOBSERVE: 0,19,0,0\r\nF1: 0000 0000\n\rOK\r\n"
    for size in range(1, len(data)):
        reader = LineReader()
        lines = [line for start in range(0, len(data), size)
                 for line in reader.feed(data[start : start + size])]  # fmt: skip
        assert lines == ["+QLWOBSERVE: 0,19,0,0", "F1: 0000 0000", "OK"]


def test_line_reader_cuts_overlong_lines() -> None:
    reader = LineReader(max_line=16)
    lines = reader.feed(b"0123456789" * 5 + b"\r\nnext\r\n")
    assert lines == ["0123456789012345...", "next"]
    assert reader.overlong_lines == 1


# ---------------------------------------------------------------------- one command at a time


async def test_answer_lines_and_echo_are_paired(
    channel: AtChannel, module_side: ModuleSide
) -> None:
    task = _start(channel, commands.build_signal())
    assert await module_side.command() == "AT+CSQ"
    module_side.answer("+CSQ: 23,0", echo="AT+CSQ")
    response = await task
    assert response.lines == ("+CSQ: 23,0",)  # type: ignore[attr-defined]
    assert channel.in_step


@pytest.mark.parametrize("ending", [b"\r\n", b"\n\r", b"\r", b"\n"])
async def test_every_line_ending(
    channel: AtChannel, module_side: ModuleSide, ending: bytes
) -> None:
    task = _start(channel, commands.build_identity())
    await module_side.command()
    module_side.write(ending.join([b"ATI", b"Quectel_Ltd", b"Quectel_BC26", b"Revision: R", b"OK"])
                      + ending)  # fmt: skip
    response = await task
    assert response.lines == ("Quectel_Ltd", "Quectel_BC26", "Revision: R")  # type: ignore[attr-defined]


async def test_answer_split_in_single_bytes(channel: AtChannel, module_side: ModuleSide) -> None:
    task = _start(channel, commands.build_imei())
    await module_side.command()
    for byte in b"AT+CGSN=1\r\r\n+CGSN: 866971030001361\r\n\r\nOK\r\n":
        module_side.write(bytes([byte]))
        await asyncio.sleep(0)
    assert (await task).lines == ("+CGSN: 866971030001361",)  # type: ignore[attr-defined]


async def test_rejections_carry_the_code(channel: AtChannel, module_side: ModuleSide) -> None:
    for final, code in (("ERROR", None), ("+CME ERROR: 50", 50), ("+CME ERROR: unknown", None)):
        task = _start(channel, commands.build_update())
        await module_side.command()
        module_side.answer(final=final)
        with pytest.raises(CommandRejectedError) as caught:
            await task
        assert (caught.value.command, caught.value.code) == ("AT+QLWUPDATE", code)


async def test_urcs_inside_an_answer_go_to_subscribers(
    channel: AtChannel, module_side: ModuleSide, events: Events
) -> None:
    task = _start(channel, commands.build_read(4))
    await module_side.command()
    module_side.write(
        b"\r\n+QLWRD: 2,2\r\n+QLWDATARECV: 19,1,0,1,01\r\nAAAA\r\n"
        b"\r\n+IP: 10.0.0.9\r\n\r\n+QFOO: 1\r\n\r\nOK\r\n"
    )
    assert (await task).lines == ("+QLWRD: 2,2", "AAAA")  # type: ignore[attr-defined]
    assert events.received == [
        DataReceived((19, 1, 0), 1, b"\x01"),
        IpAddressAssigned("10.0.0.9"),
        UnknownUrc("+QFOO: 1"),
    ]


async def test_idle_lines(channel: AtChannel, module_side: ModuleSide, events: Events) -> None:
    module_side.write(
        b"\r\nOK\r\n"  # a stray final result: dropped
        b"AT+CSQ\r"  # a stray echo: dropped
        b"\r\n+CSQ: 23,0\r\n"  # an answer nobody asked for: reported
        b"\r\nCONNECT OK\r\n"  # a later result nobody waits for: reported
        b"\r\n+CPIN: READY\r\n"
    )
    received = await events.wait_count(3)
    assert received == [UnknownUrc("+CSQ: 23,0"), UnknownUrc("CONNECT OK"), SimReady("READY")]
    assert channel.late_lines == 1


async def test_overlong_line_is_reported_cut(
    channel: AtChannel, module_side: ModuleSide, events: Events
) -> None:
    module_side.write(b"x" * (MAX_LINE + 100) + b"\r\n" + OBSERVE.encode() + b"\r\n")
    received = await events.wait_count(2)
    assert received[1] == ObserveRequest((19, 0, 0), cancel=False)
    assert isinstance(received[0], UnknownUrc)
    assert received[0].line.endswith("...")
    assert len(received[0].line) < 100


async def test_a_backlog_is_handled_over_several_iterations_in_order(
    channel: AtChannel, module_side: ModuleSide, events: Events
) -> None:
    channel.read_budget = 0.0  # every line but the first of a read waits for the next turn
    urcs = [f"+QLWDATARECV: 19,1,0,1,{number:02X}" for number in range(20)]
    handled_in: list[int] = []
    iteration = 0

    async def count_iterations() -> None:
        nonlocal iteration
        while True:
            await asyncio.sleep(0)
            iteration += 1

    counter = asyncio.create_task(count_iterations())
    channel.subscribe(lambda _: handled_in.append(iteration))
    module_side.write("".join(f"\r\n{line}\r\n" for line in urcs).encode())
    received = await events.wait_count(len(urcs))
    counter.cancel()
    assert received == [DataReceived((19, 1, 0), 1, bytes([n])) for n in range(20)]
    assert len(set(handled_in)) > 1  # not all in one callback
    # Reading resumed: a command is answered as usual.
    task = _start(channel, commands.build_signal())
    await module_side.command()
    module_side.answer("+CSQ: 23,0")
    assert (await task).lines == ("+CSQ: 23,0",)  # type: ignore[attr-defined]


async def test_an_answer_split_by_the_budget_still_completes(
    channel: AtChannel, module_side: ModuleSide, events: Events
) -> None:
    channel.read_budget = 0.0
    task = _start(channel, commands.build_signal())
    await module_side.command()
    module_side.write(b"\r\n" + OBSERVE.encode() + b"\r\n" * 2 + OBSERVE.encode())
    module_side.write(b"\r\n\r\n+CSQ: 23,0\r\n\r\nOK\r\n")
    assert (await task).lines == ("+CSQ: 23,0",)  # type: ignore[attr-defined]
    assert await events.wait_count(2) == [ObserveRequest((19, 0, 0), cancel=False)] * 2


async def test_a_backlog_is_handled_before_the_port_is_lost(
    channel: AtChannel, module_side: ModuleSide, events: Events
) -> None:
    channel.read_budget = 0.0
    lost: list[tuple[int, Exception | None]] = []
    channel.on_connection_lost(lambda error: lost.append((len(events.received), error)))
    module_side.write(b"".join(b"\r\n" + OBSERVE.encode() + b"\r\n" for _ in range(5)))
    await events.wait_count(1)
    await module_side.unplug()
    await until(lambda: bool(lost))
    handled, error = lost[0]
    assert handled == 5  # every line the module sent before it went, before the loss
    assert isinstance(error, PortError)


# ---------------------------------------------------------------------- later final results


async def test_later_result_and_other_commands_meanwhile(
    channel: AtChannel, module_side: ModuleSide
) -> None:
    register = _start(channel, commands.build_register(DataMode.DIRECT_PUSH))
    assert await module_side.command() == "AT+QLWOPEN=0"
    module_side.answer()
    signal = _start(channel, commands.build_signal())
    assert await module_side.command() == "AT+CSQ"  # the line is free while CONNECT is awaited
    module_side.answer("+CSQ: 10,0")
    assert (await signal).lines == ("+CSQ: 10,0",)  # type: ignore[attr-defined]
    assert not register.done()
    module_side.write(b"\r\nCONNECT FAIL\r\n")
    assert (await register).later_ok is False  # type: ignore[attr-defined]


async def test_ok_and_later_result_in_one_read(channel: AtChannel, module_side: ModuleSide) -> None:
    task = _start(channel, commands.build_send((19, 0, 0), b"\x01", True))
    await module_side.command()
    module_side.write(b"\r\nOK\r\n\r\nSEND OK\r\n")
    assert (await task).later_ok is True  # type: ignore[attr-defined]


async def test_later_result_before_the_ok_is_kept(
    channel: AtChannel, module_side: ModuleSide, events: Events
) -> None:
    task = _start(channel, commands.build_deregister())
    await module_side.command()
    module_side.write(b"\r\nCLOSE OK\r\n\r\nOK\r\n")
    assert (await task).later_ok is True  # type: ignore[attr-defined]
    assert events.received == []


async def test_a_send_waits_for_the_pending_con_result(
    channel: AtChannel, module_side: ModuleSide
) -> None:
    con = _start(channel, commands.build_send((19, 0, 0), b"\x01", True))
    await module_side.command()
    module_side.answer()
    non = _start(channel, commands.build_send((19, 0, 0), b"\x02", False))
    await asyncio.sleep(0.05)
    assert module_side.pending == b""  # the NON send is held back (manual 3.8 note 1)
    module_side.write(b"\r\nSEND FAIL\r\n")
    assert (await con).later_ok is False  # type: ignore[attr-defined]
    assert await module_side.command() == "AT+QLWDATASEND=19,0,0,1,02,0x0000"
    module_side.answer()
    assert (await non).later_ok is None  # type: ignore[attr-defined]


async def test_later_result_timeout(
    channel: AtChannel, module_side: ModuleSide, events: Events
) -> None:
    task = _start(channel, commands.build_update())
    await module_side.command()
    module_side.answer()
    with pytest.raises(ModemTimeoutError, match="final result"):
        await task
    module_side.write(b"\r\nUPDATE OK\r\n")  # too late: reported, not kept for the next update
    assert await events.wait_count(1) == [UnknownUrc("UPDATE OK")]
    assert channel.in_step  # the immediate answer came: nothing to resynchronise


# ---------------------------------------------------------------------- timeouts, resynchronising


async def test_late_answer_is_never_taken_for_the_next_command(
    channel: AtChannel, module_side: ModuleSide, events: Events
) -> None:
    assert await _unanswered(channel, module_side, commands.build_identity()) == "ATI"
    assert not channel.in_step
    imei = _start(channel, commands.build_imei())
    # Before the next command, a probe; the late answer of ATI comes first, as it would.
    assert await module_side.command() == "AT+CMEE?"
    module_side.answer("Quectel_Ltd", "Quectel_BC26", "Revision: R")
    module_side.write(b"\r\n+QLWOBSERVE: 0,19,0,0\r\n")
    module_side.answer("+CMEE: 1")
    assert await module_side.command() == "AT+CGSN=1"
    module_side.answer("+CGSN: 866971030001361")
    assert (await imei).lines == ("+CGSN: 866971030001361",)  # type: ignore[attr-defined]
    assert channel.in_step
    assert events.received == [ObserveRequest((19, 0, 0), cancel=False)]  # late lines: dropped


async def test_probe_answered_with_an_error_still_resynchronises(
    channel: AtChannel, module_side: ModuleSide
) -> None:
    await _unanswered(channel, module_side, commands.build_attention())
    follow = _start(channel, commands.build_attention())
    assert await module_side.command() == "AT+CMEE?"
    module_side.answer(final="OK")  # AT's late OK: before the probe's line, so dropped
    module_side.answer("+CMEE: 1", final="ERROR")
    assert await module_side.command() == "AT"
    module_side.answer()
    assert (await follow).lines == ()  # type: ignore[attr-defined]


async def _deaf_probes(channel: AtChannel, module_side: ModuleSide) -> list[str]:
    """Time out one command, then one probe of each kind; return the probes sent."""
    await _unanswered(channel, module_side, commands.build_attention())
    sent = []
    for _ in commands.SYNC_PROBES:
        task = _start(channel, commands.build_attention())
        sent.append(await module_side.command())
        with pytest.raises(ModemTimeoutError, match="did not answer"):
            await task
    return sent


async def test_late_answers_of_the_probes_put_the_line_in_step_at_once(
    horizon_channel: AtChannel, module_side: ModuleSide
) -> None:
    sent = await _deaf_probes(horizon_channel, module_side)
    assert sent == [probe.text for probe in commands.SYNC_PROBES]
    assert not horizon_channel.in_step
    # The module was only busy: it answers everything, in order, and each answer is
    # told apart; the last probe's answer settles every command before it.
    module_side.answer()
    for probe in commands.SYNC_PROBES:
        module_side.answer(PROBE_ANSWERS[probe.text])
    await until(lambda: horizon_channel.in_step)
    task = _start(horizon_channel, commands.build_signal())
    assert await module_side.command() == "AT+CSQ"  # no probe needed, no wait
    module_side.answer("+CSQ: 5,5")
    assert (await task).lines == ("+CSQ: 5,5",)  # type: ignore[attr-defined]


async def test_a_late_probe_answer_settles_only_what_came_before_it(
    horizon_channel: AtChannel, module_side: ModuleSide
) -> None:
    sent = await _deaf_probes(horizon_channel, module_side)
    module_side.answer(PROBE_ANSWERS[sent[0]])  # the first probe answers; the rest are lost
    await asyncio.sleep(0.05)
    assert not horizon_channel.in_step  # the later probes may still be answered


async def test_probes_lost_for_good_are_sent_again_once_old_enough(
    horizon_channel: AtChannel, module_side: ModuleSide
) -> None:
    """A module that was deaf (not busy) answers nothing late: the line is back soon anyway."""
    sent = await _deaf_probes(horizon_channel, module_side)
    task = _start(horizon_channel, commands.build_signal())
    # Every probe went out within the horizon: the oldest is sent again once it is
    # older than the longest immediate answer the manual allows, not refused.
    assert await module_side.command() == sent[0]
    module_side.answer(PROBE_ANSWERS[sent[0]])
    assert await module_side.command() == "AT+CSQ"
    module_side.answer("+CSQ: 5,5")
    assert (await task).lines == ("+CSQ: 5,5",)  # type: ignore[attr-defined]
    assert horizon_channel.in_step


async def test_a_boot_banner_settles_everything_that_was_pending(
    channel: AtChannel, module_side: ModuleSide
) -> None:
    await _unanswered(channel, module_side, commands.build_signal())
    assert not channel.in_step
    module_side.write(b"F1: 0000 0000\n\rLeaving the BROM\n\r")
    await until(lambda: channel.in_step)
    task = _start(channel, commands.build_attention())
    assert await module_side.command() == "AT"  # no probe: the module forgot the old command
    module_side.answer()
    assert (await task).lines == ()  # type: ignore[attr-defined]


async def test_an_answer_that_came_during_a_stall_is_taken(
    channel: AtChannel, module_side: ModuleSide
) -> None:
    """A stalled event loop reads the answer and fires the deadline in one go."""
    task = _start(channel, commands.build_signal())
    assert await module_side.command() == "AT+CSQ"
    module_side.answer("+CSQ: 9,0")
    stall_the_event_loop(
        SHORT.response * 2
    )  # the loop is stuck past the deadline; the answer waits
    assert (await task).lines == ("+CSQ: 9,0",)  # type: ignore[attr-defined]
    assert channel.in_step


async def test_a_rejection_that_came_during_a_stall_is_taken(
    channel: AtChannel, module_side: ModuleSide
) -> None:
    task = _start(channel, commands.build_update())
    await module_side.command()
    module_side.answer(final="+CME ERROR: 3")
    stall_the_event_loop(SHORT.response * 2)
    with pytest.raises(CommandRejectedError):
        await task
    assert channel.in_step


async def test_a_later_result_that_came_during_a_stall_is_taken(
    channel: AtChannel, module_side: ModuleSide
) -> None:
    task = _start(channel, commands.build_send((19, 0, 0), b"\x01", True))
    await module_side.command()
    module_side.answer()
    await asyncio.sleep(0.05)
    module_side.write(b"\r\nSEND OK\r\n")
    stall_the_event_loop(SHORT.final + 0.2)
    assert (await task).later_ok is True  # type: ignore[attr-defined]


async def test_an_answer_behind_a_backlog_at_the_deadline_is_taken(
    channel: AtChannel, module_side: ModuleSide
) -> None:
    """After a stall, URCs ahead of the answer are handled in slices; the answer still counts."""
    handled: list[object] = []

    def slow_subscriber(event: object) -> None:
        handled.append(event)
        stall_the_event_loop(0.0002)  # an entity's state write, say: the budget runs out

    channel.subscribe(slow_subscriber)
    task = _start(channel, commands.build_read())
    assert await module_side.command() == "AT+QLWRD=512"
    for number in range(60):
        module_side.write(f"\r\n+QLWOBSERVE: 0,19,0,{number}\r\n".encode())
    module_side.answer("+QLWRD: 2,0", "AAAA")
    stall_the_event_loop(SHORT.response * 2)  # everything waits in the port past the deadline
    assert (await task).lines == ("+QLWRD: 2,0", "AAAA")  # type: ignore[attr-defined]
    assert len(handled) == 60
    assert channel.in_step


async def test_a_long_command_has_its_wire_time(module_side: ModuleSide) -> None:
    """At 9600 baud a 1,000-character send takes 1 s to reach the module: not a timeout."""
    at = AtChannel(SHORT, transcript_size=50)
    await at.open(module_side.path, 9600)
    try:
        command = commands.build_send((19, 0, 0), bytes(480), False)
        assert len(command.text) > 960
        task = _start(at, command)
        await module_side.command()
        await asyncio.sleep(SHORT.response + 0.1)  # past the plain deadline: still reading
        assert not task.done()
        module_side.answer()
        assert (await task).lines == ()  # type: ignore[attr-defined]
    finally:
        await at.close()


async def test_chatter_does_not_keep_an_unanswered_command_waiting(
    channel: AtChannel, module_side: ModuleSide, events: Events
) -> None:
    """URCs keep coming, the answer never does: the timeout comes, `delete` late at most."""
    task = _start(channel, commands.build_signal())
    await module_side.command()
    chatter = 0
    while not task.done():
        module_side.write(f"\r\n{OBSERVE}\r\n".encode())
        chatter += 1
        await asyncio.sleep(0.02)
        assert chatter < WAIT / 0.02, "the command never timed out"
    with pytest.raises(ModemTimeoutError):
        await task
    assert events.received


async def test_begin_returns_at_the_ok_and_the_line_is_free_meanwhile(
    channel: AtChannel, module_side: ModuleSide
) -> None:
    written: list[str] = []
    begin = asyncio.create_task(
        channel.begin(commands.build_send((19, 0, 0), b"\x01", True), lambda: written.append("x"))
    )
    assert await module_side.command() == "AT+QLWDATASEND=19,0,0,1,01,0x0100"
    assert written == ["x"]
    module_side.answer()
    begun = await begin
    assert begun.later is not None
    assert not begun.later.done()
    signal = _start(channel, commands.build_signal())
    assert await module_side.command() == "AT+CSQ"
    module_side.answer("+CSQ: 7,0")
    await signal
    module_side.write(b"\r\nSEND OK\r\n")
    assert await begun.wait() is True


async def test_giving_up_on_a_later_result_keeps_its_kind_busy(
    channel: AtChannel, module_side: ModuleSide
) -> None:
    """The module keeps a CON send pending whoever waits: a second send must wait too."""
    begin = asyncio.create_task(channel.begin(commands.build_send((19, 0, 0), b"\x01", True)))
    await module_side.command()
    module_side.answer()
    begun = await begin
    waiter = asyncio.create_task(begun.wait())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    second = _start(channel, commands.build_send((19, 0, 0), b"\x02", False))
    await asyncio.sleep(0.05)
    assert module_side.pending == b""  # held back until the first one's result
    module_side.write(b"\r\nSEND FAIL\r\n")
    assert await module_side.command() == "AT+QLWDATASEND=19,0,0,1,02,0x0000"
    module_side.answer()
    assert (await second).later_ok is None  # type: ignore[attr-defined]


async def test_a_command_never_written_is_not_reported_as_written(
    channel: AtChannel, module_side: ModuleSide
) -> None:
    first = asyncio.create_task(channel.begin(commands.build_send((19, 0, 0), b"\x01", True)))
    await module_side.command()
    module_side.answer()
    await first
    written: list[str] = []
    second = asyncio.create_task(
        channel.begin(commands.build_send((19, 0, 0), b"\x02", True), lambda: written.append("x"))
    )
    await asyncio.sleep(0.05)
    second.cancel()  # still waiting for the first one's SEND result: nothing went out
    with pytest.raises(asyncio.CancelledError):
        await second
    assert written == []
    module_side.write(b"\r\nSEND OK\r\n")


async def test_a_caller_giving_up_leaves_the_channel_to_resynchronise(
    channel: AtChannel, module_side: ModuleSide
) -> None:
    task = _start(channel, commands.build_signal())
    await module_side.command()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    module_side.answer("+CSQ: 1,1")  # the answer comes after all
    again = _start(channel, commands.build_signal())
    assert await module_side.command() == "AT+CMEE?"
    module_side.answer("+CMEE: 1")
    assert await module_side.command() == "AT+CSQ"
    module_side.answer("+CSQ: 2,2")
    assert (await again).lines == ("+CSQ: 2,2",)  # type: ignore[attr-defined]


async def test_delete_context_has_the_longer_timeout(
    channel: AtChannel, module_side: ModuleSide
) -> None:
    task = _start(channel, commands.build_delete_context())
    await module_side.command()
    await asyncio.sleep(SHORT.response + 0.1)  # past the ordinary timeout
    assert not task.done()
    module_side.answer()
    assert (await task).lines == ()  # type: ignore[attr-defined]


# ---------------------------------------------------------------------- reboot and port loss


async def test_reboot_fails_the_command_in_flight_at_once(
    channel: AtChannel, module_side: ModuleSide, events: Events
) -> None:
    update = _start(channel, commands.build_update())
    await module_side.command()
    module_side.answer()  # UPDATE result pending
    signal = _start(channel, commands.build_signal())
    await module_side.command()
    banner = b"F1: 0000 0000\n\rV0: 0000 0000 [0001]\n\r00: 0006 000C\n\rLeaving the BROM\n\r"
    module_side.write(banner)
    async with asyncio.timeout(SHORT.response / 2):  # well before the timeout
        with pytest.raises(ModemRebootedError):
            await signal
        with pytest.raises(ModemRebootedError):
            await update
    assert not channel.in_step  # the module might have read AT+CSQ after booting
    module_side.write(banner[-18:])  # a second, shorter boot: AT+CSQ is answered or gone
    assert await events.wait_count(2) == [ModemRebooted(), ModemRebooted()]
    assert channel.in_step


async def test_port_lost_fails_everything_and_tells(
    channel: AtChannel, module_side: ModuleSide
) -> None:
    lost: list[Exception | None] = []
    channel.on_connection_lost(lost.append)
    register = _start(channel, commands.build_register(DataMode.BUFFER_ACCESS))
    await module_side.command()
    module_side.answer()
    signal = _start(channel, commands.build_signal())
    await module_side.command()
    await module_side.unplug()
    with pytest.raises(PortError):
        await signal
    with pytest.raises(PortError):
        await register
    assert len(lost) == 1
    assert isinstance(lost[0], PortError)
    assert not channel.is_open
    with pytest.raises(PortError):
        await channel.execute(commands.build_attention())


async def test_close_is_quiet_and_idempotent(module_side: ModuleSide) -> None:
    at = AtChannel(SHORT)
    lost: list[Exception | None] = []
    unsubscribe = at.on_connection_lost(lost.append)
    await at.open(module_side.path, 9600)
    await at.open(module_side.path, 9600)  # already open: nothing happens
    assert at.is_open
    await at.close()
    await at.close()
    assert lost == []
    unsubscribe()
    unsubscribe()
    with pytest.raises(PortError, match="closed"):
        await at.execute(commands.build_attention())


async def test_open_failures_are_port_errors() -> None:
    at = AtChannel(SHORT)
    with pytest.raises(PortError):
        await at.open("/dev/does-not-exist-bc26", 115200)
    with pytest.raises(PortError):
        await at.open("nosuchscheme://x", 115200)
    assert not at.is_open


# ---------------------------------------------------------------------- subscribers and transcript


async def test_a_failing_subscriber_breaks_nothing(
    channel: AtChannel, module_side: ModuleSide, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(event: object) -> None:
        raise RuntimeError("subscriber bug")

    channel.subscribe(broken)
    good = Events()
    unsubscribe = channel.subscribe(good)
    with caplog.at_level(logging.ERROR):
        module_side.write(b"\r\n" + OBSERVE.encode() + b"\r\n")
        await good.wait_count(1)
    assert "error in a URC subscriber" in caplog.text
    unsubscribe()
    module_side.write(b"\r\n+CPIN: READY\r\n")
    task = _start(channel, commands.build_attention())
    await module_side.command()
    module_side.answer()
    await task
    assert good.received == [ObserveRequest((19, 0, 0), cancel=False)]


async def test_a_failing_lost_callback_breaks_nothing(
    channel: AtChannel, module_side: ModuleSide, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(error: Exception | None) -> None:
        raise RuntimeError("callback bug")

    told = asyncio.Event()
    channel.on_connection_lost(broken)
    channel.on_connection_lost(lambda error: told.set())
    with caplog.at_level(logging.ERROR):
        await module_side.unplug()
        async with asyncio.timeout(WAIT):
            await told.wait()
    assert "connection-lost callback" in caplog.text


async def test_transcript_is_bounded_and_timestamped(module_side: ModuleSide) -> None:
    at = AtChannel(SHORT, transcript_size=4)
    await at.open(module_side.path, 115200)
    try:
        for number in range(3):
            task = _start(at, commands.build_signal())
            await module_side.command()
            module_side.answer(f"+CSQ: {number},0")
            await task
    finally:
        await at.close()
    transcript = at.transcript
    assert [(line.direction, line.text) for line in transcript] == [
        ("rx", "OK"),
        ("tx", "AT+CSQ"),
        ("rx", "+CSQ: 2,0"),
        ("rx", "OK"),
    ]
    stamps = [line.timestamp for line in transcript]
    assert stamps == sorted(stamps)


# ---------------------------------------------------------------------- the modem on odd answers


async def test_modem_reports_answers_it_cannot_read(module_side: ModuleSide) -> None:
    modem = Bc26Modem(module_side.path, timeouts=SHORT)
    await modem.open()
    try:
        identify = asyncio.create_task(modem.identify())
        assert await module_side.command() == "ATI"
        module_side.answer("Quectel_BC26")  # no manufacturer, no revision
        with pytest.raises(UnexpectedResponseError):
            await identify
        read = asyncio.create_task(modem.read_buffer(4))
        assert await module_side.command() == "AT+QLWRD=4"
        module_side.answer("+QLWRD: 4,0", "AAAA")  # two bytes where four were announced
        with pytest.raises(UnexpectedResponseError):
            await read
        signal = asyncio.create_task(modem.signal())
        assert await module_side.command() == "AT+CSQ"
        module_side.answer()  # OK without the +CSQ line
        with pytest.raises(UnexpectedResponseError):
            await signal
        assert isinstance(UnexpectedResponseError("x"), ModemError)
    finally:
        await modem.close()


# ---------------------------------------------------------------------- unsolicited lines
# Field notes: "Other unsolicited lines on the same port: `+CSCON: 0|1`, `+CEREG: <n>`,
# `+IP: <addr>`, `+CPIN: READY`, `+CFUN: <n>`." The library knows some of them only.


@pytest.fixture
async def modem(module_side: ModuleSide) -> AsyncIterator[Bc26Modem]:
    """A Bc26Modem on the test's pseudo-terminal."""
    client = Bc26Modem(module_side.path, timeouts=SHORT)
    await client.open()
    yield client
    await client.close()


@pytest.mark.parametrize("during", ["ATI", "AT+CGMR"])
async def test_an_unknown_unsolicited_line_is_no_part_of_a_bare_text_answer(
    modem: Bc26Modem, module_side: ModuleSide, during: str
) -> None:
    """ATI and AT+CGMR answer in bare text: a `+CSCON: 1` there is the radio's, not theirs.

    Taken into ATI's answer it made the manufacturer `+CSCON: 1` and the model
    `Quectel_Ltd` (not a BC26); into AT+CGMR's, the firmware.
    """
    answers = {
        "ATI": ("Quectel_Ltd", "Quectel_BC26", "Revision: BC26NBR01A02"),
        "AT+CGMR": ("Revision: BC26NBR01A02",),
        "AT+CGSN=1": ("+CGSN: 866971030001361",),
    }
    identify = asyncio.create_task(modem.identify())
    for command, answer in answers.items():
        assert await module_side.command() == command
        if command == during:
            module_side.write(b"\r\n+CSCON: 1\r\n")  # the RRC connection came up meanwhile
        module_side.answer(*answer)
    identity = await identify
    assert (identity.manufacturer, identity.model) == ("Quectel_Ltd", "Quectel_BC26")
    assert identity.firmware == "BC26NBR01A02"


async def test_an_unsolicited_cfun_is_not_taken_for_a_probe_answer(
    channel: AtChannel, module_side: ModuleSide
) -> None:
    """A probe's answer must look like no unsolicited line.

    With AT+CFUN? among the probes, an unsolicited `+CFUN: 1` was taken for its answer,
    and an earlier command's late OK for its result: the channel believed it was in
    step, and AT+QLWRD got the first probe's late OK. The read's real answer was
    dropped, and with it the node the module had removed.
    """
    assert await _unanswered(channel, module_side, commands.build_attention()) == "AT"
    first_probe = await _unanswered(channel, module_side, commands.build_signal())
    read = _start(channel, commands.build_read(512))
    second_probe = await module_side.command()
    assert {first_probe, second_probe} <= PROBE_ANSWERS.keys()
    module_side.write(b"\r\n+CFUN: 1\r\n")  # the module reports its functionality
    module_side.answer()  # the first AT's late OK
    await asyncio.sleep(0.1)  # the module takes its time with the rest
    module_side.answer(PROBE_ANSWERS[first_probe])
    module_side.answer(PROBE_ANSWERS[second_probe])
    assert await module_side.command() == "AT+QLWRD=512"
    module_side.answer("+QLWRD: 4,0", "AAAA0000")
    assert (await read).lines == ("+QLWRD: 4,0", "AAAA0000")  # type: ignore[attr-defined]
