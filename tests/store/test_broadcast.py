"""Recipe events are a broadcast: with nobody subscribed yet, publishing them is not an error."""
import pytest

from services.common import schemas
from services.common.events import new_event
from services.common.publisher import Unroutable
from tests.support.broker import bind_outside_queue, get_all


def _announcements():
    ref = {"generation_id": "g", "recipe_id": "soup-1"}
    return [new_event(schemas.RECIPE_CREATED, "store", {**ref, "name": "Soup", "description": "Hot."}),
            new_event(schemas.RECIPE_COMPLETED, "store", {**ref, "ingredient_count": 0, "step_count": 0})]


def test_allow_unroutable_confirms_events_nobody_is_bound_for(publisher):
    publisher.publish(_announcements(), timeout=10, allow_unroutable=True)
    with pytest.raises(Unroutable):
        publisher.publish(_announcements(), timeout=10)


def test_a_subscriber_of_some_recipe_events_gets_them_while_the_rest_are_dropped(rabbitmq_url, publisher):
    bind_outside_queue(rabbitmq_url, "completions", schemas.RECIPE_COMPLETED)
    publisher.publish(_announcements(), timeout=10, allow_unroutable=True)
    assert [props.type for props, _ in get_all(rabbitmq_url, "completions")] == [schemas.RECIPE_COMPLETED]
