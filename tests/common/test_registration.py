"""Every consumer of every service is in its service's table (services/<name>/consumers.py)."""
from services.common import topology
from services.common.config import load_settings
from services.common.mongo import transient
from services.gateway.consumers import deliverer_consumers
from services.gateway.webhooks.recorder import Recorder
from services.runner import handlers
from services.runner.consumers import consumers as runner_consumers
from services.store import handlers as store_handlers
from services.store.consumers import consumers as store_consumers


def _tables():
    # Handlers built over nothing: the tables are data, read without connecting to anything.
    deps = handlers.Deps(model=None, runs=None, publish=lambda events: None)
    return {
        "store": store_consumers(store_handlers.StoreHandler(db=None, publisher=None), batch_size=50),
        "runner": runner_consumers(deps, concurrency=4, stop_timeout=30.0),
        "gateway": deliverer_consumers(Recorder(None, None), load_settings({})),
    }


def test_each_work_queue_is_consumed_by_exactly_one_registration():
    queues = [row.queue for table in _tables().values() for row in table]
    assert sorted(queue.name for queue in queues) == sorted(spec.name for spec in topology.WORK_QUEUES)


def test_every_registration_decodes_cloud_events_and_waits_out_mongodb_outages():
    for table in _tables().values():
        for row in table:
            assert row.decode.__name__ in {"decode", "received"}
            assert row.transient is transient


def test_the_store_takes_one_batch_at_a_time_and_only_the_runner_gives_up_visibly():
    tables = _tables()
    [store] = tables["store"]
    assert (store.workers, store.batch_size, store.prefetch) == (1, 50, 100)
    assert [row.give_up is not None for table in tables.values() for row in table] == [False, True, False]
