"""Admin pages write through the same services as the API, and show their refusals.

A service refuses with a :class:`~customers.errors.DomainError` (a limit reached, a race
lost to another request), sometimes only once the form has been validated. Raised out of
``save_model`` it would be a 500 page; here the admin's transaction is rolled back and
the page comes back with the service's message, as the API would answer it.
"""

from typing import Any

from django.contrib import messages
from django.db.models import Model
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect

from customers.errors import DomainError


class ServiceErrorsAsMessagesAdmin:
    """Mix into a ``ModelAdmin`` (before it) whose ``save_model`` calls services."""

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        try:
            # The admin runs this in transaction.atomic(): leaving by an exception rolls
            # back whatever the save had written.
            return super().changeform_view(request, object_id, form_url, extra_context)  # type: ignore[misc]
        except DomainError as error:
            self.message_user(request, f"Not saved: {error.message}", messages.ERROR)  # type: ignore[attr-defined]
            return HttpResponseRedirect(request.get_full_path())


def row_adopt(obj: Model, created: Model) -> None:
    """Make the admin's unsaved ``obj`` the row a service just created (``created``), so
    the admin goes on (its log entry, its redirect) with the row that exists."""
    for field in type(created)._meta.concrete_fields:
        setattr(obj, field.attname, getattr(created, field.attname))
    obj._state.adding = False
    obj._state.db = created._state.db


class CreatedByServiceAdmin(ServiceErrorsAsMessagesAdmin):
    """Mix into a ``ModelAdmin`` whose new rows the API's service makes: an added object
    is created by :meth:`create_through_service` and adopted (:func:`row_adopt`); a
    changed one is saved as usual. The service's refusals come back as messages."""

    def create_through_service(self, obj: Model) -> Model:
        raise NotImplementedError

    def save_model(self, request: HttpRequest, obj: Model, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)  # type: ignore[misc]
            return
        row_adopt(obj, self.create_through_service(obj))
