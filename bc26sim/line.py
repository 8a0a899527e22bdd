"""The serial line at its baud rate: bytes arrive one by one, each when its stop bit ends.

A pseudo-terminal hands a write to the other end at once, whole. A UART does not: at
115200 baud 8N1 a byte takes 10 bit times (86.8 us), so a 35-byte URC takes 3 ms to
arrive and the host sees its first byte 3 ms before its last. `PacedLine` puts that
back between the virtual BC26 and the pseudo-terminal, in both directions:

- what the module writes is scheduled on the line (back to back after what is still
  being transmitted) and handed to the host in groups of `chunk` bytes, each group
  the moment its last byte is complete; the rest of a write the moment the write's
  last byte is complete. `chunk=1` is the wire itself, byte by byte; a USB serial
  adapter delivers packets of up to 64 bytes.
- what the host writes reaches the module byte by byte at the same rate (a command
  takes its wire time to arrive; the module echoes it as it comes).

The bytes are delivered by a thread of their own, so that they arrive on time while
the event loop is busy (as a UART keeps receiving while the host is busy). A thread
cannot deliver early; it may deliver late (scheduling, the interpreter lock): each
output write's lateness is recorded (`lateness`), so a measurement can tell the
line's own delays from the host's.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
import contextlib
import ctypes
from dataclasses import dataclass
import sys
import threading
import time

BITS_PER_BYTE = 10  # start bit, 8 data bits, stop bit (8N1)
LATENESS_HISTORY = 4096  # output writes whose lateness is kept
_PR_SET_TIMERSLACK = 29  # prctl(2): how late the kernel may wake a sleeping thread


def byte_ns(baudrate: int) -> float:
    """Nanoseconds one byte takes on the line at `baudrate`, 8N1."""
    if baudrate <= 0:
        raise ValueError(f"baud rate must be positive, not {baudrate}")
    return BITS_PER_BYTE * 1e9 / baudrate


@dataclass(frozen=True, slots=True)
class Scheduled:
    """Where one write lies on the line: its first byte's start bit, its last stop bit (ns)."""

    start_ns: float
    end_ns: float


class _Segment:
    """One write on its way: when its first byte starts, and how much of it was delivered."""

    __slots__ = ("data", "delivered", "start_ns")

    def __init__(self, start_ns: float, data: bytes) -> None:
        self.start_ns = start_ns
        self.data = data
        self.delivered = 0


class Direction:
    """One direction of the line: writes queued back to back, delivered in chunks when due.

    Pure bookkeeping on a clock the caller passes in (nanoseconds of
    `time.perf_counter_ns`); `PacedLine` runs it on a thread.
    """

    def __init__(self, baudrate: int, chunk: int = 1) -> None:
        if chunk < 1:
            raise ValueError(f"chunk must be at least 1 byte, not {chunk}")
        self.byte_ns = byte_ns(baudrate)
        self.chunk = chunk
        self.free_ns = 0.0  # when the line is done with everything queued
        self._segments: deque[_Segment] = deque()

    def __bool__(self) -> bool:
        return bool(self._segments)

    def schedule(self, data: bytes, now_ns: float) -> Scheduled:
        """Queue `data` behind what is on the line; where it lies."""
        start = max(now_ns, self.free_ns)
        self.free_ns = start + len(data) * self.byte_ns
        if data:
            self._segments.append(_Segment(start, data))
        return Scheduled(start, self.free_ns)

    def take_due(self, now_ns: float) -> tuple[bytes, float]:
        """The bytes due by `now_ns` (whole chunks, ends of writes); when the last was due."""
        parts: list[bytes] = []
        due = 0.0
        while self._segments:
            segment = self._segments[0]
            size = len(segment.data)
            complete = max(0, min(size, int((now_ns - segment.start_ns) / self.byte_ns + 1e-9)))
            ready = size if complete == size else complete - complete % self.chunk
            if ready <= segment.delivered:
                break
            parts.append(segment.data[segment.delivered : ready])
            segment.delivered = ready
            due = segment.start_ns + ready * self.byte_ns
            if ready < size:
                break
            self._segments.popleft()
        return b"".join(parts), due

    def next_due_ns(self) -> float | None:
        """When the next chunk (or the end of a write) is complete; None when idle."""
        if not self._segments:
            return None
        segment = self._segments[0]
        boundary = min(len(segment.data), (segment.delivered // self.chunk + 1) * self.chunk)
        return segment.start_ns + boundary * self.byte_ns

    def clear(self) -> None:
        """Forget everything queued (the port closed)."""
        self._segments.clear()
        self.free_ns = 0.0


class PacedLine:
    """Both directions of one serial line, delivered on time by a thread.

    `to_host` writes bytes to the host (called on the line's thread; it must be safe
    there, as `os.write` on a descriptor is); `to_module` gets the host's bytes on the
    event loop `loop`.
    """

    def __init__(
        self,
        baudrate: int,
        to_host: Callable[[bytes], None],
        to_module: Callable[[bytes], None],
        loop: asyncio.AbstractEventLoop,
        *,
        chunk: int = 1,
    ) -> None:
        self.baudrate = baudrate
        self.chunk = chunk
        self._to_host = to_host
        self._to_module = to_module
        self._loop = loop
        self._out = Direction(baudrate, chunk)
        self._in = Direction(baudrate, 1)  # the module sees each byte as it comes
        self._condition = threading.Condition()
        self._stopping = False
        self._drain = False
        self.last_output = Scheduled(0.0, 0.0)
        # (due ns, written ns) of the last byte of each output delivery.
        self.lateness: deque[tuple[float, int]] = deque(maxlen=LATENESS_HISTORY)
        self._thread = threading.Thread(
            target=self._run, name=f"paced line {baudrate}", daemon=True
        )
        self._thread.start()

    @property
    def thread_id(self) -> int | None:
        """The delivering thread's id (for its CPU clock)."""
        return self._thread.ident

    @property
    def busy_until_ns(self) -> float:
        """When the line will be done with what the module wrote so far."""
        return self._out.free_ns

    def send(self, data: bytes) -> Scheduled:
        """Module to host: put `data` on the line now; where it lies on it."""
        with self._condition:
            scheduled = self._out.schedule(data, time.perf_counter_ns())
            self.last_output = scheduled
            self._condition.notify()
        return scheduled

    def receive(self, data: bytes) -> None:
        """Host to module: `data` the host just wrote starts crossing the line."""
        with self._condition:
            self._in.schedule(data, time.perf_counter_ns())
            self._condition.notify()

    def stop(self, *, drain: bool = False) -> None:
        """Stop the thread; with `drain`, after delivering what is queued (blocks until then)."""
        with self._condition:
            self._stopping = True
            self._drain = drain
            if not drain:
                self._out.clear()
                self._in.clear()
            self._condition.notify()
        self._thread.join()

    def _run(self) -> None:
        _precise_sleeps()
        condition = self._condition
        while True:
            with condition:
                while True:
                    now = time.perf_counter_ns()
                    out, out_due = self._out.take_due(now)
                    into, _ = self._in.take_due(now)
                    if out or into:
                        break
                    if self._stopping and (not self._drain or not (self._out or self._in)):
                        return
                    moments = [
                        moment
                        for moment in (self._out.next_due_ns(), self._in.next_due_ns())
                        if moment is not None
                    ]
                    condition.wait((min(moments) - now) / 1e9 if moments else None)
            if out:
                self._to_host(out)
                self.lateness.append((out_due, time.perf_counter_ns()))
            if into:
                with contextlib.suppress(RuntimeError):  # the loop closed under us
                    self._loop.call_soon_threadsafe(self._to_module, into)


def _precise_sleeps() -> None:
    """Let the kernel wake this thread on time: Linux's default timer slack is 50 us."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_TIMERSLACK, 1, 0, 0, 0)
