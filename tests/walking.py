"""Triggering a run through the API and walking it in this process, as a worker would."""

from journeys.engine.claims import runs_claim
from journeys.engine.runner import runs_walk
from journeys.models import Enrollment


def enroll(client, api_base, journey, external_id="user_ada", payload=None) -> Enrollment:
    """Trigger ``journey`` for one customer through the API; answers the new run."""
    response = client.post(
        f"{api_base}/journeys/{journey.public_id}/trigger",
        {"external_id": external_id, "payload": payload or {}},
        format="json",
    )
    assert response.status_code == 202, response.json()
    return Enrollment.objects.get(public_id=response.json()["run_id"])


def advance(run: Enrollment) -> Enrollment:
    """What a worker does with a kicked run: lease it, walk it; answers it refreshed."""
    runs_walk(runs_claim(run_ids=[run.pk]))
    run.refresh_from_db()
    return run
