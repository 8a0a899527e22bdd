"""A real Home Assistant process, driven only through its HTTP API.

Used by `scripts/develop` (the demo), the end-to-end and browser tests and the
benchmarks: it writes a small configuration that loads `custom_components/bc26`,
starts `hass` as a child process on 127.0.0.1:`port`, onboards a user the way the
frontend does, and offers the few REST calls the demo and the tests need (config
flows, subentry flows, states, actions).

Where the HTTP server's address and port go depends on the Home Assistant installed:
up to 2026.5 only the `http:` block of configuration.yaml sets them; from 2026.6 on
Home Assistant keeps them in its storage (Settings → System → Network) and flags an
`http:` block in YAML as deprecated (refused from 2027.2). So the block is written for
the older versions only, and for the newer ones the stored settings are written
before every start, in the layout of Home Assistant's own `http` store.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
import importlib
import importlib.util
import json
import os
from pathlib import Path
import signal
import socket
import sys
from typing import Any, Self

import aiohttp

# Generous: the machines running this are shared; a slow start is not a failure.
START_TIMEOUT = 120.0
STOP_TIMEOUT = 60.0
STATE_TIMEOUT = 30.0

COMPONENT = Path(__file__).resolve().parent.parent / "custom_components" / "bc26"
LOOPBACK = "127.0.0.1"
# configuration.yaml's http block (older Home Assistant) reads the port from here.
PORT_VARIABLE = "BC26_HTTP_PORT"
HTTP_YAML = f"""\
http:
  server_host: {LOOPBACK}
  server_port: !env_var {PORT_VARIABLE} 8123
"""

HISTORY_YAML = """\
# History graphs, the logbook and long-term statistics of the module's sensors.
recorder:
history:
logbook:
"""

CONFIGURATION = """\
# Written by bc26's development tools; edit freely, it is not overwritten.
homeassistant:
  name: BC26 demo
  unit_system: metric
  time_zone: UTC
  country: DE
  latitude: 52.52
  longitude: 13.40
  elevation: 34
{http}frontend:
api:
config:
onboarding:
person:
{history}automation: !include automations.yaml
logger:
  default: warning
  logs:
    custom_components.bc26: debug
"""


class HassError(RuntimeError):
    """Home Assistant did not start, or answered an API call with an error."""


@dataclass(frozen=True, slots=True)
class Login:
    """The demo user's credentials."""

    name: str = "Demo"
    username: str = "demo"
    password: str = "bc26-demo"  # noqa: S105 - a local demo account, printed for the user


class PortInUseError(HassError):
    """Something else listens on the HTTP port already."""


def http_settings_in_storage() -> bool:
    """Whether the installed Home Assistant keeps its HTTP settings in storage (2026.6+)."""
    return importlib.util.find_spec("homeassistant.components.http.config") is not None


def configuration_yaml(*, history: bool = True) -> str:
    """configuration.yaml for the installed Home Assistant, with or without history."""
    return CONFIGURATION.format(
        http="" if http_settings_in_storage() else HTTP_YAML,
        history=HISTORY_YAML if history else "",
    )


def write_config(config_dir: Path) -> None:
    """Create the config directory with bc26 linked in, unless it exists already.

    A new directory also gets onboarding's location, analytics and integration steps
    marked done: configuration.yaml sets the location, and finishing those steps
    through the API sets up integrations (weather, radio, text-to-speech) whose
    libraries a development environment lacks, each a red "failed to set up" card.
    Only the user step is left, which `HassProcess.log_in` does through the API.
    """
    config_dir.mkdir(parents=True, exist_ok=True)
    components = config_dir / "custom_components"
    components.mkdir(exist_ok=True)
    link = components / "bc26"
    if not link.exists():
        link.symlink_to(COMPONENT, target_is_directory=True)
    configuration = config_dir / "configuration.yaml"
    if not configuration.exists():
        configuration.write_text(configuration_yaml())
        _write_onboarding_done(config_dir)
    automations = config_dir / "automations.yaml"
    if not automations.exists():
        automations.write_text("[]\n")


def _write_onboarding_done(config_dir: Path) -> None:
    onboarding = importlib.import_module("homeassistant.components.onboarding")
    steps = importlib.import_module("homeassistant.components.onboarding.const")
    done = [steps.STEP_CORE_CONFIG, steps.STEP_ANALYTICS, steps.STEP_INTEGRATION]
    _write_storage(
        config_dir, onboarding.STORAGE_KEY, onboarding.STORAGE_VERSION, 1, {"done": done}
    )


def _write_http_settings(config_dir: Path, port: int) -> None:
    """The stored HTTP settings (2026.6+): 127.0.0.1:`port`, confirmed, YAML import done."""
    http = importlib.import_module("homeassistant.components.http.config")
    settings = http.HTTP_STORAGE_SCHEMA({"server_host": [LOOPBACK], "server_port": port})
    stable = {
        **settings,
        http.HTTP_CONFIG_CREATED_AT: datetime.now(UTC).isoformat(),
        http.HTTP_CONFIG_ERROR: None,
        http.HTTP_CONFIG_ERROR_MESSAGE: None,
    }
    data = {http.KEY_STABLE: stable, http.KEY_PENDING: None, http.KEY_YAML_MIGRATION_DONE: True}
    _write_storage(
        config_dir, http.STORAGE_KEY, http.STORAGE_VERSION, http.STORAGE_MINOR_VERSION, data
    )


def _write_storage(config_dir: Path, key: str, version: int, minor: int, data: object) -> None:
    """One file of Home Assistant's `.storage`, as its Store class writes it."""
    storage = config_dir / ".storage"
    storage.mkdir(exist_ok=True)
    document = {"version": version, "minor_version": minor, "key": key, "data": data}
    (storage / key).write_text(json.dumps(document, indent=4))


def _check_http_yaml(config_dir: Path) -> None:
    """Refuse a configuration.yaml whose http block would bind another port than ours."""
    text = (config_dir / "configuration.yaml").read_text()
    has_block = any(line.startswith("http:") for line in text.splitlines())
    if not has_block or (HTTP_YAML in text and not http_settings_in_storage()):
        return
    raise HassError(
        f"{config_dir / 'configuration.yaml'} has an http: block of its own; remove it"
        " (these tools set the HTTP port themselves) or start with a new config directory"
    )


def _check_port_free(port: int) -> None:
    with socket.socket() as probe:
        # As Home Assistant binds: connections of a hass that just stopped do not count.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((LOOPBACK, port))
        except OSError:
            raise PortInUseError(f"TCP port {port} on {LOOPBACK} is in use") from None


class HassProcess:
    """`hass` running in a child process on 127.0.0.1:`port`."""

    def __init__(self, config_dir: Path, port: int, log_path: Path) -> None:
        self.config_dir = config_dir
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self.client_id = f"{self.base_url}/"
        self._log_path = log_path
        self._process: asyncio.subprocess.Process | None = None
        self._session: aiohttp.ClientSession | None = None
        self._token: str | None = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def prepare_http(self) -> None:
        """Make the next start bind 127.0.0.1:`port`; PortInUseError if it is taken.

        Taken, Home Assistant would only log that it cannot serve, while whatever
        holds the port answered in its place.
        """
        _check_http_yaml(self.config_dir)
        _check_port_free(self.port)
        if http_settings_in_storage():
            _write_http_settings(self.config_dir, self.port)

    async def start(self) -> None:
        """Start hass and return once its HTTP API answers (within START_TIMEOUT)."""
        self.prepare_http()
        with self._log_path.open("ab") as log:
            self._process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "homeassistant",
                "--config",
                str(self.config_dir),
                "--skip-pip",
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1", PORT_VARIABLE: str(self.port)},
            )
        self._session = aiohttp.ClientSession()
        async with asyncio.timeout(START_TIMEOUT):
            while not await self._answers():
                if self._process.returncode is not None:
                    raise HassError(f"hass exited with {self._process.returncode}")
                await asyncio.sleep(0.25)

    async def attach(self) -> None:
        """Talk to a hass that runs already on `port` (one `scripts/develop` started, say)."""
        self._session = aiohttp.ClientSession()

    async def stop(self) -> int | None:
        """Stop hass as Ctrl-C would (within STOP_TIMEOUT); return its exit code."""
        if self._session is not None:
            await self._session.close()
            self._session = None
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return None if process is None else process.returncode
        process.send_signal(signal.SIGINT)
        try:
            async with asyncio.timeout(STOP_TIMEOUT):
                return await process.wait()
        except TimeoutError:
            process.kill()
            await process.wait()
            raise HassError("hass did not stop in time") from None

    @property
    def pid(self) -> int | None:
        """Process id of the running hass."""
        return None if self._process is None else self._process.pid

    async def _answers(self) -> bool:
        """Whether the HTTP server is up (any answer will do: a finished onboarding is 404)."""
        try:
            async with self._http.get(f"{self.base_url}/api/onboarding"):
                return True
        except aiohttp.ClientError:
            return False

    @property
    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise HassError("hass is not running")
        return self._session

    # ------------------------------------------------------------------ authentication

    async def log_in(self, login: Login) -> None:
        """Onboard `login` on the first run, or log in with it on later runs."""
        async with self._http.get(f"{self.base_url}/api/onboarding") as response:
            # Once onboarding is over, Home Assistant no longer serves its API at all.
            steps = [] if response.status == 404 else await response.json()
        user_step_done = not steps or any(s["step"] == "user" and s["done"] for s in steps)
        if user_step_done:
            code = await self._login_flow(login)
        else:
            result = await self.post_json(
                "/api/onboarding/users",
                {
                    "client_id": self.client_id,
                    "name": login.name,
                    "username": login.username,
                    "password": login.password,
                    "language": "en",
                },
                auth=False,
            )
            code = result["auth_code"]
        await self._fetch_token(code)

    async def _login_flow(self, login: Login) -> str:
        flow = await self.post_json(
            "/auth/login_flow",
            {
                "client_id": self.client_id,
                "handler": ["homeassistant", None],
                "redirect_uri": self.client_id,
            },
            auth=False,
        )
        result = await self.post_json(
            f"/auth/login_flow/{flow['flow_id']}",
            {"client_id": self.client_id, "username": login.username, "password": login.password},
            auth=False,
        )
        if result.get("type") != "create_entry":
            raise HassError(f"login refused: {result}")
        return str(result["result"])

    async def _fetch_token(self, code: str) -> None:
        form = {"grant_type": "authorization_code", "code": code, "client_id": self.client_id}
        async with self._http.post(f"{self.base_url}/auth/token", data=form) as response:
            if response.status != 200:
                raise HassError(f"token refused: {response.status} {await response.text()}")
            self._token = (await response.json())["access_token"]

    # ------------------------------------------------------------------ REST calls

    async def post_json(self, path: str, payload: dict[str, Any], *, auth: bool = True) -> Any:
        """POST `payload` to `path` of the HTTP API (as the user logged in); its JSON answer."""
        headers = {"Authorization": f"Bearer {self._token}"} if auth else {}
        async with self._http.post(
            f"{self.base_url}{path}", json=payload, headers=headers
        ) as response:
            if response.status >= 400:
                raise HassError(f"POST {path}: {response.status} {await response.text()}")
            return await response.json()

    async def get_json(self, path: str) -> Any:
        """GET an authenticated API path; None when it answers 404."""
        headers = {"Authorization": f"Bearer {self._token}"}
        async with self._http.get(f"{self.base_url}{path}", headers=headers) as response:
            if response.status == 404:
                return None
            if response.status >= 400:
                raise HassError(f"GET {path}: {response.status} {await response.text()}")
            return await response.json()

    async def state(self, entity_id: str) -> dict[str, Any] | None:
        """The state object of `entity_id`, or None if it does not exist."""
        result: dict[str, Any] | None = await self.get_json(f"/api/states/{entity_id}")
        return result

    async def wait_state(self, entity_id: str, predicate: Any) -> dict[str, Any]:
        """Poll `entity_id` until `predicate(state)` holds (within STATE_TIMEOUT)."""
        async with asyncio.timeout(STATE_TIMEOUT):
            while True:
                state = await self.state(entity_id)
                if state is not None and predicate(state):
                    return state
                await asyncio.sleep(0.1)

    async def call_action(
        self, domain: str, action: str, data: dict[str, Any], *, response: bool = False
    ) -> Any:
        """Call an action (service); with `response`, return its response data."""
        query = "?return_response" if response else ""
        return await self.post_json(f"/api/services/{domain}/{action}{query}", data)

    async def websocket_command(self, command: dict[str, Any]) -> Any:
        """Send one websocket API command and return its result."""
        async with self._http.ws_connect(f"{self.base_url}/api/websocket") as socket:
            await socket.receive_json()  # auth_required
            await socket.send_json({"type": "auth", "access_token": self._token})
            if (await socket.receive_json())["type"] != "auth_ok":
                raise HassError("websocket authentication failed")
            await socket.send_json({"id": 1, **command})
            reply = await socket.receive_json()
        if not reply.get("success"):
            raise HassError(f"{command['type']}: {reply.get('error')}")
        return reply["result"]

    async def entity_ids(self, platform: str) -> dict[str, str]:
        """Entity ids of an integration's entities, by unique id (entity registry)."""
        entries = await self.websocket_command({"type": "config/entity_registry/list"})
        return {e["unique_id"]: e["entity_id"] for e in entries if e["platform"] == platform}

    async def config_entries(self, domain: str) -> list[dict[str, Any]]:
        """The config entries of `domain`."""
        entries: list[dict[str, Any]] = await self.get_json(
            f"/api/config/config_entries/entry?domain={domain}"
        )
        return entries

    async def run_flow(self, start_path: str, start: dict[str, Any], steps: list[Any]) -> Any:
        """Start a data-entry flow and answer each form with the next item of `steps`.

        An item is a dict of user input, or a callable taking the form and returning one.
        Returns the flow's final result.
        """
        result = await self.post_json(start_path, start)
        for step in steps:
            if result.get("type") != "form":
                raise HassError(f"flow ended early: {result}")
            user_input = step(result) if callable(step) else step
            result = await self.post_json(f"{start_path}/{result['flow_id']}", user_input)
        return result

    async def config_flow(self, handler: str, steps: list[Any]) -> Any:
        """Run a config flow of `handler` through the UI's API."""
        return await self.run_flow("/api/config/config_entries/flow", {"handler": handler}, steps)

    async def reconfigure_flow(
        self, domain: str, entry_id: str, answer: Callable[[dict[str, Any]], dict[str, Any] | None]
    ) -> Any:
        """Run the reconfigure flow of an entry; `answer` fills the form, or None cancels it.

        Returns the flow's result, or None when cancelled.
        """
        path = "/api/config/config_entries/flow"
        form = await self.post_json(path, {"handler": domain, "entry_id": entry_id})
        user_input = answer(form)
        if user_input is None:
            headers = {"Authorization": f"Bearer {self._token}"}
            url = f"{self.base_url}{path}/{form['flow_id']}"
            async with self._http.delete(url, headers=headers) as response:
                response.raise_for_status()
            return None
        return await self.post_json(f"{path}/{form['flow_id']}", user_input)

    async def subentry_flow(self, entry_id: str, subentry_type: str, steps: list[Any]) -> Any:
        """Run a config subentry flow ("Add ...") of a config entry through the UI's API."""
        return await self.run_flow(
            "/api/config/config_entries/subentries/flow",
            {"handler": [entry_id, subentry_type]},
            steps,
        )
