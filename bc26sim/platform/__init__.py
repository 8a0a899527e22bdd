"""A local LwM2M server standing in for the IoT platform (`python -m bc26sim.platform`)."""

from bc26sim.platform.console import describe, parse_path, parse_payload, send_downlink
from bc26sim.platform.server import (
    ClientRegistration,
    ConPolicy,
    LwM2mPlatform,
    ObservationEvent,
    ObserveTarget,
    Path,
    PlatformEvent,
    RegistrationEvent,
    Reply,
    Uplink,
)

__all__ = [
    "ClientRegistration",
    "ConPolicy",
    "LwM2mPlatform",
    "ObservationEvent",
    "ObserveTarget",
    "Path",
    "PlatformEvent",
    "RegistrationEvent",
    "Reply",
    "Uplink",
    "describe",
    "parse_path",
    "parse_payload",
    "send_downlink",
]
