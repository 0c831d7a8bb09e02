"""The response cache: identical requests within the TTL cost 0 units, per account, beside the ledger."""

import sqlite3
import subprocess
import sys
import time

import pytest

import seowire
from conftest import SECRET
from redis_server import RedisServer


def organic(sr, **kw):
    return sr.domain_organic("example.com", database="us", display_limit=5, **kw)


@pytest.mark.parametrize("store", ["memory", "sqlite", "redis"])
def test_identical_requests_are_served_from_cache_at_zero_units(semrush, emu, tmp_path, store, request):
    if store == "redis":
        server = RedisServer()
        request.addfinalizer(server.close)
        url = server.url
    else:
        url = "memory://" if store == "memory" else f"sqlite://{tmp_path}/ledger.sqlite3"
    sr = semrush(ledger=seowire.Ledger(url), cache=True)
    first = organic(sr)
    second = organic(sr)
    assert (first.units, first.cached, second.units, second.cached) == (50, False, 0, True)
    assert list(first) == list(second)
    assert emu.stats()["requests"] == 1 and emu.stats()["units_charged"] == 50
    u = sr.ledger.usage()[0]
    assert (u["spent"], u["requests"]) == (50, 2)  # the cached request is on the ledger's record, at 0


def test_cache_can_be_turned_off_per_call_and_per_client(semrush, emu):
    sr = semrush(cache=True)
    organic(sr)
    assert organic(sr, cache=False).units == 50
    assert emu.stats()["requests"] == 2
    off = semrush(cache=False, ledger=sr.ledger)
    organic(off)
    assert emu.stats()["requests"] == 3


def test_entries_expire_after_the_ttl(semrush, emu):
    sr = semrush(cache=0.3)
    organic(sr)
    assert organic(sr).cached
    time.sleep(0.4)
    assert not organic(sr).cached and emu.stats()["requests"] == 2


def test_semrush_data_is_not_kept_longer_than_a_month():
    with pytest.raises(seowire.InvalidRequest, match="month"):
        seowire.Semrush("k", ledger="memory://", cache=31 * 86_400)
    seowire.Semrush("k", ledger="memory://", cache=30 * 86_400)
    seowire.Ahrefs("k", ledger="memory://", cache=90 * 86_400)  # no such rule for the others


def test_accounts_do_not_share_entries(semrush, emu):
    ledger = seowire.Ledger("memory://")
    organic(semrush(ledger=ledger, cache=True))
    assert not organic(semrush(api_key="another-key", ledger=ledger, cache=True)).cached
    assert emu.stats()["requests"] == 2


def test_cache_keys_never_hold_the_secret(semrush, tmp_path):
    path = tmp_path / "ledger.sqlite3"
    sr = semrush(ledger=seowire.Ledger(f"sqlite://{path}"), cache=True)
    organic(sr)
    rows = sqlite3.connect(path).execute("SELECT key, value FROM cache").fetchall()
    assert len(rows) == 1
    key, value = rows[0]
    assert SECRET not in key and SECRET.encode() not in value


_SECOND_PROCESS = r"""
import sys, seowire
sr = seowire.Semrush(sys.argv[3], base_url=sys.argv[1], ledger=seowire.Ledger(sys.argv[2]), rate_limit=None)
rows = sr.domain_organic("example.com", database="us", display_limit=5)
print(rows.cached, rows.units)
"""


def test_sqlite_cache_is_shared_by_processes(semrush, emu, tmp_path):
    url = f"sqlite://{tmp_path}/ledger.sqlite3"
    organic(semrush(ledger=seowire.Ledger(url), cache=True))
    out = subprocess.run([sys.executable, "-c", _SECOND_PROCESS, emu.base_url("semrush"), url, SECRET],
                         capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["True", "0"], out.stderr
    assert emu.stats()["requests"] == 1


def test_moz_and_ahrefs_are_cached_but_live_counters_are_not(moz, ahrefs, emu):
    m = moz(cache=True)
    assert m.url_metrics(["a.com", "b.com"]).units == 2
    again = m.url_metrics(["a.com", "b.com"])
    assert (again.units, [r["page"] for r in again]) == (0, ["a.com/", "b.com/"])
    assert m.links("moz.com", limit=5).units == 5 and m.links("moz.com", limit=5).units == 0
    m.usage_data()
    m.usage_data()
    a = ahrefs(cache=True)
    assert a.all_backlinks("example.com", select=["url_from"], limit=10).units == 50
    cached = a.all_backlinks("example.com", select=["url_from"], limit=10)
    assert (cached.units, cached.cached) == (0, True)
    a.limits_and_usage()
    a.limits_and_usage()
    by = emu.stats()["by_provider"]
    assert by == {"moz": 1 + 1 + 2, "ahrefs": 1 + 2}
    assert a.ledger.usage()[0]["spent"] == emu.stats()["units_by_provider"]["ahrefs"]
