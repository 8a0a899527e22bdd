"""BC26 modem library: a typed asyncio client for the BC26 LwM2M AT commands.

No Home Assistant import anywhere in this package: it could be published on its own.
"""

from .channel import AtChannel, Begun, Response
from .commands import MAX_PAYLOAD, validate_endpoint, validate_server_host
from .errors import (
    CommandRejectedError,
    InvalidArgumentError,
    ModemError,
    ModemRebootedError,
    ModemTimeoutError,
    NoResponseError,
    PortError,
    RegistrationError,
    SendFailedError,
    UnexpectedResponseError,
)
from .models import (
    MAX_ID,
    BufferRead,
    ConStatus,
    DataMode,
    LinkStatus,
    ModemIdentity,
    NetworkRegistration,
    ObjectInstance,
    ResourcePath,
    SignalQuality,
    Timeouts,
    TranscriptLine,
    parse_id,
)
from .modem import Bc26Modem, FinalResult
from .urc import (
    DataReceived,
    IpAddressAssigned,
    ModemRebooted,
    NetworkRegistrationChanged,
    ObserveRequest,
    SimReady,
    UnknownUrc,
    UrcEvent,
)

__all__ = [
    "MAX_ID",
    "MAX_PAYLOAD",
    "AtChannel",
    "Bc26Modem",
    "Begun",
    "BufferRead",
    "CommandRejectedError",
    "ConStatus",
    "DataMode",
    "DataReceived",
    "FinalResult",
    "InvalidArgumentError",
    "IpAddressAssigned",
    "LinkStatus",
    "ModemError",
    "ModemIdentity",
    "ModemRebooted",
    "ModemRebootedError",
    "ModemTimeoutError",
    "NetworkRegistration",
    "NetworkRegistrationChanged",
    "NoResponseError",
    "ObjectInstance",
    "ObserveRequest",
    "PortError",
    "RegistrationError",
    "ResourcePath",
    "Response",
    "SendFailedError",
    "SignalQuality",
    "SimReady",
    "Timeouts",
    "TranscriptLine",
    "UnexpectedResponseError",
    "UnknownUrc",
    "UrcEvent",
    "parse_id",
    "validate_endpoint",
    "validate_server_host",
]
