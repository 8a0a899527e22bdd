"""Every wait of the session, in one place, and where tests put shorter ones."""

from __future__ import annotations

from dataclasses import dataclass, field

from homeassistant.core import HomeAssistant
from homeassistant.util.hass_dict import HassKey

from .const import DOMAIN
from .modem import Timeouts


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delays that double from `first` up to `maximum` seconds."""

    first: float
    maximum: float

    def delay(self, attempt: int) -> float:
        """Seconds to wait before try number `attempt` + 1 (attempt >= 1)."""
        # Doublings capped: 2 ** 1024 does not fit a float, and attempt 1025 comes after
        # 3.5 days of an unplugged module (5 min apart); any maximum is reached long before.
        doublings = min(max(attempt - 1, 0), 1000)
        return float(min(self.first * 2**doublings, self.maximum))


@dataclass(frozen=True, slots=True)
class SessionTiming:
    """Every wait of the session.

    Tests and benchmarks shorten them by putting their own instance in
    `hass.data[SESSION_TIMING]` before the entry is set up; nothing else reads that key.
    """

    timeouts: Timeouts = field(default_factory=Timeouts)
    reconnect: Backoff = Backoff(first=5.0, maximum=300.0)
    registration: Backoff = Backoff(first=30.0, maximum=1800.0)
    failures_before_issue: int = 3
    # How long a deregistration may take before the session goes on without its result
    # (unloading, initialising): not the manual's 128 s.
    deregister_wait: float = 15.0
    # The outbox (forwarding.py): after a failed send a resource waits `forward_retry`;
    # one the module refused as not observed is tried again after `unobserved_retry`
    # even without a new observation; an idle outbox looks for old uplinks this often.
    # Unloading waits this long for an uplink on its way (a confirmable one waits for its
    # acknowledgement), so that its outcome is known and it is not sent again later.
    stop_grace: float = 10.0
    forward_retry: float = 30.0
    unobserved_retry: float = 60.0
    expiry_check: float = 60.0


SESSION_TIMING: HassKey[SessionTiming] = HassKey(f"{DOMAIN}_session_timing")


def session_timing(hass: HomeAssistant) -> SessionTiming:
    """The timing in force: the default, unless a test put its own in hass.data."""
    return hass.data.get(SESSION_TIMING) or SessionTiming()
