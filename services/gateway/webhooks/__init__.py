"""Webhook delivery: each recipe event to every matching subscriber, signed, retried.

Two halves, joined by durable records in ``webhook_deliveries`` (one per
subscription and event):

* ``recorder.py`` (the queue consumer's handler, a batch at a time) records a
  pending delivery for every matching subscriber and returns, so the messages
  are acked as soon as the records are durable. It never waits for a
  subscriber's server. The records its process's scheduler can attempt at
  once (an unordered subscription without a rate limit, with a free slot:
  ``records.handoff_plan``) it inserts already claimed and hands over, so
  they are POSTed without a claim round (a claim whose process dies before
  the POST comes due when it expires).
* ``scheduler.py`` claims due records (a lease, so several deliverer processes
  never attempt the same record at once and a killed one's claims expire) and
  attempts them on a thread pool (``WEBHOOK_PARALLEL_ATTEMPTS``), at most
  ``WEBHOOK_ATTEMPTS_PER_TARGET`` at a time per subscription, taking turns
  across subscriptions (``records.claim_plan``): a dead or slow target holds a
  few threads, never all of them, never the queue, and its backlog never
  delays another subscriber. Each attempt (``sender.py``)
  has one deadline and reads at most a few KiB of the answer (``pinned.py``);
  its outcome is saved only while it holds its lease (``lease_token``), so a
  stale attempt never overwrites a newer one.

A failed attempt is scheduled again on the retry schedule (Svix's by default,
``records.RetryPolicy``; a ``Retry-After`` may lengthen a wait) until the schedule
is used up or ``WEBHOOK_GIVE_UP_SECONDS`` seconds after the record was created; then the
record is ``failed`` and keeps the whole event (the dead letter an operator can
replay). A 410 Gone, or failing every attempt for ``WEBHOOK_DISABLE_AFTER``,
disables the subscription (``records.subscription_health``) and ``notices.py``
announces it once.
A record that is ``delivered`` or ``failed`` is final: a redelivered event is
not sent again to a subscriber that has it. A record's next state after an
attempt is a plain function (``records.after_attempt``).

``entry.py`` runs the process (``python -m services.gateway deliver``), wired by
services/gateway/bootstrap.py.
"""
