"""Number fields the forms share: whole seconds, whole counts, typed into a box."""

from __future__ import annotations

from homeassistant.helpers import selector


def whole_number(
    minimum: float, maximum: float, unit: str | None = None
) -> selector.NumberSelector:
    """A whole number from `minimum` to `maximum`, typed in (optionally with a unit)."""
    config = selector.NumberSelectorConfig(
        min=minimum, max=maximum, step=1, mode=selector.NumberSelectorMode.BOX
    )
    if unit is not None:
        config["unit_of_measurement"] = unit
    return selector.NumberSelector(config)


def seconds(minimum: float, maximum: float) -> selector.NumberSelector:
    """Whole seconds from `minimum` to `maximum`."""
    return whole_number(minimum, maximum, "s")
