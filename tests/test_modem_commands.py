"""The command builders and parsers: what goes on the wire, what is refused, what is read."""

from __future__ import annotations

import pytest

from custom_components.bc26.modem import (
    MAX_PAYLOAD,
    BufferRead,
    ConStatus,
    DataMode,
    InvalidArgumentError,
    NetworkRegistration,
    SignalQuality,
    UnexpectedResponseError,
    commands,
    validate_endpoint,
    validate_server_host,
)
from custom_components.bc26.modem.commands import AtCommand, Later

# ---------------------------------------------------------------------- builders, as in the manual


def test_builders_match_the_manual_examples() -> None:
    assert commands.build_server("180.101.147.115", 5683).text == (
        'AT+QLWSERV="180.101.147.115",5683'
    )
    assert commands.build_endpoint("866971030001361").text == 'AT+QLWCONF="866971030001361"'
    assert commands.build_add_object(19, 0, (0,)).text == 'AT+QLWADDOBJ=19,0,1,"0"'
    assert commands.build_add_object(19, 1, [0, 5]).text == 'AT+QLWADDOBJ=19,1,2,"0;5"'
    assert commands.build_add_object(3303, 0).text == "AT+QLWADDOBJ=3303,0"
    assert commands.build_delete_object(19, registered=False).text == "AT+QLWDELOBJ=19"
    assert commands.build_register(DataMode.DIRECT_PUSH).text == "AT+QLWOPEN=0"
    assert commands.build_register(DataMode.BUFFER_ACCESS).text == "AT+QLWOPEN=1"
    assert commands.build_update().text == "AT+QLWUPDATE"
    assert commands.build_deregister().text == "AT+QLWCLOSE"
    assert commands.build_send((19, 0, 0), b"\x00", False).text == (
        "AT+QLWDATASEND=19,0,0,1,00,0x0000"
    )
    assert commands.build_send((19, 0, 0), b"\x01", True).text == (
        "AT+QLWDATASEND=19,0,0,1,01,0x0100"
    )
    assert commands.build_con_status().text == "AT+QLWDATASTATUS?"
    assert commands.build_read(4).text == "AT+QLWRD=4"
    assert commands.build_data_format(True, False).text == 'AT+QLWCFG="dataformat",1,0'
    assert commands.build_delete_context().text == "AT+QLWDEL"


def test_basic_command_builders() -> None:
    assert [
        command.text
        for command in (
            commands.build_attention(),
            commands.build_echo(False),
            commands.build_echo(True),
            commands.build_error_format(),
            commands.build_identity(),
            commands.build_firmware(),
            commands.build_imei(),
            commands.build_signal(),
            commands.build_network_registration(),
            commands.build_ip_address(),
        )
    ] == ["AT", "ATE0", "ATE1", "AT+CMEE=1", "ATI", "AT+CGMR", "AT+CGSN=1", "AT+CSQ", "AT+CEREG?",
          "AT+CGPADDR=1"]  # fmt: skip


def test_commands_know_their_later_results() -> None:
    assert commands.build_register(DataMode.DIRECT_PUSH).later is Later.CONNECT
    assert commands.build_update().later is Later.UPDATE
    assert commands.build_deregister().later is Later.CLOSE
    confirmable = commands.build_send((19, 0, 0), b"x", True)
    assert (confirmable.later, confirmable.waits_for) == (Later.SEND, Later.SEND)
    non = commands.build_send((19, 0, 0), b"x", False)
    assert (non.later, non.waits_for) == (None, Later.SEND)
    assert commands.build_delete_object(19, registered=True).later is Later.UPDATE
    assert commands.build_delete_object(19, registered=False).later is None
    assert commands.build_delete_context().slow
    assert commands.build_signal().waits_for is None
    assert commands.LATER_RESULTS["SEND FAIL"] == (Later.SEND, False)
    assert commands.LATER_RESULTS["CONNECT OK"] == (Later.CONNECT, True)


def test_full_size_send_is_hex_and_within_the_manual_limit() -> None:
    payload = bytes(range(256)) * 2
    text = commands.build_send((19, 0, 0), payload, False).text
    assert len(payload) == MAX_PAYLOAD
    assert text.startswith("AT+QLWDATASEND=19,0,0,512,000102")
    assert text.endswith("FEFF,0x0000")
    assert len(text) == len("AT+QLWDATASEND=19,0,0,512,,0x0000") + 2 * MAX_PAYLOAD


# ---------------------------------------------------------------------- what builders refuse

INJECTIONS = ['ep"', "a,b", "line\r", "line\n", 'x"\r\nAT+QLWDEL', "tab\t", "sp ace", "é", ""]


@pytest.mark.parametrize("name", INJECTIONS)
def test_endpoint_refuses_what_could_break_the_command(name: str) -> None:
    with pytest.raises(InvalidArgumentError):
        validate_endpoint(name)
    with pytest.raises(InvalidArgumentError):
        commands.build_endpoint(name)


@pytest.mark.parametrize("name", ["a&b", "a?b", "a#b", "50%", "back\\slash", "x" * 65])
def test_endpoint_refuses_what_breaks_the_registration_uri_or_is_too_long(name: str) -> None:
    with pytest.raises(InvalidArgumentError):
        validate_endpoint(name)


@pytest.mark.parametrize(
    "name", ["866971030001361", "urn:imei:866971030001361", "bc26-test_1.x", "x" * 64, "~!$()*+"]
)
def test_endpoint_accepts_usual_names(name: str) -> None:
    assert validate_endpoint(name) == name


@pytest.mark.parametrize(
    "host",
    ["not a host!", "-bad-", "bad-.example", "a..b", "", "256.1.1.1", "1.2.3", "01.2.3.4",
     "host,5683", 'h"', "h\r\n", "x" * 254, "a." * 127 + "com", "example.123", "é.com",
     "a" * 64 + ".com"],
)  # fmt: skip
def test_server_host_refuses(host: str) -> None:
    with pytest.raises(InvalidArgumentError):
        validate_server_host(host)
    with pytest.raises(InvalidArgumentError):
        commands.build_server(host, 5683)


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "180.101.147.115", "localhost", "lwm2m.example.com", "a-1.b2.c", "1x"]
)
def test_server_host_accepts(host: str) -> None:
    assert validate_server_host(host) == host


@pytest.mark.parametrize("host", ["localhost", "lwm2m.example.com", "::1"])
def test_the_server_command_takes_an_ipv4_address_only(host: str) -> None:
    """Manual 3.1: `<ip_address>`, "the IoT platform IP address": the host resolves a name."""
    with pytest.raises(InvalidArgumentError):
        commands.build_server(host, 5683)


@pytest.mark.parametrize("value", [None, 5683.0, b"host"])
def test_validators_refuse_non_strings(value: object) -> None:
    with pytest.raises(InvalidArgumentError):
        validate_server_host(value)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError):
        validate_endpoint(value)  # type: ignore[arg-type]


@pytest.mark.parametrize("port", [-1, 65536, True, 5683.0, "5683"])
def test_server_port_range(port: object) -> None:
    with pytest.raises(InvalidArgumentError):
        commands.build_server("127.0.0.1", port)  # type: ignore[arg-type]


def test_server_port_bounds_of_the_manual() -> None:
    assert commands.build_server("127.0.0.1", 0).text.endswith(",0")
    assert commands.build_server("127.0.0.1", 65535).text.endswith(",65535")


@pytest.mark.parametrize(
    ("obj", "instance", "resources"),
    [(-1, 0, ()), (65536, 0, ()), (19, -1, ()), (19, 65536, ()), (19, 0, (65536,)),
     (19, 0, (0, 0)), (19, 0, tuple(range(33))), (True, 0, ()), (19, 0, ("0",))],
)  # fmt: skip
def test_add_object_refuses(obj: object, instance: object, resources: tuple[object, ...]) -> None:
    with pytest.raises(InvalidArgumentError):
        commands.build_add_object(obj, instance, resources)  # type: ignore[arg-type]


@pytest.mark.parametrize("obj", [-1, 65536, None])
def test_delete_object_refuses(obj: object) -> None:
    with pytest.raises(InvalidArgumentError):
        commands.build_delete_object(obj, registered=False)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("path", "data"),
    [((19, 0, 0), b""), ((19, 0, 0), b"x" * 513), ((19, 0), b"x"), ((19, 0, -1), b"x"),
     ((19, 0, 0), "text"), ([19, 0, 0], b"x"), ((19, 0, 65536), b"x")],
)  # fmt: skip
def test_send_refuses(path: object, data: object) -> None:
    with pytest.raises(InvalidArgumentError):
        commands.build_send(path, data, False)  # type: ignore[arg-type]


def test_send_takes_a_bytearray() -> None:
    assert commands.build_send((19, 0, 0), bytearray(b"\xab"), False).text.endswith(",AB,0x0000")


@pytest.mark.parametrize("length", [0, 513, -1, True])
def test_read_length_range(length: object) -> None:
    with pytest.raises(InvalidArgumentError):
        commands.build_read(length)  # type: ignore[arg-type]


def test_register_needs_a_data_mode() -> None:
    with pytest.raises(InvalidArgumentError):
        commands.build_register(0)  # type: ignore[arg-type]


def test_error_format_range() -> None:
    with pytest.raises(InvalidArgumentError):
        commands.build_error_format(3)


@pytest.mark.parametrize("text", ["AT\r", "AT\nX", 'ATI"\x00', "ZZZ", "", "AT+é"])
def test_a_command_line_is_checked_once_more_before_the_wire(text: str) -> None:
    with pytest.raises(InvalidArgumentError):
        AtCommand(text)


# ---------------------------------------------------------------------- parsers


def test_parse_identity() -> None:
    lines = ["Quectel_Ltd", "Quectel_BC26", "Revision: BC26NBR01A02"]
    assert commands.parse_identity(lines) == ("Quectel_Ltd", "Quectel_BC26", "BC26NBR01A02")
    with pytest.raises(UnexpectedResponseError):
        commands.parse_identity(["Quectel_Ltd", "Revision: X"])
    with pytest.raises(UnexpectedResponseError):
        commands.parse_identity(["Quectel_Ltd", "Quectel_BC26"])


def test_parse_firmware() -> None:
    assert commands.parse_firmware(["Revision: BC26NBR01A02"]) == "BC26NBR01A02"
    assert commands.parse_firmware(["BC26NBR01A03"]) == "BC26NBR01A03"
    with pytest.raises(UnexpectedResponseError):
        commands.parse_firmware(["Revision:"])


def test_parse_imei() -> None:
    assert commands.parse_imei(["+CGSN: 866971030001361"]) == "866971030001361"
    assert commands.parse_imei(['+CGSN: "866971030001361"']) == "866971030001361"
    assert commands.parse_imei(["866971030001361"]) == "866971030001361"
    for bad in (["+CGSN: 86697103000136"], [], ["+CGSN: 86697103000136x"]):
        with pytest.raises(UnexpectedResponseError):
            commands.parse_imei(bad)


@pytest.mark.parametrize(
    ("line", "expected"),
    [("+CSQ: 23,0", SignalQuality(-67, 0)), ("+CSQ: 0,7", SignalQuality(-113, 7)),
     ("+CSQ: 31,99", SignalQuality(-51, None)), ("+CSQ: 99,99", SignalQuality(None, None)),
     ("+CSQ:5,1", SignalQuality(-103, 1))],
)  # fmt: skip
def test_parse_signal(line: str, expected: SignalQuality) -> None:
    assert commands.parse_signal([line]) == expected


@pytest.mark.parametrize("lines", [["+CSQ: 32,0"], ["+CSQ: 23"], ["+CSQ: a,0"], ["+CSQ: 1,8"], []])
def test_parse_signal_refuses(lines: list[str]) -> None:
    with pytest.raises(UnexpectedResponseError):
        commands.parse_signal(lines)


def test_parse_network_registration() -> None:
    assert commands.parse_network_registration(["+CEREG: 0,1"]) is (
        NetworkRegistration.REGISTERED_HOME
    )
    assert commands.parse_network_registration(['+CEREG: 2,5,"1A2B","0C8E0A12",9']) is (
        NetworkRegistration.REGISTERED_ROAMING
    )
    for bad in (["+CEREG: 0"], ["+CEREG: 0,9"], ["+CEREG: 0,x"], []):
        with pytest.raises(UnexpectedResponseError):
            commands.parse_network_registration(bad)


def test_parse_ip_address() -> None:
    assert commands.parse_ip_address(["+CGPADDR: 1,10.52.241.198"]) == "10.52.241.198"
    assert commands.parse_ip_address(['+CGPADDR: 1,"10.0.0.7"']) == "10.0.0.7"
    assert commands.parse_ip_address(["+CGPADDR: 1"]) is None
    assert commands.parse_ip_address(["+CGPADDR: 1,"]) is None
    assert commands.parse_ip_address(["+CGPADDR: 2,10.0.0.8"]) is None
    assert commands.parse_ip_address([]) is None


def test_parse_con_status() -> None:
    assert commands.parse_con_status(["+QLWDATASTATUS: 4"]) is ConStatus.SUCCESS
    assert commands.parse_con_status(["+QLWDATASTATUS:5"]) is ConStatus.RESET
    for bad in (["+QLWDATASTATUS: 6"], ["+QLWDATASTATUS: x"], []):
        with pytest.raises(UnexpectedResponseError):
            commands.parse_con_status(bad)


def test_parse_read() -> None:
    assert commands.parse_read(["+QLWRD: 2,2", "AAAA"]) == BufferRead(b"\xaa\xaa", 2)
    assert commands.parse_read(["+QLWRD: 2,0", "0000"]) == BufferRead(b"\x00\x00", 0)
    assert commands.parse_read(["+QLWRD: 0"]) == BufferRead(b"", 0)
    for bad in (
        ["+QLWRD: 2,0"],  # no data line
        ["+QLWRD: 2,0", "AA"],  # data shorter than announced
        ["+QLWRD: 2,-1", "AAAA"],
        ["+QLWRD: 2", "AAAA"],
        ["+QLWRD: x,0", "AAAA"],
        [],
    ):
        with pytest.raises(UnexpectedResponseError):
            commands.parse_read(bad)


def test_information_line_shapes() -> None:
    read = commands.build_read()
    assert read.accepts("+QLWRD: 2,0")
    assert read.accepts("AAAA")
    assert not read.accepts("AAA")  # half a byte is no data line
    assert not read.accepts("+QLWDATARECV: 19,1,0,2")
    assert commands.build_identity().accepts("anything at all")
    assert not commands.build_identity().accepts("+CSCON: 1")  # unsolicited, unknown
    assert not commands.build_attention().accepts("+CSQ: 1,1")
    probes = list(commands.SYNC_PROBES)
    answers = ["+CMEE: 1", "+CMEE: (0-2)", "+CSQ: (0-31,99),(0-7,99)", "+CEREG: (0,1)"]
    for probe, answer in zip(probes, answers, strict=True):
        # each probe takes its own answer and no other probe's, nor a normal answer
        assert [other.accepts(answer) for other in probes] == [other is probe for other in probes]
        assert probe.needs_info
    for normal in ("+CSQ: 23,0", "+CEREG: 0,1", "+CFUN: 1"):  # +CFUN: 1 comes unsolicited
        assert not any(probe.accepts(normal) for probe in probes)
