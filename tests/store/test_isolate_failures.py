"""isolate_failures: a failing batch is bisected until only its bad items fail (pure, no I/O)."""
import pytest

from services.store.isolation import isolate_failures


class Refused(Exception):
    pass


class Unreachable(Exception):
    pass


def _writer(bad: set[int], log: list[list[int]]):
    def apply(part):
        log.append(list(part))
        if bad & set(part):
            raise Refused(f"refused {sorted(bad & set(part))}")
        return list(part)
    return apply


def _blames(error: BaseException) -> bool:
    return isinstance(error, Refused)


def test_a_batch_that_succeeds_is_applied_in_one_call():
    calls: list[list[int]] = []
    outcome = isolate_failures(range(10), _writer(set(), calls), _blames)
    assert calls == [list(range(10))]
    assert outcome.results == [list(range(10))] and outcome.failed == []


def test_one_bad_item_fails_alone_and_every_other_item_is_applied_in_order():
    outcome = isolate_failures(range(500), _writer({137}, []), _blames)
    assert [item for item, _ in outcome.failed] == [137]
    assert "Refused: refused [137]" in outcome.failed[0][1]
    assert [item for part in outcome.results for item in part] == [n for n in range(500) if n != 137]


def test_one_bad_item_costs_a_logarithmic_number_of_calls():
    calls: list[list[int]] = []
    isolate_failures(range(512), _writer({3}, calls), _blames)
    assert len(calls) <= 2 * 9 + 1


def test_several_bad_items_are_each_isolated():
    outcome = isolate_failures(range(20), _writer({0, 7, 19}, []), _blames)
    assert sorted(item for item, _ in outcome.failed) == [0, 7, 19]
    assert sorted(item for part in outcome.results for item in part) == [n for n in range(20) if n not in {0, 7, 19}]


def test_an_error_that_is_not_an_items_fault_is_raised_unchanged():
    def unreachable(part):
        raise Unreachable("no primary")

    with pytest.raises(Unreachable):
        isolate_failures(range(8), unreachable, _blames)
