"""Facts pinned to literal values from the reference (providers.md §3.6), checked on both
sides: the client's estimate and commit, and the emulator's charge. The emulator keeps its own
tables, so a wrong fact on either side breaks a test here instead of agreeing with itself."""

import datetime as dt

import pytest

import seowire

# type: (live units, historical units or None for "–", charged per request)
PRICES = {
    "domain_ranks": (10, 50, False), "domain_rank": (10, 50, False), "domain_rank_history": (10, None, False),
    "rank_difference": (20, 100, False), "rank": (10, 50, False), "domain_organic": (10, 50, False),
    "domain_adwords": (20, 100, False), "domain_adwords_unique": (40, None, False),
    "domain_adwords_historical": (100, None, False), "domain_organic_organic": (40, 200, False),
    "domain_adwords_adwords": (40, 200, False), "domain_shopping": (30, 150, False),
    "domain_organic_unique": (10, 50, False), "domain_organic_subdomains": (10, 50, False),
    "domain_domains": (80, 400, False), "phrase_this": (10, 50, False), "phrase_all": (10, None, False),
    "phrase_these": (10, 50, False), "phrase_kdi": (50, None, False), "phrase_related": (40, None, False),
    "phrase_fullsearch": (20, None, False), "phrase_questions": (40, None, False),
    "phrase_organic": (10, 50, False), "phrase_adwords": (20, 100, False), "url_organic": (10, 50, False),
    "url_adwords": (20, 100, False), "backlinks_overview": (40, None, True),
    **{name: (40, None, False) for name in [
        "backlinks", "backlinks_refdomains", "backlinks_refips", "backlinks_tld", "backlinks_geo", "backlinks_anchors",
        "backlinks_pages", "backlinks_competitors", "backlinks_comparison", "backlinks_matrix", "backlinks_historical",
        "backlinks_categories_profile"]},
    "backlinks_categories": (50, None, True), "backlinks_ascore_profile": (100, None, True),
}


def params_for(report):
    if report.startswith("backlinks"):
        return {"target": "example.com"}
    if report == "domain_domains":
        return {"domains": "*|or|a.com|*|or|b.com", "database": "us"}
    if report in ("phrase_these", "phrase_kdi"):
        return {"phrase": ["seo", "sem"], "database": "us"}
    if report == "phrase_all":
        return {"phrase": "seo"}
    if report.startswith("phrase"):
        return {"phrase": "seo", "database": "us"}
    if report.startswith("url"):
        return {"url": "https://example.com/a", "database": "us"}
    if report in ("rank", "rank_difference"):
        return {"database": "us"}
    if report == "domain_ranks":
        return {"domain": "example.com"}
    return {"domain": "example.com", "database": "us"}


def last_month():
    first = dt.date.today().replace(day=1)
    prev = first - dt.timedelta(days=1)
    return f"{prev:%Y%m}15"


def this_month():
    return f"{dt.date.today():%Y%m}15"


@pytest.mark.parametrize("report", sorted(PRICES))
@pytest.mark.parametrize("when", ["live", "past", "current"])
def test_every_price_on_both_sides(semrush, emu, report, when):
    live, hist, per_request = PRICES[report]
    sr = semrush()
    params = params_for(report)
    if when != "live":
        params["display_date"] = last_month() if when == "past" else this_month()
    price = hist if (when == "past" and hist is not None) else live
    rows = sr.report(report, display_limit=3, **params) if not per_request else sr.report(report, **params)
    lines = len(rows)
    assert lines >= 1
    expected = price if per_request else price * lines
    assert rows.units == expected, (report, when, rows.units, expected)
    assert emu.stats()["units_charged"] == expected
    assert sr.ledger.usage()[0]["spent"] == expected
    assert rows.estimate >= expected


def test_display_limit_above_the_report_maximum_is_refused_on_both_sides(semrush, emu):
    with pytest.raises(seowire.InvalidRequest, match="613"):
        semrush().domain_organic("x.com", database="us", display_limit=100_001)
    assert emu.stats()["requests"] == 0
    assert semrush().estimate("domain_organic", domain="x.com", database="us", display_limit=100_000) == 1_000_000
    import urllib.request

    import urllib.error

    url = emu.base_url("semrush") + "/?type=domain_organic&key=k&domain=x.com&database=us&display_limit=100001"
    try:
        body = urllib.request.urlopen(url).read().decode()
    except urllib.error.HTTPError as e:  # the error status is an emulator setting
        body = e.read().decode()
    assert body.startswith("ERROR 613")


# Header names per column (§3.5), and the variants of domain_adwords (§3.5, SILK).
HEADERS = {"Ph": "Keyword", "Po": "Position", "Pp": "Previous Position", "Pd": "Position Difference", "Nq": "Search Volume",
           "Cp": "CPC", "Ur": "Url", "Tr": "Traffic (%)", "Tc": "Traffic Cost (%)", "Co": "Competition",
           "Nr": "Number of Results", "Td": "Trends"}


def test_header_names_are_the_references(emu):
    import urllib.request

    url = emu.base_url("semrush") + "/?type=domain_organic&key=k&domain=x.com&database=us&display_limit=1&export_columns=" + ",".join(HEADERS)
    header = urllib.request.urlopen(url).read().decode().splitlines()[0]
    assert header.split(";") == list(HEADERS.values())
    url = emu.base_url("semrush") + "/?type=domain_adwords&key=k&domain=x.com&database=us&display_limit=1&export_columns=Ph,Po,Nq"
    assert urllib.request.urlopen(url).read().decode().splitlines()[0] == "Keyword;Pos;Average vol."


# -- Moz: the emulator's own endpoint table and the reference's unknowns as settings ------------


def test_moz_usage_data_honours_start_end_and_lags(moz, emu):
    import time

    m = moz()
    m.links("moz.com", limit=7)
    now = int(time.time())
    assert m.usage_data()["rows_consumed"] == 7
    assert m.usage_data(start=now - 60, end=now + 60)["rows_consumed"] == 7
    assert m.usage_data(start=now - 7200, end=now - 3600)["rows_consumed"] == 0  # before the call
    with pytest.raises(seowire.SeowireError, match="start must be before end"):
        m.usage_data(start=now, end=now)
    # Moz's figure may miss the last hour of calls: with that lag the call is not counted yet.
    emu.configure(moz_usage_lag_seconds=3600)
    assert m.usage_data()["rows_consumed"] == 0
    assert emu.stats()["units_charged"] == 7  # charged all the same


def test_moz_throttling_is_a_setting_429_or_503_with_retry_after(moz, emu):
    import concurrent.futures

    emu.configure(moz_concurrency=1, moz_throttle_status=503, moz_throttle_retry_after=1, latency_ms=300)
    m = moz(retry=seowire.RetryPolicy(max_retries=0), concurrency=4)  # more than the emulated plan allows
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(lambda _: _try(lambda: m.links("moz.com", limit=3)), range(4)))
    errors = [o for o in outcomes if isinstance(o, Exception)]
    assert errors and all(isinstance(e, seowire.SeowireError) for e in errors)
    assert any(getattr(e, "status", None) == 503 for e in errors)
    assert any(getattr(e, "retry_after", None) == 1.0 for e in errors)
    import pickle

    waited = next(e for e in errors if e.retry_after)
    assert pickle.loads(pickle.dumps(waited)).retry_after == waited.retry_after


def _try(call):
    try:
        return call()
    except Exception as e:  # the outcome is checked by the caller
        return e


def test_moz_quota_text_and_status_are_settings(moz, emu):
    emu.configure(moz_quota_status=429, moz_quota_message="Rows exhausted for this period")
    from conftest import SECRET

    emu.set_balance(SECRET, 0, provider="moz")
    m = moz()
    with pytest.raises(seowire.SeowireError, match="Rows exhausted for this period"):
        m.links("moz.com", limit=3)


def test_every_semrush_report_agrees_on_both_sides(semrush, emu):
    """The client's report table and the emulator's own copy (facts.rs) agree on every report:
    the default columns come back in order and the units charged are the units committed."""
    from seowire import catalog

    sr = semrush()
    subjects = {"Domain": {"domain": "example.com"}, "Domains": {"domains": "*|or|a.com|*|or|b.com"},
                "Phrase": {"phrase": "seo tools"}, "Url": {"url": "https://example.com/a"},
                "Backlinks": {"target": "example.com", "target_type": "root_domain"}, "None": {}}
    for op in catalog.endpoints("semrush", api="analytics_v3"):
        params = dict(subjects[op["target"]])
        if op["database"]:
            params["database"] = "us"
        if op["paging"] == "offset":
            params["display_limit"] = 3
        rows = sr.report(op["name"], **params)
        assert len(rows) >= 1, op["name"]
        if op["columns"]:
            assert len(rows[0]) == len(op["columns"].split(",")), op["name"]
    assert sr.ledger.usage()[0]["spent"] == emu.stats()["units_charged"]


def test_ahrefs_quota_text_is_a_setting_and_the_client_reads_it(ahrefs, emu):
    # A text that says units are gone is UnitsExhausted; one that does not is an AuthenticationError
    # (the plan): so the setting decides the class, and the client must read the text.
    emu.configure(ahrefs_units_limit=0, ahrefs_quota_message="Insufficient API units for this request")
    with pytest.raises(seowire.UnitsExhausted, match="Insufficient API units"):
        ahrefs().refdomains("example.com", select=["domain"], limit=5)
    emu.configure(ahrefs_units_limit=0, ahrefs_quota_message="Access denied for this key")
    with pytest.raises(seowire.AuthenticationError):
        ahrefs().refdomains("example.com", select=["domain"], limit=5)


def test_domain_domains_names_its_position_columns_after_the_domains(semrush, emu):
    # "P0-P4 positions (the header uses the domain names)" [providers.md §3.5]: read by header.
    import urllib.request

    from conftest import SECRET

    url = semrush().url("domain_domains", domains="*|or|a.com|*|or|b.com", database="us", display_limit=2)
    body = urllib.request.urlopen(url.replace("key=***", "key=" + SECRET)).read().decode()
    header = body.splitlines()[0].split(";")
    assert header[1:3] == ["a.com", "b.com"]
    rows = semrush().domain_domains("*|or|a.com|*|or|b.com", database="us", display_limit=2)
    # The client maps the requested codes by position, whatever the header says.
    assert len(rows) == 2 and {"position_0", "position_1"} <= set(rows[0])
