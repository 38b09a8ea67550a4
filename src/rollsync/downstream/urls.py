"""Routes of the downstream doors: the OAuth token endpoint and OneRoster."""

from django.urls import path

from rollsync.downstream.views import oauth

urlpatterns = [
    path("oauth/token", oauth.token, name="oauth-token"),
]
