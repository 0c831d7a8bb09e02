"""Bad input is refused clearly, before anything is reserved or sent; every unit figure is exact.
Property tests (hypothesis) throw arbitrary parameters at the validators and estimators."""

import asyncio

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import seowire

MAX_UNITS = 2**53 - 1


def nothing_happened(client, emu):
    assert emu.stats()["requests"] == 0
    assert all(u["reserved"] == 0 and u["spent"] == 0 for u in client.ledger.usage())


def test_huge_limits_never_wrap_into_a_small_estimate(semrush, ahrefs, emu):
    sr = semrush(budget=1000)
    with pytest.raises(seowire.InvalidRequest, match="ERROR 613"):
        sr.estimate("domain_organic", domain="x.com", database="us", display_limit=1844674407370955162)
    with pytest.raises(seowire.InvalidRequest):
        sr.domain_organic("x.com", database="us", display_limit=1844674407370955162)
    assert sr.estimate("domain_organic", domain="x.com", database="us", display_limit=100_000) == 1_000_000
    a = ahrefs(budget=1000)
    with pytest.raises(seowire.InvalidRequest, match="more than"):
        a.estimate("site-explorer/all-backlinks", target="x.com", select=["url_from", "traffic"], limit=10**18)
    huge = a.estimate("site-explorer/all-backlinks", target="x.com", select=["url_from"], limit=10**12)
    assert huge >= 10**12  # exact, so the budget refuses it
    with pytest.raises(seowire.BudgetExceeded):
        a.all_backlinks("x.com", select=["url_from"], limit=10**12)
    nothing_happened(sr, emu)
    nothing_happened(a, emu)


def test_misspelled_parameters_are_refused_with_a_suggestion(semrush, moz, ahrefs, emu):
    sr, m, a = semrush(), moz(), ahrefs()
    with pytest.raises(seowire.InvalidRequest, match="did you mean 'display_limit'"):
        sr.domain_organic("x.com", database="us", display_limt=10)
    with pytest.raises(seowire.InvalidRequest, match="did you mean 'limit'"):
        m.call("linking_root_domains", target="moz.com", limt=10)
    with pytest.raises(seowire.InvalidRequest, match="did you mean"):
        a.domain_rating("x.com", dat="2026-01-01")
    for c in (sr, m, a):
        nothing_happened(c, emu)
    # strict=False sends a parameter seowire does not know (for API additions).
    assert "newparam=1" in sr.url("domain_organic", domain="x.com", database="us", newparam=1, strict=False)


@pytest.mark.parametrize("value", [123, 1.5, ["a.com"], {"a": 1}, b"x.com", bytearray(b"x.com")])
def test_wrong_types_name_the_parameter(semrush, ahrefs, emu, value):
    with pytest.raises((seowire.InvalidRequest, TypeError), match="domain|must be"):
        semrush().domain_organic(value, database="us")
    with pytest.raises((seowire.InvalidRequest, TypeError), match="target|must be"):
        ahrefs().domain_rating(value)
    assert emu.stats()["requests"] == 0


def test_bytes_are_never_sent_as_a_list_of_ints(semrush, emu):
    with pytest.raises(seowire.InvalidRequest, match="bytes"):
        semrush().url("phrase_these", phrase=b"seo", database="us")
    assert emu.stats()["requests"] == 0


@pytest.mark.parametrize("setting", ["page_size", "max_rows"])
@pytest.mark.parametrize("value", [-1, 2**64, 2**200, "10", 1.5, True])
def test_unsigned_settings_are_invalid_request_not_overflow(semrush, moz, emu, setting, value):
    for client, report in ((semrush(), "domain_organic"), (moz(), "linking_root_domains")):
        kw = {"domain": "x.com", "database": "us"} if report == "domain_organic" else {"target": "moz.com"}
        with pytest.raises(seowire.InvalidRequest, match=setting):
            list(client.pages(report, **{setting: value}, **kw))
    assert emu.stats()["requests"] == 0


@pytest.mark.parametrize("value", [-1, 2**64, 2**53])
def test_budget_and_retry_settings_are_checked(semrush, value):
    with pytest.raises(seowire.InvalidRequest, match="budget"):
        semrush(budget=value)
    if value != 2**53:
        with pytest.raises(seowire.InvalidRequest, match="max_retries"):
            seowire.RetryPolicy(max_retries=value)
        with pytest.raises(seowire.InvalidRequest, match="max_in_flight"):
            semrush(max_in_flight=value)
    with pytest.raises(seowire.InvalidRequest, match="deadline"):
        seowire.RetryPolicy(deadline=1e300)


def test_a_panic_below_the_boundary_is_a_typed_error():
    from seowire import _seowire

    with pytest.raises(seowire.InternalError, match="internal error in seowire"):
        _seowire._selftest_panic("sync")

    async def main():
        return await _seowire._selftest_panic("async")

    with pytest.raises(seowire.InternalError):
        asyncio.run(main())
    # Where rows become Python objects (under the GIL) too, naming the provider and report.
    with pytest.raises(seowire.InternalError, match="decoding selftest") as e:
        _seowire._selftest_panic("decode")
    assert e.value.provider == "ahrefs"
    assert issubclass(seowire.InternalError, seowire.SeowireError) and issubclass(seowire.InternalError, Exception)


NAMES = st.sampled_from(["domain", "database", "display_limit", "display_offset", "display_date", "export_columns",
                         "display_filter", "phrase", "strict", "display_limt", "key", "type"]) | st.text(min_size=1, max_size=12)
VALUES = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats(allow_nan=True)
          | st.text(max_size=20) | st.binary(max_size=8) | st.lists(st.text(max_size=5), max_size=3)
          | st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(report=st.sampled_from(["domain_organic", "phrase_this", "phrase_these", "backlinks", "backlinks_overview", "domain_rank_history"]),
       params=st.dictionaries(NAMES, VALUES, max_size=6))
def test_semrush_estimates_are_exact_or_refused(semrush, report, params):
    sr = semrush()
    try:
        units = sr.estimate(report, **params)
    except (seowire.InvalidRequest, TypeError):
        return
    assert isinstance(units, int) and 0 <= units <= MAX_UNITS


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(["site-explorer/all-backlinks", "site-explorer/domain-rating", "keywords-explorer/overview",
                             "site-explorer/refdomains"]),
       params=st.dictionaries(st.sampled_from(["target", "select", "limit", "offset", "date", "country", "keywords",
                                               "where", "order_by", "mode", "protocol"]) | st.text(min_size=1, max_size=8),
                              VALUES, max_size=6))
def test_ahrefs_estimates_are_exact_or_refused(ahrefs, path, params):
    a = ahrefs()
    try:
        units = a.estimate(path, **params)
    except (seowire.InvalidRequest, TypeError):
        return
    assert isinstance(units, int) and 0 <= units <= MAX_UNITS
