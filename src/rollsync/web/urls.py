"""The web app's pages. Every school page is under /schools/<URN>/ and passes the
tenancy chokepoint (`rollsync.web.views.common.school_for`)."""

from django.urls import URLPattern, URLResolver, include, path

from rollsync.web.views import agent, auth, connections, home, push, results, settings, users

app_name = "web"

school_patterns: list[URLPattern | URLResolver] = [
    path("", results.bulk_results, name="school"),
    # AutoUpdate Settings
    path("settings/", settings.settings_page, name="settings"),
    path("settings/mis/", settings.mis_change, name="mis_change"),
    path("settings/reports/<slug:report>/", settings.report_set, name="report_set"),
    path(
        "settings/reports/<slug:report>/fields/<slug:field>/",
        settings.field_set,
        name="field_set",
    ),
    path("settings/policy/", settings.policy_set, name="policy_set"),
    # AutoUpdate Settings: the MIS connection
    path("settings/connection/", connections.connection_connect, name="connection_connect"),
    path(
        "settings/connection/approval/",
        connections.connection_approval,
        name="connection_approval",
    ),
    path(
        "settings/connection/schedule/",
        connections.connection_schedule,
        name="connection_schedule",
    ),
    path("settings/connection/force-run/", connections.connection_pull, name="connection_pull"),
    path(
        "settings/connection/push-credentials/",
        connections.connection_push_credentials,
        name="connection_push_credentials",
    ),
    path(
        "settings/connection/agent-licence/",
        connections.connection_agent_licence,
        name="connection_agent_licence",
    ),
    path("settings/agent/download/", connections.agent_download, name="agent_download"),
    path(
        "settings/connection/disconnect/",
        connections.connection_disconnect,
        name="connection_disconnect",
    ),
    path("uploads/", settings.upload_history, name="upload_history"),
    path("uploads/new/", settings.upload_file, name="upload_file"),
    path("tasks/<str:task_id>/", settings.task_progress, name="task_progress"),
    path("force-run/", settings.force_run, name="force_run"),
    # Whole School Bulk Results
    path("results/", results.bulk_results, name="bulk_results"),
    path("results/unmatched/", results.unmatched, name="unmatched"),
    path("results/unmatched/<int:case_id>/", results.case_decide, name="case_decide"),
    path(
        "results/cross-school/<int:case_id>/",
        results.cross_school_decide,
        name="cross_school_decide",
    ),
    path("results/unallocated/", results.unallocated, name="unallocated"),
    path("results/unallocated/<int:allocation_id>/restore/", results.restore, name="restore"),
    path("results/exclusions/", results.exclusions, name="exclusions"),
    path("results/exclusions/add/", results.exclusion_add, name="exclusion_add"),
    path(
        "results/exclusions/<int:exclusion_id>/remove/",
        results.exclusion_remove,
        name="exclusion_remove",
    ),
    path("runs/", results.runs, name="runs"),
    path("runs/<int:run_id>/", results.run_detail, name="run_detail"),
    path("runs/<int:run_id>/approve/", results.run_approve, name="run_approve"),
    path("runs/<int:run_id>/reject/", results.run_reject, name="run_reject"),
    # Users
    path("users/", users.user_list, name="users"),
    path("users/<uuid:uid>/", users.account_detail, name="account"),
    path("non-mis/", users.non_mis, name="non_mis"),
    path("non-mis/<int:allocation_id>/", users.non_mis_decide, name="non_mis_decide"),
    path("request-single/", users.request_single, name="request_single"),
]

urlpatterns: list[URLPattern | URLResolver] = [
    path("", home.home, name="home"),
    path("login/", auth.login_view, name="login"),
    path("login/verify/", auth.otp_verify, name="otp_verify"),
    path("logout/", auth.logout_view, name="logout"),
    path("account/two-step/", auth.two_factor, name="two_factor"),
    # where an MIS (Arbor) sends the browser back after the school approved access
    path("connections/return/", connections.connection_return, name="connection_return"),
    # where Bromcom pushes each report every evening (docs/push-api.md): no session, no CSRF
    path("push/v1/<str:report>", push.push_receive, name="push"),
    # where the rollsync agent on a SIMS school's server calls (docs/agent.md): no session,
    # no CSRF; the school's licence key as a Bearer token
    path("agent/v1/hello", agent.hello, name="agent_hello"),
    path("agent/v1/reports", agent.reports, name="agent_reports"),
    path("agent/v1/uploads", agent.upload_begin, name="agent_uploads"),
    path("agent/v1/uploads/<str:upload_id>", agent.upload, name="agent_upload"),
    path("agent/v1/status", agent.status, name="agent_status"),
    path("schools/", home.school_list, name="school_list"),
    path("schools/<str:urn>/", include(school_patterns)),
    path("la/", home.la_list, name="la_list"),
    path("la/<str:code>/", home.la_dashboard, name="la_dashboard"),
]
