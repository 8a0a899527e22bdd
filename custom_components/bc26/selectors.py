"""Number fields the forms share: whole seconds, whole counts, typed into a box."""

from __future__ import annotations

from typing import Any

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


def whole(value: Any) -> int | None:
    """A number field's value as an integer; None when it is not a whole number.

    A NumberSelector gives floats, and takes "nan" and "inf" (no range check refuses them).
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value) if float(value).is_integer() else None
