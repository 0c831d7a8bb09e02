"""The Moz API, SEMrush v4 and Trends against a hostile server and a careless caller: every case
ends in data or a typed error, never a secret in a message, and the ledger stays exact."""

import pytest

import seowire
from seowire.exceptions import (
    AuthenticationError,
    InvalidRequest,
    ProviderError,
    ResponseFormatError,
    TransportError,
)

from conftest import SECRET

V4 = "semrtkn-TEST-v4-key-0123456789"


@pytest.fixture
def clients(moz, emu):
    emu.configure(rate_limit=None)
    sr = seowire.Semrush(SECRET, v4_key=V4, base_url=emu.base_url("semrush"), ledger=seowire.Ledger("memory://"),
                         cache=False, rate_limit=None, retry=seowire.RetryPolicy(base_delay=0.01, max_delay=0.02))
    return moz(), sr


def test_careless_numbers_and_names_are_refused_before_sending(clients, emu):
    m, sr = clients
    for call in [
        lambda: m.site_links("moz.com", limit=10**30),
        lambda: m.site_links("moz.com", limit=-1),
        lambda: m.site_links("moz.com", limit=2.5),
        lambda: m.ranking_keywords("moz.com", page=-1),
        lambda: m.keyword_metrics("seo", locael="en-GB"),
        lambda: sr.backlinks_v4_links("moz.com", limit=10**20),
        lambda: sr.backlinks_v4_links("moz.com", offset=-5),
        lambda: sr.trends_sources("x.com", display_offset=10**12),
    ]:
        with pytest.raises(InvalidRequest):
            call()
    assert emu.stats()["requests"] == 0


@pytest.mark.parametrize("kind, extra, error", [
    ("html", {}, ResponseFormatError),
    ("echo", {"status": 401}, (AuthenticationError, ResponseFormatError)),
    ("redirect", {"location": "http://evil.example/x"}, ProviderError),
])
def test_hostile_answers_end_in_typed_errors_without_the_key(clients, emu, kind, extra, error):
    m, sr = clients
    for provider, call in [("moz", lambda: m.site_metrics("moz.com")), ("semrush", lambda: sr.backlinks_v4_overview("moz.com")),
                           ("semrush", lambda: sr.trends_summary(["a.com"]))]:
        emu.fault(kind, provider=provider, **extra)
        with pytest.raises(error) as e:
            call()
        assert SECRET not in str(e.value) and V4 not in str(e.value)
    assert all(u["reserved"] == 0 for u in m.ledger.usage() + sr.ledger.usage())


def test_a_cut_answer_books_its_worst_case_and_nothing_more(clients, emu):
    m, sr = clients
    emu.fault("truncate", provider="moz")
    with pytest.raises(TransportError, match="booked"):
        m.site_links("moz.com", limit=10)
    assert [(u["spent"], u["reserved"]) for u in m.ledger.usage()] == [(10, 0)]
    emu.fault("truncate", provider="semrush")
    with pytest.raises(TransportError, match="booked"):
        sr.backlinks_v4_links("moz.com", limit=4)
    assert [(u["spent"], u["reserved"]) for u in sr.ledger.usage() if u["account"] == sr.account] == [(180, 0)]


@pytest.mark.parametrize("kind, extra, error", [
    ("html", {}, ResponseFormatError),
    ("echo", {"status": 401}, (AuthenticationError, ResponseFormatError)),
    ("redirect", {"location": "http://evil.example/x"}, ProviderError),
])
def test_hostile_answers_to_frame_and_stream_calls_end_in_typed_errors(moz, ahrefs, emu, kind, extra, error):
    """The paths that read frames from the bytes and the Moz API bulk stream meet the same
    hostile answers: a typed error, no key in it, nothing left reserved, ledger == emulator."""
    m, a = moz(retry=seowire.RetryPolicy(max_retries=0)), ahrefs(retry=seowire.RetryPolicy(max_retries=0))
    for provider, call in [
        ("moz", lambda: m.site_links("moz.com", limit=5, output="arrow")),
        ("moz", lambda: m.links("moz.com", limit=5, output="arrow")),
        ("moz", lambda: m.site_metrics_multiple(["a.com", "b.com"], output="arrow")),
        ("moz", lambda: list(m.site_metrics_multiple(iter(["a.com", "b.com"]), stream=True, output="arrow"))),
        ("ahrefs", lambda: a.all_backlinks("x.com", select=["url_from"], limit=5, output="arrow")),
        ("ahrefs", lambda: a.batch_analysis(["x.com"], select=["url"], output="arrow")),
    ]:
        emu.fault(kind, provider=provider, **extra)
        with pytest.raises(error) as e:
            call()
        assert SECRET not in str(e.value)
    usage = m.ledger.usage() + a.ledger.usage()
    assert all(u["reserved"] == 0 for u in usage)
    charged = emu.stats()["units_by_provider"]
    assert sum(u["spent"] for u in m.ledger.usage()) == charged.get("moz", 0)


def test_careless_stream_settings_are_refused_before_sending(moz, emu):
    m = moz()
    for kw in [{"batch_rows": 0}, {"batch_rows": -1}, {"batch_rows": 10**30}, {"chunk_size": 0}, {"chunk_size": True},
               {"output": "excel"}]:
        with pytest.raises(InvalidRequest):
            m.site_metrics_multiple(["a.com"], stream=True, **kw)
    with pytest.raises(InvalidRequest):
        m.link_exists_multiple("moz.com", stream=True)
    with pytest.raises(InvalidRequest, match="one object"):
        m.call("data.site.metrics.fetch", site_query="moz.com", output="arrow")
    assert emu.stats()["requests"] == 0


def test_a_failed_chunk_of_a_multiple_stream_keeps_what_was_paid_for(moz, emu):
    m = moz(plan="free", retry=seowire.RetryPolicy(max_retries=0))  # one in flight: chunk 3 is the 4th request
    emu.fault("status", status=500, provider="moz", after=3, count=1)
    got = []
    with pytest.raises(seowire.SeowireError, match="inputs 60..=79"):
        for b in m.site_metrics_multiple((f"s{i}.com" for i in range(400)), chunk_size=20, stream=True, batch_rows=20):
            got.extend(b)
    assert len(got) == 60, "the rows before the failed chunk were handed out"
    assert m.quota("data")["used"] == sum(u["spent"] for u in m.ledger.usage()) == 60
