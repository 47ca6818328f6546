"""A split: a random path per run and visit, weighted by percentage."""

import hashlib

from journeys.engine.steps.base import StepInput, StepResult


def split_step(inp: StepInput) -> StepResult:
    """A random path, but the same one every time for this run and visit (retries)."""
    digest = hashlib.sha256(f"{inp.run.public_id}:{inp.step['key']}:{inp.visit}".encode())
    point = int(digest.hexdigest(), 16) % 10_000 / 100
    cumulative = 0.0
    paths = inp.step["paths"]
    for index, path in enumerate(paths):
        cumulative += path["percentage"]
        if point < cumulative or index == len(paths) - 1:
            return StepResult(outcome=f"path {index + 1}", next_step=path["next"])
    raise AssertionError("a split has at least one path")
