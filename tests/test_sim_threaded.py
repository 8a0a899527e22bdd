"""The virtual BC26 on a loop of its own keeps talking while the host's loop is stuck."""

from __future__ import annotations

import asyncio
from pathlib import Path
import threading

from bc26sim import Bc26Simulator, ScriptedNetwork
from bc26sim.threaded import SimulatorThread
from custom_components.bc26.modem import Bc26Modem, ObserveRequest

from .modem_fixtures import FAST, TIME_SCALE, Events, stall_the_event_loop


async def test_the_simulator_answers_while_the_host_loop_stalls(tmp_path: Path) -> None:
    thread = SimulatorThread()
    thread.start()
    try:

        async def start() -> Bc26Simulator:
            simulator = Bc26Simulator(
                time_scale=TIME_SCALE, network=ScriptedNetwork(time_scale=TIME_SCALE)
            )
            await simulator.start_pty(link=tmp_path / "bc26")
            return simulator

        sim = await thread.run(start())
        assert await thread.call(threading.current_thread) is not threading.current_thread()
        modem = Bc26Modem(str(tmp_path / "bc26"), timeouts=FAST)
        await modem.open()
        events = Events()
        modem.subscribe(events)
        await modem.probe()
        await thread.call(lambda: sim.inject(b"\r\n+QLWOBSERVE: 0,19,0,0\r\n"))
        stall_the_event_loop(0.2)  # written meanwhile, read once the loop runs again
        assert await events.wait_count(1) == [ObserveRequest((19, 0, 0), cancel=False)]
        await modem.close()
        await thread.run(sim.stop())
    finally:
        thread.stop()
    await asyncio.sleep(0)
