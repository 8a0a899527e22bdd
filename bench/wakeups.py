"""Why the event loop woke up for the integration, and what the integration's callbacks cost.

The loop wakes when a timer is due or a descriptor is ready. `WakeupWatch` counts, for
the integration alone:

- **timers**: every timer whose creation had integration code on the stack (asyncio
  timeouts and sleeps in its coroutines, `call_later`, Home Assistant's
  `async_call_later` ...), named after the integration function that created it.
  Only timers that fire count: a command's answer timeout that the answer cancels
  never wakes the loop.
- **reads**: read callbacks of a serial transport whose protocol is the
  integration's channel: the module spoke (answering, or on its own).

It also sums the time of every callback that is the integration's (those timers,
those reads, steps of tasks running its coroutines): its own CPU time on the loop,
the state writes it makes included, the loop's own overhead per wakeup (the
`epoll_wait` system call and its bookkeeping, some microseconds) not.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
import sys
import time
from types import FrameType
from typing import Any

_OURS = "custom_components/bc26/"
_STACK_DEPTH = 24  # frames searched for integration code when a timer is created


def _owner_of(frame: FrameType | None) -> str | None:
    """`module.function` of the nearest integration frame on the stack, if any."""
    depth = 0
    while frame is not None and depth < _STACK_DEPTH:
        filename = frame.f_code.co_filename
        if _OURS in filename:
            module = filename.rsplit(_OURS, 1)[1].removesuffix(".py").replace("/", ".")
            return f"{module}.{frame.f_code.co_qualname}"
        frame = frame.f_back
        depth += 1
    return None


def _callback_owner(handle: asyncio.Handle) -> Any:
    return getattr(getattr(handle, "_callback", None), "__self__", None)


def is_integration(handle: asyncio.Handle) -> bool:
    """A step of a task running integration code, a method of an integration object (the
    channel's backlog, an announcement), or a read into the integration's channel."""
    owner = _callback_owner(handle)
    if isinstance(owner, asyncio.Task):
        code = getattr(owner.get_coro(), "cr_code", None)
        return code is not None and _OURS in code.co_filename
    if type(owner).__module__.startswith("custom_components.bc26"):
        return True
    return is_integration_read(handle)


def is_integration_read(handle: asyncio.Handle) -> bool:
    """A serial transport's read callback whose protocol is the integration's."""
    protocol = getattr(_callback_owner(handle), "_protocol", None)
    return protocol is not None and type(protocol).__module__.startswith("custom_components.bc26")


class WakeupWatch:
    """Counts the integration's wakeups (timers by owner, reads) and times its callbacks."""

    def __init__(self) -> None:
        self.timers: Counter[str] = Counter()
        self.reads = 0
        self.own_ns = 0  # time in the integration's callbacks
        self.seconds = 0.0  # wall time watched
        self.cpu_seconds = 0.0  # the whole process's CPU time meanwhile
        self._owners: dict[int, tuple[asyncio.TimerHandle, str]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._run: Callable[[asyncio.Handle], None] | None = None
        self._started = 0.0
        self._cpu = 0.0

    @property
    def wakeups(self) -> int:
        """Timers that fired plus reads."""
        return sum(self.timers.values()) + self.reads

    def __enter__(self) -> WakeupWatch:
        loop = asyncio.get_running_loop()
        self._loop = loop
        owners = self._owners
        call_at = loop.call_at

        def traced_call_at(when: float, callback: Any, *args: Any, **kwargs: Any) -> Any:
            handle = call_at(when, callback, *args, **kwargs)
            owner = _owner_of(sys._getframe(1))
            if owner is not None:
                owners[id(handle)] = (handle, owner)
            return handle

        setattr(loop, "call_at", traced_call_at)  # noqa: B010 - call_later goes through it
        original: Callable[[asyncio.Handle], None] = getattr(asyncio.Handle, "_run")  # noqa: B009
        self._run = original
        perf_counter_ns = time.perf_counter_ns

        def timed_run(handle: asyncio.Handle) -> None:
            start = perf_counter_ns()
            original(handle)
            took = perf_counter_ns() - start
            if isinstance(handle, asyncio.TimerHandle):
                entry = owners.pop(id(handle), None)
                if entry is not None and entry[0] is handle:
                    self.timers[entry[1]] += 1
                    self.own_ns += took
                    return
            if is_integration(handle):
                self.own_ns += took
                if is_integration_read(handle):
                    self.reads += 1

        setattr(asyncio.Handle, "_run", timed_run)  # noqa: B010 - asyncio's own hook point
        self._started = time.perf_counter()
        self._cpu = time.process_time()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.seconds = time.perf_counter() - self._started
        self.cpu_seconds = time.process_time() - self._cpu
        if self._run is not None:
            setattr(asyncio.Handle, "_run", self._run)  # noqa: B010
        if self._loop is not None:
            with_instance = self._loop.__dict__
            with_instance.pop("call_at", None)
        self._owners.clear()
