"""URL routes: the web app for schools and LAs, and the JSON API."""

from django.urls import include, path

urlpatterns = [
    path("api/", include("rollsync.api.urls")),
    path("", include("rollsync.downstream.urls")),
    path("", include("rollsync.scim.urls")),
    path("", include("rollsync.ops.urls")),  # /healthz, /readyz, /metrics
    path("", include("rollsync.web.urls")),
]
