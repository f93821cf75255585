"""Every queue the gateway's processes consume, with how (services/common/registration.py)."""
from __future__ import annotations

from services.common import topology
from services.common.config import GatewaySettings
from services.common.delivery import received
from services.common.mongo import transient
from services.common.registration import Registration
from services.gateway.webhooks.recorder import Recorder


def deliverer_consumers(recorder: Recorder, settings: GatewaySettings) -> tuple[Registration, ...]:
    """The webhook deliverer's (``python -m services.gateway deliver``)."""
    return (
        # Recording is quick (one subscriptions read and one bulk write per batch): a few workers suffice.
        # MongoDB unreachable while recording: the batch is held and retried, not requeued.
        Registration(topology.GATEWAY_WEBHOOKS, recorder.handle, decode=received,
                     batch_size=settings.webhook_record_batch_size, prefetch=settings.webhook_record_prefetch,
                     workers=2, stop_timeout=10.0, transient=transient),
    )
