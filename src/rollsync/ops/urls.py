"""Operations endpoints, outside the web app's sign-in: /healthz, /readyz, /metrics."""

from django.urls import path

from rollsync.ops import views

app_name = "ops"

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", views.metrics_view, name="metrics"),
]
