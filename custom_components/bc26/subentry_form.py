"""The shape the module's subentry flows share: one form, to add and to reconfigure.

A flow says what its form asks (`_schema`), what it makes of an answer (`_validate`:
errors with their placeholders, or what to save) and what else saving does (`_on_save`).
The form shows the current values when reconfiguring and the answer again on an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from homeassistant.config_entries import ConfigSubentry, ConfigSubentryFlow, SubentryFlowResult

from .compat import vol


@dataclass(frozen=True, slots=True)
class Saved:
    """What a valid answer saves."""

    title: str
    data: dict[str, Any]
    unique_id: str | None = None


type Checked = tuple[dict[str, str], dict[str, str], Saved | None]


class FormSubentryFlow(ConfigSubentryFlow):
    """Add a subentry, or change one, through one form."""

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """The form, for a new subentry."""
        return self._step("user", user_input, None)

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """The form, with the subentry's values."""
        return self._step("reconfigure", user_input, self._get_reconfigure_subentry())

    def _step(
        self, step_id: str, user_input: dict[str, Any] | None, subentry: ConfigSubentry | None
    ) -> SubentryFlowResult:
        checked: Checked = ({}, {}, None)
        if user_input is not None:
            checked = self._validate(user_input, subentry.subentry_id if subentry else None)
        errors, placeholders, saved = checked
        if saved is not None and not errors:
            self._on_save(user_input or {}, saved)
            if subentry is None:
                return self.async_create_entry(
                    title=saved.title, data=saved.data, unique_id=saved.unique_id
                )
            return self.async_update_and_abort(
                self._get_entry(),
                subentry,
                title=saved.title,
                data=saved.data,
                unique_id=saved.unique_id,
            )
        values = user_input if user_input is not None else self._current(subentry)
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(self._schema(), values),
            errors=errors,
            description_placeholders=placeholders,
        )

    def _schema(self) -> vol.Schema:
        """The form."""
        raise NotImplementedError

    def _validate(self, user_input: Mapping[str, Any], editing: str | None) -> Checked:
        """(errors, placeholders, what to save); `editing`: the subentry being changed."""
        raise NotImplementedError

    def _on_save(self, user_input: Mapping[str, Any], saved: Saved) -> None:
        """What saving does besides saving."""

    def _current(self, subentry: ConfigSubentry | None) -> Mapping[str, Any] | None:
        """The form's values for `subentry` (None: a new one)."""
        return subentry.data if subentry else None
