"""Unsolicited result codes: which lines are events, and which are not."""

from __future__ import annotations

import pytest

from custom_components.bc26.modem import (
    DataReceived,
    IpAddressAssigned,
    NetworkRegistration,
    NetworkRegistrationChanged,
    ObserveRequest,
    SimReady,
    UrcEvent,
)
from custom_components.bc26.modem.urc import is_banner_line, parse_urc


@pytest.mark.parametrize(
    ("line", "event"),
    [
        ("+QLWOBSERVE: 0,19,0,0", ObserveRequest((19, 0, 0), cancel=False)),
        ("+QLWOBSERVE: 1,19,0,0", ObserveRequest((19, 0, 0), cancel=True)),
        ("+QLWOBSERVE: 0,3303,0,-1", ObserveRequest((3303, 0, -1), cancel=False)),
        ("+QLWOBSERVE:0, 19 ,1,0", ObserveRequest((19, 1, 0), cancel=False)),
        ("+QLWDATARECV: 19,1,0,4,AAAA0000", DataReceived((19, 1, 0), 4, b"\xaa\xaa\x00\x00")),
        ("+QLWDATARECV: 19,1,0,4", DataReceived((19, 1, 0), 4, None)),
        # text data format: one character a byte, commas and all
        ("+QLWDATARECV: 19,1,0,3,a,b", DataReceived((19, 1, 0), 3, b"a,b")),
        ("+QLWDATARECV: 19,1,0,2,AB", DataReceived((19, 1, 0), 2, b"AB")),
        ("+QLWDATARECV: 19,1,0,1,AB", DataReceived((19, 1, 0), 1, b"\xab")),
        ("+CPIN: READY", SimReady("READY")),
        ("+CEREG: 1", NetworkRegistrationChanged(NetworkRegistration.REGISTERED_HOME)),
        (
            '+CEREG: 5,"1A2B","0C8E0A12",9',
            NetworkRegistrationChanged(NetworkRegistration.REGISTERED_ROAMING),
        ),
        ("+IP: 10.52.241.198", IpAddressAssigned("10.52.241.198")),
        ("+IP: 2001:db8::1", IpAddressAssigned("2001:db8::1")),
    ],
)
def test_known_urcs(line: str, event: UrcEvent) -> None:
    assert parse_urc(line) == event


@pytest.mark.parametrize(
    "line",
    [
        "+CEREG: 0,1",  # the answer to AT+CEREG?, not a URC
        '+CEREG: 2,1,"1A2B","0C8E0A12",9',
        "+CEREG: 9",
        "+CEREG: x",
        "+QLWOBSERVE: 2,19,0,0",
        "+QLWOBSERVE: 0,19,0",
        "+QLWOBSERVE: 0,19,0,-2",
        "+QLWOBSERVE: 0,65536,0,0",
        "+QLWOBSERVE: 0,a,0,0",
        "+QLWDATARECV: 19,1,0",
        "+QLWDATARECV: 19,1,-1,2,AAAA",
        "+QLWDATARECV: 19,1,0,513",
        "+QLWDATARECV: 19,1,0,2,AAA",  # neither 2 hex bytes nor 2 characters
        "+CPIN:",
        "+IP: not-an-address",
        "+CSQ: 23,0",
        "+QLWRD: 2,0",
        "+NOCOLON",
        "OK",
        "CONNECT OK",
        "hello",
    ],
)
def test_lines_that_are_no_event(line: str) -> None:
    assert parse_urc(line) is None


@pytest.mark.parametrize(
    "line",
    [
        "F1: 0000 0000",
        "V0: 0000 0000 [0001]",
        "00: 0006 000C",
        "01: 0000 0000",
        "U0: 0000 0001 [0000]",
        "T0: 0000 00B4",
        "Leaving the BROM",
    ],
)
def test_boot_banner_lines(line: str) -> None:
    assert is_banner_line(line)


@pytest.mark.parametrize("line", ["+CSQ: 23,0", "OK", "F1: 0000", "F1: 0000 0000 junk", "", "F"])
def test_lines_that_are_no_banner(line: str) -> None:
    assert not is_banner_line(line)
