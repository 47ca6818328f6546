"""A webhook step: call a URL with rendered headers and body; its JSON answer is saved
as ``steps.<key>``."""

from delivery.services import (
    OutboundError,
    RenderBudget,
    TemplateRenderError,
    UnstorableJSON,
    http_request_with_retries,
)
from journeys.engine.steps.base import (
    StepInput,
    StepResult,
    render,
    render_body,
    retry_or_fail,
)


def webhook_step(inp: StepInput) -> StepResult:
    step, run = inp.step, inp.run
    budget = RenderBudget()
    try:
        url = render(step["url"], inp.context, budget)
        headers = {
            name: render(value, inp.context, budget) for name, value in step["headers"].items()
        }
        body = render_body(step.get("body"), inp.context, budget)
    except TemplateRenderError as error:
        return StepResult(outcome="failed", error=str(error))
    if body and not any(name.lower() == "content-type" for name in headers):
        is_json = not isinstance(step.get("body"), str)
        headers["Content-Type"] = "application/json" if is_json else "text/plain; charset=utf-8"
    attempts = (run.context.get("attempts") or {}).get(step["key"], 0) + 1
    try:
        response = http_request_with_retries(
            method=step["method"],
            url=url,
            headers=headers,
            body=body or None,
            idempotency_key=f"{run.public_id}:{step['key']}:{inp.visit}",
        )
    except OutboundError as error:
        result = retry_or_fail(inp, attempts, f"webhook failed: {error}", error.retryable)
        result.context_updates = {"attempts": {step["key"]: attempts}}
        return result
    if response.status >= 400:
        return StepResult(outcome=str(response.status), error=f"webhook answered {response.status}")
    try:
        output = response.json()
    except UnstorableJSON as error:
        return StepResult(
            outcome=str(response.status),
            error=f"webhook answered JSON that cannot be stored: {error}",
        )
    return StepResult(outcome=str(response.status), next_step=step["next"], output=output)
