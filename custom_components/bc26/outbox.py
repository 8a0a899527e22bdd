"""Uplinks waiting until the module can send them: ordered, bounded, aged, kept as data.

Store and forward. What cannot go now (module not registered, resource not observed,
port unplugged, a confirmable message not acknowledged) waits here and goes out once
it can, the oldest first for each resource. The outbox is plain data: the session's
forwarder sends from it, and Home Assistant's storage keeps it across restarts
(`snapshot` / `restore`). It is bounded twice: at most `limit` uplinks (a new one
beyond that is refused, never an old one dropped silently) and none older than
`max_age` seconds (dropped when found, counted). An uplink with a `key` keeps only
the newest value of that key (a reported entity that needs no history): a new one
takes the old one's place.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .modem import ResourcePath
from .uplink import Uplink


class OutboxFullError(Exception):
    """The outbox holds as many uplinks as it may."""


@dataclass(frozen=True, slots=True)
class Waiting:
    """One uplink in the outbox."""

    number: int  # increasing: the order they came in
    uplink: Uplink
    queued_at: float  # seconds since the epoch
    key: str | None = None  # keep only the newest uplink of this key
    source: str = ""  # what queued it: "action" or a reported entity


@dataclass
class Outbox:
    """Waiting uplinks, oldest first; `on_change` is called whenever the contents change."""

    limit: int
    max_age: float
    on_change: Callable[[], None] = lambda: None
    dropped_expired: int = 0
    refused_full: int = 0
    _waiting: list[Waiting] = field(default_factory=list)
    _numbers: int = 0

    def __len__(self) -> int:
        return len(self._waiting)

    @property
    def oldest(self) -> Waiting | None:
        """The uplink that waits longest."""
        return self._waiting[0] if self._waiting else None

    def put(self, uplink: Uplink, now: float, key: str | None = None, source: str = "") -> None:
        """Queue `uplink` (in place of the waiting one of `key`); OutboxFullError when full."""
        self._numbers += 1
        waiting = Waiting(self._numbers, uplink, now, key, source)
        if key is not None:
            for index, old in enumerate(self._waiting):
                if old.key == key:
                    self._waiting[index] = waiting
                    self.on_change()
                    return
        if len(self._waiting) >= self.limit:
            self.refused_full += 1
            raise OutboxFullError
        self._waiting.append(waiting)
        self.on_change()

    def newest(self, path: ResourcePath, source: str) -> Uplink | None:
        """The newest uplink of `source` to `path` that waits (or is on its way)."""
        for each in reversed(self._waiting):
            if each.uplink.path == path and each.source == source:
                return each.uplink
        return None

    def expire(self, now: float) -> list[Waiting]:
        """Drop and return the uplinks older than `max_age`."""
        expired = [each for each in self._waiting if now - each.queued_at > self.max_age]
        if expired:
            self._waiting = [each for each in self._waiting if each not in expired]
            self.dropped_expired += len(expired)
            self.on_change()
        return expired

    def next_ready(self, ready: Callable[[ResourcePath], bool]) -> Waiting | None:
        """The oldest uplink whose resource is `ready`, behind no older one of that resource."""
        blocked: set[ResourcePath] = set()
        for each in self._waiting:
            path = each.uplink.path
            if path not in blocked and ready(path):
                return each
            blocked.add(path)
        return None

    def done(self, waiting: Waiting) -> None:
        """`waiting` went out (or is dropped for good): remove it."""
        if waiting in self._waiting:
            self._waiting.remove(waiting)
            self.on_change()

    def snapshot(self) -> list[dict[str, Any]]:
        """The contents as JSON-able data, oldest first."""
        return [
            {
                "path": str(each.uplink.path),
                "hex": each.uplink.data.hex(),
                "confirmable": each.uplink.confirmable,
                "queued_at": each.queued_at,
                "key": each.key,
                "source": each.source,
            }
            for each in self._waiting
        ]

    def restore(self, items: Iterable[dict[str, Any]]) -> None:
        """Put back what `snapshot` gave, after what is here (items it cannot read are skipped)."""
        for item in items:
            try:
                uplink = Uplink(
                    ResourcePath.parse(item["path"]),
                    bytes.fromhex(item["hex"]),
                    bool(item["confirmable"]),
                )
                queued_at = float(item["queued_at"])
            except (KeyError, TypeError, ValueError):
                continue
            self._numbers += 1
            key, source = item.get("key"), str(item.get("source", ""))
            self._waiting.append(Waiting(self._numbers, uplink, queued_at, key, source))
