"""Hostile servers: the fault matrix of issue 14. Every fault, every provider, sync and async:
the outcome (data or a typed error), a time bound, and the ledger (nothing left reserved, and
spent matching what the emulator charged, or the booked worst case where the answer was lost)."""

import asyncio
import logging
import time

import pytest

import seowire
from conftest import SECRET
from seowire.testing import Emulator

# The call each provider makes, its worst case, and whether its answer can carry cost headers.
CALLS = {
    "semrush": (lambda c: c.domain_organic("x.com", database="us", display_limit=3),
                lambda c: c.domain_organic_async("x.com", database="us", display_limit=3), 30),
    "moz": (lambda c: c.url_metrics(["a.com", "b.com"]), lambda c: c.url_metrics_async(["a.com", "b.com"]), 2),
    "ahrefs": (lambda c: c.domain_rating("example.com"), lambda c: c.domain_rating_async("example.com"), 50),
}

QUICK = dict(max_retries=2, base_delay=0.01, max_delay=0.05, max_retry_after=0.05)


@pytest.fixture
def client(request, semrush, moz, ahrefs):
    return {"semrush": semrush, "moz": moz, "ahrefs": ahrefs}


def run(mode, provider, c):
    sync, aio, _ = CALLS[provider]
    if mode == "sync":
        return sync(c)
    return asyncio.run(aio(c))


def ledger_of(c):
    rows = c.ledger.usage()
    return (rows[0]["reserved"], rows[0]["spent"]) if rows else (0, 0)


PROVIDERS = ["semrush", "moz", "ahrefs"]
MODES = ["sync", "async"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("value", ["1e20", "18446744073709551616", "-5", "NaN", "Fri, 31 Dec 9999 23:59:59 GMT", "soon"])
def test_hostile_retry_after_is_capped_never_a_panic(client, emu, provider, mode, value):
    c = client[provider](retry=seowire.RetryPolicy(**QUICK))
    emu.fault("status", status=503, retry_after=value, provider=provider)
    started = time.monotonic()
    rows = run(mode, provider, c)
    assert rows  # retried after a capped wait, data arrived
    assert time.monotonic() - started < 5
    reserved, spent = ledger_of(c)
    assert reserved == 0 and spent == emu.stats()["units_charged"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("provider", PROVIDERS)
def test_html_page_under_200_is_not_data(client, emu, provider, mode):
    c = client[provider](cache=True, ledger=seowire.Ledger("memory://"))
    emu.fault("html", provider=provider)
    with pytest.raises(seowire.ResponseFormatError):
        run(mode, provider, c)
    reserved, spent = ledger_of(c)
    assert reserved == 0 and spent == 0 == emu.stats()["units_charged"]  # a proxy page costs nothing
    before = emu.stats()["requests"]
    assert run(mode, provider, c)  # not cached: the next call asks the server
    assert emu.stats()["requests"] == before + 1


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("provider", PROVIDERS)
def test_echoed_secret_is_scrubbed_everywhere(client, emu, provider, mode, caplog):
    c = client[provider](retry=seowire.RetryPolicy(max_retries=0))
    emu.fault("echo", provider=provider, count=3)
    with caplog.at_level(logging.DEBUG, logger="seowire"):
        with pytest.raises(seowire.SeowireError) as info:
            run(mode, provider, c)
    assert SECRET not in str(info.value) and "***" in str(info.value)
    assert all(SECRET not in r.getMessage() for r in caplog.records)
    assert ledger_of(c)[0] == 0


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("provider", PROVIDERS)
def test_no_credential_follows_a_cross_origin_redirect(client, emu, provider, mode):
    with Emulator() as other:
        c = client[provider]()
        emu.fault("redirect", status=307, location=other.base_url(provider) + "/steal?x=1", provider=provider)
        with pytest.raises(seowire.ProviderError, match="another origin") as info:
            run(mode, provider, c)
        assert other.stats()["requests"] == 0  # the credential never reached it
        assert SECRET not in str(info.value)
    assert ledger_of(c)[0] == 0


def test_same_origin_redirect_keeps_credentials(semrush, emu):
    sr = semrush()
    target = emu.base_url("semrush") + "/?type=domain_organic&key=" + SECRET + "&domain=x.com&database=us&display_limit=2&export_columns=Ph,Po"
    emu.fault("redirect", status=302, location=target, provider="semrush")
    rows = sr.domain_organic("x.com", database="us", display_limit=2, export_columns=["Ph", "Po"])
    assert len(rows) == 2


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("value", ["1e400", "18446744073709551616", "-3", "NaN", "12.5"])
def test_hostile_cost_header_is_a_format_error_not_a_wrong_number(ahrefs, emu, mode, value):
    a = ahrefs(budget=1000)
    emu.fault("headers", headers={"x-api-units-cost-total-actual": value}, provider="ahrefs")
    with pytest.raises(seowire.ResponseFormatError, match="not a unit count"):
        run(mode, "ahrefs", a)
    reserved, spent = ledger_of(a)
    assert reserved == 0 and spent == 0
    assert run(mode, "ahrefs", a)  # the budget was not corrupted: the next call goes through


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("provider", PROVIDERS)
def test_deadline_bounds_a_stalled_body(client, emu, provider, mode):
    c = client[provider](retry=seowire.RetryPolicy(max_retries=3, base_delay=0.01, deadline=1.0, retry_billed_timeouts=True), timeout=6)
    emu.fault("stall", provider=provider, count=10)
    started = time.monotonic()
    with pytest.raises(seowire.TransportError):
        run(mode, provider, c)
    assert time.monotonic() - started < 2.5  # the deadline plus a margin, not the 6 s timeout
    assert ledger_of(c)[0] == 0


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("fault", [{"kind": "status", "status": 503}, {"kind": "status", "status": 429}, {"kind": "reset"}, {"kind": "truncate"}])
def test_transient_faults_end_in_data_or_a_typed_error_with_honest_units(client, emu, provider, mode, fault):
    c = client[provider](retry=seowire.RetryPolicy(max_retries=2, base_delay=0.01))
    fault = dict(fault)
    kind = fault.pop("kind")
    emu.fault(kind, provider=provider, **fault)
    estimate = CALLS[provider][2]
    if kind == "status":
        assert run(mode, provider, c)
        reserved, spent = ledger_of(c)
        assert reserved == 0 and spent == emu.stats()["units_charged"]
    else:
        # Lost after sending: not retried by default, booked at the worst case.
        with pytest.raises(seowire.TransportError, match="may have reached"):
            run(mode, provider, c)
        reserved, spent = ledger_of(c)
        assert reserved == 0 and spent == estimate >= emu.stats()["units_charged"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_credentials_with_whitespace_or_controls_are_refused_at_build(client, provider):
    for bad in ["key with space", "key\nnewline", "key\x00nul", "tab\tkey"]:
        with pytest.raises(seowire.InvalidRequest):
            if provider == "moz":
                client[provider](bad)
            else:
                client[provider](api_key=bad)
