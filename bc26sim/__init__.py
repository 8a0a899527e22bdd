"""The virtual BC26: a software Quectel BC26 for tests and demos."""

from .modem import ConStatus, DataMode, VirtualModem
from .network import Network, ObjectInstance, Registration, ResourcePath, SendOutcome
from .scripted import Notification, ScriptedNetwork
from .simulator import Bc26Simulator

__all__ = [
    "Bc26Simulator",
    "ConStatus",
    "DataMode",
    "Network",
    "Notification",
    "ObjectInstance",
    "Registration",
    "ResourcePath",
    "ScriptedNetwork",
    "SendOutcome",
    "VirtualModem",
]
