"""Faults on the network side, seen from the host on the serial line.

Real pseudo-terminal, the virtual BC26 with its real LwM2M client, real CoAP on
loopback to `bc26sim.platform`, which stages the faults.
"""

from __future__ import annotations

import asyncio

import pytest

from bc26sim import Bc26Simulator
from bc26sim.platform import LwM2mPlatform
from tests.lwm2m_fixtures import ENDPOINT, SCALE, WAIT, AtHost
from tests.test_lwm2m_manual import UPLINK, register, send_command


async def test_platform_down_gives_connect_fail(
    coap_sim: tuple[Bc26Simulator, AtHost], socket_enabled: None
) -> None:
    simulator, host = coap_sim
    platform = await LwM2mPlatform.start("127.0.0.1", 0, time_scale=SCALE)
    port = platform.port
    await platform.stop()

    assert await host.command(f'AT+QLWSERV="127.0.0.1",{port}') == ["OK"]
    assert await host.command(f'AT+QLWCONF="{ENDPOINT}"') == ["OK"]
    assert await host.command('AT+QLWADDOBJ=19,0,1,"0"') == ["OK"]
    assert await host.command("AT+QLWOPEN=0") == ["OK"]
    await host.expect("CONNECT FAIL")
    assert not simulator.registered

    # The platform comes up on that port: the next attempt registers.
    platform = await LwM2mPlatform.start("127.0.0.1", port, time_scale=SCALE)
    try:
        assert await host.command("AT+QLWOPEN=0") == ["OK"]
        await host.expect("CONNECT OK")
        await host.expect("+QLWOBSERVE: 0,19,0,0")
    finally:
        await platform.stop()


async def test_lost_acks_give_send_fail_and_status_3(
    coap_sim: tuple[Bc26Simulator, AtHost], iot_platform: LwM2mPlatform
) -> None:
    _, host = coap_sim
    await register(host, iot_platform, mode=0)
    assert await host.command('AT+QLWCFG="dataformat",1,1') == ["OK"]
    iot_platform.con_policy = "ignore"

    assert await host.command(send_command(UPLINK, confirmable=True)) == ["OK"]
    # While the module retransmits (over a second here), the status is 1.
    assert await host.command("AT+QLWDATASTATUS?") == ["+QLWDATASTATUS: 1", "OK"]
    await host.expect("SEND FAIL")
    # RFC 7641 4.5: the observer that never acknowledged is removed.
    await host.expect("+QLWOBSERVE: 1,19,0,0")
    assert await host.command("AT+QLWDATASTATUS?") == ["+QLWDATASTATUS: 3", "OK"]

    # The platform heard the notification (retransmitted, recorded once).
    (uplink,) = iot_platform.uplinks
    assert (uplink.payload, uplink.confirmable, uplink.answer) == (UPLINK, True, "ignore")
    assert await host.command(send_command(UPLINK, confirmable=False)) == ["ERROR"]


async def test_reset_gives_send_fail_and_status_5(
    coap_sim: tuple[Bc26Simulator, AtHost], iot_platform: LwM2mPlatform
) -> None:
    _, host = coap_sim
    await register(host, iot_platform, mode=0)
    assert await host.command('AT+QLWCFG="dataformat",1,1') == ["OK"]
    iot_platform.con_policy = "reset"

    assert await host.command(send_command(UPLINK, confirmable=True)) == ["OK"]
    await host.expect("SEND FAIL")
    await host.expect("+QLWOBSERVE: 1,19,0,0")
    assert await host.command("AT+QLWDATASTATUS?") == ["+QLWDATASTATUS: 5", "OK"]
    assert iot_platform.uplinks[-1].answer == "reset"

    # The platform observes again and acknowledges: the next CON succeeds.
    iot_platform.con_policy = "ack"
    assert (await iot_platform.observe(ENDPOINT, (19, 0, 0))).code == "2.05"
    await host.expect("+QLWOBSERVE: 0,19,0,0")
    assert await host.command(send_command(b"\x01", confirmable=True)) == ["OK"]
    await host.expect("SEND OK")
    assert await host.command("AT+QLWDATASTATUS?") == ["+QLWDATASTATUS: 4", "OK"]


async def test_observe_cancel_reaches_the_host(
    coap_sim: tuple[Bc26Simulator, AtHost], iot_platform: LwM2mPlatform
) -> None:
    simulator, host = coap_sim
    await register(host, iot_platform, mode=0)
    async with asyncio.timeout(WAIT):
        await iot_platform.wait_for(lambda: iot_platform.observations(ENDPOINT))

    reply = await iot_platform.cancel_observe(ENDPOINT, (19, 0, 0))

    assert reply.code == "2.05"
    await host.expect("+QLWOBSERVE: 1,19,0,0")
    assert simulator.observed == set()
    assert await host.command("AT+QLWDATASEND=19,0,0,1,01,0x0000") == ["ERROR"]
    assert iot_platform.uplinks == []


async def test_platform_requests_on_undeclared_paths_reach_nobody(
    coap_sim: tuple[Bc26Simulator, AtHost], iot_platform: LwM2mPlatform
) -> None:
    _, host = coap_sim
    await register(host, iot_platform, mode=0)

    assert (await iot_platform.write(ENDPOINT, (19, 2, 0), b"\x01")).code == "4.04"
    assert (await iot_platform.read(ENDPOINT, (5, 0, 1))).code == "4.04"
    assert (await iot_platform.observe(ENDPOINT, (19, 0, 7))).code == "4.04"
    # Nothing reached the serial line: the next thing the host sees is its own answer.
    seen = len(host.lines)
    assert await host.command("AT") == ["OK"]
    assert host.lines[seen:] == ["AT", "OK"]


async def test_reboot_while_registered(
    coap_sim: tuple[Bc26Simulator, AtHost], iot_platform: LwM2mPlatform
) -> None:
    simulator, host = coap_sim
    await register(host, iot_platform, mode=0)
    before = iot_platform.registrations[ENDPOINT]

    await simulator.reboot()
    await host.expect("Leaving the BROM")
    await host.expect("+IP: 10.52.241.198")

    # The module's socket died with it: the platform's requests go nowhere.
    with pytest.raises(ConnectionError):
        await iot_platform.write(ENDPOINT, (19, 1, 0), b"\x01")
    assert not simulator.registered

    # The host sets everything up again; the platform takes the new registration.
    await register(host, iot_platform, mode=0)
    async with asyncio.timeout(WAIT):
        after = await iot_platform.wait_registered(ENDPOINT, newer_than=before)
    assert after.address != before.address
    assert await host.command('AT+QLWCFG="dataformat",1,1') == ["OK"]
    assert await host.command(send_command(b"\x42", confirmable=True)) == ["OK"]
    await host.expect("SEND OK")
    assert iot_platform.uplinks[-1].payload == b"\x42"
