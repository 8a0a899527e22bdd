"""A network that tests script: the platform behind the virtual BC26, without CoAP.

`ScriptedNetwork` implements `bc26sim.network.Network`. Its answers (register, update,
deregister results; the outcome of confirmable notifications) and their delays are
plain attributes a test may change at any moment; what the modem sent is recorded in
bounded deques. The platform's requests (observe, cancel, write, read) are coroutines
a test awaits. Delays are modem seconds, multiplied by `time_scale`.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from .network import ModemSide, ObjectInstance, Registration, ResourcePath, SendOutcome

HISTORY = 200


@dataclass(frozen=True, slots=True)
class Notification:
    """One AT+QLWDATASEND as the platform received it."""

    path: ResourcePath
    payload: bytes
    confirmable: bool


class ScriptedNetwork:
    """A `Network` whose platform is whatever the test says it is."""

    def __init__(
        self,
        *,
        time_scale: float = 1.0,
        register_result: bool = True,
        update_result: bool = True,
        deregister_result: bool = True,
        con_outcome: SendOutcome = SendOutcome.ACKNOWLEDGED,
        register_delay: float = 0.0,
        update_delay: float = 0.0,
        deregister_delay: float = 0.0,
        ack_delay: float = 0.0,
        non_delay: float = 0.0,
        observe_delay: float = 0.0,
        auto_observe: tuple[ResourcePath, ...] = ((19, 0, 0),),
    ) -> None:
        self.time_scale = time_scale
        self.register_result = register_result
        self.update_result = update_result
        self.deregister_result = deregister_result
        self.con_outcome = con_outcome
        self.register_delay = register_delay
        self.update_delay = update_delay
        self.deregister_delay = deregister_delay
        self.ack_delay = ack_delay
        self.non_delay = non_delay
        self.observe_delay = observe_delay
        # Observed right after each successful registration, like a Huawei-style platform.
        self.auto_observe = auto_observe
        self.registered = False
        self.observing: set[ResourcePath] = set()
        self.registrations: deque[Registration] = deque(maxlen=HISTORY)
        self.updates: deque[tuple[ObjectInstance, ...]] = deque(maxlen=HISTORY)
        self.deregistrations = 0
        self.resets = 0
        self.notifications: deque[Notification] = deque(maxlen=HISTORY)
        self.notification_count = 0
        self._notified = asyncio.Event()
        self._modem: ModemSide | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @classmethod
    def field_timed(cls, time_scale: float = 1.0) -> ScriptedNetwork:
        """A platform as slow as the field notes report (CONNECT OK after about 2 s ...)."""
        return cls(
            time_scale=time_scale,
            register_delay=2.0,
            update_delay=3.0,
            deregister_delay=1.0,
            ack_delay=1.0,
            observe_delay=1.0,
        )

    # ------------------------------------------------------------------ Network

    def attach(self, modem: ModemSide) -> None:
        """Remember the modem to call back."""
        self._modem = modem

    async def register(self, registration: Registration) -> bool:
        """Answer a registration after `register_delay` with `register_result`."""
        await self._pause(self.register_delay)
        self.registrations.append(registration)
        self.registered = self.register_result
        if self.registered:
            for path in self.auto_observe:
                self._spawn(self._observe_later(path))
        return self.register_result

    async def update(self, objects: tuple[ObjectInstance, ...]) -> bool:
        """Answer an update after `update_delay` with `update_result`."""
        await self._pause(self.update_delay)
        self.updates.append(objects)
        return self.update_result

    async def deregister(self) -> bool:
        """Answer a deregistration after `deregister_delay` with `deregister_result`."""
        await self._pause(self.deregister_delay)
        self.deregistrations += 1
        self.registered = False
        self.observing.clear()
        return self.deregister_result

    async def notify(self, path: ResourcePath, payload: bytes, confirmable: bool) -> SendOutcome:
        """Record a notification; NON is out after `non_delay`, CON answered after `ack_delay`."""
        self.notifications.append(Notification(path, payload, confirmable))
        self.notification_count += 1
        self._notified.set()
        if not confirmable:
            await self._pause(self.non_delay)
            return SendOutcome.SENT
        await self._pause(self.ack_delay)
        return self.con_outcome

    async def reset(self) -> None:
        """Forget registration and observations (the module rebooted or deleted its context)."""
        self.resets += 1
        await self._cancel_tasks()
        self.registered = False
        self.observing.clear()

    async def close(self) -> None:
        """Stop every task this network started."""
        await self._cancel_tasks()

    # ------------------------------------------------------------------ the platform's side

    async def observe(self, path: ResourcePath) -> bool:
        """The platform observes `path`; False if the module refused (4.04)."""
        accepted = self._side().observe(path, False)
        if accepted:
            self.observing.add(path)
        return accepted

    async def cancel_observe(self, path: ResourcePath) -> bool:
        """The platform cancels its observation of `path`."""
        accepted = self._side().observe(path, True)
        if accepted:
            self.observing.discard(path)
        return accepted

    async def write(self, path: ResourcePath, payload: bytes) -> bool:
        """The platform writes `payload` to `path`; False if the module refused."""
        return self._side().write(path, payload)

    async def read(self, path: ResourcePath) -> bytes | None:
        """The platform reads `path`."""
        return self._side().read(path)

    async def wait_notifications(self, count: int) -> list[Notification]:
        """Wait until `count` notifications have arrived in all; return the recorded ones."""
        while self.notification_count < count:
            self._notified.clear()
            await self._notified.wait()
        return list(self.notifications)

    # ------------------------------------------------------------------ internals

    def _side(self) -> ModemSide:
        if self._modem is None:
            raise RuntimeError("ScriptedNetwork is not attached to a modem")
        return self._modem

    async def _pause(self, delay: float) -> None:
        await asyncio.sleep(delay * self.time_scale)

    async def _observe_later(self, path: ResourcePath) -> None:
        await self._pause(self.observe_delay)
        await self.observe(path)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _cancel_tasks(self) -> None:
        tasks = [task for task in self._tasks if task is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
