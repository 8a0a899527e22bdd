"""The UI in a real browser: what a user sees of the integration, page by page.

A real `hass` (bc26sim.hass_process), two virtual BC26s on pseudo-terminals and the
local LwM2M platform; Debian's chromium driven by Playwright (its own browsers are
never downloaded). The walk: log in; the config flow's two steps, each with a wrong
and then a right answer; the integration page; the options and reconfigure dialogs;
*Add resource sensor*; Developer tools → Actions with `bc26.send`; *Declare an LwM2M
object*, with a wrong and then a right list of resources; the device page;
the repair issue of a second module given a wrong server port, fixed through its
dialog. Every page is checked for "Translation error" and raw translation keys,
the module's entities for values, the browser console for errors the integration
causes; every page is saved as a screenshot.

Run it with `pytest -m browser` (`scripts/test-browser` installs chromium first).
Screenshots go to the test's temporary folder, or to $BC26_SCREENSHOTS; with
BC26_README_IMAGES=1 the README's images in docs/images are written from them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
import os
from pathlib import Path
import re
import shutil
import socket
from typing import Any

from homeassistant.helpers import selector
from playwright.async_api import async_playwright, expect
import pytest

from bc26sim import Bc26Simulator
from bc26sim.develop import SAMPLE_SENSOR, add_module, sample_frame
from bc26sim.hass_process import HassProcess, Login, write_config
from bc26sim.lwm2m import Lwm2mClient
from bc26sim.platform.server import TEXT, LwM2mPlatform
from custom_components.bc26.const import module_title

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).parent.parent
IMEI = "866971030001361"  # added through the UI
FAILING_IMEI = "866971030009999"  # added with a wrong server port: the repair issue
DOWNLINK = (19, 1, 0)
WAIT_MS = 30_000  # for an element to show up: a loaded machine is slow, not broken
ISSUE_WAIT = 300.0  # registration fails three times, with 30 and 60 s between tries
# Frontends of Home Assistant 2026.5+ (which has the serial port selector the integration
# then uses) choose ports, units and options in pickers and menus of their own.
PICKERS = hasattr(selector, "SerialPortSelector")
FINISH = re.compile("^(Finish|Skip and finish)$")
# Screenshots that are the README's images (docs/images/NAME.png).
README_IMAGES = ("config-flow", "integration-page", "device-page")

# All text of the page, shadow roots included (the frontend is web components).
PAGE_TEXT = """() => {
    const parts = [];
    const walk = (node) => {
        if (node.nodeType === Node.TEXT_NODE) {
            const text = node.textContent.trim();
            if (text) parts.push(text);
            return;
        }
        if (node.nodeName === "STYLE" || node.nodeName === "SCRIPT") return;
        if (node.shadowRoot) walk(node.shadowRoot);
        for (const child of node.childNodes) walk(child);
    };
    walk(document.body);
    return parts.join("\\n");
}"""


def _free_port(kind: socket.SocketKind) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Stage:
    """The platform, the two modules and Home Assistant."""

    platform: LwM2mPlatform
    module: Bc26Simulator
    module_path: str
    failing: Bc26Simulator
    hass: HassProcess
    log: Path


def _print_log_tail(log: Path, lines: int = 300) -> None:
    """The end of Home Assistant's log, shown by pytest when the test failed."""
    if log.exists():
        print("".join(log.read_text(errors="replace").splitlines(keepends=True)[-lines:]))


@pytest.fixture
async def stage(tmp_path: Path, socket_enabled: None) -> AsyncIterator[Stage]:
    """Everything running, the demo user onboarded, the failing module added already.

    The failing module goes first: its repair issue takes three failed registrations,
    about 90 s, which the rest of the walk mostly covers.
    """
    platform = await LwM2mPlatform.start("127.0.0.1", 0)
    module = Bc26Simulator(imei=IMEI, network=Lwm2mClient(), time_scale=0.1)
    failing = Bc26Simulator(imei=FAILING_IMEI, network=Lwm2mClient(), time_scale=0.1)
    write_config(tmp_path / "config")
    hass = HassProcess(tmp_path / "config", _free_port(socket.SOCK_STREAM), tmp_path / "hass.log")
    try:
        module_path = await module.start_pty(link=str(tmp_path / "bc26-ui"))
        failing_path = await failing.start_pty(link=str(tmp_path / "bc26-failing"))
        await hass.start()
        await hass.log_in(Login())
        # Nothing listens on this UDP port: every registration fails.
        await add_module(hass, failing_path, _free_port(socket.SOCK_DGRAM))
        yield Stage(platform, module, module_path, failing, hass, tmp_path / "hass.log")
    finally:
        await hass.stop()
        await module.stop()
        await failing.stop()
        _print_log_tail(tmp_path / "hass.log")
        await platform.stop()


@dataclass
class Ui:
    """The browser page, where screenshots go, and what went wrong on the way."""

    page: Any
    base_url: str
    shots: Path
    console_errors: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)  # every message, for a person to read
    taken: list[str] = field(default_factory=list)

    async def go(self, path: str) -> None:
        await self.page.goto(f"{self.base_url}{path}")

    async def check(self, name: str) -> str:
        """Save a screenshot of the page; fail on translation problems in its text."""
        await self.page.wait_for_timeout(700)  # let the frontend finish rendering
        text: str = await self.page.evaluate(PAGE_TEXT)
        await self.page.screenshot(path=self.shots / f"{len(self.taken) + 1:02d}-{name}.png")
        self.taken.append(name)
        untranslated = [
            line
            for line in text.splitlines()
            if "Translation error" in line or "component.bc26." in line
        ]
        assert untranslated == [], f"{name}: {untranslated}"
        assert self.console_errors == [], f"{name}: {self.console_errors}"
        return text

    async def type_into(self, field: Any, text: str) -> None:
        """Type as a person does (the frontend's combo boxes take only typed text)."""
        await field.click()
        await self.page.keyboard.press("Control+A")
        await self.page.keyboard.type(text)
        await self.page.keyboard.press("Tab")

    async def choose_port(self, port: str) -> None:
        """Enter a serial port by hand, with whichever field this frontend has for it."""
        if PICKERS:
            await self.page.locator("ha-selector-serial_port").click()
            await self.page.get_by_text("Enter manually").click()
            await self.page.get_by_role("textbox", name="Serial port").fill(port)
        else:  # a combo box that also takes typed text
            await self.type_into(self.page.get_by_role("combobox", name="Serial port"), port)

    async def open_select(self, label: str) -> None:
        """Open the list of a select field (clicked near its top: below is its help text)."""
        await self.select_field(label).click(position={"x": 24, "y": 24})

    def options(self) -> Any:
        """The entries of the open list: options in 2025.4, menu items in 2026.5+."""
        return self.page.get_by_role("option").or_(self.page.get_by_role("menuitem"))

    def option(self, name: str) -> Any:
        page = self.page
        exactly = page.get_by_role("option", name=name, exact=True)
        return exactly.or_(page.get_by_role("menuitem", name=name, exact=True)).first

    async def choose_listed(self, label: str, value: str) -> None:
        """A value of a list that takes one's own too: typed in, or the picker's search.

        The field must show `value` afterwards: a busy frontend may still be filtering the
        picker's list when it is clicked, and a form submitted with the field's previous
        value would only fail much later.
        """
        if PICKERS:
            await self.open_select(label)
            dialog = self.page.get_by_role("dialog", name=label)
            await dialog.get_by_role("textbox").fill(value)
            await dialog.get_by_text(value, exact=True).first.click()
            await expect(self.select_field(label)).to_contain_text(value, timeout=WAIT_MS)
        else:
            field = self.page.get_by_role("combobox", name=label)
            await self.type_into(field, value)
            await expect(field).to_have_value(value, timeout=WAIT_MS)

    def select_field(self, label: str) -> Any:
        """A select field, by its label (required ones end in an asterisk)."""
        labelled = self.page.get_by_text(re.compile(rf"^\s*{re.escape(label)}\s*\*?\s*$"))
        return self.page.locator("ha-selector-select").filter(has=labelled)

    async def choose_entity(self, name: str) -> None:
        """An entity from the entity picker, found by typing its name."""
        await self.page.locator("ha-selector-entity").click()
        if PICKERS:  # a list with its own search field
            dialog = self.page.get_by_role("dialog", name="Entity")
            await dialog.get_by_role("textbox").fill(name)
            await dialog.get_by_text(name, exact=True).first.click()
        else:
            await self.page.keyboard.type(name)
            await self.options().filter(has_text=name).first.click()

    async def button(self, name: str | re.Pattern[str]) -> None:
        await self.page.get_by_role("button", name=name, exact=True).click()

    async def see(self, text: str | re.Pattern[str]) -> None:
        await self.page.get_by_text(text).first.wait_for(timeout=WAIT_MS)


def _integration_caused(message: str) -> bool:
    """Console errors that may be the integration's doing.

    A resource that fails to load is judged by its address instead (`_failed_response`):
    the console does not say which one failed, and most are other integrations' images
    or home-assistant.io's, out of reach here.
    """
    return not message.startswith("Failed to load resource")


def _failed_response(walk: Ui, response: Any) -> None:
    if response.status >= 400 and "bc26" in response.url:
        walk.console_errors.append(f"{response.status} for {response.url}")


def _screenshot_folder(tmp_path: Path) -> Path:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (scripts/test-browser does)")
    shots = Path(os.environ.get("BC26_SCREENSHOTS") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    return shots


@pytest.fixture
async def ui(stage: Stage, tmp_path: Path) -> AsyncIterator[Ui]:
    """Chromium on the stage's Home Assistant, logged in as the demo user."""
    shots = _screenshot_folder(tmp_path)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM))
        page = await browser.new_page(viewport={"width": 1280, "height": 800})
        page.set_default_timeout(WAIT_MS)
        walk = Ui(page, stage.hass.base_url, shots)
        page.on("pageerror", lambda error: walk.console_errors.append(f"page error: {error}"))
        page.on("console", lambda message: walk.console.append(f"{message.type}: {message.text}"))
        page.on("response", lambda response: _failed_response(walk, response))
        page.on(
            "console",
            lambda message: (
                walk.console_errors.append(message.text)
                if message.type == "error" and _integration_caused(message.text)
                else None
            ),
        )
        try:
            await _log_in(walk)
            yield walk
        finally:
            # What the page showed at the end: after a failure, where it happened.
            await page.screenshot(path=shots / "last.png")
            (shots / "console.txt").write_text("\n".join(walk.console))
            await browser.close()


async def _log_in(ui: Ui) -> None:
    login = Login()
    await ui.go("/")
    await ui.page.get_by_role("textbox", name="Username").fill(login.username)
    await ui.page.get_by_role("textbox", name="Password").fill(login.password)
    await ui.button("Log in")
    # The default dashboard: /lovelace/0 on 2025.4, / on newer versions.
    await ui.page.wait_for_url(lambda url: "/auth/" not in url and "auth_callback" not in url)
    await ui.see("Settings")


# ---------------------------------------------------------------------- the walk


async def _config_flow(ui: Ui, stage: Stage) -> None:
    """Both steps, each first with an answer the flow refuses."""
    await ui.go("/config/integrations/dashboard/add?domain=bc26")
    await ui.button("OK")
    await ui.see("Choose the serial port")
    await ui.check("config-flow")
    await ui.choose_port("socket://127.0.0.1:1")  # nothing listens there
    await ui.button("Submit")
    await ui.see("The serial port could not be opened")
    await ui.check("config-flow-port-refused")
    await ui.choose_port(stage.module_path)
    await ui.button("Submit")
    await ui.see("Where the module registers")
    await ui.check("config-flow-platform")
    server = ui.page.get_by_role("textbox", name="LwM2M server")
    await server.fill("bad host!")
    await ui.page.get_by_role("spinbutton", name="Server port").fill(str(stage.platform.port))
    await ui.button("Submit")
    await ui.see("Enter an IPv4 address or a host name")
    await ui.check("config-flow-server-refused")
    await server.fill("127.0.0.1")
    await ui.button("Submit")
    # 2025.4 says it created the entry; newer versions ask for the device's name and area.
    await ui.see(re.compile("Created configuration for|Name and assign"))
    await ui.check("config-flow-created")
    await ui.button(FINISH)
    async with asyncio.timeout(60):
        await stage.platform.wait_registered(IMEI)


async def _entry_menu(ui: Ui, item: str) -> None:
    """An item of the first entry's menu (the module added through the UI)."""
    await ui.go("/config/integrations/integration/bc26")
    await ui.see(module_title(IMEI))
    # Newer frontends have a menu of the page's own before the entries' rows.
    rows = ui.page.locator("ha-config-entry-row")
    scope = rows.first if await rows.count() else ui.page
    await scope.get_by_role("button", name="Menu").first.click()
    await ui.page.get_by_role("menuitem", name=item).click()


async def _options_and_reconfigure(ui: Ui) -> None:
    await ui.go("/config/integrations/integration/bc26")
    await ui.page.get_by_role("button", name="Configure").first.click()
    await ui.see("Link quality poll interval")
    await ui.check("options")
    await ui.button("Close")
    await _entry_menu(ui, "Reconfigure")
    await ui.see("Reconfigure the BC26")
    await ui.check("reconfigure")
    await ui.button("Close")


async def _add_resource_sensor(ui: Ui) -> str:
    """The demo's decoded sensor, through the form; the device-class list's own labels."""
    await _entry_menu(ui, "Add resource sensor")
    page = ui.page
    await page.get_by_role("textbox", name="Name").fill(SAMPLE_SENSOR["name"])
    await page.get_by_role("textbox", name="Value template").fill(SAMPLE_SENSOR["value_template"])
    await ui.open_select("Device class")
    device_classes = await ui.options().all_inner_texts()
    await ui.option("Temperature").click()
    await ui.open_select("State class")
    await ui.option("Measurement").click()
    await ui.choose_listed("Unit of measurement", "°C")
    text = await ui.check("resource-sensor")
    await ui.button("Submit")
    await ui.see(re.compile("Success|Name and assign"))
    await ui.button(FINISH)
    for raw, readable in (("Pm25", "PM2.5"), ("Ph", "pH"), ("Aqi", "Air quality index")):
        assert raw not in device_classes
        assert readable in device_classes
    return text


async def _declare_object(ui: Ui, stage: Stage) -> None:
    """An IPSO temperature Home Assistant reports, declared through the form; a refused list."""
    before = stage.platform.registrations[IMEI]
    await _entry_menu(ui, "Declare an LwM2M object")
    page = ui.page
    await page.get_by_role("spinbutton", name="Object").fill("3303")
    await page.get_by_role("textbox", name="Resources the platform writes").fill("57x")
    await page.get_by_role("textbox", name="Resources Home Assistant reports").fill("5700")
    await page.get_by_role("textbox", name="Name").fill("Temperature")
    await ui.check("lwm2m-object")
    await ui.button("Submit")
    await ui.see("Enter resource IDs (whole numbers from 0 to 65535) separated by commas.")
    await ui.check("lwm2m-object-refused")
    await page.get_by_role("textbox", name="Resources the platform writes").fill("")
    await ui.button("Submit")
    await ui.see(re.compile("Success|Name and assign"))
    await ui.button(FINISH)
    async with asyncio.timeout(60):  # "register again now" was on
        registration = await stage.platform.wait_registered(IMEI, newer_than=before)
    assert "/3303/0" in registration.objects


async def _report_entity(ui: Ui, stage: Stage) -> None:
    """The demo temperature reported on the declared /3303/0/5700; an encoding refused."""
    await _entry_menu(ui, "Report an entity")
    await ui.see("Home Assistant reports this entity's value")
    await ui.choose_entity(SAMPLE_SENSOR["name"])
    await ui.choose_listed("Resource", "3303/0/5700")
    if not PICKERS:  # the combo box's list stays open over the next field
        await ui.page.get_by_role("heading", name="Report an entity").click()
    await ui.open_select("Encoding")
    await ui.option("Hex digits (from a template or the state)").click()
    await ui.check("report-entity")
    await ui.button("Submit")
    await ui.see(re.compile("cannot be sent in this encoding now"))
    await ui.check("report-entity-refused")
    await ui.open_select("Encoding")
    await ui.option("Text (LwM2M plain text)").click()
    await ui.button("Submit")
    await ui.see(re.compile("Success|Name and assign"))
    await ui.button(FINISH)
    await ui.see(re.compile(r"→ 3303/0/5700$"))  # the subentry's title: entity → resource
    temperature = (3303, 0, 5700)
    assert (await stage.platform.observe(IMEI, temperature, accept=TEXT)).ok
    async with asyncio.timeout(60):
        uplink = await stage.platform.wait_uplink(lambda uplink: uplink.path == temperature)
    assert uplink.payload == _demo_temperature().encode()


async def _developer_tools_send(ui: Ui, stage: Stage) -> None:
    """Developer tools → Actions: bc26.send's form, then a confirmable send in YAML."""
    entry_id = next(
        entry["entry_id"]
        for entry in await stage.hass.config_entries("bc26")
        if entry["title"] == module_title(IMEI)
    )
    await ui.go("/developer-tools/action")
    await ui.button(re.compile("^(Go to YAML mode|YAML mode)$"))
    await ui.page.locator(".cm-content").click()
    await ui.page.keyboard.press("Control+A")
    await ui.page.keyboard.press("Delete")
    await ui.page.keyboard.insert_text(
        f"action: bc26.send\ndata:\n  config_entry_id: {entry_id}\n"
        "  data: hello\n  confirmable: true\n"
    )
    await ui.button(re.compile("^(Go to UI mode|UI mode)$"))
    await ui.see("Sends data to the LwM2M platform")
    await ui.check("action-send")
    await ui.button("Perform action")
    await ui.see("status: acknowledged")
    await ui.check("action-send-result")
    uplink = await stage.platform.wait_uplink()
    assert (uplink.payload, uplink.confirmable) == (b"hello", True)


def _demo_temperature() -> str:
    """The demo temperature's state once the platform wrote frame 3."""
    frame = sample_frame(3)
    return str((frame[2] * 256 + frame[3]) / 10)


async def _device_page(ui: Ui, stage: Stage) -> str:
    """The module's device page once the platform wrote a frame: every value there."""
    await stage.platform.write(IMEI, DOWNLINK, sample_frame(3))
    devices = await stage.hass.websocket_command({"type": "config/device_registry/list"})
    (device,) = [d for d in devices if ["bc26", IMEI] in d["identifiers"]]
    await ui.go(f"/config/devices/device/{device['id']}")
    await ui.see("Demo temperature")
    await ui.see(_demo_temperature())
    return await ui.check("device-page")


async def _repair(ui: Ui, stage: Stage) -> None:
    """The failing module's issue, fixed through its dialog (the entry's Reconfigure)."""
    title = f"{module_title(FAILING_IMEI)} cannot register with its LwM2M server"
    async with asyncio.timeout(ISSUE_WAIT):
        while not any(  # noqa: ASYNC110 - the issue comes after three failed tries
            issue["translation_key"] == "registration_failed"
            for issue in (await stage.hass.websocket_command({"type": "repairs/list_issues"}))[
                "issues"
            ]
        ):
            await asyncio.sleep(1)
    await ui.go("/config/repairs")
    await ui.see(title)
    await ui.check("repairs")
    await ui.page.get_by_text(title).first.click()
    await ui.see(f"Reconfigure {module_title(FAILING_IMEI)}")
    await ui.check("repair-fix")
    await ui.page.get_by_role("spinbutton", name="Server port").fill(str(stage.platform.port))
    await ui.button("Submit")
    await ui.see("Repaired")
    await ui.check("repair-fixed")
    async with asyncio.timeout(60):
        await stage.platform.wait_registered(FAILING_IMEI)


async def _values_missing(stage: Stage) -> dict[str, str]:
    """Entities of the module that show no value although one is due by now."""
    ids = await stage.hass.entity_ids("bc26")
    missing = {}
    for unique_id, entity_id in ids.items():
        if not unique_id.startswith(IMEI) or entity_id.startswith("button."):
            continue
        state = await stage.hass.state(entity_id)
        if state is not None and state["state"] in ("unknown", "unavailable"):
            missing[entity_id] = state["state"]
    return missing


def _save_readme_images(ui: Ui) -> None:
    if os.environ.get("BC26_README_IMAGES") != "1":
        return
    for number, name in enumerate(ui.taken, start=1):
        if name in README_IMAGES:
            shutil.copyfile(
                ui.shots / f"{number:02d}-{name}.png", ROOT / "docs" / "images" / f"{name}.png"
            )


async def test_a_user_walks_the_integrations_pages(ui: Ui, stage: Stage) -> None:
    await _config_flow(ui, stage)
    await _options_and_reconfigure(ui)
    await _add_resource_sensor(ui)
    await _developer_tools_send(ui, stage)
    await _declare_object(ui, stage)
    device = await _device_page(ui, stage)
    assert "BC26" in device.splitlines()  # the model, not ATI's Quectel_BC26
    assert "Quectel_BC26" not in device
    assert "Connected" not in device  # Registered: Yes
    assert "Unknown" not in device.splitlines()
    assert "Unavailable" not in device.splitlines()
    assert await _values_missing(stage) == {}
    await _report_entity(ui, stage)
    await _repair(ui, stage)
    await ui.go("/config/integrations/integration/bc26")
    await ui.see(SAMPLE_SENSOR["name"])
    integration = await ui.check("integration-page")
    assert "Enable debug logging" in integration  # where the README sends users
    _save_readme_images(ui)

    assert ui.console_errors == []
    logged = stage.log.read_text(errors="replace")
    assert "Failed to format translation" not in logged
