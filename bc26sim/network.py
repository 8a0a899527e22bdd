"""The network behind the virtual BC26: the boundary between the AT side and LwM2M.

The AT interpreter (`bc26sim.modem`) never speaks CoAP itself. It calls a `Network`
for what goes out (register, update, deregister, notify) and the network calls the
modem back through `ModemSide` for what comes in (observe, write, read). The real
LwM2M client (`bc26sim.lwm2m`) and the scripted network used by AT-side tests
(`bc26sim.scripted`) both implement `Network`.
"""

from __future__ import annotations

from dataclasses import dataclass
import enum
from typing import Protocol

# (object, instance, resource); resource -1 means "the whole instance" (manual 4.1).
type ResourcePath = tuple[int, int, int]


@dataclass(frozen=True, slots=True)
class ObjectInstance:
    """One `AT+QLWADDOBJ=<obj>,<ins>,<n>,"<res>..."` declaration."""

    object_id: int
    instance_id: int
    resource_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Registration:
    """Everything the network needs to register the module (AT+QLWOPEN)."""

    host: str
    port: int
    endpoint: str
    lifetime: int
    objects: tuple[ObjectInstance, ...]


class SendOutcome(enum.Enum):
    """What became of one notification (AT+QLWDATASEND)."""

    SENT = "sent"  # NON: handed to the network, nothing more is known
    ACKNOWLEDGED = "acknowledged"  # CON: ACK received -> SEND OK, status 4
    RESET = "reset"  # CON: RST received -> SEND FAIL, status 5
    TIMEOUT = "timeout"  # CON: retransmissions exhausted -> SEND FAIL, status 3
    FAILED = "failed"  # CON: could not be sent at all -> SEND FAIL, status 2


class ModemSide(Protocol):
    """What the network may ask of the modem when the platform talks to it."""

    def observe(self, path: ResourcePath, cancel: bool) -> bool:
        """The platform observes (or cancels) `path`; False if it is not declared (4.04)."""

    def write(self, path: ResourcePath, payload: bytes) -> bool:
        """The platform writes `payload` to `path`; False if it is not declared (4.04)."""

    def read(self, path: ResourcePath) -> bytes | None:
        """The platform reads `path`: its last value, or None if it is not declared (4.04)."""


class Network(Protocol):
    """The LwM2M client side of the module, as the AT interpreter uses it.

    Each coroutine returns when the network knows the outcome; the AT side turns
    that into the final result line (CONNECT OK/FAIL and so on). The AT side
    bounds every call with its own (scaled) 128 s timeout.
    """

    def attach(self, modem: ModemSide) -> None:
        """Tell the network which modem to call back; called once before use."""

    async def register(self, registration: Registration) -> bool:
        """Register (POST /rd); True on 2.01 Created."""

    async def update(self, objects: tuple[ObjectInstance, ...]) -> bool:
        """Registration update (POST /rd/<location>); True on 2.04 Changed."""

    async def deregister(self) -> bool:
        """Deregister (DELETE /rd/<location>); True on 2.02 Deleted."""

    async def notify(self, path: ResourcePath, payload: bytes, confirmable: bool) -> SendOutcome:
        """Send a notification on the observation of `path`."""

    async def reset(self) -> None:
        """Forget every registration and observation at once, without telling the server.

        Called when the module reboots or its LwM2M context is deleted.
        """

    async def close(self) -> None:
        """Release sockets and tasks; the simulator is shutting down."""
