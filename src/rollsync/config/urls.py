"""URL routes (the web app arrives with the web issue)."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
