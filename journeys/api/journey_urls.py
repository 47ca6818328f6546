"""Journey definition routes: list, import, get, export, publish, pause, archive."""

urlpatterns: list = []
