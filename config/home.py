"""``/``: a small page that points a newcomer to the admin, the API docs and the README
(the admin's "View site" link lands here); ``/readme``: the README itself, as text."""

from django.conf import settings
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe


@require_safe
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html")


@require_safe
def readme(request: HttpRequest) -> FileResponse:
    path = settings.BASE_DIR / "README.md"
    if not path.exists():  # an installation without its sources
        raise Http404("no README here")
    return FileResponse(path.open("rb"), content_type="text/plain; charset=utf-8")
