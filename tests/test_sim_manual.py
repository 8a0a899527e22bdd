"""Every example of the manual's sections 3 and 5, replayed through a real pty.

Each step is what the host sends (or what the platform does) and the lines the
manual shows in answer, in order. Lines are compared after the `\\r\\n` framing is
removed; the exact bytes of the framing are checked in test_sim_commands.py.

Two deliberate departures from the printed manual, both extraction damage:
- The 5.2/5.3 AT+QLWDATASEND lines claim <length> 57 but print 111 or 113 hex digits
  (the PDF lost characters; the 5.3 CON example even carries a garbage line
  `0000131313...,00010`). They are replayed with a 57-byte payload of the same shape:
  the 113 digits of the 5.2 CON line with the lost digit restored as a 0 before the
  closing byte 97. The garbage line is not replayed.
- 3.9 prints `+QLWDATASTATUS:4`, section 5 `+QLWDATASTATUS: 4`; the simulator writes
  the section-5 form (the usual `+CMD: value` spacing of every other response).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest

from bc26sim import Bc26Simulator, ScriptedNetwork

from .sim_fixtures import Host

PRINTED_HEX = (
    "01F00035020056FFFFFCD383633373033303330373335313235343"
    "6303131313137343830383738350000015FFB289A180100040200010097"
)
SEND_HEX = PRINTED_HEX[:-2] + "0" + PRINTED_HEX[-2:]
assert len(PRINTED_HEX) == 113
assert len(bytes.fromhex(SEND_HEX)) == 57

type PlatformAction = Callable[[ScriptedNetwork], Awaitable[object]]


@dataclass(frozen=True)
class Say:
    """The host sends `command`; the module answers `expect` (echo not included)."""

    command: str
    expect: tuple[str, ...]


@dataclass(frozen=True)
class Platform:
    """The platform acts; the module reports `expect`."""

    action: PlatformAction
    expect: tuple[str, ...]


type Step = Say | Platform


def writes(payload: bytes) -> PlatformAction:
    """The platform writes `payload` to the downlink resource /19/1/0."""

    async def action(sim_net: ScriptedNetwork) -> bool:
        return await sim_net.write((19, 1, 0), payload)

    return action


SETUP = (
    Say("AT+CGPADDR=1", ("+CGPADDR: 1,10.52.241.198", "OK")),
    Say('AT+QLWSERV="180.101.147.115",5683', ("OK",)),
    Say('AT+QLWCONF="867724030023557"', ("OK",)),
    Say('AT+QLWADDOBJ=19,0,1,"0"', ("OK",)),
    Say('AT+QLWADDOBJ=19,1,1,"0"', ("OK",)),
)

SECTION_5_1 = (
    *SETUP,
    Say("AT+QLWOPEN=0", ("OK", "CONNECT OK", "+QLWOBSERVE: 0,19,0,0")),
    Say("AT+QLWUPDATE", ("OK", "UPDATE OK")),
    Say("AT+QLWCLOSE", ("OK", "CLOSE OK")),
    Say("AT+QLWDEL", ("OK",)),
)

SECTION_5_2 = (
    *SETUP,
    Say("AT+QLWOPEN=0", ("OK", "CONNECT OK", "+QLWOBSERVE: 0,19,0,0")),
    Say('AT+QLWCFG="dataformat",1,1', ("OK",)),
    Say(f"AT+QLWDATASEND=19,0,0,57,{SEND_HEX},0x0000", ("OK",)),
    Platform(writes(bytes.fromhex("AAAA0000")), ("+QLWDATARECV: 19,1,0,4,AAAA0000",)),
    Say(f"AT+QLWDATASEND=19,0,0,57,{SEND_HEX},0x0100", ("OK", "SEND OK")),
    Platform(writes(bytes.fromhex("AAAA0000")), ("+QLWDATARECV: 19,1,0,4,AAAA0000",)),
    Say("AT+QLWDATASTATUS?", ("+QLWDATASTATUS: 4", "OK")),
)

SECTION_5_3 = (
    *SETUP,
    Say("AT+QLWOPEN=1", ("OK", "CONNECT OK", "+QLWOBSERVE: 0,19,0,0")),
    Say('AT+QLWCFG="dataformat",1,1', ("OK",)),
    Say(f"AT+QLWDATASEND=19,0,0,57,{SEND_HEX},0x0000", ("OK",)),
    Platform(writes(bytes.fromhex("AAAA0000")), ("+QLWDATARECV: 19,1,0,4",)),
    Say("AT+QLWRD=4", ("+QLWRD: 4,0", "AAAA0000", "OK")),
    Say(f"AT+QLWDATASEND=19,0,0,57,{SEND_HEX},0x0100", ("OK", "SEND OK")),
    Platform(writes(bytes.fromhex("AAAA0000")), ("+QLWDATARECV: 19,1,0,4",)),
    Say("AT+QLWRD=2", ("+QLWRD: 2,2", "AAAA", "OK")),
    Say("AT+QLWRD=2", ("+QLWRD: 2,0", "0000", "OK")),
    Say("AT+QLWDATASTATUS?", ("+QLWDATASTATUS: 4", "OK")),
)

SECTION_3 = (
    # 3.1
    Say("AT+QLWSERV=?", ('+QLWSERV: "IP_address",(0-65535)', "OK")),
    Say('AT+QLWSERV="180.101.147.115",5683', ("OK",)),
    Say("AT+QLWSERV?", ('+QLWSERV: "180.101.147.115",5683', "OK")),
    # 3.2
    Say("AT+QLWCONF=?", ('+QLWCONF: "endpointname"', "OK")),
    Say('AT+QLWCONF="866971030001361"', ("OK",)),
    Say("AT+QLWCONF?", ('+QLWCONF: "866971030001361"', "OK")),
    # 3.3
    Say('AT+QLWADDOBJ=19,0,1,"0"', ("OK",)),
    Say('AT+QLWADDOBJ=19,1,1,"0"', ("OK",)),
    # 3.11
    Say("AT+QLWCFG=?", ('+QLWCFG: "dataformat",(0,1),(0,1)', "OK")),
    Say('AT+QLWCFG="dataformat",1,0', ("OK",)),
    Say('AT+QLWCFG="dataformat",1,1', ("OK",)),
    # 3.5 (buffer access mode here, for 3.10 below)
    Say("AT+QLWOPEN=1", ("OK", "CONNECT OK", "+QLWOBSERVE: 0,19,0,0")),
    # 3.8
    Say("AT+QLWDATASEND=19,0,0,1,00,0x0000", ("OK",)),
    Say("AT+QLWDATASEND=19,0,0,1,01,0x0100", ("OK", "SEND OK")),
    # 3.9
    Say("AT+QLWDATASTATUS?", ("+QLWDATASTATUS: 4", "OK")),
    # 3.10
    Say("AT+QLWRD=?", ("+QLWRD: (1-512)", "OK")),
    Platform(writes(bytes.fromhex("AAAA0000")), ("+QLWDATARECV: 19,1,0,4",)),
    Say("AT+QLWRD=2", ("+QLWRD: 2,2", "AAAA", "OK")),
    Say("AT+QLWRD=2", ("+QLWRD: 2,0", "0000", "OK")),
    Say("AT+QLWRD=4", ("+QLWRD: 0", "OK")),
    # 3.6
    Say("AT+QLWUPDATE", ("OK", "UPDATE OK")),
    # 3.4, registered: the deletion is announced with an update
    Say("AT+QLWDELOBJ=19", ("OK", "UPDATE OK")),
    Say('AT+QLWADDOBJ=19,1,1,"0"', ("OK",)),
    # 3.7
    Say("AT+QLWCLOSE", ("OK", "CLOSE OK")),
    # 3.4, unregistered: no UPDATE OK (the next command's answer comes right after OK)
    Say("AT+QLWDELOBJ=19", ("OK",)),
    Say("AT", ("OK",)),
    # 3.12
    Say("AT+QLWDEL", ("OK",)),
)


async def replay(
    at_host: Host, sim_net: ScriptedNetwork, steps: tuple[Step, ...], echo: bool
) -> None:
    """Run the steps; each answer must be exactly the expected lines, in order."""
    for step in steps:
        if isinstance(step, Say):
            await at_host.send(step.command)
            expected = (step.command, *step.expect) if echo else step.expect
        else:
            assert await step.action(sim_net)
            expected = step.expect
        assert tuple(await at_host.lines(len(expected))) == expected, step
    assert await at_host.quiet()


@pytest.mark.parametrize("echo", [True, False], ids=["echo", "no-echo"])
@pytest.mark.parametrize(
    "steps",
    [SECTION_3, SECTION_5_1, SECTION_5_2, SECTION_5_3],
    ids=["section-3", "section-5.1", "section-5.2", "section-5.3"],
)
async def test_manual_examples(
    sim: Bc26Simulator, at_host: Host, sim_net: ScriptedNetwork, steps: tuple[Step, ...], echo: bool
) -> None:
    if not echo:
        await replay(at_host, sim_net, (Say("ATE0", ("OK",)),), echo=True)
    await replay(at_host, sim_net, steps, echo)


async def test_the_platform_received_the_manual_payloads(
    sim: Bc26Simulator, at_host: Host, sim_net: ScriptedNetwork
) -> None:
    await replay(at_host, sim_net, SECTION_5_2, echo=True)
    sent = [(n.path, n.payload.hex().upper(), n.confirmable) for n in sim_net.notifications]
    assert sent == [((19, 0, 0), SEND_HEX, False), ((19, 0, 0), SEND_HEX, True)]
    registration = sim_net.registrations[0]
    assert (registration.host, registration.port) == ("180.101.147.115", 5683)
    assert registration.endpoint == "867724030023557"
    assert [(o.object_id, o.instance_id, o.resource_ids) for o in registration.objects] == [
        (19, 0, (0,)),
        (19, 1, (0,)),
    ]
