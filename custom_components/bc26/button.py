"""Buttons on the module's device: register again, and update the registration."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from homeassistant.components.button import ButtonEntity, ButtonEntityDescription
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import Unauthorized, UnknownUser
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import Bc26Coordinator
from .data import Bc26ConfigEntry, Bc26Data
from .entity import Bc26Entity
from .services import async_reregister, async_update_registration

# Presses go to the session one at a time anyway; let Home Assistant not limit them.
PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class RegistrationButtonDescription(ButtonEntityDescription):
    """A button that runs one registration step."""

    press: Callable[[Bc26Coordinator], Awaitable[None]]


BUTTONS = (
    RegistrationButtonDescription(
        key="reregister",
        translation_key="reregister",
        entity_category=EntityCategory.CONFIG,
        press=async_reregister,
    ),
    RegistrationButtonDescription(
        key="update_registration",
        translation_key="update_registration",
        entity_category=EntityCategory.CONFIG,
        press=async_update_registration,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant, entry: Bc26ConfigEntry, async_add_entities: AddConfigEntryEntitiesCallback
) -> None:
    """The two registration buttons."""
    async_add_entities(
        RegistrationButton(entry.runtime_data, description) for description in BUTTONS
    )


class RegistrationButton(Bc26Entity, ButtonEntity):
    """Runs the same step as the action of the same name and waits for its result."""

    entity_description: RegistrationButtonDescription

    def __init__(self, data: Bc26Data, description: RegistrationButtonDescription) -> None:
        super().__init__(data)
        self.entity_description = description
        self._attr_unique_id = f"{data.session.config_entry.unique_id}-{description.key}"

    async def async_press(self) -> None:
        """Run the step; a failure reaches the user as a translated error.

        Administrators only, as for the actions: both disturb the module for everyone.
        A press without a user (an automation, a script) is the system's, as for actions.
        """
        context = self._context
        if context is not None and context.user_id:
            user = await self.hass.auth.async_get_user(context.user_id)
            if user is None:
                raise UnknownUser(context=context)
            if not user.is_admin:
                raise Unauthorized(context=context)
        await self.entity_description.press(self.session)
