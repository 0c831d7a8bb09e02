"""SEMrush Trends API v3: reports, the sniffed separator, typed cells, pricing per report and
Trends' own allowance, against the emulator and the real fixtures."""

import asyncio
import http.server
import threading

import pytest

import seowire
from seowire.exceptions import BudgetExceeded, InvalidRequest, UnitsExhausted

from conftest import SECRET


def trends_spent(sr):
    return sum(u["spent"] for u in sr.ledger.usage() if u["account"] == sr.account + ":trends")


def test_summary_bills_only_targets_with_data(semrush, emu):
    emu.configure(semrush_trends_no_data=["empty.com"])
    sr = semrush()
    rows = sr.trends_summary(["golang.org", "empty.com", "go.dev"])
    assert [r["target"] for r in rows] == ["golang.org", "go.dev"]
    assert isinstance(rows[0]["visits"], int) and rows.units == 2 and trends_spent(sr) == 2
    assert sr.estimate("domain_organic", domain="x.com", database="us", display_limit=10) == 100  # v3 untouched
    with pytest.raises(InvalidRequest, match="1..=200"):
        sr.trends_summary([f"s{i}.com" for i in range(201)])


def test_reports_are_priced_by_their_rule_and_draw_on_their_own_allowance(semrush, emu):
    emu.configure(semrush_trends_no_data=["nothing.com"])
    sr = semrush(budget=10, trends_budget=600)
    assert sr.trends_sources("medium.com", display_limit=5).units == 1
    assert len(sr.trends_summary_by_day("nothing.com")) == 0 and trends_spent(sr) == 1  # not billed when empty
    assert sr.trends_geo("nothing.com").units == 1  # billed even when empty
    assert sr.trends_categories(1).units == 500 and trends_spent(sr) == 502
    with pytest.raises(BudgetExceeded):
        sr.trends_categories(2)
    assert [u["spent"] for u in sr.ledger.usage() if u["account"] == sr.account] in ([], [0])  # the SEO budget is untouched
    emu.configure(semrush_trends_allowance=502)
    with pytest.raises(UnitsExhausted):
        semrush().trends_rank()


def test_cells_are_typed_and_na_is_none(semrush, emu):
    sr = semrush()
    cats = sr.trends_categories(3)
    assert cats[0]["categories"] is None and cats[1]["categories"] == "Arts; Books"
    day = sr.trends_summary_by_day("amazon.com")
    assert day[0]["is_forecasted"] is False and isinstance(day[0]["bounce_rate"], float)
    df = sr.trends_summary_by_day("amazon.com", output="pandas")
    assert str(df["display_date"].dtype).startswith("datetime64") and len(df) == 30
    emu.configure(semrush_trends_separator=",")
    assert semrush().trends_summary(["a.com"])[0]["target"] == "a.com"  # a comma body reads the same


def test_validation_and_the_limits_endpoint(semrush, emu):
    sr = semrush()
    for call in [
        lambda: sr.trends_sources("x.com", display_date="2026-10-15"),
        lambda: sr.trends_sources("x.com", display_limit=5001),
        lambda: sr.trends_geo("x.com", geo_type="planet"),
        lambda: sr.trends("sourcse", target="x.com"),
        lambda: sr.trends_toppages("x.com", colour=1),
    ]:
        with pytest.raises(InvalidRequest):
            call()
    assert emu.stats()["requests"] == 0
    sr.trends_rank()
    status, body = sr.trends_limits()
    assert status == 200 and "api_units" in body and SECRET not in body
    assert asyncio.run(sr.trends_summary_async(["a.com"]))[0]["target"] == "a.com"


class _Fixture(http.server.BaseHTTPRequestHandler):
    body = b""

    def do_GET(self):
        self.send_response(200)
        self.send_header("content-type", "text/csv")
        self.end_headers()
        self.wfile.write(type(self).body)

    def log_message(self, *a):
        pass


@pytest.mark.parametrize("name, report, params, lines", [
    ("semrush_trends_summary_1", "summary", {"targets": ["golang.org", "blog.golang.org", "tour.golang.org/welcome/"]}, 3),
    ("semrush_trends_summary_by_day_1", "summary_by_day", {"target": "amazon.com"}, None),
    ("semrush_trends_sources_1", "sources", {"target": "medium.com"}, None),
])
def test_each_trends_fixture_decodes_to_typed_rows(fixtures, name, report, params, lines):
    body = (fixtures / f"{name}.csv").read_bytes()
    handler = type("H", (_Fixture,), {"body": body})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        sr = seowire.Semrush(SECRET, base_url=f"http://127.0.0.1:{server.server_address[1]}", ledger="memory://", cache=False, rate_limit=None)
        rows = sr.trends(report, **params)
    finally:
        server.shutdown()
    text_lines = [l for l in body.decode().splitlines() if l.strip()]
    header = text_lines[0].split(";")
    assert list(rows[0]) == header and len(rows) == len(text_lines) - 1
    first = text_lines[1].split(";")
    for k, raw in zip(header, first):
        v = rows[0][k]
        if raw.lstrip("-").isdigit():
            assert v == int(raw)
        elif raw in ("true", "false"):
            assert v is (raw == "true")
    assert rows.units == (lines if lines is not None else 1)


def test_the_shared_faults_apply_to_trends_and_projects(semrush, emu):
    sr = semrush()
    emu.fault("status", status=503, count=1, provider="semrush")
    assert sr.trends_summary(["a.com"])[0]["target"] == "a.com"  # retried
    emu.fault("truncate", count=1, provider="semrush")
    with pytest.raises(seowire.exceptions.TransportError, match="booked"):
        sr.list_projects()  # a cut billed answer is not retried (it could pay twice): its worst case is booked
    assert sum(u["spent"] for u in sr.ledger.usage() if u["account"] == sr.account) == 100
