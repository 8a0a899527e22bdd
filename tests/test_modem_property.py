"""Property-based tests of the channel: arbitrary byte streams, framings, chunkings and
interleavings never raise, never lose or duplicate a URC, and never mis-pair an answer."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
import itertools
import math

from hypothesis import HealthCheck, given, settings, strategies as st
import pytest

from custom_components.bc26.modem import (
    AtChannel,
    CommandRejectedError,
    ModemTimeoutError,
    Timeouts,
    UnknownUrc,
    UrcEvent,
    commands,
)
from custom_components.bc26.modem.channel import LineReader
from custom_components.bc26.modem.urc import parse_urc
from tests.modem_fixtures import WAIT, Events, ModuleSide

PROPERTY_TIMEOUTS = Timeouts(response=0.25, delete=0.5, final=1.0, open=5.0)

# Commands and what the module answers them with.
CATALOGUE: list[tuple[commands.AtCommand, tuple[str, ...]]] = [
    (commands.build_signal(), ("+CSQ: 23,0",)),
    (commands.build_imei(), ("+CGSN: 866971030001361",)),
    (commands.build_network_registration(), ("+CEREG: 0,1",)),
    (commands.build_read(4), ("+QLWRD: 2,2", "AAAA")),
    (commands.build_con_status(), ("+QLWDATASTATUS: 4",)),
    (commands.build_identity(), ("Quectel_Ltd", "Quectel_BC26", "Revision: BC26NBR01A02")),
    (commands.build_attention(), ()),
    (commands.build_delete_context(), ()),
]
KNOWN_URCS = [
    "+QLWOBSERVE: 0,19,0,0",
    "+QLWOBSERVE: 1,19,0,-1",
    "+QLWDATARECV: 19,1,0,2,ABCD",
    "+QLWDATARECV: 19,1,0,4",
    "+CEREG: 2",
    "+CPIN: READY",
    "+IP: 10.0.0.1",
]
# Unknown lines that no answer of the catalogue could take for one of its lines
# (ATI's answer lines have no prefix: unknown lines are not interleaved into it, nor
# sent after a final result, when the next command may be ATI).
UNKNOWN_URCS = ["+QFOO: 1", '+QNBIOTEVENT: "ENTER PSM"', "hello world", "CONNECT OK"]
FINALS = ["OK", "ERROR", "+CME ERROR: 3"]
ENDINGS = [b"\r\n", b"\n\r", b"\r", b"\n"]
NOISE = st.binary(min_size=1, max_size=4).map(
    lambda data: bytes(byte for byte in data if not 0x21 <= byte <= 0x7E) or b"\x00"
)


@dataclass
class Exchange:
    """One command as the module will answer it."""

    index: int
    final: str
    echo: bool
    late: bool  # answered only after the command timed out
    urcs: list[tuple[int, str]]  # (position in the answer, line)

    @property
    def command(self) -> commands.AtCommand:
        return CATALOGUE[self.index][0]

    @property
    def lines(self) -> tuple[str, ...]:
        return CATALOGUE[self.index][1] if self.final == "OK" else ()

    def body(self) -> list[tuple[str, bool]]:
        """(line, is_urc) in the order the module writes them."""
        body = [(self.command.text, False)] if self.echo else []
        body += [(line, False) for line in self.lines]
        body.append((self.final, False))
        for position, urc in sorted(self.urcs, key=lambda item: item[0], reverse=True):
            # An unknown line after the final result could reach the host when the next
            # command is on the line, and ATI takes any line that is no URC: keep it inside,
            # before the final result (not merely before the last line: a known URC may
            # follow the final result already).
            final = max(index for index, (_, is_urc) in enumerate(body) if not is_urc)
            last = len(body) if urc in KNOWN_URCS else final
            body.insert(min(position, last), (urc, True))
        return body


@st.composite
def exchanges(draw: st.DrawFn) -> Exchange:
    index = draw(st.integers(0, len(CATALOGUE) - 1))
    late = draw(st.integers(0, 9)) == 0
    free = CATALOGUE[index][0].free_lines
    pool = KNOWN_URCS if late or free else KNOWN_URCS + UNKNOWN_URCS
    urcs = draw(st.lists(st.tuples(st.integers(0, 6), st.sampled_from(pool)), max_size=3))
    return Exchange(index, draw(st.sampled_from(FINALS)), draw(st.booleans()), late, urcs)


@st.composite
def framed(draw: st.DrawFn, body: list[tuple[str, bool]]) -> list[bytes]:
    """The body as bytes: each line framed one way or another, noise between, in chunks."""
    data = bytearray()
    for line, _ in body:
        if draw(st.booleans()):
            data += draw(NOISE) + draw(st.sampled_from(ENDINGS))
        data += draw(st.sampled_from([b"", b"\r\n"]))
        data += line.encode("latin-1")
        data += b"\r" if line.startswith("AT") else draw(st.sampled_from(ENDINGS))
    cuts = sorted(draw(st.sets(st.integers(1, max(len(data) - 1, 1)), max_size=6)))
    bounds = [0, *cuts, len(data)]
    return [bytes(data[start:end]) for start, end in itertools.pairwise(bounds)]


def _event(line: str) -> UrcEvent:
    return parse_urc(line) or UnknownUrc(line)


async def _module(side: ModuleSide, script: list[tuple[Exchange, list[bytes]]]) -> None:
    """Answer each command as scripted; a late answer only once the probe comes."""
    late: list[bytes] = []
    for exchange, chunks in script:
        command = await side.command()
        if late:
            assert command in {probe.text for probe in commands.SYNC_PROBES}
            probe = next(probe for probe in commands.SYNC_PROBES if probe.text == command)
            answer = {"AT+CMEE?": "+CMEE: 1", "AT+CMEE=?": "+CMEE: (0-2)"}[probe.text]
            await _write(side, [*late, f"\r\n{answer}\r\n\r\nOK\r\n".encode()])
            late = []
            command = await side.command()
        assert command == exchange.command.text  # commands go out in order, one at a time
        if exchange.late:
            late = chunks
        else:
            await _write(side, chunks)


async def _write(side: ModuleSide, chunks: list[bytes]) -> None:
    for chunk in chunks:
        side.write(chunk)
        await asyncio.sleep(0)


async def _host(channel: AtChannel, script: list[tuple[Exchange, list[bytes]]]) -> list[object]:
    outcomes: list[object] = []
    for exchange, _ in script:
        try:
            outcomes.append((await channel.execute(exchange.command)).lines)
        except (CommandRejectedError, ModemTimeoutError) as err:
            outcomes.append(type(err))
    return outcomes


def _expected(exchange: Exchange) -> object:
    if exchange.late:
        return ModemTimeoutError
    return exchange.lines if exchange.final == "OK" else CommandRejectedError


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
async def test_answers_stay_paired_and_urcs_arrive_once_in_order(data: st.DataObject) -> None:
    script_exchanges = data.draw(st.lists(exchanges(), min_size=1, max_size=5))
    # A last, plain exchange: a late answer just before it is resolved by its probe.
    script_exchanges.append(Exchange(6, "OK", echo=False, late=False, urcs=[]))
    script = [(item, data.draw(framed(item.body()))) for item in script_exchanges]
    side = await ModuleSide.open()
    channel = AtChannel(PROPERTY_TIMEOUTS)
    events = Events()
    channel.subscribe(events)
    errors: list[object] = []
    loop = asyncio.get_running_loop()
    previous_handler = loop.get_exception_handler()
    loop.set_exception_handler(lambda _, context: errors.append(context))
    try:
        await channel.open(side.path, 115200)
        async with asyncio.timeout(WAIT * 4):
            _, outcomes = await asyncio.gather(_module(side, script), _host(channel, script))
        expected_urcs = [_event(line) for item in script_exchanges
                         for line, is_urc in item.body() if is_urc]  # fmt: skip
        await events.wait_count(len(expected_urcs))
        await asyncio.sleep(0.01)  # nothing more is coming
    finally:
        await channel.close()
        await side.unplug()
        loop.set_exception_handler(previous_handler)
    assert outcomes == [_expected(item) for item in script_exchanges]
    assert events.received == expected_urcs
    assert errors == []


@given(chunks=st.lists(st.binary(max_size=64), max_size=20))
def test_any_bytes_in_any_chunks_are_lines_without_error(chunks: list[bytes]) -> None:
    whole = LineReader().feed(b"".join(chunks) + b"\r")
    reader = LineReader()
    pieces = [line for chunk in chunks for line in reader.feed(chunk)] + reader.feed(b"\r")
    assert pieces == whole
    assert all(line and "\r" not in line and "\n" not in line for line in pieces)


@pytest.mark.parametrize("budget", [0.0, math.inf], ids=["line_by_line", "all_at_once"])
@given(chunks=st.lists(st.binary(max_size=200), max_size=30))
async def test_any_bytes_into_an_idle_channel_raise_nothing(
    budget: float, chunks: list[bytes]
) -> None:
    """Whether a read's lines are handled at once or a line per loop iteration."""
    channel = AtChannel(PROPERTY_TIMEOUTS)
    channel.read_budget = budget
    events: list[UrcEvent] = []
    channel.subscribe(events.append)
    for chunk in chunks:
        channel.data_received(chunk)
    channel.data_received(b"\r\n+CPIN: READY\r\n")  # and the channel still reads lines
    for _ in range(sum(map(len, chunks)) + 2):  # at least a line per iteration
        await asyncio.sleep(0)
    assert events[-1] == _event("+CPIN: READY")
    assert all(
        not isinstance(event, UnknownUrc) or event.line.strip() == event.line for event in events
    )
