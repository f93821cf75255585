"""Prometheus metrics of the store (served on /metrics when PROBE_PORT is set)."""
from prometheus_client import Counter, Histogram

APPLIED = Counter("store_events_applied_total", "events durably applied (replays included)")
POISON = Counter("store_events_poison_total", "messages dead-lettered as poison")
ANNOUNCED = Counter("store_recipe_events_published_total", "recipe.* events published (confirmed)")
ITEMS_REFUSED = Counter("store_recipe_items_refused_total",
                        "ingredients / steps refused: their recipe already held the maximum (MAX_ITEMS_PER_RECIPE)")
WRITE_SECONDS = Histogram("store_batch_write_seconds", "durable write time of one batch")
