"""Unsolicited result codes of the BC26, as typed events."""

from __future__ import annotations

from dataclasses import dataclass

from .models import NetworkRegistration, ResourcePath


@dataclass(frozen=True, slots=True)
class ObserveRequest:
    """+QLWOBSERVE: <flag>,<obj>,<ins>,<res>; resource -1 is the whole instance."""

    path: ResourcePath
    cancel: bool


@dataclass(frozen=True, slots=True)
class DataReceived:
    """+QLWDATARECV: <obj>,<ins>,<res>,<len>[,<data>].

    `data` is None in buffer access mode (read it with AT+QLWRD); otherwise the
    payload already decoded from hex to bytes.
    """

    path: ResourcePath
    length: int
    data: bytes | None


@dataclass(frozen=True, slots=True)
class ModemRebooted:
    """The ROM boot banner: the module restarted and lost its LwM2M context."""


@dataclass(frozen=True, slots=True)
class SimReady:
    """+CPIN: <code>."""

    code: str


@dataclass(frozen=True, slots=True)
class NetworkRegistrationChanged:
    """+CEREG: <stat>[,...]."""

    status: NetworkRegistration


@dataclass(frozen=True, slots=True)
class IpAddressAssigned:
    """+IP: <address>."""

    address: str


@dataclass(frozen=True, slots=True)
class UnknownUrc:
    """A line nobody asked for that matches no known URC; reported, never swallowed."""

    line: str


type UrcEvent = (
    ObserveRequest
    | DataReceived
    | ModemRebooted
    | SimReady
    | NetworkRegistrationChanged
    | IpAddressAssigned
    | UnknownUrc
)
