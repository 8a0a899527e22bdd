"""The few places where Home Assistant 2025.4 and 2026.x differ, detected by feature.

- Serial port choice: HA 2026.5+ has `selector.SerialPortSelector` (local ports,
  ESPHome serial proxies and typed URLs, listed by the USB integration's scanner);
  older versions get a dropdown of the ports serialx finds that also takes a typed
  path or `socket://` / `rfc2217://` URL.
- Options that need a reload: HA 2025.8+ has `OptionsFlowWithReload`. Older versions
  get a stand-in that stores the options and schedules the reload itself. Either way
  the entry has no update listener, which Home Assistant 2026.12 refuses next to the
  reconfigure flow's `async_update_reload_and_abort`.
- Schemas: HA 2026.9+ validates with probatio and, at run time, makes `voluptuous`
  an alias of it; its type hints name probatio's classes. `vol` is voluptuous at run
  time everywhere (so the alias), and probatio for a type checker run on Python 3.14
  (the newest lane, `mypy --python-version 3.14`).
"""

from __future__ import annotations

from collections.abc import Mapping
import sys
from typing import TYPE_CHECKING, Any

from homeassistant import config_entries
from homeassistant.components import usb
from homeassistant.config_entries import ConfigFlowResult
from homeassistant.core import HomeAssistant
from homeassistant.helpers import selector
import serialx

if TYPE_CHECKING and sys.version_info >= (3, 14):
    import probatio as vol
else:
    import voluptuous as vol

__all__ = [
    "OptionsFlowWithReload",
    "async_port_selector",
    "async_stable_port",
    "is_url",
    "vol",
]

_SERIAL_PORT_SELECTOR: type[selector.Selector[Any]] | None = getattr(
    selector, "SerialPortSelector", None
)


def is_url(port: str) -> bool:
    """Whether `port` is a serialx URL (socket://, rfc2217://, ...) rather than a local path."""
    return "://" in port


async def async_port_selector(hass: HomeAssistant) -> selector.Selector[Any]:
    """The selector for the serial port field of the config and reconfigure forms."""
    if _SERIAL_PORT_SELECTOR is not None:
        return _SERIAL_PORT_SELECTOR()
    ports = await hass.async_add_executor_job(serialx.list_serial_ports)
    options = [
        selector.SelectOptionDict(value=port.device, label=_port_label(port)) for port in ports
    ]
    return selector.SelectSelector(
        selector.SelectSelectorConfig(
            options=options, custom_value=True, mode=selector.SelectSelectorMode.DROPDOWN
        )
    )


def _port_label(port: Any) -> str:
    """`/dev/serial/by-id/... - CP2102 USB to UART - Silicon Labs`, from what serialx knows."""
    details = [text for text in (port.product, port.manufacturer) if text]
    return " - ".join([port.device, *details])


async def async_stable_port(hass: HomeAssistant, port: str) -> str:
    """The /dev/serial/by-id link of a local port when there is one, so renumbering is harmless."""
    if is_url(port):
        return port
    return await hass.async_add_executor_job(usb.get_serial_by_id, port)


class _OptionsFlowReloading(config_entries.OptionsFlow):
    """Stand-in for `OptionsFlowWithReload` (HA 2025.8+): store the options, then reload."""

    def async_create_entry(self, *, data: Mapping[str, Any], **kwargs: Any) -> ConfigFlowResult:
        """Save the options and reload the entry when they changed."""
        entry = self.config_entry
        if self.hass.config_entries.async_update_entry(entry, options=data):
            self.hass.config_entries.async_schedule_reload(entry.entry_id)
        return super().async_create_entry(data=data, **kwargs)


if TYPE_CHECKING:
    OptionsFlowWithReload = config_entries.OptionsFlow
else:
    OptionsFlowWithReload = (
        getattr(config_entries, "OptionsFlowWithReload", None) or _OptionsFlowReloading
    )
