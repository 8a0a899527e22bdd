"""A real Home Assistant in the benchmark's own process, driven through its HTTP API.

`InProcessHass` is `bc26sim.hass_process.HassProcess` with the child process replaced
by Home Assistant's own bootstrap (`homeassistant.bootstrap.async_setup_hass`, what
`hass` runs) on the running event loop. Everything else is inherited: onboarding,
the config flow and subentry flows through the HTTP API, states, actions. The
virtual BC26 and the platform run on the same loop, so a timestamp taken where the
simulator writes to the pseudo-terminal and one taken in a `state_changed` listener
come from the same clock; the pseudo-terminal and the serial port are real.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
import contextlib
import logging
import os
from pathlib import Path
import socket
import sys
import threading
from typing import Any

import aiohttp
from homeassistant import block_async_io, bootstrap
from homeassistant.core import HomeAssistant
from homeassistant.runner import RuntimeConfig
from homeassistant.util import async_ as ha_async

from bc26sim.hass_process import (
    PORT_VARIABLE,
    START_TIMEOUT,
    HassError,
    HassProcess,
    configuration_yaml,
    write_config,
)


def configuration(extra: str = "") -> str:
    """The development configuration, with the integration logging at warning level.

    The development tools log `custom_components.bc26` at debug level; a benchmark
    measures what a user runs, so that line goes back to the default. Without the
    demo's history: its database would be measured too, which the figures in
    bench/README.md never included.
    """
    text = configuration_yaml(history=False).replace(
        "custom_components.bc26: debug", "custom_components.bc26: warning"
    )
    return text.replace("automation: !include automations.yaml\n", "") + extra


def free_tcp_port() -> int:
    """A TCP port nothing listens on now, for Home Assistant's HTTP server."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def print_log_tail(log: Path, lines: int = 40) -> None:
    """The end of Home Assistant's log on stderr, for a run that failed."""
    try:
        text = await asyncio.to_thread(log.read_text, errors="replace")
    except FileNotFoundError:
        return
    tail = text.splitlines()[-lines:]
    print("\n".join(["Home Assistant's log ends:", *tail]), file=sys.stderr)


def prepare(config_dir: Path, extra: str = "") -> None:
    """Write the configuration (`extra` appended), then let `write_config` do the rest."""
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "configuration.yaml").write_text(configuration(extra))
    write_config(config_dir)


def _console_stays_ours() -> None:
    """Keep Home Assistant's log in its file; the benchmark's table owns the console.

    Home Assistant's logging setup adds a console handler through `logging.basicConfig`,
    which does nothing when the root logger has a handler already.
    """
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.NullHandler())


type Prepare = Callable[[HomeAssistant], None]


@contextlib.contextmanager
def _prepared(prepare: Prepare | None) -> Iterator[None]:
    """Run `prepare` on the new HomeAssistant object before any integration is set up.

    `async_setup_hass` creates the object and sets up everything in one call; its
    `async_from_config_dict` step is where integrations and config entries start, so
    `prepare` runs just before it (tests put their session timing in `hass.data`
    there, and so can a benchmark).
    """
    if prepare is None:
        yield
        return
    original = bootstrap.async_from_config_dict

    async def from_config_dict(config: Any, hass: HomeAssistant) -> HomeAssistant | None:
        prepare(hass)
        return await original(config, hass)

    bootstrap.async_from_config_dict = from_config_dict
    try:
        yield
    finally:
        bootstrap.async_from_config_dict = original


def _undo_process_wide_setup(
    loop: asyncio.AbstractEventLoop, handlers: list[logging.Handler]
) -> None:
    """Undo what a stopped Home Assistant changed in the process, so that it can start again.

    A `hass` process starts once; here one process starts Home Assistant several times.
    Its bootstrap patches blocking calls (and refuses to do it twice), moves the root
    logger's handlers behind a queue of its own, and its stop marks the event loop as
    shutting down for `run_callback_threadsafe`.
    """
    for call in block_async_io._BLOCKED_CALLS.calls:
        setattr(call.object, call.function, call.original_func)
    block_async_io._BLOCKED_CALLS.calls.clear()
    with contextlib.suppress(AttributeError):
        delattr(loop, ha_async._SHUTDOWN_RUN_CALLBACK_THREADSAFE)
    root = logging.getLogger()
    for handler in root.handlers[:]:
        if handler in handlers:
            continue
        root.removeHandler(handler)
        listener = getattr(handler, "listener", None)
        handler.close()  # stops the queue's listener thread
        for inner in getattr(listener, "handlers", ()):
            if inner not in handlers:
                inner.close()
    for handler in handlers:
        if handler not in root.handlers:
            root.addHandler(handler)


class InProcessHass(HassProcess):
    """Home Assistant on this process's event loop; the HTTP API as for `HassProcess`.

    `prepare` runs on each new HomeAssistant object before its integrations are set
    up. `stop` undoes what Home Assistant changed in the process, so `start` may
    run again on the same configuration (a restart).
    """

    def __init__(
        self, config_dir: Path, port: int, log_path: Path, prepare: Prepare | None = None
    ) -> None:
        super().__init__(config_dir, port, log_path)
        self._hass: HomeAssistant | None = None
        self._prepare = prepare
        self._handlers: list[logging.Handler] = []

    @property
    def running(self) -> bool:
        """Whether Home Assistant runs (from `start` to `stop`)."""
        return self._hass is not None

    @property
    def hass(self) -> HomeAssistant:
        """The running HomeAssistant object."""
        if self._hass is None:
            raise HassError("hass is not running")
        return self._hass

    async def start(self) -> None:
        """Bootstrap Home Assistant here and return once its HTTP API answers."""
        self.prepare_http()
        os.environ[PORT_VARIABLE] = str(self.port)  # as `HassProcess` gives its child
        runtime = RuntimeConfig(
            config_dir=str(self.config_dir),
            skip_pip=True,
            log_file=str(self._log_path),
            log_no_color=True,
        )
        _console_stays_ours()
        self._handlers = logging.getLogger().handlers[:]
        hooks = sys.excepthook, threading.excepthook
        with _prepared(self._prepare):
            hass = await bootstrap.async_setup_hass(runtime)
        sys.excepthook, threading.excepthook = hooks  # errors of the benchmark show as usual
        if hass is None:
            raise HassError("Home Assistant did not set up")
        self._hass = hass
        await hass.async_start()
        self._session = aiohttp.ClientSession()
        async with asyncio.timeout(START_TIMEOUT):
            while not await self._answers():  # noqa: ASYNC110 - polls the HTTP API
                await asyncio.sleep(0.25)

    async def stop(self) -> int | None:
        """Stop Home Assistant as `hass` does on Ctrl-C; return its exit code."""
        if self._session is not None:
            await self._session.close()
            self._session = None
        hass, self._hass = self._hass, None
        if hass is None:
            return None
        await hass.async_stop()
        _undo_process_wide_setup(hass.loop, self._handlers)
        return hass.exit_code
