"""Store and forward: sending what waits in the outbox as soon as the module can.

An uplink goes out when the module is registered and the platform observes its
resource, the oldest first for each resource, one at a time through the send queue.
What fails because of the moment (not registered, not observed, port gone, no
acknowledgement) stays and is tried again; a sent uplink (acknowledged, when
confirmable) is taken out and saved at once, so it is never sent again. A confirmable
uplink whose result went with the serial port waits until the session has asked the
module for it. Every change of the outbox is saved (Home Assistant's storage), so a
restart of Home Assistant loses nothing; the module's reboots never held it. A
resource the session does not believe observed is tried now and then anyway: the
module's answer is the truth (a garbled +QLWOBSERVE).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
import contextlib
import logging
import time
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers.storage import Store

from .coordinator import (
    Bc26Coordinator,
    ModemUnavailableError,
    NotObservedError,
    NotRegisteredError,
)
from .modem import ConStatus, InvalidArgumentError, ModemError, ResourcePath
from .outbox import Outbox, OutboxFullError, Waiting
from .uplink import (
    SendOutcomeUnknownError,
    SendQueue,
    SendQueueClosedError,
    SendQueueFullError,
    Uplink,
)

_LOGGER = logging.getLogger(__name__)

STORAGE_VERSION = 1
SAVE_DELAY = 1.0  # seconds: a burst of changes is one write


def outbox_key(entry_id: str) -> str:
    """Where Home Assistant's storage keeps the outbox of the entry `entry_id`."""
    return f"bc26.outbox.{entry_id}"


type StartTask = Callable[[Coroutine[Any, Any, None], str], asyncio.Task[None]]


class Forwarder:
    """The outbox of one module and the task that empties it."""

    def __init__(
        self,
        hass: HomeAssistant,
        session: Bc26Coordinator,
        uplinks: SendQueue,
        limit: int,
        max_age: float,
    ) -> None:
        self._session = session
        self._timing = session.timing
        self._uplinks = uplinks
        self._store: Store[dict[str, Any]] = Store(
            hass, STORAGE_VERSION, outbox_key(session.config_entry.entry_id)
        )
        self.outbox = Outbox(limit, max_age, self._changed)
        self._wake = asyncio.Event()
        # Loop times: until when a resource that failed waits, when the module refused
        # one as not observed (it waits for the observe, or the timing's unobserved_retry).
        self._backoff: dict[ResourcePath, float] = {}
        self._unobserved: dict[ResourcePath, float] = {}
        # A confirmable uplink whose result went with the port: neither sent again nor
        # taken out until the session learns from the module whether it arrived.
        self._unsure: Waiting | None = None
        self._task: asyncio.Task[None] | None = None
        self._listeners: list[Callable[[], None]] = []
        self._stopping = False
        self._sending = False  # an uplink is on its way
        self._closed = False  # saved for the last time: nothing more is accepted
        self.sent = 0

    async def async_load(self) -> None:
        """What waited when Home Assistant stopped (or the entry unloaded)."""
        stored = await self._store.async_load()
        if stored:
            self.outbox.restore(stored.get("waiting", ()))

    def start(self, start_task: StartTask) -> None:
        """Forward from now on; changes of the session wake the forwarder."""
        self._session.async_add_listener(self._wake.set)
        self._task = start_task(self._run(), "bc26 forwarder")

    async def async_stop(self) -> None:
        """Stop forwarding; an uplink on its way may finish, briefly. `put` still keeps."""
        task = self._task
        if task is not None:
            self._stopping = True
            if self._sending:
                await asyncio.wait({task}, timeout=self._timing.stop_grace)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def async_close(self) -> None:
        """Save what waits for the next session, a last time: `put` refuses from now on.

        Called once forwarding and the reporters stopped. Refusing is what keeps this
        session's Store from writing after the next session loaded the file: a later
        save (a delayed one, or one at once) would be lost or overwrite the new file.
        """
        if self._closed:
            return
        self._closed = True
        await self._store.async_save(self._data())  # cancels a delayed save

    def put(self, uplink: Uplink, key: str | None = None, source: str = "action") -> None:
        """Keep `uplink` until it can go.

        OutboxFullError when the outbox is full, SendQueueClosedError once closed.
        """
        if self._closed:
            raise SendQueueClosedError
        try:
            self.outbox.put(uplink, time.time(), key, source)
        except OutboxFullError:
            self._notify()  # the count of refusals changed
            raise
        self._wake.set()

    def async_add_listener(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call `listener` whenever the outbox changes; returns its remover."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _changed(self) -> None:
        self._store.async_delay_save(self._data, SAVE_DELAY)
        self._notify()

    def _notify(self) -> None:
        for listener in list(self._listeners):
            listener()

    def _data(self) -> dict[str, Any]:
        return {"waiting": self.outbox.snapshot()}

    def _ready(self, path: ResourcePath) -> bool:
        """Registered, not backing off, and observed (or not tried for a while: see above)."""
        if not self._session.registered:
            return False
        if self._unsure is not None and self._unsure.uplink.path == path:
            return False
        now = asyncio.get_running_loop().time()
        if now < self._backoff.get(path, 0.0):
            return False
        refused = self._unobserved.get(path)
        return (
            refused is None
            or self._session.resources.observed_now(path)
            or now >= refused + self._timing.unobserved_retry
        )

    async def _run(self) -> None:
        while not self._stopping:
            await self._settle_unsure()
            for expired in self.outbox.expire(time.time()):
                _LOGGER.warning(
                    "An uplink to %s waited longer than %d s and was dropped",
                    expired.uplink.path,
                    self.outbox.max_age,
                )
            waiting = self.outbox.next_ready(self._ready)
            if waiting is None:
                await self._sleep()
                continue
            self._sending = True
            try:
                if not await self._forward(waiting):
                    return
            finally:
                self._sending = False

    async def _settle_unsure(self) -> None:
        """Out of the outbox if the module says the platform acknowledged it; else it goes again."""
        unsure = self._unsure
        if unsure is None or self._session.con_unresolved:
            return
        self._unsure = None
        if self._session.con_status is ConStatus.SUCCESS:
            self.sent += 1
            self.outbox.done(unsure)
            await self._store.async_save(self._data())  # never sent twice

    async def _sleep(self) -> None:
        """Until something changes; with uplinks waiting, also until one may go or expire.

        An empty outbox has nothing to retry or expire: no timer wakes Home Assistant for
        it (an idle module costs only its polls and checks). `put` and every change of
        the session wake the forwarder.
        """
        now = asyncio.get_running_loop().time()
        moments = [*self._backoff.values()]
        moments += [
            refused + self._timing.unobserved_retry for refused in self._unobserved.values()
        ]
        self._wake.clear()
        delay = (
            min([self._timing.expiry_check, *(m - now for m in moments if m > now)])
            if len(self.outbox)
            else None
        )
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await self._wake.wait()

    async def _forward(self, waiting: Waiting) -> bool:
        """One uplink to the module; out of the outbox once sent. False: the queue closed."""
        path = waiting.uplink.path
        now = asyncio.get_running_loop().time()
        try:
            await self._uplinks.send(waiting.uplink)
        except SendQueueClosedError:
            return False  # unloading: it stays for next time
        except InvalidArgumentError as err:  # it can never go: drop it, say so
            _LOGGER.warning("An uplink to %s cannot be sent and was dropped: %s", path, err)
            self.outbox.done(waiting)
        except NotObservedError:
            self._unobserved[path] = now  # until the platform observes, now and then
        except (NotRegisteredError, ModemUnavailableError):
            pass  # waits for the session to register again, which wakes the forwarder
        except SendOutcomeUnknownError:
            if self._session.con_unresolved:
                self._unsure = waiting  # the session asks the module when it is back
            else:
                self._backoff[path] = now + self._timing.forward_retry
        except (ModemError, SendQueueFullError) as err:
            _LOGGER.debug("An uplink to %s waits on: %s", path, err)
            self._backoff[path] = now + self._timing.forward_retry
        else:
            self._backoff.pop(path, None)
            self._unobserved.pop(path, None)
            self.sent += 1
            self.outbox.done(waiting)
            # Saved at once: a restart must not send it again. Uplinks are seconds apart.
            await self._store.async_save(self._data())
        return True
