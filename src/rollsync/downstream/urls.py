"""Routes of the downstream doors: the OAuth token endpoint and OneRoster 1.1 / 1.2."""

from django.urls import path

from rollsync.downstream.views import oauth, oneroster

urlpatterns = [path("oauth/token", oauth.token, name="oauth-token")]
for _version, _root in oneroster.ROOTS.items():
    _prefix = _root.lstrip("/")
    urlpatterns += [
        path(
            f"{_prefix}/<str:collection>",
            oneroster.collection_view,
            {"version": _version},
            name=f"oneroster-{_version}-collection",
        ),
        path(
            f"{_prefix}/<str:collection>/<str:sourced_id>",
            oneroster.object_view,
            {"version": _version},
            name=f"oneroster-{_version}-object",
        ),
        path(f"{_prefix}/<path:rest>", oneroster.not_found, {"version": _version}),
    ]
