"""What the benchmark watches: simulator wire timestamps, state changes, loop callbacks, memory."""

from __future__ import annotations

from array import array
import asyncio
from collections import deque
from collections.abc import Callable, Iterator
import contextlib
from dataclasses import dataclass, field
import gc
import os
import time
from typing import Any

from homeassistant.const import EVENT_STATE_CHANGED
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback

from bc26sim import Bc26Simulator

BAUD = 115200
BITS_PER_BYTE = 10  # start bit, 8 data bits, stop bit
NS_PER_BYTE = BITS_PER_BYTE * 1_000_000_000 / BAUD  # 86.8 us


def wire_ns(size: int) -> float:
    """How long `size` bytes take on a 115200-baud 8N1 line."""
    return size * NS_PER_BYTE


class WireProbe:
    """Timestamps of what a simulator writes to and reads from its pseudo-terminal.

    Installed before the simulator's port opens: it wraps the modem's writer (the
    bytes go to the pty master right after the timestamp) and its `feed` (bytes the
    host wrote, as the pty delivers them).
    """

    def __init__(self, simulator: Bc26Simulator) -> None:
        self.armed_write = False
        self.write_ns = 0  # the write the armed probe saw
        self.written = 0  # bytes
        self.read = 0  # bytes
        self.last_line_end_ns = 0  # last host byte chunk that ended a command line
        self.ok_after_line_ns = 0  # first OK written after that line
        modem = simulator.modem
        write = modem.writer
        feed = modem.feed

        def timed_write(data: bytes) -> None:
            now = time.perf_counter_ns()
            if self.armed_write:
                self.armed_write = False
                self.write_ns = now
            self.written += len(data)
            if not self.ok_after_line_ns and b"OK\r\n" in data:
                self.ok_after_line_ns = now
            write(data)

        def timed_feed(data: bytes) -> None:
            self.read += len(data)
            if b"\r" in data:
                self.last_line_end_ns = time.perf_counter_ns()
                self.ok_after_line_ns = 0
            feed(data)

        modem.writer = timed_write
        setattr(modem, "feed", timed_feed)  # noqa: B010 - the pty binds modem.feed at open


@dataclass
class Watched:
    """State changes of one entity: a count, the last state, and who waits for the next."""

    entity_id: str
    changes: int = 0
    last_state: str | None = None
    last_ns: int = 0
    waiter: asyncio.Future[int] | None = None
    expect: str | None = None  # the waiter's state; None: any change
    progress: asyncio.Event = field(default_factory=asyncio.Event)


class StateWatch:
    """A `state_changed` listener on the bus, stamping each change of the watched entities."""

    def __init__(self, hass: HomeAssistant) -> None:
        self._watched: dict[str, Watched] = {}
        self._remove = hass.bus.async_listen(EVENT_STATE_CHANGED, self._on_change)

    def watch(self, entity_id: str) -> Watched:
        """Start counting the changes of `entity_id`."""
        return self._watched.setdefault(entity_id, Watched(entity_id))

    def close(self) -> None:
        """Stop listening."""
        self._remove()

    @callback
    def _on_change(self, event: Event[EventStateChangedData]) -> None:
        now = time.perf_counter_ns()
        watched = self._watched.get(event.data["entity_id"])
        if watched is None:
            return
        new_state = event.data["new_state"]
        watched.changes += 1
        watched.last_state = None if new_state is None else new_state.state
        watched.last_ns = now
        watched.progress.set()
        waiter = watched.waiter
        if waiter is None or waiter.done():
            return
        if watched.expect is None or watched.last_state == watched.expect:
            waiter.set_result(now)


class GcClock:
    """Total time spent in Python's garbage collector, and its longest pause."""

    def __init__(self) -> None:
        self.total_ns = 0
        # When the last collections started, ns: a ring, because a collection (and so an
        # append) can happen while it is being read, which a deque refuses.
        self.starts = [0] * 16
        self._next_start = 0
        self.longest_ns = 0
        self.longest_generation = -1
        self._started = 0
        self.explicit = False  # a gc.collect() of the benchmark's own: not a pause to report
        self.explicit_ns = 0
        self.log: array[int] | None = None  # every start while set (`logging`)
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        now = time.perf_counter_ns()
        if phase == "start":
            self._started = now
            self.starts[self._next_start] = now
            self._next_start = (self._next_start + 1) % len(self.starts)
            if self.log is not None:
                self.log.append(now)
            return
        took = now - self._started
        self.total_ns += took
        if self.explicit:
            self.explicit_ns += took
        elif took > self.longest_ns:
            self.longest_ns, self.longest_generation = took, info["generation"]

    def close(self) -> None:
        """Stop timing."""
        gc.callbacks.remove(self._on_gc)

    def started_between(self, first_ns: int, last_ns: int) -> bool:
        """Whether a collection started in [first_ns, last_ns] (a recent window)."""
        return any(first_ns <= start <= last_ns for start in self.starts)

    @contextlib.contextmanager
    def logging(self) -> Iterator[array[int]]:
        """Within: the start of every collection (ns, ascending), in the array it yields."""
        self.log = log = array("q")
        try:
            yield log
        finally:
            self.log = None

    def collect(self) -> None:
        """A full collection now, left out of the longest pause."""
        self.explicit = True
        try:
            gc.collect()
        finally:
            self.explicit = False


GC = GcClock()


@dataclass
class Longest:
    """The longest event-loop callback seen, overall and attributable to bc26.

    `bc26_own_s` leaves out the garbage collector's pauses that fell into the callback
    (a collection runs in whichever callback happens to allocate when it is due).
    """

    overall_s: float = 0.0
    overall_what: str = ""
    bc26_s: float = 0.0
    bc26_what: str = ""
    bc26_own_s: float = 0.0
    bc26_own_what: str = ""
    bc26_own_cpu_s: float = 0.0  # the thread's CPU time in that same callback
    bc26_cpu_s: float = 0.0  # the most CPU time any bc26 callback took (preemption left out)
    gc_pause_s: float = 0.0
    gc_generation: int = -1


class LoopWatch:
    """Times every callback the event loop runs (asyncio Handle._run), keeping the longest.

    A callback is bc26's when it is a step of a task whose coroutine is bc26 code, or a
    read callback of a transport whose protocol is bc26's (the serial port's reader,
    which parses the URC and writes the states in the same callback).
    """

    def __init__(self) -> None:
        self.longest = Longest()
        # The last callbacks run, (handle, start ns, end ns): a send's window is sorted
        # out afterwards, so timing each callback costs only an append.
        self.recent: deque[tuple[asyncio.Handle, int, int]] = deque(maxlen=256)
        self._original: Callable[[asyncio.Handle], None] | None = None

    def __enter__(self) -> LoopWatch:
        original: Callable[[asyncio.Handle], None] = getattr(asyncio.Handle, "_run")  # noqa: B009
        self._original = original
        longest = self.longest
        recent = self.recent
        perf_counter_ns = time.perf_counter_ns
        # On a shared machine a callback can be preempted: its CPU time tells the two apart.
        thread_time_ns = time.thread_time_ns

        gc_clock = GC
        gc_clock.longest_ns = 0  # the longest pause from here on

        def timed_run(handle: asyncio.Handle) -> None:
            collected = gc_clock.total_ns
            ours = gc_clock.explicit_ns
            cpu = thread_time_ns()
            start = perf_counter_ns()
            original(handle)
            end = perf_counter_ns()
            cpu = thread_time_ns() - cpu
            recent.append((handle, start, end))
            took = (end - start - (gc_clock.explicit_ns - ours)) / 1e9
            if took > longest.overall_s:
                longest.overall_s, longest.overall_what = took, describe(handle)
            if cpu / 1e9 > longest.bc26_cpu_s and _is_bc26(handle):
                longest.bc26_cpu_s = cpu / 1e9
            if took > longest.bc26_own_s and _is_bc26(handle):
                if took > longest.bc26_s:
                    longest.bc26_s, longest.bc26_what = took, describe(handle)
                own = took - (gc_clock.total_ns - collected) / 1e9
                if own > longest.bc26_own_s:
                    longest.bc26_own_s, longest.bc26_own_what = own, describe(handle)
                    longest.bc26_own_cpu_s = cpu / 1e9

        setattr(asyncio.Handle, "_run", timed_run)  # noqa: B010 - asyncio's own hook point
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._original is not None:
            setattr(asyncio.Handle, "_run", self._original)  # noqa: B010
        self.longest.gc_pause_s = GC.longest_ns / 1e9
        self.longest.gc_generation = GC.longest_generation

    def foreign_ns(self, first_ns: int, last_ns: int, skip: tuple[int, int]) -> int:
        """Time the simulator and the platform ran in [first_ns, last_ns], outside `skip`.

        They share this event loop with Home Assistant, but on a real installation the
        module and the platform are elsewhere: their callbacks are not bc26's overhead.
        """
        total = 0
        for handle, start, end in self.recent:
            if end < first_ns or start > last_ns or not _is_foreign(handle):
                continue
            begin, finish = max(start, first_ns), min(end, last_ns)
            inside = max(0, min(finish, skip[1]) - max(begin, skip[0]))
            total += finish - begin - inside
        return total


_FOREIGN = ("bc26sim", "aiocoap")


def _is_foreign(handle: asyncio.Handle) -> bool:
    """A callback of the virtual BC26 or the LwM2M platform (or aiocoap under them)."""
    owner = _owner(handle)
    if isinstance(owner, asyncio.Task):
        code = getattr(owner.get_coro(), "cr_code", None)
        return code is not None and any(f"/{name}/" in code.co_filename for name in _FOREIGN)
    for candidate in (owner, getattr(owner, "_protocol", None)):
        if candidate is not None and type(candidate).__module__.startswith(_FOREIGN):
            return True
    return False


def _owner(handle: asyncio.Handle) -> Any:
    return getattr(getattr(handle, "_callback", None), "__self__", None)


def _is_bc26(handle: asyncio.Handle) -> bool:
    owner = _owner(handle)
    if isinstance(owner, asyncio.Task):
        code = getattr(owner.get_coro(), "cr_code", None)
        return code is not None and "custom_components/bc26" in code.co_filename
    if type(owner).__module__.startswith("custom_components.bc26"):
        return True  # a method of bc26's own: the channel's backlog, announcements, events
    protocol = getattr(owner, "_protocol", None)
    return protocol is not None and type(protocol).__module__.startswith("custom_components.bc26")


def describe(handle: asyncio.Handle) -> str:
    """A short name of what a callback ran."""
    owner = _owner(handle)
    if isinstance(owner, asyncio.Task):
        coro = owner.get_coro()
        return f"task step of {getattr(coro, '__qualname__', coro)}"
    protocol = getattr(owner, "_protocol", None)
    if protocol is not None:
        return f"{type(owner).__name__} read into {type(protocol).__qualname__}"
    callback = getattr(handle, "_callback", None)
    if owner is not None and callback is not None:
        return f"{type(owner).__qualname__}.{getattr(callback, '__name__', '?')}"
    return repr(handle)[:120]


def rss_bytes() -> int:
    """Resident set size of this process (VmRSS)."""
    with open(f"/proc/{os.getpid()}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def percentile(values: list[int], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
    return float(ordered[rank])
