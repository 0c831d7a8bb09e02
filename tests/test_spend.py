"""Spend you can attribute: the ledger's append-only call log (time, provider, account, pool,
report, units estimated and spent, cached, tag) in all three backends, shared by every process
on the ledger, summed by day, report, tag or provider, with a retention."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import time

import pytest

import seowire
from redis_server import RedisServer


def _work(url, semrush_url, moz_url, tag):
    import seowire as s

    led = s.Ledger(url)
    s.Semrush("k-" + tag, base_url=semrush_url, ledger=led, tag=tag, cache=False).phrase_this("seo", database="us")
    s.Moz("t-" + tag, base_url=moz_url, ledger=led, tag=tag).url_metrics(["a.com", "b.com", "c.com"])


@pytest.fixture(params=["memory", "sqlite", "redis"])
def ledger_url(request, tmp_path):
    if request.param == "memory":
        yield "memory://"
    elif request.param == "sqlite":
        yield f"sqlite://{tmp_path}/ledger.sqlite3"
    else:
        server = RedisServer()
        yield server.url
        server.close()


def test_every_call_is_logged_and_summed(ledger_url, emu):
    led = seowire.Ledger(ledger_url)
    sr = seowire.Semrush("k1", base_url=emu.base_url("semrush"), ledger=led, tag="weekly-report")
    sr.phrase_this("seo", database="us")
    sr.phrase_this("seo", database="us")  # the second from the response cache
    moz = seowire.Moz("t1", base_url=emu.base_url("moz"), ledger=led)
    moz.url_metrics(["a.com", "b.com"])
    calls = led.calls(since="1h")
    assert [(c["provider"], c["report"], c["units"], c["cached"], c["tag"]) for c in calls] == [
        ("semrush", "phrase_this", 10, False, "weekly-report"),
        ("semrush", "phrase_this", 0, True, "weekly-report"),
        ("moz", "url_metrics", 2, False, ""),
    ]
    assert calls[0]["estimate"] == 10 and calls[0]["period"] == time.strftime("%Y-%m", time.gmtime())
    by_tag = {r["tag"]: r for r in led.usage(by="tag")}
    assert by_tag["weekly-report"]["spent"] == 10 and by_tag["weekly-report"]["requests"] == 2 and by_tag["weekly-report"]["cached"] == 1
    by_provider = {r["provider"]: r["spent"] for r in led.usage(by="provider", since="24h")}
    assert by_provider == {"semrush": 10, "moz": 2}
    assert led.usage(by="day")[0]["spent"] == 12
    assert led.usage(by="report", since=time.time() + 60) == []
    pa = pytest.importorskip("pyarrow")
    t = led.usage(by="report", output="arrow")
    assert t.schema.field("spent").type == pa.int64() and t.num_rows == 2


def test_processes_sharing_a_ledger_share_its_log(tmp_path, emu):
    server = RedisServer()
    try:
        for url in (f"sqlite://{tmp_path}/shared.sqlite3", server.url):
            ctx = multiprocessing.get_context("spawn")
            procs = [ctx.Process(target=_work, args=(url, emu.base_url("semrush"), emu.base_url("moz"), f"job{i}")) for i in range(3)]
            for p in procs:
                p.start()
            for p in procs:
                p.join(60)
                assert p.exitcode == 0
            by_tag = {r["tag"]: r["spent"] for r in seowire.Ledger(url).usage(by="tag")}
            assert by_tag == {"job0": 13, "job1": 13, "job2": 13}, url
    finally:
        server.close()


def test_the_airflow_task_is_the_default_tag(emu, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CTX_DAG_ID", "seo_snapshot")
    monkeypatch.setenv("AIRFLOW_CTX_TASK_ID", "pull_metrics")
    led = seowire.Ledger("memory://")
    seowire.Moz("t2", base_url=emu.base_url("moz"), ledger=led).url_metrics(["a.com"])
    assert led.calls()[0]["tag"] == "seo_snapshot.pull_metrics"
    m = seowire.Moz("t3", base_url=emu.base_url("moz"), ledger=led, tag="mine")
    m.url_metrics(["z.com"])
    m.tag = None
    m.url_metrics(["y.com"])
    assert [c["tag"] for c in led.calls()] == ["seo_snapshot.pull_metrics", "mine", "seo_snapshot.pull_metrics"]


def test_retention_and_bad_arguments(tmp_path, emu):
    led = seowire.Ledger(f"sqlite://{tmp_path}/r.sqlite3", retention_days=1 / 86_400)  # one second
    moz = seowire.Moz("t4", base_url=emu.base_url("moz"), ledger=led, cache=False)
    moz.url_metrics(["a.com"])
    time.sleep(1.2)
    moz.url_metrics(["b.com"])
    assert [c["units"] for c in led.calls()] == [1], "the older call is gone"
    assert led.usage()[0]["spent"] == 2, "retention drops log lines, never spending"
    with pytest.raises(seowire.InvalidRequest):
        led.usage(by="week")
    with pytest.raises(seowire.InvalidRequest):
        led.calls(since="yesterday")
    with pytest.raises(seowire.InvalidRequest):
        seowire.Ledger("memory://", retention_days=0)
    with pytest.raises(seowire.InvalidRequest):
        moz.tag = 42


def test_cli_usage_by_day(emu, tmp_path):
    url = f"sqlite://{tmp_path}/cli.sqlite3"
    _work(url, emu.base_url("semrush"), emu.base_url("moz"), "cli")
    env = {**os.environ, "SEOWIRE_LEDGER": url}
    out = subprocess.run([sys.executable, "-m", "seowire", "usage", "--by", "day", "--since", "30d"], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0 and time.strftime("%Y-%m-%d", time.gmtime()) in out.stdout and "13" in out.stdout
    out = subprocess.run([sys.executable, "-m", "seowire", "usage", "--by", "tag"], capture_output=True, text=True, env=env, timeout=60)
    assert "cli" in out.stdout
