"""Top-level URLs: admin, the native API under /api/v1/ and the OpenAPI schema.

Nothing under /api/ answers an HTML page: unknown URLs and server errors there are
JSON too (see ``config.errors``).
"""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from config.health import healthz

workspace_api = [
    path("", include("customers.urls")),
    path("", include("segments.urls")),
    path("", include("journeys.urls")),
    path("", include("delivery.urls")),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("api/v1/workspaces/<str:workspace_id>/", include(workspace_api)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
]

handler404 = "config.errors.not_found"
handler500 = "config.errors.server_error"
