"""Reaching the module and the platform: the serial port, a BC26 on it, the server's address."""

from __future__ import annotations

import asyncio
from contextlib import suppress
import ipaddress
import logging
import socket

from .const import SUPPORTED_MODEL
from .modem import Bc26Modem, ModemError, ModemIdentity, Timeouts
from .timing import Backoff

_LOGGER = logging.getLogger(__name__)


class NotBc26Error(ModemError):
    """Something answers AT on the port, but ATI names another model."""


class ServerNotFoundError(ModemError):
    """The server's host name does not resolve to an IPv4 address."""


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
    return modem, await async_reopen_module(modem)


async def async_reopen_module(modem: Bc26Modem) -> ModemIdentity:
    """Open `modem`'s port (again), wake the module and identify it; closed on failure."""
    await modem.open()
    try:
        return await _async_identify(modem)
    except BaseException:
        await modem.close()
        raise


async def _async_identify(modem: Bc26Modem) -> ModemIdentity:
    await modem.probe()
    identity = await modem.identify()
    if SUPPORTED_MODEL not in identity.model.upper():
        raise NotBc26Error(f"{identity.manufacturer} {identity.model} is not a BC26")
    return identity


async def async_reconnect(modem: Bc26Modem, imei: str, backoff: Backoff) -> ModemIdentity:
    """Open `modem`'s port again with growing delays until the module `imei` answers there."""
    await modem.close()
    attempt = 0
    while True:
        attempt += 1
        await asyncio.sleep(backoff.delay(attempt))
        try:
            identity = await async_reopen_module(modem)
        except ModemError as err:
            _LOGGER.debug("Reconnect attempt %d failed: %s", attempt, err)
            continue
        if identity.imei == imei:
            return identity
        _LOGGER.debug("Another module answers on %s; waiting for ours", modem.url)
        await modem.close()


async def async_resolve(host: str) -> str:
    """`host`'s IPv4 address (the module's PDN is IPv4, AT+QLWSERV takes an address)."""
    with suppress(ValueError):
        return str(ipaddress.IPv4Address(host))
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, None, family=socket.AF_INET, type=socket.SOCK_DGRAM)
    except OSError as err:
        raise ServerNotFoundError(f"cannot resolve {host}: {err}") from err
    return str(infos[0][4][0])
