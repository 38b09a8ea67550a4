"""The Microsoft 365 client against its simulator on loopback (real sockets): users by
Entra inbound provisioning (bulkUpload, at most 50 records a request, results from the
provisioning logs), class groups by Graph (teachers owners and members), throttling
with Retry-After, refused records, dry run, refused credentials."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from rollsync.downsim import MicrosoftSimulator
from rollsync.provisioning.errors import BadTenantSettings, TenantBadResponse, TenantRefused
from rollsync.provisioning.microsoft import MicrosoftSettings
from rollsync.provisioning.run import provision
from tests.provisioning.helpers import DOMAIN, directory, ms_client, ms_sim


def group_of(sim: object, key: str) -> tuple[set[str], set[str]]:
    """(owner keys, member keys) of a group by its mail nickname."""
    g = next(g for g in sim.groups.values() if g["mailNickname"] == key)  # type: ignore[attr-defined]
    key_of = {uid: u["employeeId"] for uid, u in sim.users.items()}  # type: ignore[attr-defined]
    return (
        {key_of[i] for i in sim.owners[g["id"]]},  # type: ignore[attr-defined]
        {key_of[i] for i in sim.members[g["id"]]},  # type: ignore[attr-defined]
    )


def test_first_run_uploads_users_in_bulk_and_makes_class_groups_and_a_second_changes_nothing() -> (
    None
):
    d = directory(120, owners_are_members=True)
    with ms_sim() as sim:
        client = ms_client(sim)
        run = provision(client, d, dry_run=False)
        assert run.status == "applied" and not run.failed
        assert sim.uploads == [50, 50, 22]  # 122 records, at most 50 a request
        bulk = [r for r in sim.requests if r.path == sim.bulk_path]
        body = json.loads(bulk[0].body)
        assert bulk[0].headers["content-type"] == "application/scim+json"
        assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"]
        op = body["Operations"][0]
        assert (op["method"], op["path"], op["data"]["externalId"]) == (
            "POST",
            "/Users",
            d.users[0].key,
        )
        assert len(sim.users) == 122
        for u in d.users:
            (made,) = sim.user_by_key(u.key)
            assert (made["userPrincipalName"], made["givenName"], made["surname"]) == (
                u.email,
                u.given_name,
                u.family_name,
            )
            assert made["accountEnabled"] is True
        a = next(g for g in d.groups if g.key == "rs-class-a")
        owners, members = group_of(sim, "rs-class-a")
        assert owners == set(a.owners) and members == set(a.members)
        assert owners <= members  # teachers are members too
        g = next(g for g in sim.groups.values() if g["mailNickname"] == "rs-class-a")
        assert (g["groupTypes"], g["mailEnabled"], g["securityEnabled"]) == (
            ["Unified"],
            True,
            False,
        )
        writes = len(sim.writes())
        again = provision(client, d, dry_run=False)
        assert again.plan.actions == () and len(sim.writes()) == writes
        client.close()


def test_an_unallocated_account_is_disabled_and_a_restored_one_enabled() -> None:
    d = directory(4, owners_are_members=True)
    gone = d.users[0]
    without = replace(
        d,
        users=d.users[1:],
        groups=tuple(replace(g, members=g.members - {gone.key}) for g in d.groups),
    )
    with ms_sim() as sim:
        client = ms_client(sim)
        provision(client, d, dry_run=False)
        run = provision(client, without, dry_run=False)
        assert [(o.action.kind.value, o.ok) for o in run.outcomes] == [
            ("suspend_user", True),
            ("remove_member", True),
        ]
        assert sim.user_by_key(gone.key)[0]["accountEnabled"] is False
        assert sim.logs[-1]["provisioningAction"] == "disable"
        assert gone.key not in group_of(sim, "rs-class-a")[1]
        back = provision(client, d, dry_run=False)
        assert [(o.action.kind.value, o.ok) for o in back.outcomes] == [
            ("restore_user", True),
            ("add_member", True),
        ]
        assert sim.user_by_key(gone.key)[0]["accountEnabled"] is True
        assert len(sim.users) == 6
        client.close()


def test_throttling_with_retry_after_is_retried_and_counted() -> None:
    d = directory(6, owners_are_members=True)
    with ms_sim(quota=5, window=0.1, retry_after=0) as sim:
        client = ms_client(sim)
        run = provision(client, d, dry_run=False)
        assert run.status == "applied" and not run.failed
        assert sim.quota.refused > 0
        assert client.http.throttled == sim.quota.refused
        assert client.http.requests_made == len(sim.requests)
        assert len(sim.users) == 8
        client.close()


def test_a_429_fault_is_obeyed_then_served() -> None:
    d = directory(2, owners_are_members=True)
    with ms_sim(faults="429@2x2:0") as sim:
        client = ms_client(sim)
        run = provision(client, d, dry_run=False)
        assert run.status == "applied"
        assert client.http.throttled == 2
        assert [r.path for r in sim.requests[1:4]] == ["/v1.0/groups"] * 3
        client.close()


def test_a_record_refused_by_entra_is_reported_from_the_logs_and_the_rest_applied() -> None:
    d = directory(4, owners_are_members=True)
    bad = d.users[2]
    with ms_sim() as sim:
        sim.refuse.add(bad.key)
        client = ms_client(sim)
        run = provision(client, d, dry_run=False)
        assert run.status == "partial"
        failed = [(o.action.kind.value, o.action.user or o.action.key, o.error) for o in run.failed]
        assert failed == [
            (
                "create_user",
                bad.key,
                "AzureActiveDirectoryInvalidAttribute: refused by the simulator",
            ),
            ("add_member", bad.key, "the account is not in the tenant (its upload failed)"),
        ]
        assert len(sim.users) == 5 and not sim.user_by_key(bad.key)
        client.close()


def test_a_dry_run_changes_nothing_in_the_tenant() -> None:
    with ms_sim() as sim:
        client = ms_client(sim)
        run = provision(client, directory(4, owners_are_members=True), dry_run=True)
        assert run.status == "planned" and run.plan.counts()["create_user"] == 6
        assert sim.writes() == [] and sim.users == {} and sim.groups == {} and sim.logs == []
        client.close()


def test_a_group_made_by_a_try_whose_answer_was_lost_is_taken_not_made_again() -> None:
    d = directory(2, owners_are_members=True)
    # 1 token, 2 groups, 3 users, 4 bulkUpload, 5 logs, 6 users again, 7 the first group:
    # made, its answer cut; the retry is told the nickname is taken, and takes that group.
    with ms_sim(faults="drop@7") as sim:
        client = ms_client(sim)
        run = provision(client, d, dry_run=False)
        assert run.status == "applied", run.failed
        assert [(r.method, r.path) for r in sim.requests[6:8]] == [("POST", "/v1.0/groups")] * 2
        assert sorted(g["mailNickname"] for g in sim.groups.values()) == [
            "rs-class-a",
            "rs-class-b",
        ]
        owners, members = group_of(sim, "rs-class-a")
        assert owners == set(d.groups[0].owners) and members == set(d.groups[0].members)
        client.close()


def test_a_wrong_client_secret_is_refused_and_nothing_is_read() -> None:
    with ms_sim() as sim:
        client = ms_client(sim, secret="not-the-secret")
        with pytest.raises(TenantRefused, match="AADSTS7000215"):
            provision(client, directory(2), dry_run=False)
        assert len(sim.requests) == 1
        client.close()


class _Elsewhere(MicrosoftSimulator):
    """Hands out a next link to another host."""

    def _page(self, request: Any, items: list[dict[str, Any]]) -> Any:
        answer = super()._page(request, items)
        body = json.loads(answer.body)
        body["@odata.nextLink"] = "http://127.0.0.2:9/v1.0/users?$skiptoken=1"
        answer.body = json.dumps(body).encode()
        return answer


def test_a_next_link_to_another_host_is_not_followed_and_nothing_is_written() -> None:
    with _Elsewhere(domain=DOMAIN) as sim:
        client = ms_client(sim)
        with pytest.raises(TenantBadResponse, match="not followed"):
            provision(client, directory(2), dry_run=False)
        assert sim.writes() == []
        client.close()


def test_an_answer_without_graphs_value_list_fails_the_run_before_any_write() -> None:
    with ms_sim(faults="bad@2") as sim:
        client = ms_client(sim)
        with pytest.raises(TenantBadResponse, match="holds no value list"):
            provision(client, directory(2), dry_run=False)
        assert sim.writes() == []
        client.close()


@pytest.mark.parametrize("job", ["a'b", "a/b", "", "x y"])
def test_an_id_that_could_break_a_path_or_filter_is_refused(job: str) -> None:
    with pytest.raises(BadTenantSettings, match="job_id"):
        MicrosoftSettings("t", "c", DOMAIN, "sp", job).checked()


def test_an_ended_class_group_keeps_its_teacher_as_owner_and_member() -> None:
    d = directory(4, owners_are_members=True)
    ended = replace(d, groups=d.groups[1:])
    with ms_sim() as sim:
        client = ms_client(sim)
        provision(client, d, dry_run=False)
        run = provision(client, ended, dry_run=False)
        assert [(o.action.kind.value, o.ok) for o in run.outcomes] == [("remove_member", True)] * 2
        teacher = set(d.groups[0].owners)
        assert group_of(sim, "rs-class-a") == (teacher, teacher)
        assert provision(client, ended, dry_run=False).plan.actions == ()
        client.close()
