"""Update customer: write rendered attributes onto the customer."""

from django.db import transaction

from customers.models import Customer
from delivery.services import RenderBudget, TemplateRenderError
from journeys.engine.steps.base import StepInput, StepResult, render


def update_customer_step(inp: StepInput) -> StepResult:
    budget = RenderBudget()
    try:
        changes = {
            name: render(value, inp.context, budget) if isinstance(value, str) else value
            for name, value in inp.step["set"].items()
        }
    except TemplateRenderError as error:
        return StepResult(outcome="failed", error=str(error))
    with transaction.atomic():
        customer = Customer.objects.select_for_update().get(pk=inp.run.customer_id)
        customer.attributes = {**customer.attributes, **changes}
        customer.save(update_fields=["attributes", "updated_at"])
    inp.run.customer = customer
    return StepResult(outcome="updated", next_step=inp.step["next"])
