"""Each staff user sees the admin of their own workspaces only, as an API key does.

A superuser sees every workspace. Anyone else sees the workspaces they are a member of
(:class:`~customers.models.WorkspaceMember`) and nothing of the others: not in lists,
not by URL (another workspace's id answers 404, as the API does, never 403), not in the
workspace choices of a form, and not behind a raw-id box, where anybody can type any
number. Model permissions (the "Marketer" group) decide what they may do with the rows
they see.

A model admin opts in with :class:`WorkspaceScopedAdmin` and names the path from its
model to the workspace when it is not the ``workspace`` field itself::

    class SegmentMembershipAdmin(WorkspaceScopedAdmin, admin.ModelAdmin):
        workspace_path = "segment__workspace"
"""

from typing import Any

from django.contrib import admin
from django.contrib.admin.filters import RelatedFieldListFilter
from django.contrib.admin.widgets import ForeignKeyRawIdWidget
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import models
from django.db.models import QuerySet
from django.forms import ModelChoiceField
from django.http import Http404, HttpRequest

from customers.models import Workspace, WorkspaceMember


class ScopedRawIdWidget(ForeignKeyRawIdWidget):
    """A raw-id box that names its row only if the row is one of ``queryset``'s."""

    def __init__(self, *args: Any, queryset: QuerySet, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queryset = queryset

    def label_and_url_for_value(self, value: Any) -> tuple[str, str]:
        key = self.rel.get_related_field().name
        try:
            visible = self.queryset.filter(**{key: value}).exists()
        except (ValueError, TypeError, ValidationError):
            visible = False
        return super().label_and_url_for_value(value) if visible else ("", "")


def workspace_ids_for(request: HttpRequest) -> QuerySet | None:
    """The workspaces this request's user may see, as a subquery; ``None``: all of them."""
    if request.user.is_superuser:
        return None
    return WorkspaceMember.objects.filter(user_id=request.user.pk).values("workspace_id")


def workspace_path_of(model: type[models.Model], site: admin.AdminSite) -> str | None:
    """How a row of ``model`` names its workspace in a lookup, or ``None`` if it does not:
    as its scoped admin says, else by its own ``workspace`` field."""
    if model is Workspace:
        return "pk"
    if site.is_registered(model):
        registered = site.get_model_admin(model)
        if isinstance(registered, WorkspaceScopedAdmin):
            return registered.workspace_path
    try:
        field = model._meta.get_field("workspace")
    except FieldDoesNotExist:
        return None
    return "workspace" if field.related_model is Workspace else None


def scope_to_workspaces(queryset: QuerySet, path: str, request: HttpRequest) -> QuerySet:
    allowed = workspace_ids_for(request)
    if allowed is None:
        return queryset
    return queryset.filter(**{f"{path}__in": allowed})


class InViewRelatedFieldListFilter(RelatedFieldListFilter):
    """Django's filter by a related row, offering only the rows of the user's workspaces.

    (Django's ``RelatedOnlyFieldListFilter`` would do, but it finds its choices with a
    DISTINCT over the listed table, millions of customers; this asks the small table.)
    """

    def field_choices(self, field: Any, request: HttpRequest, model_admin: Any) -> list:
        ordering = self.field_admin_ordering(field, request, model_admin)
        path = workspace_path_of(field.related_model, model_admin.admin_site)
        return field.get_choices(
            include_blank=False,
            ordering=ordering,
            limit_choices_to={f"{path}__in": workspace_ids_for(request)},
        )


class WorkspaceScopedAdmin:
    """Mix into a ``ModelAdmin`` (before it) whose rows belong to a workspace."""

    #: The lookup from the admin's model to its workspace.
    workspace_path: str = "workspace"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)  # type: ignore[misc]
        return scope_to_workspaces(queryset, self.workspace_path, request)

    def get_object(
        self, request: HttpRequest, object_id: str, from_field: str | None = None
    ) -> Any:
        # The admin redirects to its index when a row is missing from get_queryset();
        # another workspace's row is "not found", as in the API. A user who may not see
        # this model at all gets the admin's 403, as for every other page of it.
        obj = super().get_object(request, object_id, from_field)  # type: ignore[misc]
        if obj is None and self.has_view_or_change_permission(request):  # type: ignore[attr-defined]
            raise Http404("not found")
        return obj

    def formfield_for_foreignkey(
        self, db_field: models.ForeignKey, request: HttpRequest, **kwargs: Any
    ) -> ModelChoiceField | None:
        """Selects and raw-id boxes accept only rows of the user's workspaces."""
        formfield = super().formfield_for_foreignkey(db_field, request, **kwargs)  # type: ignore[misc]
        path = workspace_path_of(db_field.related_model, self.admin_site)  # type: ignore[attr-defined]
        if formfield is not None and path is not None:
            formfield.queryset = scope_to_workspaces(formfield.queryset, path, request)
            if isinstance(formfield.widget, ForeignKeyRawIdWidget):
                # The label beside a raw-id box names the row it holds: only one the
                # user may see (else a typed id would name another workspace's row).
                formfield.widget = ScopedRawIdWidget(
                    formfield.widget.rel,
                    formfield.widget.admin_site,
                    queryset=formfield.queryset,
                    attrs=formfield.widget.attrs,
                )
        return formfield

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        """A member of one workspace finds it filled in on the add page."""
        initial = super().get_changeform_initial_data(request)  # type: ignore[misc]
        allowed = workspace_ids_for(request)
        if allowed is None or self.workspace_path != "workspace" or "workspace" in initial:
            return initial
        ids = list(allowed[:2])
        if len(ids) == 1:
            initial["workspace"] = ids[0]["workspace_id"]
        return initial

    def get_list_filter(self, request: HttpRequest) -> Any:
        """A filter by a related row (workspace, segment...) lists every row of that table,
        other workspaces' names included: offer only the rows in view instead."""
        list_filter = super().get_list_filter(request)  # type: ignore[misc]
        if workspace_ids_for(request) is None:
            return list_filter
        return [self._list_filter_in_view(item) for item in list_filter]

    def _list_filter_in_view(self, item: Any) -> Any:
        if not isinstance(item, str) or "__" in item:
            return item
        try:
            field = self.model._meta.get_field(item)  # type: ignore[attr-defined]
        except FieldDoesNotExist:
            return item
        if field.is_relation and workspace_path_of(field.related_model, self.admin_site):  # type: ignore[attr-defined]
            return (item, InViewRelatedFieldListFilter)
        return item
