import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import seowire
from conftest import SECRET


def test_forked_child_can_call(semrush, emu):
    sr = semrush()
    assert len(sr.phrase_this("seo", database="us")) == 1  # runtime and pool exist in the parent
    pid = os.fork()
    if pid == 0:  # child: inherited runtime threads are gone; seowire must rebuild
        code = 1
        try:
            signal.alarm(20)
            rows = sr.domain_organic("x.com", database="us", display_limit=3)
            rows2 = asyncio.run(sr.domain_organic_async("x.com", database="us", display_limit=3))
            code = 0 if len(rows) == 3 and list(rows2) == list(rows) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    assert len(sr.phrase_this("seo", database="us")) == 1  # the parent still works


def test_eight_threads_share_one_client(semrush, emu):
    emu.configure(latency_ms=20)
    sr = semrush(max_in_flight=10)
    results, errors = [], []

    def work(i):
        try:
            for j in range(5):
                results.append(sr.phrase_this(f"kw{i}-{j}", database="us")[0]["keyword"])
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    t = time.monotonic()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    elapsed = time.monotonic() - t
    assert not errors and sorted(results) == sorted(f"kw{i}-{j}" for i in range(8) for j in range(5))
    assert elapsed < 40 * 0.02  # the GIL was released: calls overlapped
    assert sr.ledger.usage()[0]["spent"] == 400


def test_sync_call_inside_a_running_event_loop(semrush, emu):
    sr = semrush()

    async def notebook_cell():
        # Jupyter runs cells inside a loop: the sync API must not need asyncio.run.
        rows = sr.phrase_this("seo", database="us")
        rows2 = await sr.phrase_this_async("seo", database="us")
        return rows, rows2

    rows, rows2 = asyncio.run(notebook_cell())
    assert list(rows) == list(rows2)


def test_client_side_rate_and_concurrency_limits(semrush, emu):
    emu.configure(rate_limit=10, concurrency_limit=10, latency_ms=150)
    sr = semrush(rate_limit=10.0, max_in_flight=10)

    async def main():
        return await asyncio.gather(*[sr.phrase_this_async(f"k{i}", database="us") for i in range(25)])

    t = time.monotonic()
    results = asyncio.run(main())
    elapsed = time.monotonic() - t
    assert len(results) == 25
    stats = emu.stats()
    assert stats["rejected_rate"] == 0 and stats["rejected_concurrency"] == 0
    assert stats["peak_in_flight"] <= 10
    arrivals = sorted(emu.arrivals("semrush"))
    assert max(sum(1 for b in arrivals if a <= b < a + 1.0) for a in arrivals) <= 10
    assert elapsed >= 2.0  # 25 requests at 10/s need more than two seconds


def test_emulator_enforces_limits_when_the_client_does_not(semrush, emu):
    emu.configure(concurrency_limit=2, latency_ms=200, rate_limit=None)
    sr = semrush(max_in_flight=None, retry=seowire.RetryPolicy(max_retries=0))

    async def main():
        return await asyncio.gather(*[sr.phrase_this_async(f"k{i}", database="us") for i in range(4)], return_exceptions=True)

    results = asyncio.run(main())
    assert sum(isinstance(r, seowire.RateLimited) for r in results) == 2


def test_emulated_latency_is_the_response_time(emu):
    """A configured latency delays every answer by at least that much and not much more (it
    counts from the request's arrival, the emulator's own work included; the benchmark's
    "one request alone" figure shows the precision)."""
    import urllib.request

    url = emu.base_url("moz") + "/url_metrics"
    body = json.dumps({"targets": [f"site{i}.example.com" for i in range(50)]}).encode()

    def timed(latency_ms):
        emu.configure(latency_ms=latency_ms)
        times = []
        for _ in range(5):
            req = urllib.request.Request(url, data=body, headers={"x-moz-token": "k", "content-type": "application/json"})
            t = time.perf_counter()
            assert len(json.loads(urllib.request.urlopen(req).read())["results"]) == 50
            times.append(time.perf_counter() - t)
        return min(times)

    base, slow = timed(0), timed(80)
    assert slow >= 0.080
    # Generous bounds for a busy CI machine; benchmarks/run.py measures it properly.
    assert slow - base < 0.080 + 0.015, (base, slow)


CTRL_C = textwrap.dedent("""
    import sys, time, seowire
    from seowire.testing import Emulator
    with Emulator(latency_ms=10000) as emu:
        sr = seowire.Semrush("k", base_url=emu.base_url(), ledger="memory://")
        print("ready", flush=True)
        t = time.monotonic()
        try:
            sr.phrase_this("seo", database="us")
        except KeyboardInterrupt:
            print(f"interrupted {time.monotonic() - t:.3f}", flush=True)
            print("reserved", sr.ledger.usage()[0]["reserved"], flush=True)
""")


def test_ctrl_c_interrupts_a_blocking_call():
    p = subprocess.Popen([sys.executable, "-c", CTRL_C], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    time.sleep(1.0)
    sent = time.monotonic()
    p.send_signal(signal.SIGINT)
    line = p.stdout.readline().strip()
    latency = time.monotonic() - sent
    rest = p.stdout.read()
    p.wait(10)
    assert line.startswith("interrupted"), (line, rest)
    assert latency < 0.5, latency
    assert "reserved 0" in rest


def test_emulator_as_its_own_process():
    from seowire.testing import Emulator

    emu = Emulator.spawn(balance=5000)
    try:
        sr = seowire.Semrush(SECRET, base_url=emu.base_url(), ledger="memory://")
        assert sr.balance() == 5000
        assert sr.domain_organic("x.com", database="us", display_limit=10).units == 100
        assert emu.stats()["units_charged"] == 100 and emu.balance(SECRET) == 4900
    finally:
        emu.stop()


def test_demo_runs():
    out = subprocess.run([sys.executable, "-m", "seowire", "demo"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "keyword" in out.stdout and "search_volume" in out.stdout
    assert "spent" in out.stdout and "emulator charged" in out.stdout


def test_rate_window_counts_arrivals_with_the_cpus_saturated(semrush, emu):
    """Eight busy processes compete for two cores: sends are delayed unevenly, yet no second
    of the server's arrivals holds more than 10 (entries count from send until the answer,
    then from the answer's time). Counts events, not wall time."""
    import subprocess
    import sys

    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(8)]
    try:
        emu.configure(rate_limit=10, concurrency_limit=10, latency_ms=30)
        sr = semrush(rate_limit=10.0, max_in_flight=10)

        async def main():
            return await asyncio.gather(*[sr.phrase_this_async(f"k{i}", database="us") for i in range(35)])

        assert len(asyncio.run(main())) == 35
    finally:
        for b in burners:
            b.kill()
            b.wait()
    arrivals = sorted(emu.arrivals("semrush"))
    assert len(arrivals) == 35
    assert max(sum(1 for b in arrivals if a <= b < a + 1.0) for a in arrivals) <= 10
    assert emu.stats()["rejected_rate"] == 0
