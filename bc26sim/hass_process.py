"""A real Home Assistant process, driven only through its HTTP API.

Used by `scripts/develop` (the demo) and by the end-to-end test: it writes a small
configuration that loads `custom_components/bc26`, starts `hass` as a child process,
onboards a user the way the frontend does, and offers the few REST calls the demo
and the test need (config flows, subentry flows, states, actions).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
import os
from pathlib import Path
import re
import signal
import sys
from typing import Any, Self

import aiohttp

# Generous: the machines running this are shared; a slow start is not a failure.
START_TIMEOUT = 120.0
STOP_TIMEOUT = 60.0
STATE_TIMEOUT = 30.0

COMPONENT = Path(__file__).resolve().parent.parent / "custom_components" / "bc26"

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
http:
  server_host: 127.0.0.1
  server_port: {port}
frontend:
api:
config:
onboarding:
person:
automation: !include automations.yaml
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


def write_config(config_dir: Path, port: int) -> int:
    """Create the config directory with bc26 linked in, unless it exists already.

    Returns the HTTP port in force: `port` for a new configuration, else the one the
    existing configuration.yaml names (a second run reuses the first run's setup).
    """
    config_dir.mkdir(parents=True, exist_ok=True)
    components = config_dir / "custom_components"
    components.mkdir(exist_ok=True)
    link = components / "bc26"
    if not link.exists():
        link.symlink_to(COMPONENT, target_is_directory=True)
    configuration = config_dir / "configuration.yaml"
    if configuration.exists():
        found = re.search(r"^\s*server_port:\s*(\d+)", configuration.read_text(), re.MULTILINE)
        port = int(found.group(1)) if found else 8123  # Home Assistant's default
    else:
        configuration.write_text(CONFIGURATION.format(port=port))
    automations = config_dir / "automations.yaml"
    if not automations.exists():
        automations.write_text("[]\n")
    return port


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

    async def start(self) -> None:
        """Start hass and return once its HTTP API answers (within START_TIMEOUT)."""
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
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        self._session = aiohttp.ClientSession()
        async with asyncio.timeout(START_TIMEOUT):
            while not await self._answers():
                if self._process.returncode is not None:
                    raise HassError(f"hass exited with {self._process.returncode}")
                await asyncio.sleep(0.25)

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
            result = await self._post_json(
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
        await self._finish_onboarding(steps)

    async def _login_flow(self, login: Login) -> str:
        flow = await self._post_json(
            "/auth/login_flow",
            {
                "client_id": self.client_id,
                "handler": ["homeassistant", None],
                "redirect_uri": self.client_id,
            },
            auth=False,
        )
        result = await self._post_json(
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

    async def _finish_onboarding(self, steps: list[dict[str, Any]]) -> None:
        pending = {step["step"] for step in steps if not step["done"]}
        if "core_config" in pending:
            await self._post_json("/api/onboarding/core_config", {})
            await self._remove_failed_entries()
        if "analytics" in pending:
            await self._post_json("/api/onboarding/analytics", {})
        if "integration" in pending:
            await self._post_json(
                "/api/onboarding/integration",
                {"client_id": self.client_id, "redirect_uri": self.client_id},
            )

    async def _remove_failed_entries(self) -> None:
        """Remove the default integrations onboarding adds that cannot load here.

        Onboarding sets up a few (weather, radio, text-to-speech) whose libraries a
        development environment does not have; their red cards would only distract.
        """
        headers = {"Authorization": f"Bearer {self._token}"}
        for entry in await self.get_json("/api/config/config_entries/entry"):
            if entry["state"] == "setup_error":
                url = f"{self.base_url}/api/config/config_entries/entry/{entry['entry_id']}"
                async with self._http.delete(url, headers=headers) as response:
                    response.raise_for_status()

    # ------------------------------------------------------------------ REST calls

    async def _post_json(self, path: str, payload: dict[str, Any], *, auth: bool = True) -> Any:
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
        return await self._post_json(f"/api/services/{domain}/{action}{query}", data)

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
        result = await self._post_json(start_path, start)
        for step in steps:
            if result.get("type") != "form":
                raise HassError(f"flow ended early: {result}")
            user_input = step(result) if callable(step) else step
            result = await self._post_json(f"{start_path}/{result['flow_id']}", user_input)
        return result

    async def config_flow(self, handler: str, steps: list[Any]) -> Any:
        """Run a config flow of `handler` through the UI's API."""
        return await self.run_flow("/api/config/config_entries/flow", {"handler": handler}, steps)

    async def subentry_flow(self, entry_id: str, subentry_type: str, steps: list[Any]) -> Any:
        """Run a config subentry flow ("Add ...") of a config entry through the UI's API."""
        return await self.run_flow(
            "/api/config/config_entries/subentries/flow",
            {"handler": [entry_id, subentry_type]},
            steps,
        )
