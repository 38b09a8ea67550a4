"""Routes of the SCIM door: everything under /scim/v2/ goes to one view, and
scim2-server routes it (RFC 7644 section 3.2)."""

from django.urls import path, re_path

from rollsync.scim.views import scim

urlpatterns = [
    path("scim/v2", scim, name="scim-root"),
    re_path(r"^scim/v2/(?P<path>.*)$", scim, name="scim"),
]
