"""The typed runtime data of a BC26 config entry: what platforms and actions reach.

Platforms and actions take what they need from here, and the type of an entry from
`Bc26ConfigEntry`, without importing the session's module for a type.
"""

from __future__ import annotations

from dataclasses import dataclass

from homeassistant.config_entries import ConfigEntry

from .coordinator import Bc26Coordinator
from .resources import Resources
from .sending import Sender
from .uplink import SendQueue

type Bc26ConfigEntry = ConfigEntry[Bc26Data]


@dataclass(frozen=True, slots=True)
class Bc26Data:
    """One module's session, the live state of its resources and its queue of sends."""

    session: Bc26Coordinator
    uplinks: SendQueue

    @classmethod
    def start(cls, session: Bc26Coordinator) -> Bc26Data:
        """The runtime data of a session: sends go through its Sender, in call order."""
        return cls(session, SendQueue(Sender(session).transmit))

    @property
    def resources(self) -> Resources:
        """Observed paths, last payloads, payload listeners."""
        return self.session.resources
