import asyncio
import logging
import multiprocessing as mp
import os

import pytest

import seowire
from conftest import SECRET


def test_budget_refusal_sends_nothing(semrush, emu):
    sr = semrush(budget=500)
    with pytest.raises(seowire.BudgetExceeded) as info:
        sr.domain_organic("x.com", database="us", display_limit=51)  # worst case 510
    assert "nothing was sent" in str(info.value) and info.value.provider == "semrush"
    assert emu.stats()["requests"] == 0
    rows = sr.domain_organic("x.com", database="us", display_limit=50)
    assert rows.units == 500
    with pytest.raises(seowire.BudgetExceeded):
        sr.phrase_this("seo", database="us")
    assert emu.stats()["requests"] == 1
    u = sr.ledger.usage()[0]
    assert (u["spent"], u["reserved"], u["budget"], u["remaining"]) == (500, 0, 500, 0)


def test_reservation_is_the_worst_case_and_commit_the_actual(semrush, emu):
    emu.configure(rows_per_target={"small.com": 3})
    sr = semrush(budget=1000)
    rows = sr.domain_organic("small.com", database="us", display_limit=100)  # reserves 1000, costs 30
    assert rows.estimate == 1000 and rows.units == 30
    assert sr.ledger.usage()[0]["spent"] == 30


def test_alerts_log_and_call_back(semrush, emu, caplog):
    seen = []
    budget = seowire.Budget(1000, alerts=(0.5, 0.8, 0.95), on_alert=seen.append)
    sr = semrush(budget=budget)
    with caplog.at_level(logging.WARNING, logger="seowire"):
        sr.domain_organic("x.com", database="us", display_limit=40)  # 400
        assert seen == []
        sr.domain_organic("x.com", database="us", display_limit=45)  # 850: crosses 50 % and 80 %
        sr.domain_organic("x.com", database="us", display_limit=10)  # 950: crosses 95 %
    assert [a.threshold for a in seen] == [0.5, 0.8, 0.95]
    assert seen[-1].spent == 950 and seen[-1].budget == 1000 and seen[-1].provider == "semrush"
    alerts = [r for r in caplog.records if "budget alert" in r.getMessage()]
    assert len(alerts) == 3 and all(r.levelno == logging.WARNING for r in alerts)
    assert SECRET not in caplog.text


def test_budget_objects_and_validation():
    assert seowire.Budget(10).alerts == (0.8, 0.95)
    for bad in [dict(units=-1), dict(units=10, period="week"), dict(units=10, alerts=(1.5,))]:
        with pytest.raises(seowire.InvalidRequest):
            seowire.Budget(**bad)
    with pytest.raises(seowire.InvalidRequest):
        seowire.Ledger("postgres://x")


def test_ledger_urls_and_default(tmp_path, monkeypatch):
    led = seowire.Ledger(f"sqlite://{tmp_path}/a.sqlite3")
    assert led.url.endswith("a.sqlite3") and led.usage() == []
    assert seowire.Ledger("memory://").url == "memory://"
    monkeypatch.setenv("SEOWIRE_LEDGER", f"sqlite://{tmp_path}/env.sqlite3")
    assert seowire.Ledger().url.endswith("env.sqlite3")
    monkeypatch.delenv("SEOWIRE_LEDGER")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert seowire.Ledger().url == f"sqlite://{tmp_path}/cache/seowire/ledger.sqlite3"


def test_accounts_are_hashed_never_the_key(semrush, emu, tmp_path):
    sr = semrush(ledger=seowire.Ledger(f"sqlite://{tmp_path}/l.sqlite3"))
    sr.phrase_this("seo", database="us")
    assert sr.ledger.usage()[0]["account"] == sr.account != SECRET
    assert SECRET.encode() not in (tmp_path / "l.sqlite3").read_bytes()


def _worker(url, path, n, q):
    import seowire as s

    sr = s.Semrush(SECRET, base_url=url, ledger=s.Ledger(f"sqlite://{path}"), budget=2000, rate_limit=None, cache=False)
    done = refused = 0
    for _ in range(n):
        try:
            sr.domain_organic("x.com", database="us", display_limit=10)  # 100 units
            done += 1
        except s.BudgetExceeded:
            refused += 1
    q.put((done, refused))


def test_sqlite_budget_holds_across_processes(emu, tmp_path):
    emu.configure(rate_limit=None, concurrency_limit=None)
    path = tmp_path / "shared.sqlite3"
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(emu.base_url(), str(path), 10, q)) for _ in range(4)]
    for p in procs:
        p.start()
    results = [q.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(30)
    assert sum(d for d, _ in results) == 20 and sum(r for _, r in results) == 20
    assert emu.stats()["units_charged"] == 2000
    usage = seowire.Ledger(f"sqlite://{path}").usage()[0]
    assert usage["spent"] == 2000 and usage["reserved"] == 0 and usage["requests"] == 20


def test_cancelling_a_task_releases_its_reservation(semrush, emu):
    emu.configure(latency_ms=3000)
    sr = semrush(budget=1000)

    async def main():
        task = asyncio.create_task(sr.domain_organic_async("x.com", database="us", display_limit=100))
        await asyncio.sleep(0.5)
        assert sr.ledger.usage()[0]["reserved"] == 1000
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.1)

    asyncio.run(main())
    u = sr.ledger.usage()[0]
    assert u["reserved"] == 0 and u["spent"] == 0
    emu.configure(latency_ms=0)
    assert len(sr.domain_organic("x.com", database="us", display_limit=100)) == 100  # the budget is whole again


def test_sync_records_drift_against_each_provider(emu, moz, ahrefs, semrush, tmp_path):
    ledger = seowire.Ledger(f"sqlite://{tmp_path}/sync.sqlite3")
    m = moz(ledger=ledger)
    m.links("moz.com", limit=10)
    assert all(r["drift"] == 0 for r in ledger.sync(m))  # one row per quota pool
    emu.configure(moz_modifier_weight=5)  # Moz charges more than our model says
    m.url_metrics(["a.com"], distributions=True)
    row = {r["account"]: r for r in ledger.sync(m)}[m.account]  # Links v2 rows: the mozscape pool
    assert (row["provider_spent"], row["ledger_spent"], row["drift"]) == (16, 13, 3)
    usage = {u["provider"]: u for u in ledger.usage()}
    assert usage["moz"]["drift"] == 3 and usage["moz"]["provider_spent"] == 16

    a = ahrefs(ledger=ledger)
    a.domain_rating("example.com")
    assert ledger.sync(a)["drift"] == 0

    s = semrush(ledger=ledger)
    assert ledger.sync(s)["drift"] == 0  # the first balance reading is the baseline
    s.domain_organic("x.com", database="us", display_limit=5)
    emu.set_balance(SECRET, emu.balance(SECRET) - 30)  # spent elsewhere, e.g. in the web UI
    row = ledger.sync(s)
    assert (row["provider_spent"] - row["ledger_spent"], row["drift"]) == (30, 30)


def test_many_processes_opening_one_new_sqlite_file_all_succeed(tmp_path):
    """The first open creates and migrates the schema; processes racing to do it must all get a
    working ledger (seen once under load: 'duplicate column name: pid')."""
    import subprocess
    import sys
    import time

    code = (
        "import sys, time, seowire\n"
        "start = float(sys.argv[2])\n"
        "time.sleep(max(0.0, start - time.time()))\n"
        "seowire.Ledger('sqlite://' + sys.argv[1]).usage()\n"
    )
    for round_ in range(4):
        path = tmp_path / f"ledger-{round_}.sqlite3"
        start = time.time() + 1.5
        procs = [subprocess.Popen([sys.executable, "-c", code, str(path), str(start)], stderr=subprocess.PIPE) for _ in range(12)]
        errors = [p.communicate(timeout=60)[1].decode() for p in procs]
        assert all(p.returncode == 0 for p in procs), [e for e in errors if e][:1]
