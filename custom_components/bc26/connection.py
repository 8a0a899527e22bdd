"""Opening the serial port and making sure a BC26 answers on it."""

from __future__ import annotations

from .const import SUPPORTED_MODEL
from .modem import Bc26Modem, ModemError, ModemIdentity, Timeouts


class NotBc26Error(ModemError):
    """Something answers AT on the port, but ATI names another model."""


def model_name(identity: ModemIdentity) -> str:
    """The model as people write it: "BC26" for ATI's "Quectel_BC26"."""
    return identity.model.removeprefix("Quectel_")


async def async_open_module(
    port: str, baudrate: int, timeouts: Timeouts
) -> tuple[Bc26Modem, ModemIdentity]:
    """Open `port`, wake the module (AT, ATE0, AT+CMEE=1) and identify it.

    Raises PortError (the port does not open), NoResponseError (no AT answer),
    NotBc26Error (not a BC26) or another ModemError; the port is closed on failure.
    """
    modem = Bc26Modem(port, baudrate=baudrate, timeouts=timeouts)
    await modem.open()
    try:
        identity = await _async_identify(modem)
    except BaseException:
        await modem.close()
        raise
    return modem, identity


async def _async_identify(modem: Bc26Modem) -> ModemIdentity:
    await modem.probe()
    identity = await modem.identify()
    if SUPPORTED_MODEL not in identity.model.upper():
        raise NotBc26Error(f"{identity.manufacturer} {identity.model} is not a BC26")
    return identity
