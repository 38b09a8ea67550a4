"""The IRIS iSAMS / Ed:gen simulator: the REST API as mis-apis.md section 1 documents it.

Every school of the `SimData` is served under its own base URL, `{sim.url}/schools/{URN}`
(the school's "MIS URL"), with its own REST API client: client ID `demo-client-{URN}`,
secret `demo-secret-{URN}` (obviously fake). Under it:

- `POST auth/connect/token` (and the two older paths): OAuth2 client credentials, any
  scope; a wrong client is 400 `{"error": "invalid_client"}` as IdentityServer answers;
- `GET api/students` (current pupils) and `GET api/humanresources/employees` (current
  staff), paged by `page`/`pageSize` (at most `API.page_size` a page, or the
  `page-size-max` option) with the page/pageSize/totalCount/totalPages envelope; a
  missing, unknown, expired or used-up token is 401 with a JSON `message`.

Ids are stable and derived from the snapshot: a pupil's `schoolId` (14 characters, the
MIS ID rollsync keeps) and `id` (an integer, another thing), a member of staff's `id`.

Vendor `--faults` options: `token-expiry=SECS` (the expires_in announced and enforced),
`token-requests=N` (a token stops working after N data requests), `page-size-max=N`.
`bad@N` drops `totalPages` from a page of employees, gives the first student of a page a
number for `schoolId`, or leaves `access_token` out of a token answer.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

from rollsync.connectors.isams import API
from rollsync.domain.records import Gender
from rollsync.simulate.snapshot import ExportPerson

from .server import SimRequest, SimResponse, SimServer

_SCHOOL = re.compile(r"^/schools/(?P<urn>[^/]+)(?P<rest>/.*)?$")
TOKEN_PATHS = frozenset(f"/{p}" for p in (API.token_path, *API.older_token_paths))


def client_id_for(urn: str) -> str:
    return f"demo-client-{urn}"


def client_secret_for(urn: str) -> str:
    return f"demo-secret-{urn}"


def _digest(*parts: str) -> bytes:
    return hashlib.sha256(":".join(("isams-sim", *parts)).encode()).digest()


def school_id_for(urn: str, mis_id: str) -> str:
    """A pupil's `schoolId`: 14 characters like "000123456789AB", stable for the pupil."""
    return "00" + _digest(urn, "schoolId", mis_id).hex()[:12].upper()


def student_id_for(urn: str, mis_id: str) -> int:
    """A pupil's internal `id`: an integer, not the schoolId."""
    return 1 + int.from_bytes(_digest(urn, "student", mis_id)[:5]) % 10**12


def employee_id_for(urn: str, mis_id: str) -> int:
    """A member of staff's `id` (their MIS ID in rollsync)."""
    return 1 + int.from_bytes(_digest(urn, "employee", mis_id)[:5]) % 10**12


def _iso(value: Any) -> str | None:
    return f"{value.isoformat()}T00:00:00" if value is not None else None


def _year(value: str | None) -> int | str | None:
    return int(value) if value is not None and value.isdigit() else value


_GENDERS = {Gender.MALE: "M", Gender.FEMALE: "F", Gender.OTHER: "X", Gender.UNKNOWN: "U"}


def _address(p: ExportPerson) -> list[dict[str, Any]]:
    a = p.address
    if a is None:
        return []
    return [
        {
            "address1": a.saon,
            "address2": f"{a.paon} {a.street}",
            "address3": None,
            "town": a.town,
            "county": None,
            "postcode": a.postcode,
            "country": "United Kingdom",
        }
    ]


def student_json(urn: str, p: ExportPerson) -> dict[str, Any]:
    return {
        "id": student_id_for(urn, p.mis_id),
        "schoolId": school_id_for(urn, p.mis_id),
        "schoolCode": None,
        "uniquePupilNumber": p.upn,
        "title": None,
        "forename": p.legal_given,
        "middlenames": p.middle,
        "surname": p.legal_family,
        "preferredName": p.preferred_given,
        "dob": _iso(p.dob),
        "gender": _GENDERS[p.gender],
        "yearGroup": _year(p.year_group),
        "formGroup": p.reg_group,
        "enrolmentDate": _iso(p.start_date),
        "leavingDate": _iso(p.leaving_date),
        "schoolEmailAddress": p.email,
        "homeAddresses": _address(p),
        "systemStatus": API.current_status,
    }


def employee_json(urn: str, p: ExportPerson) -> dict[str, Any]:
    return {
        "id": employee_id_for(urn, p.mis_id),
        "title": p.title,
        "forename": p.legal_given,
        "middleNames": p.middle,
        "surname": p.legal_family,
        "preferredName": p.preferred_given,
        "dateOfBirth": _iso(p.dob),
        "gender": _GENDERS[p.gender],
        "schoolInitials": p.staff_code,
        "schoolEmailAddress": p.email,
        "schoolMobileNumber": p.phone,
        "isTeachingStaff": p.staff_role in ("head", "teacher"),
        "enrolmentDate": _iso(p.start_date),
        "leavingDate": _iso(p.leaving_date),
        "systemStatus": API.current_status,
    }


@dataclass(slots=True)
class _Token:
    urn: str
    expires_at: float
    uses: int = 0


class IsamsSimulator(SimServer):
    vendor = "isams"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._tokens: dict[str, _Token] = {}
        self._token_lock = threading.Lock()
        self._serial = itertools.count(1)
        self.tokens_issued = 0

    def handle(self, request: SimRequest) -> SimResponse:
        m = _SCHOOL.match(request.path)
        if m is None:
            return _error(404, "Not found: a school's API is under /schools/{URN}/")
        urn, rest = m["urn"], (m["rest"] or "/").rstrip("/")
        snap = self.data.school(urn)
        if snap is None:
            return _error(404, f"No school {urn} here")
        if rest in TOKEN_PATHS:
            return self._token(request, urn) if request.method == "POST" else _error(405, "POST")
        if request.method != "GET":
            return _error(405, "Method not allowed")
        people: list[dict[str, Any]]
        if rest == f"/{API.students_path}":
            key = API.students_key
            people = [student_json(urn, p) for p in snap.pupils if not p.future]
        elif rest == f"/{API.employees_path}":
            key = API.employees_key
            people = [employee_json(urn, p) for p in snap.staff if not p.future]
        else:
            return _error(404, f"No resource {rest}")
        refused = self._refuse_token(request, urn)
        if refused is not None:
            return refused
        return self._page(request, key, people)

    # -- auth ----------------------------------------------------------------------------

    def _token(self, request: SimRequest, urn: str) -> SimResponse:
        form = request.form()
        if form.get("grant_type") != "client_credentials":
            return SimResponse.json({"error": "unsupported_grant_type"}, 400)
        if form.get("client_id") != client_id_for(urn) or form.get(
            "client_secret"
        ) != client_secret_for(urn):
            return SimResponse.json({"error": "invalid_client"}, 400)
        lifetime = float(self.faults.option("token-expiry") or API.default_expires_in)
        token = f"sim-token-{urn}-{next(self._serial)}"
        with self._token_lock:
            self._tokens[token] = _Token(urn, time.monotonic() + lifetime)
            self.tokens_issued += 1
        return SimResponse.json(
            {"access_token": token, "expires_in": int(lifetime), "token_type": "Bearer"}
        )

    def _refuse_token(self, request: SimRequest, urn: str) -> SimResponse | None:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.casefold() != "bearer" or not token:
            return _error(401, "Authorization has been denied for this request.")
        limit = self.faults.option("token-requests")
        with self._token_lock:
            found = self._tokens.get(token)
            if found is None or found.urn != urn or time.monotonic() >= found.expires_at:
                return _error(401, "Authorization has been denied for this request.")
            found.uses += 1
            if limit is not None and found.uses > int(limit):
                return _error(401, "Authorization has been denied for this request.")
        return None

    # -- paging --------------------------------------------------------------------------

    def _page(self, request: SimRequest, key: str, people: list[dict[str, Any]]) -> SimResponse:
        try:
            page = int(request.arg(API.page_param) or "1")
            asked = int(request.arg(API.page_size_param) or str(API.page_size))
        except ValueError:
            return _error(400, "page and pageSize must be whole numbers")
        if page < 1 or asked < 1:
            return _error(400, "page and pageSize start at 1")
        most = int(self.faults.option("page-size-max") or API.page_size)
        size = min(asked, most)
        total = len(people)
        return SimResponse.json(
            {
                key: people[(page - 1) * size : page * size],
                "page": page,
                "pageSize": size,
                "totalCount": total,
                "totalPages": math.ceil(total / size),
            }
        )

    # -- faults --------------------------------------------------------------------------

    def bad_response(self, request: SimRequest, good: SimResponse) -> SimResponse:
        body = json.loads(good.body)
        if "access_token" in body:
            del body["access_token"]
        elif body.get(API.students_key):
            body[API.students_key][0]["schoolId"] = 12345
        else:
            body.pop("totalPages", None)
        return SimResponse.json(body)

    def error_response(self, request: SimRequest, status: int) -> SimResponse:
        return _error(status, f"Simulated error {status}")


def _error(status: int, message: str) -> SimResponse:
    return SimResponse.json({"message": message}, status)


__all__ = [
    "IsamsSimulator",
    "client_id_for",
    "client_secret_for",
    "employee_id_for",
    "school_id_for",
    "student_id_for",
]
