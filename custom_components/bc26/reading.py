"""What the module buffered (buffer access mode), read into payloads of the right resource.

AT+QLWRD does not say which resource a node is of, and only the first node of a burst
is announced with its path (manual 3.10): every node takes the path of the
+QLWDATARECV that announced its burst, and without one (after a reconnect, or at
initialisation) the one writable resource declared. Buffer access is refused with
more than one writable resource (object_flow.py), so the path is never a guess.
"""

from __future__ import annotations

from collections.abc import Callable
import logging

from homeassistant.util import dt as dt_util

from .modem import Bc26Modem, ResourcePath
from .resources import Payload, Resources, ResourceTable

_LOGGER = logging.getLogger(__name__)


class BufferReader:
    """Whether the module holds something to read, and reading it."""

    def __init__(self, resources: Resources, declared: Callable[[], ResourceTable]) -> None:
        self._resources = resources
        self._declared = declared
        self._announced: ResourcePath | None = None
        self.pending = False  # announced and not read yet

    def announced(self, path: ResourcePath) -> None:
        """+QLWDATARECV without data: a burst for `path` waits in the module."""
        self._announced = path
        self.pending = True

    async def read(self, modem: Bc26Modem) -> None:
        """AT+QLWRD until the buffer is empty; pending again when it fails (raises as modem).

        Cancelled, it stops after the read on the line, whose node is delivered first.
        """
        self.pending = False
        try:
            await modem.drain_buffer(self._node)
        except BaseException:
            self.pending = True  # the module still holds what was not read
            raise

    def _node(self, data: bytes) -> None:
        writable = self._declared().writable
        path = self._announced or (writable[0] if writable else None)
        if path is None:
            _LOGGER.warning("A buffered write of %d bytes, and no writable resource", len(data))
            return
        self._resources.deliver(Payload(path, data, dt_util.utcnow()))
