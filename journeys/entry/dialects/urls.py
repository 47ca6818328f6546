"""``/compat/<name>/``: each dialect package's ``urls`` module, mounted under its name."""

from importlib.util import find_spec

from django.urls import include, path

#: The dialects, by the name their paths start with (``/compat/<name>/``).
DIALECTS = ("enroll", "courier", "spotzee", "sprinklr", "segment")

urlpatterns = [
    path(f"{name}/", include(f"journeys.entry.dialects.{name}.urls"))
    for name in DIALECTS
    if find_spec(f"journeys.entry.dialects.{name}") is not None
]
