"""The typed runtime data of a BC26 config entry: what platforms and actions reach.

Platforms and actions take what they need from here, and the type of an entry from
`Bc26ConfigEntry`, without importing the session's module for a type.
"""

from __future__ import annotations

from dataclasses import dataclass

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant

from .const import CONF_QUEUE_AGE, CONF_QUEUE_SIZE, DEFAULT_QUEUE_AGE, DEFAULT_QUEUE_SIZE
from .coordinator import Bc26Coordinator
from .forwarding import Forwarder
from .reporting import Reporters
from .resources import Resources
from .sending import Sender
from .uplink import SendQueue

type Bc26ConfigEntry = ConfigEntry[Bc26Data]


@dataclass(frozen=True, slots=True)
class Bc26Data:
    """One module's session, the live state of its resources, its sends and its outbox."""

    session: Bc26Coordinator
    uplinks: SendQueue
    forwarder: Forwarder
    reporters: Reporters

    @classmethod
    def create(cls, hass: HomeAssistant, session: Bc26Coordinator) -> Bc26Data:
        """The runtime data of a session: sends go through its Sender, in call order."""
        uplinks = SendQueue(Sender(session).transmit)
        options = session.config_entry.options
        forwarder = Forwarder(
            hass,
            session,
            uplinks,
            limit=int(options.get(CONF_QUEUE_SIZE, DEFAULT_QUEUE_SIZE)),
            max_age=float(options.get(CONF_QUEUE_AGE, DEFAULT_QUEUE_AGE)),
        )
        reporters = Reporters(hass, session.config_entry, session, forwarder)
        return cls(session, uplinks, forwarder, reporters)

    @property
    def resources(self) -> Resources:
        """Observed paths, last payloads, payload listeners."""
        return self.session.resources
