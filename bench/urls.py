"""The product's URLs plus the benchmarks' baselines: ``bench/bare-insert`` (the trigger
benchmark's) and ``bench/bare-events`` (the event stream's)."""

from django.urls import path

from bench.bare_view import BareEventsInsertView, BareInsertView
from config import urls as config_urls

urlpatterns = [
    *config_urls.urlpatterns,
    path("bench/bare-insert", BareInsertView.as_view(), name="bench-bare-insert"),
    path("bench/bare-events", BareEventsInsertView.as_view(), name="bench-bare-events"),
]

handler400 = config_urls.handler400
handler403 = config_urls.handler403
handler404 = config_urls.handler404
handler500 = config_urls.handler500
