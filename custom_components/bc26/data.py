"""The typed runtime data of a BC26 config entry: what platforms and actions reach.

Platforms and actions take what they need from here, and the type of an entry from
`Bc26ConfigEntry`, without importing the session's module for a type.
"""

from __future__ import annotations

from dataclasses import dataclass

from homeassistant.config_entries import ConfigEntry

from .coordinator import Bc26Coordinator
from .resources import Resources
from .uplink import SendQueue

type Bc26ConfigEntry = ConfigEntry[Bc26Data]


@dataclass(frozen=True, slots=True)
class Bc26Data:
    """One module's session and the live state of its resources."""

    session: Bc26Coordinator

    @property
    def resources(self) -> Resources:
        """Observed paths, last payloads, payload listeners."""
        return self.session.resources

    @property
    def uplinks(self) -> SendQueue:
        """The queue of sends."""
        return self.session.uplinks
