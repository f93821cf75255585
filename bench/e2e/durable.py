"""When the bench learns that a tool call's event is durable: the store's ``events.recorded`` announcements.

``generation_events.recorded_at`` is stamped when the store builds its write (services/store/mongo.py
``_records``), before the one durable command is sent: emitted -> recorded_at leaves that write out, a
lower bound. The store publishes ``events.recorded`` (one per generation of a batch, naming the
generation's last event in it: services/store/outcomes.py ``recorded_events``) only after ``persist``
returned, so the arrival of the first announcement covering an event is an upper bound of when it became
durable: it adds persist's read-back, the publish and its confirm, and one broker hop to the bench.

The bench binds its own exclusive, auto-delete queue to ``events.recorded`` on the bench's vhost
(services/common/hints.py, as each gateway worker does for its live views).
"""
from __future__ import annotations

import bisect
import threading
import time
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from bench.e2e.workload import BenchFailure
from services.common import schemas, topology
from services.common.hints import HintSubscriber, instance_name


@dataclass(frozen=True)
class Announcement:
    generation_id: str
    last_event_id: str  # the generation's last event in the batch that was made durable
    arrived: float  # time.time() at the bench: the clock of the emulator's emitted_at and the store's recorded_at


class Announcements:
    """Every ``events.recorded`` the bench received while it ran, in arrival order."""

    def __init__(self, url: str) -> None:
        self._seen: list[Announcement] = []
        self._changed = threading.Condition()
        self.reconnects = 0  # hints published while the bench was away are lost (the queue went with it)
        self._subscriber = HintSubscriber(
            url, queue=topology.queue_name("bench", f"durable.{instance_name()}"),
            binding=topology.LIVE_EVENTS_BINDING, event_type=schemas.EVENTS_RECORDED, on_hint=self._hint,
            on_connected=self._connected, what="bench events.recorded")

    def start(self, wait: float = 30.0) -> None:
        if not self._subscriber.start(wait):
            raise BenchFailure(f"the bench's events.recorded queue was not bound within {wait:.0f}s")

    def stop(self) -> None:
        self._subscriber.stop()

    def mark(self) -> int:
        with self._changed:
            return len(self._seen)

    def since(self, mark: int) -> list[Announcement]:
        with self._changed:
            return self._seen[mark:]

    def wait_until(self, covered: "Coverage", mark: int, timeout: float) -> bool:
        """Until every event ``covered`` needs has an announcement since ``mark``, or ``timeout``."""
        with self._changed:
            return self._changed.wait_for(lambda: covered.complete(self._seen[mark:]), timeout)

    def _hint(self, data: Any) -> None:
        arrived = time.time()
        announcement = Announcement(str(data["generation_id"]), str(data["last_event_id"]), arrived)
        with self._changed:
            self._seen.append(announcement)
            self._changed.notify_all()

    def _connected(self, again: bool) -> None:
        if again:
            self.reconnects += 1


class Coverage:
    """Which announcement covers which event. ``stamps``: event id -> (generation id, recorded_at as a
    timestamp) for every event of the run's generations. An announcement covers the events of its
    generation recorded at or before its last event's stamp: one store writes a generation's batches in
    order. (Two batches of one generation stamped in the same millisecond would not be told apart; a
    durable write takes longer than that.)"""

    def __init__(self, stamps: Mapping[str, tuple[str, float]], needed: Iterable[str]) -> None:
        self._stamps = stamps
        self._latest: dict[str, float] = {}  # generation -> the stamp its last needed event has
        for event_id in needed:
            generation, stamp = stamps[event_id]
            self._latest[generation] = max(stamp, self._latest.get(generation, stamp))

    def _reach(self, announcements: Iterable[Announcement]) -> dict[str, float]:
        reach: dict[str, float] = {}
        for a in announcements:
            if a.last_event_id in self._stamps:
                reach[a.generation_id] = max(self._stamps[a.last_event_id][1], reach.get(a.generation_id, 0.0))
        return reach

    def complete(self, announcements: Iterable[Announcement]) -> bool:
        reach = self._reach(announcements)
        return all(reach.get(generation, -1.0) >= stamp for generation, stamp in self._latest.items())

    def gaps(self, announcements: Iterable[Announcement]) -> list[float]:
        """Per announcement of the run: its arrival - its batch's recorded_at (the store's durable write,
        read-back and confirmed publish, and the hop to the bench: what the upper bound adds)."""
        return [a.arrived - self._stamps[a.last_event_id][1] for a in announcements if a.last_event_id in self._stamps]

    def ends(self, announcements: Iterable[Announcement]) -> dict[str, float]:
        """Event id -> the arrival of the first announcement covering it (events not covered are left out)."""
        per_generation: dict[str, list[tuple[float, float]]] = {}
        for a in announcements:
            if a.last_event_id in self._stamps:
                per_generation.setdefault(a.generation_id, []).append((self._stamps[a.last_event_id][1], a.arrived))
        firsts: dict[str, tuple[list[float], list[float]]] = {}
        for generation, pairs in per_generation.items():
            pairs.sort()
            earliest = [arrived for _, arrived in pairs]
            for i in range(len(earliest) - 2, -1, -1):  # the earliest arrival among the announcements reaching further
                earliest[i] = min(earliest[i], earliest[i + 1])
            firsts[generation] = ([stamp for stamp, _ in pairs], earliest)
        ends = {}
        for event_id, (generation, stamp) in self._stamps.items():
            if generation in firsts:
                stamps, earliest = firsts[generation]
                i = bisect.bisect_left(stamps, stamp)
                if i < len(stamps):
                    ends[event_id] = earliest[i]
        return ends
