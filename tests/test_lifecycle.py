import asyncio
import json
import urllib.request

import pytest

import seowire
from seowire import seats
from conftest import FAST, SECRET


@pytest.fixture
def scim(emu):
    def make(**kw):
        kw.setdefault("retry", FAST)
        return seowire.AhrefsScim(emu.base_url("scim"), kw.pop("token", SECRET), **kw)

    return make


def raw(emu, method, path, body=None):
    req = urllib.request.Request(emu.base_url("scim") + path, method=method, data=json.dumps(body).encode() if body else None,
                                 headers={"authorization": f"Bearer {SECRET}", "content-type": "application/scim+json"})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read() or b"null")


# -- 1. the SCIM client -------------------------------------------------------------------------


def test_crud_round_trip_sync_and_async(scim):
    s = scim()
    u = s.create_user("ada@example.com", given_name="Ada", family_name="Lovelace", external_id="e-1")
    assert u["userName"] == "ada@example.com" and u["active"] is True and u["emails"][0]["value"] == "ada@example.com"
    assert u["schemas"] == ["urn:ietf:params:scim:schemas:core:2.0:User"]
    assert s.get_user(u["id"])["name"] == {"givenName": "Ada", "familyName": "Lovelace"}
    assert s.find_user("ADA@example.com")["id"] == u["id"]  # userName is case-insensitive
    assert s.find_user("nobody@example.com") is None
    assert s.update_user(u["id"], given_name="Augusta")["name"]["givenName"] == "Augusta"
    assert s.deactivate_user(u["id"])["active"] is False
    assert s.reactivate_user(u["id"])["active"] is True

    async def flow():
        v = await s.create_user_async("bob@example.com")
        assert (await s.find_user_async("bob@example.com"))["id"] == v["id"]
        assert (await s.deactivate_user_async(v["id"]))["active"] is False
        await s.delete_user_async(v["id"])
        return await s.list_users_async()

    assert [x["userName"] for x in asyncio.run(flow())] == ["ada@example.com"]
    s.delete_user(u["id"])
    with pytest.raises(seowire.ProviderError) as e:
        s.get_user(u["id"])
    assert e.value.status == 404


def test_list_follows_pages_to_the_end(scim, emu):
    emu.configure(scim_max_count=7)  # the server caps pages below what the client asks for
    s = scim()
    for i in range(23):
        s.create_user(f"user{i}@example.com")
    users = s.list_users()
    assert [u["userName"] for u in users] == [f"user{i}@example.com" for i in range(23)]
    assert [u["userName"] for u in s.list_users('userName eq "user7@example.com"')] == ["user7@example.com"]


def test_find_escapes_quotes(scim):
    s = scim()
    odd = 'o"brien\\x@example.com'
    s.create_user(odd)
    s.create_user("obrien@example.com")
    assert s.find_user(odd)["userName"] == odd


def test_conflict_carries_the_existing_user(scim):
    s = scim()
    first = s.create_user("ada@example.com")
    with pytest.raises(seowire.ConflictError) as e:
        s.create_user("Ada@Example.com")
    assert e.value.status == 409 and e.value.code == "uniqueness" and e.value.existing["id"] == first["id"]
    assert isinstance(e.value, seowire.ProviderError)


def test_errors_map_and_hide_the_token(scim, emu):
    emu.configure(keys=["someone-else"])
    with pytest.raises(seowire.AuthenticationError) as e:
        scim().list_users()
    assert e.value.status == 401 and SECRET not in str(e.value) and SECRET not in repr(scim())
    with pytest.raises(seowire.AuthenticationError):
        seowire.AhrefsScim("http://127.0.0.1:1/scim/v2", "")
    with pytest.raises(seowire.InvalidRequest):
        scim().create_user("  ")


def test_patch_accepts_the_string_false_identity_providers_send(scim, emu):
    u = scim().create_user("ada@example.com")
    out = raw(emu, "PATCH", f"/Users/{u['id']}", {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                                                  "Operations": [{"op": "Replace", "path": "active", "value": "False"}]})
    assert out["active"] is False
    out = raw(emu, "PATCH", f"/Users/{u['id']}", {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                                                  "Operations": [{"op": "replace", "value": {"active": "True", "name.givenName": "A"}}]})
    assert out["active"] is True and out["name"]["givenName"] == "A"


# -- 2. safe retries ------------------------------------------------------------------------


@pytest.mark.parametrize("fault", [{"kind": "status", "status": 503}, {"kind": "reset"}, {"kind": "truncate"}])
def test_create_retries_never_duplicate(scim, emu, fault):
    s = scim()
    kind = fault.pop("kind")
    emu.fault(kind, provider="scim", **fault)
    u = s.create_user("ada@example.com")
    assert u["userName"] == "ada@example.com"
    users = s.list_users()
    assert [x["userName"] for x in users] == ["ada@example.com"]
    # truncate: the server created the user but the answer broke; the client found it instead of retrying.


def test_create_is_not_retried_blindly_after_the_request_went_out(scim, emu):
    s = scim(retry=seowire.RetryPolicy(max_retries=3, base_delay=0.01))
    emu.fault("truncate", provider="scim", count=1)
    s.create_user("ada@example.com")
    stats = emu.stats()
    # one POST (created, answer lost) + one lookup GET; no second POST
    assert stats["by_provider"]["scim"] == 2
    assert len(s.list_users()) == 1


def test_reads_patch_and_delete_retry(scim, emu):
    s = scim()
    u = s.create_user("ada@example.com")
    emu.fault("status", status=500, count=2, provider="scim")
    assert s.get_user(u["id"])["id"] == u["id"]
    emu.fault("status", status=503, count=1, provider="scim")
    assert s.deactivate_user(u["id"])["active"] is False
    emu.fault("reset", count=1, provider="scim")
    s.delete_user(u["id"])
    assert s.list_users() == []


def test_unreachable_server_is_a_transport_error(scim):
    s = seowire.AhrefsScim("http://127.0.0.1:9/scim/v2", SECRET, retry=seowire.RetryPolicy(max_retries=1, base_delay=0.01))
    with pytest.raises(seowire.TransportError):
        s.create_user("ada@example.com")


# -- 3. seat reconciliation -----------------------------------------------------------------


def test_plan_matches_case_insensitively_and_finds_every_kind_of_change():
    current = [
        {"id": "1", "userName": "Ada@Example.com", "active": True, "name": {"givenName": "Ada"}},
        {"id": "2", "userName": "bob@example.com", "active": False},
        {"id": "3", "userName": "carol@example.com", "active": True, "name": {"givenName": "Carol"}},
        {"id": "4", "userName": "dave@example.com", "active": True},
        {"id": "5", "userName": "old@example.com", "active": False},
        {"id": "6", "userName": "eve-login", "emails": [{"value": "Eve@example.com"}], "active": True},
    ]
    desired = [
        {"email": "ada@example.com", "given_name": "Ada"},
        {"email": "BOB@example.com"},
        {"email": "carol@example.com", "given_name": "Caroline"},
        {"email": "new@example.com", "given_name": "New"},
        {"email": "eve@example.com"},
    ]
    p = seats.plan(desired, current)
    assert [u["user_name"] for u in p.to_create] == ["new@example.com"]
    assert [u["id"] for u in p.to_reactivate] == ["2"]
    assert p.to_update == [{"id": "3", "user_name": "carol@example.com", "changes": {"given_name": "Caroline"}}]
    assert [u["id"] for u in p.to_deactivate] == ["4"]  # 5 is already inactive
    assert sorted(u["id"] for u in p.unchanged) == ["1", "6"]
    assert p.summary() == {"to_create": 1, "to_update": 1, "to_deactivate": 1, "to_reactivate": 1, "unchanged": 2}


def test_plan_takes_a_dataframe():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"email": ["a@x.com", "b@x.com"], "first_name": ["A", None]})
    p = seats.plan(df, [{"id": "1", "userName": "a@x.com", "active": True, "name": {"givenName": "A"}}])
    assert [u["user_name"] for u in p.to_create] == ["b@x.com"] and len(p.unchanged) == 1
    with pytest.raises(seowire.InvalidRequest):
        seats.plan([{"email": ""}], [])


def test_apply_dry_run_changes_nothing(scim, emu):
    s = scim()
    s.create_user("old@example.com")
    p = seats.plan([{"email": "new@example.com"}], s.list_users())
    printed = []
    results = seats.apply(s, p, echo=printed.append)
    assert printed == ["would create new@example.com", "would deactivate old@example.com"]
    assert [r["ok"] for r in results] == [None, None]
    assert [u["userName"] for u in s.list_users()] == ["old@example.com"]


def test_reconcile_500_desired_against_480_existing_with_faults(scim, emu):
    s = scim(retry=seowire.RetryPolicy(max_retries=4, base_delay=0.005, max_delay=0.02))
    # 480 existing: 400 wanted (40 of them inactive, 30 with a stale name), 80 not wanted.
    for i in range(480):
        name = f"user{i}@example.com" if i < 400 else f"leaver{i}@example.com"
        raw(emu, "POST", "/Users", {"userName": name, "name": {"givenName": "Stale" if i < 30 else f"U{i}"},
                                    "active": not (40 <= i < 80)})
    desired = [{"email": f"USER{i}@example.com", "given_name": f"U{i}"} for i in range(500)]
    p = seats.plan(desired, s.list_users())
    assert p.summary() == {"to_create": 100, "to_update": 30, "to_deactivate": 80, "to_reactivate": 40, "unchanged": 330}
    # Faults spread over the run: lost answers, resets and 5xx.
    kinds = [("truncate", {}), ("reset", {}), ("status", {"status": 503}), ("status", {"status": 500})] * 6
    for n, (kind, extra) in enumerate(kinds):
        emu.fault(kind, provider="scim", after=n * 11, **extra)
    results = seats.apply(s, p, dry_run=False)
    assert len(results) == 250
    failed = [r for r in results if not r["ok"]]
    assert failed == []
    users = s.list_users()
    names = [u["userName"].lower() for u in users]
    assert len(names) == len(set(names)) == 580  # no duplicate user was created
    assert seats.plan(desired, users).summary() == {"to_create": 0, "to_update": 0, "to_deactivate": 0, "to_reactivate": 0, "unchanged": 500}
    assert emu.stats()["faults_injected"] == 24


def test_one_failure_does_not_stop_the_rest(scim, emu):
    s = scim(retry=seowire.RetryPolicy(max_retries=0))
    p = seats.plan([{"email": f"u{i}@example.com"} for i in range(3)], [])
    emu.fault("status", status=400, provider="scim")
    results = seats.apply(s, p, dry_run=False)
    assert [r["ok"] for r in results] == [False, True, True] and "400" in results[0]["error"]


# -- 4. no API, said clearly ------------------------------------------------------------------


def test_capabilities_are_facts_per_provider():
    caps = seowire.capabilities()
    assert set(caps) == {"ahrefs", "moz", "semrush"}
    assert caps["ahrefs"]["scim"]["available"] and caps["ahrefs"]["scim"]["plan"] == "Enterprise"
    assert not caps["moz"]["scim"]["available"] and not caps["semrush"]["user_api"]
    for c in caps.values():
        assert {"user_api", "scim", "auth", "pagination", "rate_limit_headers", "retry_after", "webhooks",
                "plan_limits", "event_strategy"} <= set(c)
        assert c["event_strategy"] == "polling" and c["webhooks"] is False
    caps["moz"]["user_api"] = True  # a copy: callers cannot change the facts
    assert seowire.capabilities("moz")["user_api"] is False


def test_moz_and_semrush_say_what_to_do_instead(moz, semrush):
    with pytest.raises(seowire.NotSupported, match="OneLogin") as e:
        moz().provision_user("ada@example.com")
    assert "Manage Users" in str(e.value) and isinstance(e.value, NotImplementedError)
    with pytest.raises(seowire.NotSupported, match="Manage Users"):
        moz().deprovision_user("ada@example.com")
    with pytest.raises(seowire.NotSupported, match="Account Management > Users"):
        semrush().provision_user("ada@example.com")
    with pytest.raises(seowire.NotSupported, match="does not remove"):
        semrush().deprovision_user("ada@example.com")


def test_ahrefs_provisions_through_scim_when_configured(ahrefs, scim):
    with pytest.raises(seowire.NotSupported, match="SCIM"):
        ahrefs().provision_user("ada@example.com")
    a = ahrefs(scim=scim())
    u = a.provision_user("ada@example.com", given_name="Ada")
    assert a.provision_user("ADA@example.com")["id"] == u["id"]  # idempotent
    assert a.deprovision_user("ada@example.com")["active"] is False
    assert a.provision_user("ada@example.com")["active"] is True  # reactivated, not duplicated
    assert len(a.scim.list_users()) == 1
    assert a.deprovision_user("nobody@example.com") is None
