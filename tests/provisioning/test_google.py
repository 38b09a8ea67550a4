"""The Google Workspace client against the Directory API simulator on loopback (real
sockets): create, re-run, suspend, restore, throttling, refused records, dry run, a run
stopped midway and resumed, a lost answer, refused credentials."""

from __future__ import annotations

from dataclasses import replace

import pytest

from rollsync.downsim import make_service_account
from rollsync.provisioning.errors import BadTenantSettings, TenantBadResponse, TenantRefused
from rollsync.provisioning.google import ServiceAccount
from rollsync.provisioning.http import Pace
from rollsync.provisioning.run import provision
from tests.provisioning.helpers import DOMAIN, directory, google_client, google_sim


def roles(sim: object, group_email: str) -> dict[str, str]:
    g = next(g for g in sim.groups.values() if g["email"] == group_email)  # type: ignore[attr-defined]
    return {sim.users[uid]["primaryEmail"]: role for uid, role in sim.members[g["id"]].items()}  # type: ignore[attr-defined]


def test_first_run_creates_users_and_class_groups_and_a_second_changes_nothing() -> None:
    d = directory(6)
    with google_sim() as sim:
        client = google_client(sim)
        first = provision(client, d, dry_run=False)
        assert first.status == "applied" and not first.failed
        assert len(first.outcomes) == 8 + 2 + 2 + 6
        assert len(sim.users) == 8
        for u in d.users:
            (made,) = sim.user_by_key(u.key)
            assert made["primaryEmail"] == u.email
            assert made["name"]["givenName"] == u.given_name
            assert made["suspended"] is False
            assert made["externalIds"] == [
                {"type": "custom", "customType": "rollsync", "value": u.key}
            ]
        assert roles(sim, f"rs-class-a@{DOMAIN}") == {
            f"staff1001.123@{DOMAIN}": "OWNER",
            **{f"pupil{i}.123@{DOMAIN}": "MEMBER" for i in (1, 2, 3)},
        }
        assert {g["name"] for g in sim.groups.values()} == {"Class a", "Class b"}
        writes = len(sim.writes())
        second = provision(client, d, dry_run=False)
        assert second.plan.actions == () and second.outcomes == []
        assert len(sim.writes()) == writes  # not one write the second time
        client.close()


def test_an_unallocated_account_is_suspended_and_a_restored_one_restored() -> None:
    d = directory(4)
    gone = d.users[0]
    without = replace(
        d,
        users=d.users[1:],
        groups=tuple(replace(g, members=g.members - {gone.key}) for g in d.groups),
    )
    with google_sim() as sim:
        client = google_client(sim)
        provision(client, d, dry_run=False)
        run = provision(client, without, dry_run=False)
        assert [(o.action.kind.value, o.ok) for o in run.outcomes] == [
            ("suspend_user", True),
            ("remove_member", True),
        ]
        (user,) = sim.user_by_key(gone.key)
        assert user["suspended"] is True
        assert gone.email not in roles(sim, f"rs-class-a@{DOMAIN}")
        assert sum(1 for u in sim.users.values() if u["suspended"]) == 1
        back = provision(client, d, dry_run=False)
        assert [(o.action.kind.value, o.ok) for o in back.outcomes] == [
            ("restore_user", True),
            ("add_member", True),
        ]
        assert sim.user_by_key(gone.key)[0]["suspended"] is False
        assert len(sim.users) == 6  # the same account, never a second
        client.close()


def test_quota_answers_are_retried_until_everything_is_pushed() -> None:
    d = directory(10)
    with google_sim(quota=8, window=0.3) as sim:
        client = google_client(sim)
        run = provision(client, d, dry_run=False)
        assert run.status == "applied" and not run.failed
        refused = sim.quota.refused
        assert refused > 0
        assert client.http.throttled == refused
        assert client.http.requests_made == len(sim.requests)
        assert len(sim.users) == 12
        client.close()


def test_pacing_keeps_under_the_quota_so_google_never_has_to_say_so() -> None:
    d = directory(10)
    with google_sim(quota=8, window=0.2) as sim:
        client = google_client(sim, pace=Pace(8, 0.4))
        run = provision(client, d, dry_run=False)
        assert run.status == "applied"
        assert sim.quota.refused == 0 and client.http.throttled == 0
        client.close()


def test_429_with_retry_after_is_retried() -> None:
    d = directory(2)
    with google_sim(faults="429@3x3:0") as sim:
        client = google_client(sim)
        run = provision(client, d, dry_run=False)
        assert run.status == "applied"
        assert client.http.throttled == 3
        assert [r.n for r in sim.requests if r.n in (3, 4, 5, 6)] == [3, 4, 5, 6]
        # Request 3 (the groups list) was answered 429 three times, then served.
        assert {sim.requests[i].path for i in (2, 3, 4, 5)} == {"/admin/directory/v1/groups"}
        client.close()


def test_a_refused_record_is_reported_and_the_rest_applied() -> None:
    d = directory(4)
    bad = d.users[1]
    with google_sim() as sim:
        sim.refuse.add(bad.email)
        client = google_client(sim)
        run = provision(client, d, dry_run=False)
        assert run.status == "partial"
        failed = [(o.action.kind.value, o.action.key, o.action.user, o.error) for o in run.failed]
        assert failed == [
            ("create_user", bad.key, None, "400 Invalid Input: refused by the simulator"),
            (
                "add_member",
                "rs-class-a",
                bad.key,
                "the account is not in the tenant (its creation failed)",
            ),
        ]
        assert len(sim.users) == 5 and not sim.user_by_key(bad.key)
        assert len(run.outcomes) - len(run.failed) == 5 + 2 + 2 + 3
        # Once the tenant takes it, the next run does exactly what was left.
        sim.refuse.clear()
        again = provision(client, d, dry_run=False)
        assert [(o.action.kind.value, o.ok) for o in again.outcomes] == [
            ("create_user", True),
            ("add_member", True),
        ]
        client.close()


def test_a_dry_run_changes_nothing_in_the_tenant() -> None:
    d = directory(4)
    with google_sim() as sim:
        client = google_client(sim)
        run = provision(client, d, dry_run=True)
        assert run.status == "planned" and run.outcomes == []
        assert run.plan.counts()["create_user"] == 6
        assert sim.writes() == [] and sim.users == {} and sim.groups == {}
        client.close()


def test_a_run_stopped_midway_resumes_without_duplicates() -> None:
    d = directory(8)
    with google_sim(faults="500@12+") as sim:
        client = google_client(sim)
        run = provision(client, d, dry_run=False)
        assert run.status == "stopped"
        assert "did not answer" in run.stopped
        made = len(sim.users)
        assert 0 < made < 10
        sim.set_faults(None)
        again = provision(client, d, dry_run=False)
        assert again.status == "applied"
        assert again.plan.counts()["create_user"] == 10 - made
        assert len(sim.users) == 10
        assert all(len(sim.user_by_key(u.key)) == 1 for u in d.users)
        assert provision(client, d, dry_run=False).plan.actions == ()
        client.close()


def test_an_insert_whose_answer_was_lost_is_not_made_twice() -> None:
    d = directory(2)
    # 1 token, 2 users list, 3 groups list, 4 the first insert: made, its answer cut.
    with google_sim(faults="drop@4") as sim:
        client = google_client(sim)
        run = provision(client, d, dry_run=False)
        assert run.status == "applied", run.failed
        assert len(sim.users) == 4
        assert all(len(sim.user_by_key(u.key)) == 1 for u in d.users)
        inserts = [r for r in sim.requests if r.method == "POST" and r.path.endswith("/users")]
        assert len(inserts) == 5  # the first sent twice (409 the second time), then read
        client.close()


def test_a_key_the_tenant_does_not_know_is_refused_and_nothing_is_read() -> None:
    with google_sim() as sim:
        stranger = make_service_account("stranger")
        client = google_client(sim)
        client.account = ServiceAccount.parse(
            replace(stranger, client_email=sim.account.client_email).key_json(sim.token_url)
        )
        with pytest.raises(
            TenantRefused, match=r"refused the service account \(400: Invalid JWT Signature"
        ):
            provision(client, directory(2), dry_run=False)
        assert [r.path for r in sim.requests] == ["/token"]
        client.close()


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("not json", "not JSON"),
        ('{"type": "authorized_user"}', '"type": "service_account"'),
        ('{"type": "service_account", "client_email": "a@b"}', "no private_key_id"),
        (
            '{"type": "service_account", "client_email": "a@b", "private_key_id": "k", '
            '"private_key": "-----BEGIN PRIVATE KEY-----\\nAAAA\\n-----END PRIVATE KEY-----", "token_uri": "https://x"}',
            "not a readable PEM key",
        ),
    ],
)
def test_a_bad_key_file_is_refused_without_quoting_it(text: str, why: str) -> None:
    with pytest.raises(BadTenantSettings, match=why) as refused:
        ServiceAccount.parse(text)
    assert "AAAA" not in refused.value.message


def test_an_answer_that_is_not_the_directory_api_fails_the_run_before_any_write() -> None:
    # Request 2 is the users list: a 200 without the Directory API's shape must not be
    # read as an empty tenant (which would plan every account again).
    with google_sim(faults="bad@2") as sim:
        client = google_client(sim)
        with pytest.raises(TenantBadResponse, match="not a Directory API list"):
            provision(client, directory(2), dry_run=False)
        assert sim.writes() == []
        client.close()


def test_an_ended_class_group_stays_with_its_teacher_and_loses_its_pupils() -> None:
    d = directory(4)
    ended = replace(d, groups=d.groups[1:])
    with google_sim() as sim:
        client = google_client(sim)
        provision(client, d, dry_run=False)
        run = provision(client, ended, dry_run=False)
        assert [(o.action.kind.value, o.ok) for o in run.outcomes] == [("remove_member", True)] * 2
        assert roles(sim, f"rs-class-a@{DOMAIN}") == {f"staff1001.123@{DOMAIN}": "OWNER"}
        assert len(sim.groups) == 2
        assert provision(client, ended, dry_run=False).plan.actions == ()
        client.close()


@pytest.mark.parametrize("uri", ["http://203.0.113.9/token", "ftp://x/token", "https://u:p@x/t"])
def test_a_key_whose_token_uri_is_unsafe_is_refused(uri: str) -> None:
    text = make_service_account().key_json(uri)
    with pytest.raises(BadTenantSettings, match="token_uri is refused") as refused:
        ServiceAccount.parse(text)
    assert refused.value.field == "service_account"
