"""The HTTP rules every connector keeps (connectors/http.py), against a simulator server
over real sockets: the URL rule, what is retried and what never is, Retry-After, a
connection dropped mid-answer, the byte budget, and links to another origin."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from rollsync.connectors import (
    AccessNotGranted,
    BadResponse,
    CredentialsRefused,
    UnsafeUrl,
    VendorUnavailable,
)
from rollsync.connectors.http import RetryPolicy, VendorHttp, check_base_url
from rollsync.missim import FaultPlan, FaultSpecError, SimData, SimRequest, SimResponse, SimServer

POLICY = RetryPolicy(attempts=3, wait_initial=0.01, wait_max=0.05, timeout=5)


@contextmanager
def serving(
    cls: type[SimServer], faults: str | None = None, byte_budget: int = 10**8
) -> Iterator[tuple[SimServer, VendorHttp]]:
    with cls(SimData(), faults=faults) as sim:
        http = VendorHttp(sim.url, vendor="Echo", policy=POLICY, byte_budget=byte_budget)
        with http:
            yield sim, http


class Echo(SimServer):
    vendor = "echo"

    def handle(self, request: SimRequest) -> SimResponse:
        if request.path == "/big":
            return SimResponse(200, b"x" * 5000)
        return SimResponse.json({"path": request.path, "n": request.n})


def _get(sim: Echo, path: str, **kw: object) -> tuple[VendorHttp, object]:
    http = VendorHttp(sim.url, vendor="Echo", policy=POLICY, **kw)  # type: ignore[arg-type]
    return http, http.get(path)


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://school.isams.cloud/", "https://school.isams.cloud"),
        ("http://127.0.0.1:8101/schools/1", "http://127.0.0.1:8101/schools/1"),
        ("http://localhost:9/x", "http://localhost:9/x"),
        ("http://[::1]:9", "http://[::1]:9"),
        ("http://mis.example.org", None),
        ("http://10.0.0.5", None),
        ("ftp://school.isams.cloud", None),
        ("https://user:pw@school.isams.cloud", None),
        ("https://school.isams.cloud/?key=1", None),
        ("https://school.isams.cloud/#x", None),
        ("", None),
        ("school.isams.cloud", None),
    ],
)
def test_the_url_rule(url: str, ok: str | None) -> None:
    if ok is None:
        with pytest.raises(UnsafeUrl):
            check_base_url(url)
    else:
        assert check_base_url(url) == ok


def test_429_and_5xx_and_a_drop_are_retried_and_kept_once() -> None:
    with serving(Echo, faults="429@1:0,500@3,drop@5") as (_sim, http):
        assert http.get("/a").json()["n"] == 2
        assert http.get("/b").json()["n"] == 4
        assert http.get("/c").json()["n"] == 6
        assert http.requests_made == 6
        # only the answers used are kept, once each
        assert [(e.url, e.status) for e in http.exchanges] == [
            ("/a", 200),
            ("/b", 200),
            ("/c", 200),
        ]


def test_a_vendor_that_keeps_failing_gives_up_after_the_attempts() -> None:
    with serving(Echo, faults="503@*") as (sim, http):
        with pytest.raises(VendorUnavailable) as gave_up:
            http.get("/a")
        assert http.requests_made == 3
        assert len(sim.requests) == 3
        assert "after 3 tries" in gave_up.value.message
        assert gave_up.value.transient
        assert http.exchanges == []


def test_a_persistent_drop_gives_up_too() -> None:
    with serving(Echo, faults="drop@*") as (sim, http):
        with pytest.raises(VendorUnavailable):
            http.get("/a")
        assert len(sim.requests) == 3


def test_401_is_never_retried_and_403_is_access() -> None:
    with serving(Echo, faults="401@1,403@2") as (sim, http):
        with pytest.raises(CredentialsRefused):
            http.get("/a")
        assert len(sim.requests) == 1
        with pytest.raises(AccessNotGranted):
            http.get("/b")
        assert len(sim.requests) == 2
        assert http.exchanges == []


def test_another_4xx_is_a_bad_response_with_the_vendors_words() -> None:
    class NotFound(Echo):
        def handle(self, request: SimRequest) -> SimResponse:
            return SimResponse.json({"message": "no such thing"}, 404)

    with NotFound(SimData()) as sim, VendorHttp(sim.url, vendor="Echo", policy=POLICY) as http:
        with pytest.raises(BadResponse) as bad:
            http.get("/a")
        assert "404" in bad.value.message and "no such thing" in bad.value.message
        assert len(sim.requests) == 1


def test_answers_past_the_budget_are_refused() -> None:
    with serving(Echo, byte_budget=8000) as (_sim, http):
        http.get("/big")
        with pytest.raises(BadResponse) as bad:
            http.get("/big")
        assert "MiB" in bad.value.message


def test_a_link_to_another_origin_is_not_followed() -> None:
    with Echo(SimData()) as sim, VendorHttp(sim.url, vendor="Echo", policy=POLICY) as http:
        elsewhere = sim.url.replace("127.0.0.1", "localhost") + "/steal"
        with pytest.raises(BadResponse):
            http.get(elsewhere)
        assert sim.requests == []
        assert http.get(sim.url + "/same").json()["path"] == "/same"


def test_not_json_names_what_was_asked() -> None:
    class Html(Echo):
        def handle(self, request: SimRequest) -> SimResponse:
            return SimResponse.html("<html>maintenance</html>")

    with Html(SimData()) as sim, VendorHttp(sim.url, vendor="Echo", policy=POLICY) as http:
        with pytest.raises(BadResponse) as bad:
            http.json(http.get("/a"), what="students page 1")
        assert bad.value.field == "students page 1"


@pytest.mark.parametrize("spec", ["418@1", "429@0", "slow@2", "drop", "500@x"])
def test_fault_specs_that_are_not_understood(spec: str) -> None:
    with pytest.raises(FaultSpecError):
        FaultPlan.parse(spec)


def test_fault_spec_ranges_and_options() -> None:
    plan = FaultPlan.parse("429@2x2:3, 500@5+, slow@1:0.5, token-expiry=60")
    assert [f.kind for f in plan.for_request(1)] == ["slow"]
    assert [f.kind for f in plan.for_request(3)] == ["429"]
    assert plan.for_request(4) == []
    assert [f.kind for f in plan.for_request(9)] == ["500"]
    assert plan.option("token-expiry") == "60"


def test_a_simulator_listens_on_loopback_only() -> None:
    with pytest.raises(ValueError):
        Echo(SimData(), host="0.0.0.0")


def test_errors_carry_the_vendors_status() -> None:
    class Status(Echo):
        def handle(self, request: SimRequest) -> SimResponse:
            return SimResponse.json({"message": "x"}, int(request.path.strip("/")))

    with Status(SimData()) as sim, VendorHttp(sim.url, vendor="Echo", policy=POLICY) as http:
        for code, kind in ((401, CredentialsRefused), (403, AccessNotGranted), (422, BadResponse)):
            with pytest.raises(kind) as raised:
                http.get(f"/{code}")
            assert raised.value.status == code
