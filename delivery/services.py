"""Delivery's face: what the rest of the product may call.

Journeys send messages (``message_*``), call webhooks (``http_request_with_retries``),
render templates (``template_*``) and record state events (``webhook_events_*``)
through these names only; the modules behind them (providers, the SSRF-safe HTTP
client, the outbox and its sender) can change without a caller noticing. Delivery's
models (``Message``, ``WebhookDelivery``) are data, read and joined where needed.
"""

from delivery.messages import (
    Outgoing,
    SendError,
    message_attempt_count,
    message_deliver,
    message_give_up,
    message_prepare,
)
from delivery.outbound import OutboundError, UnstorableJSON, http_request_with_retries
from delivery.send_gate import messages_gate
from delivery.state_webhooks.outbox import (
    webhook_deliveries_kick_after_commit,
    webhook_endpoints_subscribed,
    webhook_events_record,
    webhook_events_record_many,
)
from delivery.templating import (
    CompiledTemplate,
    RenderBudget,
    TemplateRenderError,
    template_compile,
    template_defaulted_paths,
    template_limit_problem,
    template_render,
    template_syntax_problem,
    template_variable_paths,
)
from delivery.trial_sends import message_send_test

__all__ = [
    "CompiledTemplate",
    "OutboundError",
    "Outgoing",
    "RenderBudget",
    "SendError",
    "TemplateRenderError",
    "UnstorableJSON",
    "http_request_with_retries",
    "message_attempt_count",
    "message_deliver",
    "message_give_up",
    "message_prepare",
    "message_send_test",
    "messages_gate",
    "template_compile",
    "template_defaulted_paths",
    "template_limit_problem",
    "template_render",
    "template_syntax_problem",
    "template_variable_paths",
    "webhook_deliveries_kick_after_commit",
    "webhook_endpoints_subscribed",
    "webhook_events_record",
    "webhook_events_record_many",
]
