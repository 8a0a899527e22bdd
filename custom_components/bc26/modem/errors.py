"""Typed errors of the BC26 modem library: one class per way a call can fail."""

from __future__ import annotations


class ModemError(Exception):
    """Base class of every error the library raises."""


class InvalidArgumentError(ModemError, ValueError):
    """A command builder refused an argument; nothing was written to the port."""


class PortError(ModemError):
    """The serial port could not be opened, or was lost while in use."""


class NoResponseError(ModemError):
    """The port is open but the module does not answer AT."""


class ModemTimeoutError(ModemError, TimeoutError):
    """A command's immediate answer or final result did not come in time."""


class CommandRejectedError(ModemError):
    """The module answered ERROR or +CME ERROR: <code>."""

    def __init__(self, command: str, code: int | None) -> None:
        self.command = command
        self.code = code
        detail = "ERROR" if code is None else f"+CME ERROR: {code}"
        super().__init__(f"{command} rejected: {detail}")


class RegistrationError(ModemError):
    """The module answered CONNECT FAIL (or UPDATE FAIL / CLOSE FAIL)."""


class SendFailedError(ModemError):
    """A confirmable send ended in SEND FAIL."""


class ModemRebootedError(ModemError):
    """The module restarted (boot banner) while a command waited for its answer."""


class UnexpectedResponseError(ModemError):
    """The module answered OK, but with information lines the command's parser cannot read."""
