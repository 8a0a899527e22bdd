"""An idle module wakes Home Assistant for its polls and checks only.

Most of a module's life nothing happens. What may wake the event loop then: the link
poll, the registration check, and the module speaking. The outbox has nothing to
send or expire while it is empty, so its forwarder waits without a timer.
"""

from __future__ import annotations

import asyncio
from typing import Any

from homeassistant.core import HomeAssistant

from .ha2_fixtures import Rig


def _timers_of(hass: HomeAssistant, task: asyncio.Task[Any] | None) -> list[asyncio.TimerHandle]:
    """The loop's pending timers that end a timeout (`asyncio.timeout`) of `task`."""
    scheduled: list[asyncio.TimerHandle] = getattr(hass.loop, "_scheduled")  # noqa: B009
    return [
        handle
        for handle in scheduled
        if not handle.cancelled()
        and getattr(getattr(handle, "_callback", None), "__self__", None) is not None
        and getattr(handle._callback.__self__, "_task", None) is task  # type: ignore[attr-defined]
    ]


async def test_an_empty_outbox_sets_no_timer(hass: HomeAssistant, rig: Rig) -> None:
    data = rig.entry.runtime_data
    await asyncio.sleep(0.05)  # the forwarder heard the session's last change and waits
    assert not data.forwarder.outbox
    forwarder_task = data.forwarder._task
    assert forwarder_task is not None
    assert not forwarder_task.done()
    assert _timers_of(hass, forwarder_task) == []
    # The session's own wait for its next poll is such a timer: the look finds them.
    assert _timers_of(hass, rig.session._task)
