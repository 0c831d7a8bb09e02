import asyncio
import base64
import hashlib
import hmac
import json
import logging
import urllib.parse

import pytest

import seowire
from seowire import _seowire
from conftest import FAST, SECRET

URL_METRIC_FIELDS = 52


# -- 1. client and auth -------------------------------------------------------------------------


def test_token_and_basic_auth_both_work(moz, emu):
    assert len(moz().url_metrics(["moz.com"])) == 1
    basic = moz(access_id="member-1", secret_key=SECRET)
    assert basic.url_metrics(["moz.com"])[0]["page"] == "moz.com/"
    assert basic.account != moz().account
    emu.configure(keys=["someone-else"])
    with pytest.raises(seowire.AuthenticationError) as e:
        moz().index_metadata()
    assert e.value.status == 401 and e.value.provider == "moz"


@pytest.mark.parametrize("kw", [
    {"token": "t", "access_id": "a", "secret_key": "s"},
    {"token": "t", "access_id": "a"},
    {"access_id": "a"},
    {"secret_key": "s"},
])
def test_both_kinds_or_half_a_pair_is_invalid(kw):
    with pytest.raises(seowire.InvalidRequest):
        seowire.Moz(kw.pop("token", None), ledger="memory://", **kw)


def test_credentials_and_base_url_from_the_environment(monkeypatch, emu):
    with pytest.raises(seowire.AuthenticationError):
        seowire.Moz(ledger="memory://")
    monkeypatch.setenv("MOZ_TOKEN", SECRET)
    monkeypatch.setenv("SEOWIRE_MOZ_URL", emu.base_url("moz"))
    m = seowire.Moz(ledger="memory://")
    assert m.base_url == emu.base_url("moz") and m.index_metadata()["index_id"]
    monkeypatch.setenv("MOZ_ACCESS_ID", "id")
    with pytest.raises(seowire.InvalidRequest):
        seowire.Moz(ledger="memory://")
    monkeypatch.delenv("MOZ_TOKEN")
    monkeypatch.delenv("SEOWIRE_MOZ_URL")
    monkeypatch.setenv("MOZ_SECRET_KEY", "sk")
    assert seowire.Moz(ledger="memory://").base_url == "https://lsapi.seomoz.com/v2"


def test_plans_set_concurrency_and_override():
    for plan, n in [("free", 1), ("trial", 1), ("medium", 5), ("large", 10), ("premium", 25)]:
        assert seowire.Moz("t", plan=plan, ledger="memory://").concurrency == n
    assert seowire.Moz("t", ledger="memory://").concurrency == 1  # unknown plan: the safe minimum
    assert seowire.Moz("t", plan="medium", concurrency=7, ledger="memory://").concurrency == 7
    with pytest.raises(seowire.InvalidRequest):
        seowire.Moz("t", plan="gold", ledger="memory://")
    with pytest.raises(seowire.InvalidRequest):
        seowire.Moz("t", concurrency=0, ledger="memory://")


def test_no_secret_in_repr_errors_or_logs(moz, emu, caplog):
    m = moz(access_id="member-1", secret_key=SECRET)
    assert SECRET not in repr(m) and "member-1" not in repr(m)
    emu.configure(keys=["nobody"])
    with caplog.at_level(logging.DEBUG, logger="seowire"):
        with pytest.raises(seowire.AuthenticationError) as e:
            m.links("moz.com")
    assert SECRET not in str(e.value) and SECRET not in caplog.text
    assert SECRET not in repr(moz())


# -- 2. endpoints ---------------------------------------------------------------------------


ENDPOINTS = [
    ("links", ("moz.com/blog",), {"filter": ["external", "nofollow"], "limit": 5}, list),
    ("anchor_text", ("moz.com",), {"scope": "root_domain", "limit": 5}, list),
    ("final_redirect", ("seomoz.org/blog",), {}, dict),
    ("global_top_pages", (), {"limit": 5}, list),
    ("global_top_root_domains", (), {"limit": 5}, list),
    ("index_metadata", (), {}, dict),
    ("link_intersect", ([{"target": "moz.com", "scope": "root_domain"}, "ahrefs.com"],), {"limit": 5}, list),
    ("link_status", ("moz.com", ["a.com", "b.com"]), {}, dict),
    ("linking_root_domains", ("moz.com",), {"begin_date": "2026-01-01", "end_date": "2026-06-30", "limit": 5}, list),
    ("top_pages", ("moz.com",), {"scope": "root_domain", "limit": 5}, list),
    ("usage_data", (), {}, dict),
    ("url_metrics", (["moz.com", "nytimes.com"],), {}, list),
]


@pytest.mark.parametrize("name,args,kw,shape", ENDPOINTS)
def test_all_twelve_endpoints_sync_and_async(moz, name, args, kw, shape):
    m = moz()
    out = getattr(m, name)(*args, **kw)
    assert isinstance(out, shape)
    if shape is list:
        assert len(out) >= 1 and isinstance(out, seowire.Rows) and all(isinstance(r, dict) for r in out)
    again = asyncio.run(getattr(m, name + "_async")(*args, **kw))
    if name != "usage_data":  # usage grows between the two calls
        assert list(again) == list(out) if shape is list else again == out


def test_shapes_follow_the_reference(moz):
    m = moz()
    link = m.links("moz.com/blog", limit=1)[0]
    assert {"anchor_text", "date_first_seen", "nofollow", "source", "target"} <= set(link)
    assert len(link["source"]) == URL_METRIC_FIELDS and not link["source"]["page"].startswith("http")
    assert m.final_redirect("seomoz.org/blog") == {"page": "moz.com/blog"}
    assert set(m.global_top_root_domains(limit=1)[0]["to_target"]) == {"pages", "nofollow_pages", "redirect_pages", "deleted_pages"}
    assert isinstance(m.link_status("moz.com", ["a.com", "b.com", "c.com"])["exists"][2], bool)
    metrics = m.url_metrics([f"site{i}.example.com" for i in range(200)])
    assert any(r["external_pages_to_root_domain"] > 2**32 for r in metrics)  # counts beyond 32 bits stay exact ints
    assert any(r["spam_score"] == -1 for r in metrics) and any(r["title"] == "" for r in metrics)


def test_real_payloads_decode_exactly(fixtures):
    for name in ("moz_url_metrics_1.json", "moz_links_1.json", "moz_usage_data_1.json"):
        raw = (fixtures / name).read_bytes()
        assert _seowire.loads(raw) == json.loads(raw)
    metrics = _seowire.loads((fixtures / "moz_url_metrics_1.json").read_bytes())["results"]
    assert [r["page"] for r in metrics] == ["moz.com/", "nytimes.com/"]
    assert len(metrics[0]) == URL_METRIC_FIELDS
    big = _seowire.loads((fixtures / "moz_links_1.json").read_bytes())["results"][0]["source"]["external_pages_to_root_domain"]
    assert big == 5309615021 and isinstance(big, int)


@pytest.mark.parametrize("call", [
    lambda m: m.links("moz.com", limit=0),
    lambda m: m.links("moz.com", limit=51),
    lambda m: m.links("moz.com", target_scope="domain"),
    lambda m: m.links("   "),
    lambda m: m.links("moz.com", filter="external nofollow"),
    lambda m: m.linking_root_domains("moz.com", begin_date="2026-13-01"),
    lambda m: m.usage_data(start=200, end=100),
    lambda m: m.link_status("moz.com", []),
    lambda m: m.link_intersect([]),
    lambda m: m.call("links", target="moz.com", colour="red"),
    lambda m: m.call("no_such_endpoint"),
])
def test_bad_fields_raise_before_sending(moz, emu, call):
    with pytest.raises(seowire.InvalidRequest):
        call(moz())
    assert emu.stats()["requests"] == 0


# -- 3. bulk url_metrics --------------------------------------------------------------------


def test_bulk_keeps_input_order_with_duplicates(moz, emu):
    unique = [f"https://site{i}.example.org/page" for i in range(1000)]
    targets = unique + unique[::4][:234]  # 1,234 targets, 234 duplicates
    rows = moz().url_metrics(targets)
    assert len(rows) == 1234
    assert [r["page"] for r in rows] == [t.split("://")[1] for t in targets]
    assert rows[1000] == rows[0] and rows[1000] is not rows[0]  # duplicates repeat, as their own dicts
    stats = emu.stats()
    assert stats["requests"] == 20  # 1000 unique / 50: each duplicate fetched once
    assert rows.units == 1000 == stats["units_charged"]


def test_bulk_accepts_any_iterable(moz):
    pd = pytest.importorskip("pandas")
    m = moz()
    series = pd.Series(["moz.com", "ahrefs.com", "moz.com"])
    assert [r["page"] for r in m.url_metrics(series)] == ["moz.com/", "ahrefs.com/", "moz.com/"]
    assert len(m.url_metrics(("a.com", "b.com"))) == 2
    assert len(m.url_metrics(t for t in ["a.com"])) == 1


def test_bulk_empty_input_sends_nothing(moz, emu):
    assert list(moz().url_metrics([])) == []
    assert asyncio.run(moz().url_metrics_async([])) == []
    assert emu.stats()["requests"] == 0


@pytest.mark.parametrize("bad", [["moz.com", ""], ["moz.com", "   "], ["not a url"], ["moz.com", None], "moz.com", ["ftp://x.com"]])
def test_bulk_bad_targets_raise_before_sending(moz, emu, bad):
    with pytest.raises(seowire.InvalidRequest):
        moz().url_metrics(bad)
    assert emu.stats()["requests"] == 0


def test_bulk_never_exceeds_the_plan_concurrency(moz, emu):
    emu.configure(latency_ms=30, moz_concurrency=5)
    rows = moz(plan="medium").url_metrics([f"s{i}.example.com" for i in range(50 * 20)])
    stats = emu.stats()
    assert len(rows) == 1000
    assert stats["peak_in_flight"] == 5  # saturated, never above
    assert stats["rejected_concurrency"] == 0


def test_bulk_chunk_failure_names_its_index_range(moz, emu):
    emu.fault("status", status=500, count=100, provider="moz")
    m = moz(concurrency=1, retry=seowire.RetryPolicy(max_retries=1, base_delay=0.01))
    with pytest.raises(seowire.ProviderError) as e:
        m.url_metrics([f"s{i}.com" for i in range(120)])
    assert "chunk 0" in str(e.value) and "input positions 0..=49" in str(e.value)
    assert [(u["reserved"], u["spent"]) for u in m.ledger.usage()] == [(0, 0)]


def test_bulk_failure_mid_run_keeps_what_was_paid_and_releases_the_rest(moz, emu):
    m = moz(concurrency=1, retry=seowire.RetryPolicy(max_retries=0))
    targets = [f"s{i}.com" for i in range(200)]
    m.url_metrics(targets[:100])  # chunks 0-1 succeed
    emu.fault("status", status=500, count=1, provider="moz")
    with pytest.raises(seowire.ProviderError) as e:
        m.url_metrics(targets[100:])
    assert "input positions 0..=49" in str(e.value)
    usage = m.ledger.usage()[0]
    assert usage["reserved"] == 0 and usage["spent"] == emu.stats()["units_charged"] == 100


def test_bulk_async_under_gather(moz, emu):
    m = moz()

    async def main():
        return await asyncio.gather(m.url_metrics_async(["a.com", "b.com"]), m.url_metrics_async(["c.com"]))

    a, b = asyncio.run(main())
    assert [r["page"] for r in a + b] == ["a.com/", "b.com/", "c.com/"]


# -- 4. paging ------------------------------------------------------------------------------


@pytest.mark.parametrize("last_page", ["missing", "empty", "null"])
def test_paging_yields_each_row_once_whatever_the_last_page_looks_like(moz, emu, last_page):
    emu.configure(moz_last_page=last_page, rows_per_target={"moz.com": 137})
    m = moz()
    pages = list(m.pages("links", target="moz.com", page_size=50))
    assert [len(p) for p in pages] == [50, 50, 37]
    keys = [(r["source"]["page"], r["date_first_seen"]) for p in pages for r in p]
    assert len(keys) == len(set(keys)) == 137
    assert emu.stats()["requests"] == 3
    assert list(m.rows("links", target="moz.com", page_size=50)) == [r for p in pages for r in p]


def test_paging_max_rows_and_async_for(moz, emu):
    emu.configure(rows_per_target={"moz.com": 300})
    m = moz()
    rows = list(m.rows("linking_root_domains", target="moz.com", page_size=40, max_rows=90))
    assert len(rows) == 90 and emu.stats()["requests"] == 3
    assert m.ledger.usage()[0]["spent"] == 90

    async def collect():
        return [r async for r in m.rows("top_pages", target="moz.com", max_rows=120)]

    assert len(asyncio.run(collect())) == 120


def test_pages_refuses_unpaged_endpoints_and_limit(moz):
    with pytest.raises(seowire.InvalidRequest):
        moz().pages("url_metrics", targets=["a.com"])
    with pytest.raises(seowire.InvalidRequest):
        moz().pages("links", target="moz.com", limit=5)


def test_next_token_is_opaque_and_passed_back(moz):
    m = moz()
    first = m.links("moz.com", limit=10)
    assert first.next_token and base64.b64decode(first.next_token)
    second = m.links("moz.com", limit=10, next_token=first.next_token)
    assert not {r["source"]["page"] for r in first} & {r["source"]["page"] for r in second}


# -- 5. rows as units -----------------------------------------------------------------------


def test_weights_and_ledger_match_the_emulator(moz, emu):
    m = moz()
    r = m.link_intersect(["moz.com", "ahrefs.com"], limit=7)
    assert r.units == 5 * len(r) and r.estimate == 35
    s = m.link_status("moz.com", ["a.com", "b.com"])
    assert isinstance(s, dict) and len(s["exists"]) == 2
    h = m.url_metrics(["a.com", "b.com"], monthly_history_values=["page_authority"], distributions=True)
    assert h.units == 2 * (1 + 2 * 2) == h.estimate  # 1 + weight x 2 modifiers, per target
    assert m.estimate("url_metrics", targets=["a.com", "b.com", "a.com"], distributions=True) == 2 * 3
    m.index_metadata()
    m.usage_data()
    charged = emu.stats()["units_charged"]
    assert m.ledger.usage()[0]["spent"] == charged == r.units + 4 + h.units
    assert m.usage_data()["rows_consumed"] == charged


def test_budget_refusal_sends_nothing(moz, emu):
    m = moz(budget=seowire.Budget(30))
    m.links("moz.com", limit=25)
    with pytest.raises(seowire.BudgetExceeded):
        m.links("moz.com", limit=25)  # 25 spent + 25 worst case > 30
    assert emu.stats()["requests"] == 1
    with pytest.raises(seowire.BudgetExceeded):
        m.url_metrics([f"s{i}.com" for i in range(10)])
    assert emu.stats()["requests"] == 1
    assert m.index_metadata()  # free calls still go through


def test_configurable_modifier_weight(moz):
    assert moz(modifier_weight=5).estimate("url_metrics", targets=["a.com"], daily_history_values=["x"]) == 6


# -- 6. errors ------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["object", "list", "text"])
def test_error_bodies_of_any_shape(moz, emu, fmt):
    emu.configure(moz_error_format=fmt)
    emu.set_balance(SECRET, 3, provider="moz")
    m = moz()
    with pytest.raises(seowire.UnitsExhausted) as e:
        m.links("moz.com", limit=10)
    assert "quota" in str(e.value) and not e.value.retryable
    assert emu.stats()["requests"] == 1  # quota exhaustion is never retried
    emu.configure(keys=["other"])
    with pytest.raises(seowire.AuthenticationError):
        m.links("moz.com")


@pytest.mark.parametrize("status,exc", [(400, seowire.InvalidRequest), (404, seowire.ProviderError), (403, seowire.AuthenticationError)])
def test_statuses_map_to_exceptions(moz, emu, status, exc):
    emu.fault("status", status=status, provider="moz")
    with pytest.raises(exc) as e:
        moz().index_metadata()
    assert e.value.status == status and emu.stats()["requests"] == 1


@pytest.mark.parametrize("status", [429, 503, 500, 502])
def test_throttling_and_server_errors_are_retried(moz, emu, status):
    emu.fault("status", status=status, retry_after="0", count=2, provider="moz")
    assert moz().index_metadata()["index_id"]
    assert emu.stats()["requests"] == 3


def test_still_throttled_after_retries_is_rate_limited(moz, emu):
    emu.fault("status", status=429, count=10, provider="moz")
    with pytest.raises(seowire.RateLimited):
        moz(retry=seowire.RetryPolicy(max_retries=2, base_delay=0.01)).links("moz.com")


def test_emulator_enforces_plan_concurrency_with_429(moz, emu):
    emu.configure(latency_ms=50, moz_concurrency=2)
    m = moz(concurrency=6, retry=seowire.RetryPolicy(max_retries=0))
    targets = [f"s{i}.com" for i in range(300)]
    with pytest.raises(seowire.BulkError) as info:
        m.url_metrics(targets)
    assert emu.stats()["rejected_concurrency"] >= 1
    # Fan-out accounts for every answered request: its rows are returned, its units booked.
    err = info.value
    assert isinstance(err.__cause__, seowire.RateLimited)
    assert len(err.rows) == 300 and err.failed
    arrived = [i for i, r in enumerate(err.rows) if r is not None]
    assert arrived and set(arrived).isdisjoint(err.failed) and len(arrived) + len(err.failed) == 300
    assert all(err.rows[i]["page"] == f"{targets[i]}/" for i in arrived)
    usage = m.ledger.usage()[0]
    assert usage["reserved"] == 0 and usage["spent"] == emu.stats()["units_charged"] == len(arrived)
    # Retrying only the failed positions completes the job.
    emu.configure(latency_ms=0, moz_concurrency=6)
    rest = m.url_metrics([targets[i] for i in err.failed])
    assert len(rest) == len(err.failed)


# -- 7. legacy v1 ---------------------------------------------------------------------------


def test_sign_v1_matches_the_documented_recipe():
    expected = urllib.parse.quote(
        base64.b64encode(hmac.new(b"secret-key", b"member-123\n1700000300", hashlib.sha1).digest()).decode(), safe=""
    )
    assert seowire.moz.sign_v1("member-123", "secret-key", 1700000300) == expected
    with pytest.raises(seowire.InvalidRequest):
        seowire.moz.sign_v1("", "k", 1)


def test_v1_signing_against_v2_is_refused(emu):
    with pytest.raises(seowire.InvalidRequest, match="fails silently"):
        seowire.Moz("t", signing="v1", ledger="memory://")
    with pytest.raises(seowire.InvalidRequest, match="v1"):
        seowire.Moz("t", base_url="https://lsapi.seomoz.com/linkscape", ledger="memory://")


def test_link_status_answers_one_bool_per_source_in_order(moz, emu):
    m = moz()
    sources = [f"source{i}.com" for i in range(9)]
    together = m.link_status("moz.com", sources)["exists"]
    alone = [m.link_status("moz.com", [s])["exists"][0] for s in sources]
    assert together == alone and len(set(together)) == 2  # in order, and not all the same
    assert all(isinstance(x, bool) for x in together)
