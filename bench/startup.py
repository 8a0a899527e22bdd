"""Home Assistant's start with 0, 1 and 10 modules, each start a process of its own.

The parent (the site, bench/scale.py) keeps the virtual modules running on their paced
pseudo-terminals and copies the site's configuration once per module count, keeping
that many of its BC26 entries (with their devices and entities). Each start runs
`python -m bench.startup CONFIG_DIR` in a new process, as a user's `hass` starts:
Home Assistant bootstraps there (bench/inprocess.py), the child times the
integration's `async_setup_entry` per entry and notes the session's state when each
returns, catches Home Assistant's "taking over 10 seconds" warnings, waits until
every module registered (or 30 s), stops, and prints one JSON line.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
import json
from pathlib import Path
import shutil
import socket
import sys
import time
from typing import Any

from homeassistant.config_entries import ConfigEntryState

from .inprocess import InProcessHass
from .site import SetupClock, SiteModule, SlowWarnings, until

REGISTERED_WAIT = 30.0  # seconds a child waits for every module to register
CHILD_TIMEOUT = 180.0


@dataclass
class StartRun:
    """One start of Home Assistant."""

    modules: int
    started_s: float = 0.0  # bootstrap to running (the HTTP API answers)
    process_s: float = 0.0  # process start to running
    last_loaded_s: float = 0.0  # bootstrap to the last bc26 entry loaded
    registered_s: float = 0.0  # bootstrap to every module registered
    setup_s: list[float] = field(default_factory=list)
    states_at_load: list[str] = field(default_factory=list)
    slow: list[str] = field(default_factory=list)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _keep_entries(config_dir: Path, entry_ids: set[str]) -> None:
    """Remove every bc26 entry but `entry_ids`, with their devices and entities."""
    storage = config_dir / ".storage"

    def edit(name: str, change: Any) -> None:
        path = storage / name
        if path.exists():
            document = json.loads(path.read_text())
            change(document["data"])
            path.write_text(json.dumps(document))

    gone: set[str] = set()

    def entries(data: dict[str, Any]) -> None:
        kept = []
        for entry in data["entries"]:
            if entry["domain"] == "bc26" and entry["entry_id"] not in entry_ids:
                gone.add(entry["entry_id"])
            else:
                kept.append(entry)
        data["entries"] = kept

    def devices(data: dict[str, Any]) -> None:
        def owners(device: dict[str, Any]) -> set[str]:
            # A list up to Home Assistant 2026.x, which keeps one `config_entry_id`.
            return set(device.get("config_entries") or [device.get("config_entry_id")])

        data["devices"] = [device for device in data["devices"] if not owners(device) & gone]
        data["deleted_devices"] = []

    def entities(data: dict[str, Any]) -> None:
        data["entities"] = [e for e in data["entities"] if e.get("config_entry_id") not in gone]
        data["deleted_entities"] = []

    edit("core.config_entries", entries)
    edit("core.device_registry", devices)
    edit("core.entity_registry", entities)


async def measure_startup(
    workdir: Path, modules: list[SiteModule], counts: tuple[int, ...], runs: int
) -> list[StartRun]:
    """Start Home Assistant `runs` times per count of modules (after one unmeasured start)."""
    results: list[StartRun] = []
    source = workdir / "config"
    warmed = False
    for count in counts:
        config = workdir / f"start-{count}"
        # In a thread: Home Assistant's guard against blocking calls in the event loop
        # stays in force in this process after its stop (2026.x raises).
        await asyncio.to_thread(
            shutil.copytree,
            source,
            config,
            symlinks=True,
            ignore=shutil.ignore_patterns("home-assistant.log*"),
        )
        await asyncio.to_thread(
            _keep_entries, config, {module.entry_id for module in modules[:count]}
        )
        for number in range(runs + (0 if warmed or runs == 1 else 1)):
            print(
                f"... startup: Home Assistant with {count} module(s), start {number + 1}",
                file=sys.stderr,
                flush=True,
            )
            run = await _child(config, count)
            if warmed or runs == 1:
                results.append(run)
            warmed = True
    return results


async def _child(config: Path, count: int) -> StartRun:
    spawned = time.perf_counter_ns()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.startup",
        str(config),
        stdout=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(CHILD_TIMEOUT):
        output, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"the start with {count} module(s) failed ({process.returncode})")
    report = json.loads(output.decode().strip().splitlines()[-1])
    run = StartRun(modules=count, **{k: v for k, v in report.items() if k != "running_ns"})
    run.process_s = (report["running_ns"] - spawned) / 1e9
    return run


async def _start(config: Path) -> dict[str, Any]:
    clock = SetupClock()
    slow = SlowWarnings()
    api = InProcessHass(config, _free_port(), config / "home-assistant.log")
    begin = time.perf_counter()
    await api.start()
    running_ns = time.perf_counter_ns()
    started = time.perf_counter() - begin
    hass = api.hass
    entries = hass.config_entries.async_entries("bc26")
    loaded = [entry for entry in entries if entry.state is ConfigEntryState.LOADED]
    last_loaded = max((t.end - begin for t in clock.times), default=0.0)
    registered = 0.0
    try:
        async with asyncio.timeout(REGISTERED_WAIT):
            await until(lambda: all(entry.runtime_data.session.registered for entry in loaded))
        registered = time.perf_counter() - begin
    except TimeoutError:
        registered = float("nan")
    await api.stop()
    clock.close()
    slow.close()
    log = config / "home-assistant.log"
    text = await asyncio.to_thread(log.read_text, errors="replace") if log.exists() else ""
    messages = list(slow.messages) + [
        line for line in text.splitlines() if "taking over" in line and line not in slow.messages
    ]
    return {
        "started_s": started,
        "running_ns": running_ns,
        "last_loaded_s": last_loaded,
        "registered_s": registered,
        "setup_s": [t.seconds for t in clock.times],
        "states_at_load": [t.state_at_load for t in clock.times],
        "slow": messages,
        "loaded": len(loaded),
    }


def main() -> None:
    """Child: start Home Assistant on the config directory given, report, stop."""
    config = Path(sys.argv[1])
    report = asyncio.run(_start(config))
    report.pop("loaded")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
