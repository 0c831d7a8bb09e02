import asyncio
import logging

import pytest

import seowire
from conftest import SECRET


def test_named_methods_return_typed_rows_and_cost(semrush, emu):
    sr = semrush()
    rows = sr.domain_organic("example.com", database="us", display_limit=25)
    assert isinstance(rows, list) and isinstance(rows, seowire.Rows) and len(rows) == 25
    assert set(rows[0]) == {"keyword", "position", "previous_position", "position_difference", "search_volume", "cpc",
                            "url", "traffic_percent", "traffic_cost_percent", "competition", "number_of_results", "trends"}
    assert isinstance(rows[0]["position"], int) and isinstance(rows[0]["cpc"], float)
    assert len(rows[0]["trends"]) == 12
    assert rows.units == 250 == emu.stats()["units_charged"]
    assert sr.ledger.usage()[0]["spent"] == 250


@pytest.mark.parametrize("method,args,kw,per_line", [
    ("domain_rank", ("example.com",), {"database": "us"}, 10),
    ("domain_ranks", ("example.com",), {}, 10),
    ("domain_rank_history", ("example.com",), {"database": "us"}, 10),
    ("domain_adwords", ("example.com",), {"database": "us", "display_limit": 3}, 20),
    ("domain_organic_organic", ("example.com",), {"database": "us", "display_limit": 3}, 40),
    ("domain_domains", ("*|or|a.com|*|or|b.com",), {"database": "us", "display_limit": 3}, 80),
    ("domain_organic_unique", ("example.com",), {"database": "us", "display_limit": 3}, 10),
    ("phrase_this", ("seo",), {"database": "us"}, 10),
    ("phrase_all", ("seo",), {}, 10),
    ("phrase_these", (["seo", "sem", "ppc"],), {"database": "us"}, 10),
    ("phrase_related", ("seo",), {"database": "us", "display_limit": 3}, 40),
    ("phrase_fullsearch", ("seo",), {"database": "us", "display_limit": 3}, 20),
    ("phrase_questions", ("seo",), {"database": "us", "display_limit": 3}, 40),
    ("phrase_kdi", (["seo", "sem"],), {"database": "us"}, 50),
    ("phrase_organic", ("seo",), {"database": "us", "display_limit": 3}, 10),
    ("url_organic", ("https://example.com/a",), {"database": "us", "display_limit": 3}, 10),
    ("backlinks", ("example.com",), {"display_limit": 3}, 40),
    ("backlinks_refdomains", ("example.com",), {"display_limit": 3}, 40),
    ("backlinks_anchors", ("example.com",), {"display_limit": 3}, 40),
])
def test_every_named_report(semrush, emu, method, args, kw, per_line):
    sr = semrush()
    rows = getattr(sr, method)(*args, **kw)
    assert len(rows) >= 1
    assert rows.units == per_line * len(rows) == emu.stats()["units_charged"]
    assert all(isinstance(k, str) and k == k.lower() for k in rows[0])
    again = asyncio.run(getattr(sr, method + "_async")(*args, **kw))
    assert list(again) == list(rows)  # deterministic data, same decoding


def test_backlinks_overview_is_priced_per_request(semrush, emu):
    rows = semrush().backlinks_overview("example.com")
    assert len(rows) == 1 and rows.units == 40 and rows[0]["ascore"] >= 0


def test_generic_report_reaches_every_priced_type(semrush):
    sr = semrush()
    rows = sr.report("domain_shopping", domain="example.com", database="us", display_limit=2)
    assert rows.units == 60
    rows = sr.report("backlinks_tld", target="example.com", display_limit=2)  # columns named from the header
    assert len(rows) == 2


def test_estimate_matches_prices_offline(semrush, emu):
    sr = semrush()
    assert sr.estimate("domain_organic", domain="x.com", database="us", display_limit=100) == 1000
    assert sr.estimate("domain_organic", domain="x.com", database="us", display_limit=100, display_date="20240115") == 5000
    assert sr.estimate("backlinks_overview", target="x.com") == 40
    assert sr.estimate("phrase_these", phrase=["a", "b"], database="us") == 20
    assert emu.stats()["requests"] == 0


def test_historical_costs_five_times(semrush, emu):
    rows = semrush().domain_organic("x.com", database="us", display_limit=4, display_date="20240115")
    assert rows.units == 200 == emu.stats()["units_charged"]


def test_nothing_found_is_empty_and_free(semrush, emu):
    emu.configure(rows_per_target={"empty.com": 0})
    sr = semrush()
    rows = sr.domain_organic("empty.com", database="us", display_limit=10)
    assert rows == [] and rows.units == 0
    assert sr.ledger.usage()[0]["spent"] == 0 and sr.ledger.usage()[0]["reserved"] == 0


@pytest.mark.parametrize("status", [200, 400])
def test_error_bodies_under_any_status(semrush, emu, status):
    emu.configure(error_status={"132": status})
    sr = semrush()
    emu.set_balance(SECRET, 0)
    with pytest.raises(seowire.UnitsExhausted) as info:
        sr.domain_organic("x.com", database="us", display_limit=5)
    assert info.value.code == "132" and info.value.status == status and not info.value.retryable
    assert emu.stats()["requests"] == 1  # exhausted units are never retried
    assert sr.ledger.usage()[0]["reserved"] == 0


def test_wrong_key_is_authentication_error_and_not_retried(semrush, emu):
    emu.configure(keys=["the-right-key"])
    with pytest.raises(seowire.AuthenticationError) as info:
        semrush().domain_organic("x.com", database="us", display_limit=5)
    assert info.value.code == "120" and info.value.provider == "semrush"
    assert SECRET not in str(info.value) and SECRET not in repr(info.value)
    assert emu.stats()["requests"] == 1
    with pytest.raises(seowire.AuthenticationError):
        semrush().balance()


def test_bad_input_raises_before_anything_is_sent(semrush, emu):
    sr = semrush(budget=1000)
    bad = [
        lambda: sr.domain_organic("", database="us"),
        lambda: sr.domain_organic("x.com", database="US!"),
        lambda: sr.report("domain_organic", domain="x.com"),
        lambda: sr.report("not_a_report", domain="x.com"),
        lambda: sr.domain_organic("x.com", database="us", display_limit=10, display_offset=10),
        lambda: sr.domain_organic("x.com", database="us", display_limit=-1),
        lambda: sr.domain_organic("x.com", database="us", display_date="2024-01"),
        lambda: sr.domain_organic("x.com", database="us", export_columns=["Ph", "bad code"]),
        lambda: sr.report("domain_organic", domain="x.com", database="us", key="other"),
        lambda: sr.report("domain_organic", domain=object(), database="us"),
        lambda: sr.phrase_these([f"k{i}" for i in range(101)], database="us"),
    ]
    for call in bad:
        with pytest.raises(seowire.InvalidRequest):
            call()
    with pytest.raises(ValueError):  # InvalidRequest is a ValueError too
        bad[0]()
    assert emu.stats()["requests"] == 0
    assert sr.ledger.usage() == []


def test_constructor_validation(emu):
    with pytest.raises(seowire.AuthenticationError):
        seowire.Semrush()  # no key, no SEMRUSH_API_KEY
    with pytest.raises(seowire.InvalidRequest):
        seowire.Semrush("k", base_url="ftp://x")
    with pytest.raises(seowire.InvalidRequest):
        seowire.Semrush("k", budget=-5)
    with pytest.raises(seowire.InvalidRequest):
        seowire.Semrush("k", timeout=0)


def test_key_and_base_url_from_environment(monkeypatch, emu):
    monkeypatch.setenv("SEMRUSH_API_KEY", SECRET)
    monkeypatch.setenv("SEOWIRE_SEMRUSH_URL", emu.base_url("semrush"))
    sr = seowire.Semrush(ledger="memory://")
    assert sr.base_url == emu.base_url("semrush")
    assert sr.balance() == 1_000_000


def test_balance_accepts_thousands_separator(semrush, emu):
    sr = semrush()
    emu.set_balance(SECRET, 1234567)
    assert sr.balance() == 1234567
    emu.configure(balance_thousands_separator=False)
    assert asyncio.run(sr.balance_async()) == 1234567
    assert emu.stats()["units_charged"] == 0  # balance checks are free


def test_partial_answer_is_flagged_and_reconciled(semrush, emu, caplog):
    sr = semrush()
    emu.set_balance(SECRET, 75)  # pays for 7 lines at 10 units
    with caplog.at_level(logging.WARNING, logger="seowire"):
        rows = sr.domain_organic("x.com", database="us", display_limit=20)
    assert len(rows) == 7 and rows.partial and rows.units == 70
    assert sr.ledger.usage()[0]["spent"] == 70 == emu.stats()["units_charged"]
    assert any("partial" in r.getMessage() for r in caplog.records)
    emu.set_balance(SECRET, 1000)
    full = sr.domain_organic("x.com", database="us", display_limit=20)
    assert not full.partial and len(full) == 20


def test_paging_yields_each_row_once(semrush, emu):
    emu.configure(rows_per_target={"big.com": 237})
    sr = semrush()
    every = sr.domain_organic("big.com", database="us", display_limit=1000)
    assert len(every) == 237
    pages = list(sr.pages("domain_organic", domain="big.com", database="us", page_size=50))
    assert [len(p) for p in pages] == [50, 50, 50, 50, 37]
    assert [p.offset for p in pages] == [0, 50, 100, 150, 200]
    assert [r for p in pages for r in p] == list(every)
    assert list(sr.rows("domain_organic", domain="big.com", database="us", page_size=100, max_rows=130)) == list(every[:130])

    async def collect():
        out = []
        async for row in sr.rows("domain_organic", domain="big.com", database="us", page_size=64):
            out.append(row)
        return out

    assert asyncio.run(collect()) == list(every)
    assert sr.ledger.usage()[0]["spent"] == emu.stats()["units_charged"]


def test_paging_exact_multiple_and_errors_do_not_lose_rows(semrush, emu):
    emu.configure(rows_per_target={"even.com": 100})
    sr = semrush(retry=seowire.RetryPolicy(max_retries=0))
    pages = sr.pages("domain_organic", domain="even.com", database="us", page_size=50)
    first = next(pages)
    emu.fault("status", status=500)
    with pytest.raises(seowire.ProviderError):
        next(pages)
    rest = list(pages)  # the failed page is fetched again, nothing skipped
    got = list(first) + [r for p in rest for r in p]
    assert got == list(sr.domain_organic("even.com", database="us", display_limit=100))
    with pytest.raises(seowire.InvalidRequest):
        sr.pages("domain_organic", domain="even.com", database="us", display_limit=5)


def test_async_gather(semrush, emu):
    """Eight calls in one gather really overlap (counted by the server, not timed) and each
    result comes back in its own place."""
    emu.configure(latency_ms=200, rate_limit=None)
    sr = semrush(rate_limit=None)

    async def main():
        return await asyncio.gather(*[sr.phrase_this_async(f"kw{i}", database="us") for i in range(8)])

    results = asyncio.run(main())
    assert [r[0]["keyword"] for r in results] == [f"kw{i}" for i in range(8)]
    assert emu.stats()["requests"] == 8 and emu.stats()["peak_in_flight"] >= 4


def test_secrets_never_shown(semrush, emu, caplog):
    sr = semrush(retry=seowire.RetryPolicy(base_delay=0.01, retry_billed_timeouts=True))
    assert SECRET not in repr(sr) and SECRET not in str(vars(sr))
    url = sr.url("domain_organic", domain="x.com", database="us")
    assert "key=***" in url and SECRET not in url
    emu.fault("reset", count=2)
    emu.fault("status", status=503, count=1)
    with caplog.at_level(logging.DEBUG, logger="seowire"):
        sr.domain_organic("x.com", database="us", display_limit=2)
        emu.configure(keys=["nope"])
        with pytest.raises(seowire.SeowireError) as info:
            sr.domain_organic("x.com", database="us", display_limit=2)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "key=***" in text  # the URL is logged, redacted
    assert SECRET not in text and SECRET not in str(info.value)


def test_bad_parameter_messages_show_the_value_as_written(semrush, emu):
    with pytest.raises(seowire.InvalidRequest) as info:
        semrush().domain_organic("example.com", database="us", display_limit=-5)
    assert str(info.value).endswith("display_limit must be a non-negative integer, not -5")
    with pytest.raises(seowire.InvalidRequest, match=r"not 'ten'$"):
        semrush().domain_organic("example.com", database="us", display_limit="ten")
    assert emu.stats()["requests"] == 0


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_paging_never_truncates_silently(semrush, emu, mode):
    """Units running out mid-paging: the rows that arrived are delivered, then iteration raises
    PartialResult (a UnitsExhausted), unless on_partial="stop" asks to end there quietly."""
    sr = semrush()
    emu.set_balance(SECRET, 1235)  # 123 lines at 10 units, of 300 asked

    def collect(**kw):
        if mode == "sync":
            return list(sr.rows("domain_organic", domain="x.com", database="us", page_size=100, max_rows=300, **kw))

        async def main():
            return [r async for r in sr.rows("domain_organic", domain="x.com", database="us", page_size=100, max_rows=300, **kw)]

        import asyncio

        return asyncio.run(main())

    got = []
    with pytest.raises(seowire.PartialResult) as info:
        if mode == "sync":
            for r in sr.rows("domain_organic", domain="x.com", database="us", page_size=100, max_rows=300):
                got.append(r)
        else:
            import asyncio

            async def main():
                async for r in sr.rows("domain_organic", domain="x.com", database="us", page_size=100, max_rows=300):
                    got.append(r)

            asyncio.run(main())
    assert len(got) == 123 == info.value.delivered
    assert isinstance(info.value, seowire.UnitsExhausted)
    assert sr.ledger.usage()[0]["spent"] == 1230 == emu.stats()["units_charged"]
    emu.set_balance(SECRET, 1235)
    assert len(collect(on_partial="stop")) == 123
