"""Manual sections 5.1, 5.2 and 5.3, end to end.

A host on a real pseudo-terminal talks AT to the virtual BC26, whose LwM2M client
speaks real CoAP on loopback to `bc26sim.platform`.
"""

from __future__ import annotations

import asyncio

from bc26sim import Bc26Simulator
from bc26sim.platform import LwM2mPlatform
from tests.lwm2m_fixtures import ENDPOINT, WAIT, AtHost

# 57 bytes shaped like the manual's example uplink (its hex did not survive the
# PDF intact): a binary header, the IMEI in ASCII, a binary trailer.
UPLINK = (
    bytes.fromhex("01F00035020056FFFFFCD3")
    + b"8637030307351254601117480878"
    + bytes.fromhex("5000015FFB289A180100040200010097")
    + b"\x00\x01"
)
DOWNLINK = bytes.fromhex("AAAA0000")


def send_command(data: bytes, confirmable: bool) -> str:
    mode = "0x0100" if confirmable else "0x0000"
    return f"AT+QLWDATASEND=19,0,0,{len(data)},{data.hex().upper()},{mode}"


async def register(host: AtHost, platform: LwM2mPlatform, mode: int) -> None:
    """Manual 5.1 up to +QLWOBSERVE, checking every answer on the way."""
    assert await host.command("AT+CGPADDR=1") == ["+CGPADDR: 1,10.52.241.198", "OK"]
    assert await host.command(f'AT+QLWSERV="127.0.0.1",{platform.port}') == ["OK"]
    assert await host.command(f'AT+QLWCONF="{ENDPOINT}"') == ["OK"]
    assert await host.command('AT+QLWADDOBJ=19,0,1,"0"') == ["OK"]
    assert await host.command('AT+QLWADDOBJ=19,1,1,"0"') == ["OK"]
    assert await host.command(f"AT+QLWOPEN={mode}") == ["OK"]
    connected = await host.expect("CONNECT OK")
    observed = await host.expect("+QLWOBSERVE: 0,19,0,0")
    assert connected < observed


async def test_section_5_1_register_update_close(
    coap_sim: tuple[Bc26Simulator, AtHost], iot_platform: LwM2mPlatform
) -> None:
    simulator, host = coap_sim
    await register(host, iot_platform, mode=0)

    registration = iot_platform.registrations[ENDPOINT]
    assert registration.objects == ("/19/0", "/19/1")
    assert (registration.version, registration.binding) == ("1.0", "U")
    assert registration.lifetime > 0
    assert simulator.registered

    assert await host.command("AT+QLWUPDATE") == ["OK"]
    await host.expect("UPDATE OK")
    assert iot_platform.registrations[ENDPOINT].updates == 1

    assert await host.command("AT+QLWCLOSE") == ["OK"]
    await host.expect("CLOSE OK")
    assert ENDPOINT not in iot_platform.registrations
    assert await host.command("AT+QLWDEL") == ["OK"]


async def test_section_5_2_direct_push(
    coap_sim: tuple[Bc26Simulator, AtHost], iot_platform: LwM2mPlatform
) -> None:
    _, host = coap_sim
    await register(host, iot_platform, mode=0)
    assert await host.command('AT+QLWCFG="dataformat",1,1') == ["OK"]
    assert await host.command("AT+QLWDATASTATUS?") == ["+QLWDATASTATUS: 0", "OK"]

    assert await host.command(send_command(UPLINK, confirmable=False)) == ["OK"]
    async with asyncio.timeout(WAIT):
        non = await iot_platform.wait_uplink()
    assert (non.endpoint, non.path, non.payload, non.confirmable) == (
        ENDPOINT,
        (19, 0, 0),
        UPLINK,
        False,
    )

    assert (await iot_platform.write(ENDPOINT, (19, 1, 0), DOWNLINK)).code == "2.04"
    await host.expect("+QLWDATARECV: 19,1,0,4,AAAA0000")

    assert await host.command(send_command(UPLINK, confirmable=True)) == ["OK"]
    await host.expect("SEND OK")
    con = iot_platform.uplinks[-1]
    assert (con.payload, con.confirmable, con.answer) == (UPLINK, True, "ack")
    assert (con.observe_seq or 0) > (non.observe_seq or 0) > 0

    assert (await iot_platform.write(ENDPOINT, (19, 1, 0), DOWNLINK)).code == "2.04"
    await host.expect("+QLWDATARECV: 19,1,0,4,AAAA0000")
    assert await host.command("AT+QLWDATASTATUS?") == ["+QLWDATASTATUS: 4", "OK"]

    # The platform reads back the last uplink value.
    read = await iot_platform.read(ENDPOINT, (19, 0, 0))
    assert (read.code, read.payload) == ("2.05", UPLINK)


async def test_section_5_3_buffer_access(
    coap_sim: tuple[Bc26Simulator, AtHost], iot_platform: LwM2mPlatform
) -> None:
    simulator, host = coap_sim
    await register(host, iot_platform, mode=1)
    assert await host.command('AT+QLWCFG="dataformat",1,1') == ["OK"]

    assert await host.command(send_command(UPLINK, confirmable=False)) == ["OK"]
    async with asyncio.timeout(WAIT):
        await iot_platform.wait_uplink(lambda u: not u.confirmable)
    assert (await iot_platform.write(ENDPOINT, (19, 1, 0), DOWNLINK)).code == "2.04"
    await host.expect("+QLWDATARECV: 19,1,0,4")
    assert await host.command("AT+QLWRD=4") == ["+QLWRD: 4,0", "AAAA0000", "OK"]

    assert await host.command(send_command(UPLINK, confirmable=True)) == ["OK"]
    await host.expect("SEND OK")
    async with asyncio.timeout(WAIT):
        con = await iot_platform.wait_uplink(lambda u: u.confirmable)
    assert con.payload == UPLINK

    assert (await iot_platform.write(ENDPOINT, (19, 1, 0), DOWNLINK)).code == "2.04"
    await host.expect("+QLWDATARECV: 19,1,0,4")
    assert await host.command("AT+QLWRD=2") == ["+QLWRD: 2,2", "AAAA", "OK"]
    assert await host.command("AT+QLWRD=2") == ["+QLWRD: 2,0", "0000", "OK"]
    assert await host.command("AT+QLWRD=4") == ["+QLWRD: 0", "OK"]
    assert await host.command("AT+QLWDATASTATUS?") == ["+QLWDATASTATUS: 4", "OK"]
    assert simulator.buffered == 0
