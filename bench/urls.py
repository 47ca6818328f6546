"""The product's URLs plus ``bench/bare-insert``, the trigger benchmark's baseline."""

from django.urls import path

from bench.bare_view import BareInsertView
from config import urls as config_urls

urlpatterns = [
    *config_urls.urlpatterns,
    path("bench/bare-insert", BareInsertView.as_view(), name="bench-bare-insert"),
]

handler400 = config_urls.handler400
handler403 = config_urls.handler403
handler404 = config_urls.handler404
handler500 = config_urls.handler500
