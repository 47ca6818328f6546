"""Top-level URLs: a home page, admin, the native API under /api/v1/ and the OpenAPI schema.

Nothing under /api/ answers an HTML page: unknown URLs and server errors there are
JSON too (see ``config.errors``).
"""

from django.contrib import admin
from django.urls import include, path, register_converter
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from config.health import healthz
from config.home import home, readme
from delivery.unsubscribe_views import unsubscribe_page


class PathIdConverter:
    """An id in a path (``ws_...``, ``jrn_...``, ``run_...``): any text without a slash
    or a NUL. A NUL (``%00``) can match no row and PostgreSQL refuses it in a query, so
    such a path is simply no endpoint: a 404."""

    regex = "[^/\x00]+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


# Registered before the includes below read their patterns.
register_converter(PathIdConverter, "id")

workspace_api = [
    path("", include("customers.urls")),
    path("", include("segments.urls")),
    path("", include("journeys.urls")),
    path("", include("delivery.urls")),
]

urlpatterns = [
    path("", home, name="home"),
    path("readme", readme, name="readme"),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("api/v1/workspaces/<id:workspace_id>/", include(workspace_api)),
    path("compat/", include("journeys.entry.dialects.urls")),
    path("hooks/", include("journeys.entry.hooks.urls")),
    path("u/<str:token>", unsubscribe_page, name="unsubscribe"),
    path("esp/", include("delivery.esp_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
]

handler400 = "config.errors.bad_request"
handler403 = "config.errors.permission_denied"
handler404 = "config.errors.not_found"
handler500 = "config.errors.server_error"
