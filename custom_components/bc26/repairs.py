"""Fix flows of the repair issues: "cannot register" leads to the entry's Reconfigure.

The fix flow does not copy the reconfigure form: it runs the entry's own reconfigure
flow and shows its forms in the repair dialog, so the checks (server, endpoint, the
module on a changed port) and the reload afterwards are the ones Reconfigure has.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from homeassistant.components.repairs import RepairsFlow
from homeassistant.config_entries import SOURCE_RECONFIGURE
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType

from .const import DOMAIN

# HA 2026.x types a fix flow's results as RepairsFlowResult; 2025.4 as FlowResult.
if TYPE_CHECKING and sys.version_info >= (3, 14):
    from homeassistant.components.repairs import RepairsFlowResult as FixFlowResult
else:
    from homeassistant.data_entry_flow import FlowResult as FixFlowResult

STEP_RECONFIGURE = "reconfigure"


class ReconfigureRepairFlow(RepairsFlow):
    """Relay the entry's reconfigure flow; the issue is fixed once it saved the change."""

    def __init__(self, entry_id: str) -> None:
        """Fix the issue of the config entry `entry_id`."""
        self._entry_id = entry_id
        self._flow_id: str | None = None

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> FixFlowResult:
        """Start the entry's reconfigure flow and show its first form."""
        entry = self.hass.config_entries.async_get_entry(self._entry_id)
        if entry is None:
            return self.async_abort(reason="entry_removed")
        result = await self.hass.config_entries.flow.async_init(
            DOMAIN, context={"source": SOURCE_RECONFIGURE, "entry_id": self._entry_id}
        )
        return self._relay(result, entry.title)

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> FixFlowResult:
        """Hand the user's answer to the reconfigure flow."""
        entry = self.hass.config_entries.async_get_entry(self._entry_id)
        if entry is None or self._flow_id is None:
            return self.async_abort(reason="entry_removed")
        result = await self.hass.config_entries.flow.async_configure(self._flow_id, user_input)
        return self._relay(result, entry.title)

    def _relay(self, result: Any, title: str) -> FixFlowResult:
        """Show the reconfigure flow's form, or end as it ended."""
        if result["type"] is FlowResultType.FORM:
            self._flow_id = result["flow_id"]
            return self.async_show_form(
                step_id=STEP_RECONFIGURE,
                data_schema=result["data_schema"],
                errors=result.get("errors"),
                description_placeholders={"title": title},
            )
        self._flow_id = None
        if result["type"] is FlowResultType.ABORT and result["reason"] != "reconfigure_successful":
            return self.async_abort(reason=result["reason"])
        return self.async_create_entry(data={})

    def async_remove(self) -> None:
        """The dialog was closed half-way: do not leave the reconfigure flow behind."""
        if self._flow_id is not None:
            self.hass.config_entries.flow.async_abort(self._flow_id)
            self._flow_id = None


async def async_create_fix_flow(
    hass: HomeAssistant, issue_id: str, data: dict[str, str | int | float | None] | None
) -> RepairsFlow:
    """The fix flow of `issue_id`; every fixable bc26 issue names its entry in `data`."""
    assert data is not None, issue_id
    return ReconfigureRepairFlow(str(data["entry_id"]))
