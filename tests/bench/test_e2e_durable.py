"""bench.e2e's upper bound of "durable": each event ends at the first events.recorded that covers it, i.e.
an announcement of its generation whose last event was recorded at or after it (bench/e2e/durable.py).
Plain data in, plain data out; test_benches_run.py runs the bench itself against the real store."""
from __future__ import annotations

from bench.e2e.durable import Announcement, Coverage

# event id -> (generation, recorded_at): g1 written in two batches (at 10.0 and 10.5), g2 in one.
STAMPS = {"a1": ("g1", 10.0), "a2": ("g1", 10.0), "a3": ("g1", 10.5), "b1": ("g2", 10.2)}


def test_an_event_ends_at_the_announcement_of_its_own_batch():
    coverage = Coverage(STAMPS, STAMPS)
    ends = coverage.ends([Announcement("g1", "a2", 10.1), Announcement("g2", "b1", 10.3),
                          Announcement("g1", "a3", 10.6)])
    assert ends == {"a1": 10.1, "a2": 10.1, "a3": 10.6, "b1": 10.3}


def test_a_lost_announcement_is_covered_by_a_later_one_of_the_same_generation():
    ends = Coverage(STAMPS, STAMPS).ends([Announcement("g1", "a3", 10.6)])
    assert ends == {"a1": 10.6, "a2": 10.6, "a3": 10.6}  # g2 had none: left out, not guessed


def test_an_earlier_arrival_reaching_further_wins():
    # The second batch's announcement overtook the first's (they are separate messages).
    ends = Coverage(STAMPS, STAMPS).ends([Announcement("g1", "a3", 10.55), Announcement("g1", "a1", 10.7)])
    assert ends["a1"] == ends["a3"] == 10.55


def test_coverage_is_complete_once_every_needed_generation_is_announced_up_to_its_last_needed_event():
    coverage = Coverage(STAMPS, ["a1", "a3", "b1"])
    assert not coverage.complete([Announcement("g1", "a1", 10.1), Announcement("g2", "b1", 10.3)])
    assert coverage.complete([Announcement("g1", "a3", 10.6), Announcement("g2", "b1", 10.3)])
    # Announcements of other runs' generations (events the bench did not read) change nothing.
    assert not coverage.complete([Announcement("g1", "x9", 10.9), Announcement("g2", "b1", 10.3)])


def test_the_gap_is_each_announcements_arrival_after_its_batchs_stamp():
    gaps = Coverage(STAMPS, STAMPS).gaps([Announcement("g1", "a2", 10.25), Announcement("g2", "b1", 10.5),
                                          Announcement("g9", "x9", 11.0)])
    assert [round(gap, 6) for gap in gaps] == [0.25, 0.3]  # the unknown event's announcement is not the run's
