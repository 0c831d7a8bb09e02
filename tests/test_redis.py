"""The Redis ledger against a real redis-server started here on a free port."""

import logging
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import time

import pytest

import seowire
from conftest import SECRET
from redis_server import RedisServer, free_port


@pytest.fixture
def redis():
    server = RedisServer()
    yield server
    server.close()


def _worker(semrush_url, ledger_url, n, q):
    import seowire as s

    sr = s.Semrush(SECRET, base_url=semrush_url, ledger=s.Ledger(ledger_url), budget=2000, rate_limit=None, cache=False)
    done = refused = 0
    for _ in range(n):
        try:
            sr.domain_organic("x.com", database="us", display_limit=10)  # 100 units
            done += 1
        except s.BudgetExceeded:
            refused += 1
    q.put((done, refused))


def test_one_budget_across_processes(redis, emu):
    emu.configure(rate_limit=None)
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(emu.base_url("semrush"), redis.url, 10, q)) for _ in range(4)]
    for p in procs:
        p.start()
    results = [q.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(30)
    assert sum(d for d, _ in results) == 20 and sum(r for _, r in results) == 20
    assert emu.stats()["units_charged"] == 2000
    usage = seowire.Ledger(redis.url).usage()
    assert [(u["provider"], u["spent"], u["reserved"], u["requests"], u["budget"]) for u in usage] == [("semrush", 2000, 0, 20, 2000)]


def test_every_provider_counts_in_redis(redis, semrush, moz, ahrefs, emu):
    ledger = seowire.Ledger(redis.url)
    semrush(ledger=ledger).phrase_this("seo", database="us")
    moz(ledger=ledger).links("moz.com", limit=5)
    ahrefs(ledger=ledger).domain_rating("example.com")
    spent = {u["provider"]: u["spent"] for u in seowire.Ledger(redis.url).usage()}
    assert spent == emu.stats()["units_by_provider"] == {"semrush": 10, "moz": 5, "ahrefs": 50}
    assert [r["drift"] for r in ledger.sync(moz(ledger=ledger))] == [0, 0, 0]


def test_keys_expire_with_their_period(redis, semrush):
    semrush(ledger=seowire.Ledger(redis.url)).phrase_this("seo", database="us")
    members = redis.cli("SMEMBERS", "seowire:v1:scopes")
    provider, account, period = members.split("\r\n")[2].split("|") if "\r\n" in members else members.split("|")
    ttl = int(redis.cli("TTL", f"seowire:v1:{provider}:{account}:{period}"))
    assert 60 * 86_400 < ttl <= 70 * 86_400


_HOLDER = r"""
import sys, seowire
ledger = seowire.Ledger(sys.argv[2], lease=float(sys.argv[3]))
sr = seowire.Semrush("k", base_url=sys.argv[1], ledger=ledger, rate_limit=None, timeout=120)
print("calling", flush=True)
sr.domain_organic("x.com", database="us", display_limit=100)
"""


def test_a_killed_worker_frees_its_units_after_the_lease(redis, emu):
    emu.configure(latency_ms=20_000, rate_limit=None)
    proc = subprocess.Popen([sys.executable, "-c", _HOLDER, emu.base_url("semrush"), redis.url, "2"], stdout=subprocess.PIPE)
    assert proc.stdout.readline().strip() == b"calling"
    ledger = seowire.Ledger(redis.url)
    deadline = time.monotonic() + 20
    while not ledger.usage() or ledger.usage()[0]["reserved"] == 0:
        assert time.monotonic() < deadline, "the reservation never appeared"
        time.sleep(0.05)
    assert ledger.usage()[0]["reserved"] == 1000
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(2.2)
    u = ledger.usage()[0]
    assert (u["reserved"], u["spent"]) == (0, 0)  # released by the lease, not held forever, not committed


def test_unreachable_redis_fails_fast_and_sends_nothing(semrush, emu):
    start = time.monotonic()
    with pytest.raises(seowire.LedgerUnavailable) as e:
        seowire.Ledger(f"redis://:hunter2@127.0.0.1:{free_port()}/0")
    assert time.monotonic() - start < 5 and "hunter2" not in str(e.value)
    assert isinstance(e.value, seowire.LedgerError)
    assert emu.stats()["requests"] == 0


def test_redis_going_away_mid_run(redis, semrush, emu, caplog):
    ledger = seowire.Ledger(redis.url)
    sr = semrush(ledger=ledger)
    sr.phrase_this("seo", database="us")
    redis.stop()
    with pytest.raises(seowire.LedgerUnavailable):
        sr.phrase_this("seo", database="us")
    assert emu.stats()["requests"] == 1  # never spend units that nobody counts
    # Opting in: count locally, with a warning.
    with caplog.at_level(logging.WARNING, logger="seowire"):
        local = semrush(ledger=seowire.Ledger(redis.url, on_ledger_error="local"))
        assert len(local.phrase_this("seo", database="us")) == 1
    assert "local ledger" in caplog.text and emu.stats()["requests"] == 2


def test_fallback_switches_when_redis_dies_after_start(redis, semrush, emu, caplog):
    ledger = seowire.Ledger(redis.url, on_ledger_error="local")
    sr = semrush(ledger=ledger)
    sr.phrase_this("seo", database="us")
    redis.stop()
    with caplog.at_level(logging.WARNING, logger="seowire"):
        sr.phrase_this("seo", database="us")
    assert "until it is back" in caplog.text
    redis.start()
    sr.phrase_this("seo", database="us")
    assert seowire.Ledger(redis.url).usage()[0]["spent"] == 20  # the Redis part: 1st and 3rd call


def test_restart_keeps_committed_spend_without_double_counting(redis, semrush, emu):
    ledger = seowire.Ledger(redis.url)
    sr = semrush(ledger=ledger)
    for _ in range(5):
        sr.phrase_this("seo", database="us")
    redis.stop()
    redis.start()  # same directory: the append-only file is replayed
    for _ in range(5):
        sr.phrase_this("seo", database="us")  # the client reconnects by itself
    u = seowire.Ledger(redis.url).usage()[0]
    assert (u["spent"], u["requests"], u["reserved"]) == (100, 10, 0) == (emu.stats()["units_charged"], 10, 0)


def _limited_worker(kind, semrush_url, moz_url, ledger_url, q):
    import traceback

    import seowire as s

    try:
        ledger = s.Ledger(ledger_url)
        if kind == "rate":
            sr = s.Semrush(SECRET, base_url=semrush_url, ledger=ledger, retry=s.RetryPolicy(max_retries=0), cache=False)
            for _ in range(10):
                sr.phrase_this("seo", database="us")
        else:
            moz = s.Moz(SECRET, base_url=moz_url, ledger=ledger, concurrency=2, retry=s.RetryPolicy(max_retries=0), cache=False)
            moz.url_metrics([f"s{i}.example.com" for i in range(200)])
        q.put("ok")
    except BaseException:
        q.put(traceback.format_exc())


@pytest.mark.parametrize("store", ["sqlite", "redis"])
@pytest.mark.parametrize("kind", ["rate", "concurrency"])
def test_limits_hold_across_processes(store, kind, emu, tmp_path, request):
    """Three processes, one account: SEMrush's 10/s and Moz's plan concurrency hold for all of them."""
    if store == "redis":
        server = RedisServer()
        request.addfinalizer(server.close)
        url = server.url
    else:
        url = f"sqlite://{tmp_path}/shared.sqlite3"
    emu.configure(rate_limit=10, concurrency_limit=10, moz_concurrency=2, latency_ms=100 if kind == "concurrency" else 0)
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_limited_worker, args=(kind, emu.base_url("semrush"), emu.base_url("moz"), url, q)) for _ in range(3)]
    for p in procs:
        p.start()
    assert [q.get(timeout=90) for _ in procs] == ["ok"] * 3  # no worker was refused (no retries allowed)
    for p in procs:
        p.join(30)
    stats = emu.stats()
    if kind == "rate":
        times = sorted(emu.arrivals("semrush"))
        assert len(times) == 30 and stats["rejected_rate"] == 0
        assert max(sum(1 for u in times if t <= u < t + 1.0) for t in times) <= 10
    else:
        assert stats["requests"] == 12 and stats["rejected_concurrency"] == 0 and stats["peak_in_flight"] <= 2


# -- one lease mechanism (issue 14.7) and the commit journal (issue 14.8) ---------------------

_MOZ_HOLDER = r"""
import sys, seowire
ledger = seowire.Ledger(sys.argv[2], lease=float(sys.argv[3]))
m = seowire.Moz("tok-holder", base_url=sys.argv[1], ledger=ledger, concurrency=1, cache=False, timeout=120)
print("calling", flush=True)
m.url_metrics(["a.com"])
"""


def _ledger_url(kind, redis_server, tmp_path):
    return redis_server.url if kind == "redis" else f"sqlite://{tmp_path}/ledger.sqlite3"


def test_holds_are_renewed_while_their_request_lives(redis, semrush, emu):
    emu.configure(latency_ms=3000, rate_limit=None)
    ledger = seowire.Ledger(redis.url, lease=1.0)
    sr = semrush(ledger=ledger, timeout=30)
    import threading

    result = {}
    t = threading.Thread(target=lambda: result.update(rows=sr.domain_organic("x.com", database="us", display_limit=10)))
    t.start()
    time.sleep(2.5)  # well past the 1 s lease: renewed, so still held
    assert seowire.Ledger(redis.url).usage()[0]["reserved"] == 100
    t.join(30)
    u = seowire.Ledger(redis.url).usage()[0]
    assert len(result["rows"]) == 10 and (u["reserved"], u["spent"]) == (0, 100)


@pytest.mark.parametrize("kind", ["redis", "sqlite"])
def test_a_killed_worker_frees_its_concurrency_slot_within_the_lease(kind, redis, emu, tmp_path):
    """A free-plan Moz team (1 in flight): a SIGKILLed worker's slot must not block the team for
    minutes. Redis frees it within the lease; SQLite (one machine) at once."""
    url = _ledger_url(kind, redis, tmp_path)
    emu.configure(latency_ms=20_000)
    lease = "1.0" if kind == "redis" else "30"
    proc = subprocess.Popen([sys.executable, "-c", _MOZ_HOLDER, emu.base_url("moz"), url, lease], stdout=subprocess.PIPE)
    assert proc.stdout.readline().strip() == b"calling"
    deadline = time.monotonic() + 20
    while emu.stats()["requests"] == 0:
        assert time.monotonic() < deadline, "the holder never sent"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    emu.configure(latency_ms=0)
    # Slots are per account: the holder's team (same token) must get the slot back.
    m = seowire.Moz("tok-holder", base_url=emu.base_url("moz"), ledger=seowire.Ledger(url, lease=float(lease)), concurrency=1, cache=False)
    started = time.monotonic()
    assert m.url_metrics(["b.com"])
    waited = time.monotonic() - started
    assert waited < (3.0 if kind == "redis" else 1.0), waited


def test_sqlite_frees_a_dead_process_reservation_at_once(emu, tmp_path):
    url = f"sqlite://{tmp_path}/ledger.sqlite3"
    emu.configure(latency_ms=20_000, rate_limit=None)
    proc = subprocess.Popen([sys.executable, "-c", _HOLDER, emu.base_url("semrush"), url, "600"], stdout=subprocess.PIPE)
    assert proc.stdout.readline().strip() == b"calling"
    ledger = seowire.Ledger(url, lease=600)
    deadline = time.monotonic() + 20
    while not ledger.usage() or ledger.usage()[0]["reserved"] == 0:
        assert time.monotonic() < deadline, "the reservation never appeared"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    emu.configure(latency_ms=0)
    sr = seowire.Semrush("k", base_url=emu.base_url("semrush"), ledger=ledger, budget=1000, rate_limit=None, cache=False)
    assert len(sr.domain_organic("x.com", database="us", display_limit=10)) == 10  # the dead hold is gone
    u = ledger.usage()[0]
    assert (u["reserved"], u["spent"]) == (0, 100)


def test_a_charged_answer_survives_the_ledger_dying_mid_call(redis, semrush, emu, caplog, tmp_path, monkeypatch):
    monkeypatch.setenv("SEOWIRE_JOURNAL", str(tmp_path / "journal.sqlite3"))
    emu.configure(latency_ms=1500, rate_limit=None)
    sr = semrush(ledger=seowire.Ledger(redis.url), timeout=30)
    import threading

    result = {}

    def call():
        try:
            result["rows"] = sr.domain_organic("x.com", database="us", display_limit=10)
        except Exception as e:  # noqa: BLE001 - the test asserts there is none
            result["error"] = e

    with caplog.at_level(logging.WARNING, logger="seowire"):
        t = threading.Thread(target=call)
        t.start()
        time.sleep(0.7)  # reserved and sent; the answer is on its way
        redis.stop()
        t.join(30)
    assert "error" not in result, result.get("error")
    assert len(result["rows"]) == 10  # the data the provider charged for is returned
    assert "local journal" in caplog.text
    assert emu.stats()["units_charged"] == 100
    redis.start()
    emu.configure(latency_ms=0)
    sr.domain_organic("x.com", database="us", display_limit=10)  # replays the journal first
    sr.domain_organic("x.com", database="us", display_limit=10)  # and never twice
    u = seowire.Ledger(redis.url).usage()[0]
    assert (u["reserved"], u["spent"]) == (0, 300) == (0, emu.stats()["units_charged"])
