"""An event loop of its own, in a thread, for the virtual BC26 and its platform.

On the same loop as Home Assistant, the simulator stops whenever Home Assistant's
loop stalls (a slow disk, a blocking integration), so a test could never show what
a real module does meanwhile: it keeps talking, and its answers wait in the serial
port's buffer. `SimulatorThread` runs the simulator and the platform elsewhere;
everything they own is touched through `run` (coroutines) or `call` (plain calls),
which execute on their loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
import threading
from typing import Any


class SimulatorThread:
    """A running event loop in a daemon thread; `stop()` ends both."""

    def __init__(self, name: str = "bc26sim") -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)

    def start(self) -> None:
        """Start the loop's thread."""
        self._thread.start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    async def run[T](self, work: Coroutine[Any, Any, T]) -> T:
        """Run `work` on the thread's loop; the caller's loop is free meanwhile."""
        future = asyncio.run_coroutine_threadsafe(work, self._loop)
        return await asyncio.wrap_future(future)

    async def call[T](self, function: Callable[[], T]) -> T:
        """Call `function` on the thread's loop and return its result."""

        async def call() -> T:
            return function()

        return await self.run(call())

    def stop(self) -> None:
        """Stop the loop (whatever still runs there is dropped) and join the thread."""
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
        self._loop.close()
