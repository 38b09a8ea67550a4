"""`/api/` routes: version 1 of the JSON API; any other path answers a JSON 404."""

from django.urls import URLPattern, URLResolver, path, re_path

from rollsync.api.api import api, not_found

urlpatterns: list[URLPattern | URLResolver] = [
    path("v1/", api.urls),
    re_path(r"^.*$", not_found, name="api-not-found"),
]
