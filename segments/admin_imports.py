"""CSV imports in the admin: upload a file on a static segment's page, watch it progress.

The upload form answers the file's problems at once (no column naming customers, not
UTF-8, too large); the rows are then added by a task while the import's page shows how
far it got and which rows were rejected, and why.
"""

from django import forms
from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse

from customers.errors import DomainError
from segments.imports import MAX_FILE_BYTES, segment_import_start
from segments.models import Segment, SegmentImport


class ImportForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text=(
            "A column named external_id or email (or a single column of either), one "
            f"customer per line; at most {MAX_FILE_BYTES // (1024 * 1024)} MB. Customers "
            "must exist already: unknown ones are listed as rejected."
        ),
    )


class SegmentImportAdminMixin:
    """Adds the import pages to the segment admin (``segments.admin.SegmentAdmin``)."""

    def get_urls(self) -> list:
        wrap = self.admin_site.admin_view  # type: ignore[attr-defined]
        return [
            path(
                "<path:object_id>/import/", wrap(self.import_view), name="segments_segment_import"
            ),
            path(
                "imports/<int:import_id>/",
                wrap(self.import_status_view),
                name="segments_segment_import_status",
            ),
            *super().get_urls(),  # type: ignore[misc]
        ]

    def import_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        segment = self.get_object(request, unquote(object_id))  # type: ignore[attr-defined]
        if segment is None:
            raise Http404("segment not found")
        if not self.has_change_permission(request, segment):  # type: ignore[attr-defined]
            return HttpResponse(status=403)
        form = ImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                record = segment_import_start(segment=segment, file=upload, filename=upload.name)
            except DomainError as error:
                form.add_error("file", error.message)
            else:
                messages.success(request, f"Importing {record.total:,} lines into {segment.name}.")
                return HttpResponseRedirect(
                    reverse("admin:segments_segment_import_status", args=[record.pk])
                )
        context = {
            **self.admin_site.each_context(request),  # type: ignore[attr-defined]
            "title": f"Import customers into {segment.name}",
            "segment": segment,
            "form": form,
            "opts": Segment._meta,
            "is_static": segment.kind == Segment.Kind.STATIC,
        }
        return TemplateResponse(request, "admin/segments/segment/import_form.html", context)

    def import_status_view(self, request: HttpRequest, import_id: int) -> HttpResponse:
        if not self.has_view_or_change_permission(request):  # type: ignore[attr-defined]
            raise PermissionDenied
        segments = self.get_queryset(request)  # type: ignore[attr-defined]
        record = get_object_or_404(
            SegmentImport.objects.defer("rows").select_related("segment"),
            pk=import_id,
            segment__in=segments,
        )
        context = {
            **self.admin_site.each_context(request),  # type: ignore[attr-defined]
            "title": f"Import into {record.segment.name}",
            "record": record,
            "segment": record.segment,
            "opts": Segment._meta,
            "running": record.status
            in (SegmentImport.Status.PENDING, SegmentImport.Status.RUNNING),
        }
        return TemplateResponse(request, "admin/segments/segment/import_status.html", context)
