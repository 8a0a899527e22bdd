"""`scripts/develop`: the local LwM2M platform, the virtual BC26 and Home Assistant together.

On the first run it onboards a demo user and adds the module through Home
Assistant's own config flow, one decoded sensor and two IPSO objects through its
subentry flows, and reports the decoded temperature on /3303/0/5700 ("Report an
entity"), exactly as a person would in the UI; later runs reuse the
configuration and follow the ports given (a changed platform port goes through the
entry's reconfigure flow). The platform writes a sample frame to /19/1/0 and switches
the IPSO light /3311/0/5850 (text/plain) every few seconds, observes /19/0/0 and
/3303/0/5700, and prints what it sees and does. Ctrl-C stops all.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from pathlib import Path
import signal
import struct
import sys
from typing import Any

from .hass_process import HassError, HassProcess, Login, PortInUseError, write_config
from .lwm2m import Lwm2mClient
from .modem import DEFAULT_IMEI
from .platform.console import describe, send_downlink
from .platform.server import TEXT, LwM2mPlatform, ObserveTarget, PlatformEvent
from .simulator import Bc26Simulator

DOWNLINK_PATH = (19, 1, 0)
UPLINK_PATH = (19, 0, 0)
# The general case beside the /19 pair: an IPSO temperature Home Assistant reports, and an
# IPSO light control the platform switches.
TEMPERATURE_PATH = (3303, 0, 5700)
LIGHT_PATH = (3311, 0, 5850)
DEMO_OBJECTS: list[dict[str, Any]] = [
    {"object": 3303, "instance": 0, "written": "", "reported": "5700", "name": "Temperature"},
    {"object": 3311, "instance": 0, "written": "5850", "reported": "", "name": "Light"},
]

# The sample frame: a type byte, a counter, then a big-endian temperature in 0.1 °C.
SAMPLE_SENSOR: dict[str, Any] = {
    "name": "Demo temperature",
    "resource_path": "19/1/0",
    "value_template": "{{ (value_bytes[2] * 256 + value_bytes[3]) / 10 }}",
    "unit_of_measurement": "°C",
    "device_class": "temperature",
    "state_class": "measurement",
}


def sample_frame(counter: int) -> bytes:
    """Frame `counter` of the demo downlink: the temperature wanders between 20 and 24 °C."""
    tenths = 200 + (counter * 7) % 40
    return struct.pack(">BBH", 0x01, counter % 256, tenths)


async def add_module(hass: HassProcess, serial_path: str, platform_port: int) -> str:
    """Run the BC26 config flow through the HTTP API; return the new entry's id."""
    result = await hass.config_flow(
        "bc26",
        [
            {"port": serial_path, "baudrate": "115200"},
            lambda form: {
                "server": "127.0.0.1",
                "server_port": platform_port,
                "endpoint": _default(form, "endpoint"),
                "data_mode": "direct_push",
            },
        ],
    )
    if result.get("type") != "create_entry":
        raise RuntimeError(f"the BC26 config flow did not finish: {result}")
    return str(result["result"]["entry_id"])


def _default(form: dict[str, Any], name: str) -> Any:
    """The default a form offers for field `name` (the endpoint defaults to the IMEI)."""
    for field in form["data_schema"]:
        if field["name"] == name:
            return field.get("default")
    raise KeyError(name)


async def add_demo_objects(hass: HassProcess, entry_id: str) -> None:
    """Declare the IPSO objects through "Declare an LwM2M object"; register with them."""
    for number, answer in enumerate(DEMO_OBJECTS, start=1):
        last = number == len(DEMO_OBJECTS)
        result = await hass.subentry_flow(
            entry_id, "lwm2m_object", [{**answer, "register_now": last}]
        )
        if result.get("type") != "create_entry":
            raise RuntimeError(f"the object flow did not finish: {result}")


async def add_reported_temperature(hass: HassProcess, entry_id: str) -> None:
    """Report the decoded temperature on /3303/0/5700 through "Report an entity"."""
    ids = await hass.entity_ids("bc26")
    sensor = next(entity_id for unique_id, entity_id in ids.items() if "-decoded-" in unique_id)
    answer = {
        "entity_id": sensor,
        "resource_path": "/".join(str(part) for part in TEMPERATURE_PATH),
        "declare": False,
        "encoding": "text",
        "confirmable": False,
        "min_interval": 0,
        "heartbeat": 0,
        "keep_history": False,
    }
    result = await hass.subentry_flow(entry_id, "report_entity", [answer])
    if result.get("type") != "create_entry":
        raise RuntimeError(f"the report flow did not finish: {result}")


async def add_sample_sensor(hass: HassProcess, entry_id: str) -> None:
    """Add the decoded temperature sensor through the "Add resource sensor" subentry flow."""
    result = await hass.subentry_flow(entry_id, "resource_sensor", [SAMPLE_SENSOR])
    if result.get("type") != "create_entry":
        raise RuntimeError(f"the resource sensor flow did not finish: {result}")


async def follow_platform_port(hass: HassProcess, entry_id: str, platform_port: int) -> bool:
    """Point the module at 127.0.0.1:`platform_port` through its reconfigure flow.

    Returns whether it had to change; an entry already there is left alone.
    """

    def answer(form: dict[str, Any]) -> dict[str, Any] | None:
        current = {field["name"]: _suggested(field) for field in form["data_schema"]}
        wanted = {**current, "server": "127.0.0.1", "server_port": platform_port}
        return None if wanted == current else wanted

    result = await hass.reconfigure_flow("bc26", entry_id, answer)
    if result is not None and result.get("reason") != "reconfigure_successful":
        raise RuntimeError(f"the BC26 reconfigure flow did not finish: {result}")
    return result is not None


def _suggested(field: dict[str, Any]) -> Any:
    """The value a form field shows (its suggested value)."""
    return (field.get("description") or {}).get("suggested_value")


async def send_downlinks(platform: LwM2mPlatform, every: float) -> None:
    """Every `every` seconds: a sample frame to /19/1/0, the light switched on /3311/0/5850."""
    counter = 0
    while True:
        await asyncio.sleep(every)
        if platform.registrations:
            await send_downlink(platform, sample_frame(counter), _print_platform, DOWNLINK_PATH)
            if any(
                LIGHT_PATH[:2] in _instances(reg.objects) for reg in platform.registrations.values()
            ):
                light = b"1" if counter % 2 else b"0"
                await send_downlink(
                    platform, light, _print_platform, LIGHT_PATH, content_format=TEXT
                )
        counter += 1


def _instances(links: tuple[str, ...]) -> set[tuple[int, ...]]:
    """(3311, 0) for the registered link "/3311/0"."""
    return {tuple(int(part) for part in link.strip("/").split("/")) for link in links}


def _print_platform(line: str) -> None:
    print(f"platform: {line}", flush=True)


def _print_event(event: PlatformEvent) -> None:
    _print_platform(describe(event))


class DemoError(Exception):
    """The demo cannot start as asked; the message says which option to change."""


async def _start_platform(port: int) -> LwM2mPlatform:
    try:
        return await LwM2mPlatform.start(
            "127.0.0.1",
            port,
            observe=[UPLINK_PATH, ObserveTarget(TEMPERATURE_PATH, accept=TEXT)],
            on_event=_print_event,
        )
    except OSError as err:
        raise DemoError(
            f"UDP port {port} on 127.0.0.1 is not free for the LwM2M platform ({err.strerror});"
            " choose another with --platform-port"
        ) from None


async def _start_hass(hass: HassProcess) -> None:
    try:
        await hass.start()
    except PortInUseError:
        raise DemoError(
            f"TCP port {hass.port} on 127.0.0.1 is in use (another Home Assistant?);"
            " choose another with --port"
        ) from None


async def _set_up_module(hass: HassProcess, serial_path: str, platform_port: int) -> None:
    """Add the module on the first run; on later runs make it follow --platform-port."""
    entries = await hass.config_entries("bc26")
    if not entries:
        print("adding the module through Home Assistant's config flow", flush=True)
        entry_id = await add_module(hass, serial_path, platform_port)
        await add_sample_sensor(hass, entry_id)
        await add_demo_objects(hass, entry_id)
        await add_reported_temperature(hass, entry_id)
        return
    for entry in entries:
        if await follow_platform_port(hass, entry["entry_id"], platform_port):
            print(f"{entry['title']} now registers with udp 127.0.0.1:{platform_port}")


async def run(args: argparse.Namespace) -> None:
    """Bring up the trio, set up the module, wait for Ctrl-C."""
    config_dir: Path = args.config
    write_config(config_dir)
    # Ctrl-C cancels whatever runs, start-up included; the finally block still cleans up.
    main_task = asyncio.current_task()
    assert main_task is not None
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, main_task.cancel)
    platform = await _start_platform(args.platform_port)
    simulator = Bc26Simulator(imei=args.imei, network=Lwm2mClient())
    downlinks = asyncio.create_task(send_downlinks(platform, args.downlink_every))
    hass = HassProcess(config_dir, args.port, config_dir / "hass.log")
    try:
        serial_path = str(config_dir / "bc26-modem")
        await simulator.start_pty(link=serial_path)
        print(f"virtual BC26 on {serial_path}; LwM2M platform on udp 127.0.0.1:{platform.port}")
        print("starting Home Assistant (can take a minute)", flush=True)
        await _start_hass(hass)
        login = Login()
        await hass.log_in(login)
        await _set_up_module(hass, serial_path, platform.port)
        print(f"Home Assistant: {hass.base_url}  user {login.username}  password {login.password}")
        print(f"log: {config_dir / 'hass.log'}; Ctrl-C stops everything", flush=True)
        await asyncio.Event().wait()  # until Ctrl-C
    finally:
        downlinks.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await downlinks
        await hass.stop()
        await simulator.stop()
        await platform.stop()


def _absolute(text: str) -> Path:
    return Path(text).resolve()


def main(argv: list[str] | None = None) -> None:
    """Entry point of `python -m bc26sim.develop`."""
    parser = argparse.ArgumentParser(prog="scripts/develop", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--config", type=_absolute, default="config", help="Home Assistant config directory"
    )
    parser.add_argument("--port", type=int, default=8123, help="Home Assistant HTTP port")
    parser.add_argument("--platform-port", type=int, default=5683, help="LwM2M platform UDP port")
    parser.add_argument("--imei", default=DEFAULT_IMEI, help="IMEI of the virtual BC26")
    parser.add_argument(
        "--downlink-every", type=float, default=5.0, help="seconds between sample downlinks"
    )
    try:
        with contextlib.suppress(asyncio.CancelledError):
            asyncio.run(run(parser.parse_args(argv)))
    except (DemoError, HassError) as err:
        sys.exit(f"scripts/develop: {err}")


if __name__ == "__main__":
    main()
