"""seowire doctor: every configured provider, the ledger and the clock checked without spending
a unit; a bad key, an exhausted balance, an expiring key and Redis down each show up."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

import pytest

import seowire
from seowire.doctor import doctor
from redis_server import free_port

from conftest import SECRET


@pytest.fixture
def env(emu, monkeypatch, tmp_path):
    emu.configure(rate_limit=None, ahrefs_rate_per_minute=None)
    values = {"SEMRUSH_API_KEY": SECRET, "MOZ_TOKEN": SECRET, "AHREFS_API_KEY": SECRET,
              "SEOWIRE_SEMRUSH_URL": emu.base_url("semrush"), "SEOWIRE_MOZ_URL": emu.base_url("moz"),
              "SEOWIRE_MOZ_API_URL": emu.base_url("mozapi"), "SEOWIRE_AHREFS_URL": emu.base_url("ahrefs"),
              "SEOWIRE_LEDGER": f"sqlite://{tmp_path}/ledger.sqlite3"}
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("SEMRUSH_V4_API_KEY", raising=False)
    return values


def _status(report, provider, check):
    return next(c["status"] for c in report["checks"] if c["provider"] == provider and c["check"] == check)


def test_all_good_spends_nothing(env, emu):
    report = doctor()
    assert report["ok"], report
    names = {(c["provider"], c["check"]) for c in report["checks"]}
    assert {("semrush", "keys"), ("semrush", "balance"), ("moz", "quota data"), ("ahrefs", "key cap"), ("ahrefs", "key expiry"),
            ("ledger", "reachable"), ("ahrefs", "clock")} <= names
    assert emu.stats()["units_charged"] == 0
    assert SECRET not in json.dumps(report)


def test_a_bad_key_an_exhausted_balance_and_an_expiring_key(env, emu):
    emu.set_balance(SECRET, 0)
    soon = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    emu.configure(ahrefs_key_expiration=soon)
    report = doctor()
    assert not report["ok"]
    assert _status(report, "semrush", "balance") == "fail"
    assert _status(report, "ahrefs", "key expiry") == "warn"
    emu.configure(ahrefs_key_expiration="2020-01-01T00:00:00Z")
    assert _status(doctor(), "ahrefs", "key expiry") == "fail"
    emu.configure(keys=["only-this-key"])
    report = doctor()
    assert _status(report, "semrush", "key accepted") == "fail"
    assert _status(report, "moz", "token accepted") == "fail"
    assert _status(report, "ahrefs", "key accepted") == "fail"
    assert SECRET not in json.dumps(report)


def test_redis_down_is_a_failure(env, monkeypatch):
    monkeypatch.setenv("SEOWIRE_LEDGER", f"redis://127.0.0.1:{free_port()}/0")
    report = doctor()
    assert not report["ok"]
    assert any(c["status"] == "fail" and ("ledger" in c["provider"] or c["check"] == "client") for c in report["checks"])


def test_cli_exit_codes_and_json(env, emu):
    run = lambda *a: subprocess.run([sys.executable, "-m", "seowire", "doctor", *a], capture_output=True, text=True, timeout=60, env=dict(os.environ))
    ok = run()
    assert ok.returncode == 0 and "all good" in ok.stdout and SECRET not in ok.stdout + ok.stderr
    emu.set_balance(SECRET, 0)
    bad = run("--json")
    assert bad.returncode == 1 and json.loads(bad.stdout)["ok"] is False
