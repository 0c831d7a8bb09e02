"""seowire.airflow: hooks from Airflow connections, the provider entry point, and the example DAG
run by real Airflow (dag.test()) against the emulator with a shared Redis ledger."""

import importlib.metadata
import json
import os
import pathlib
import sqlite3
import subprocess
import sys

import pytest

import seowire
from conftest import SECRET

pytest.importorskip("airflow.sdk", reason="Airflow is the 'airflow' extra (in the test extras)")

from seowire.airflow import AhrefsHook, MozHook, SemrushHook, get_provider_info  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
DAG = ROOT / "examples" / "airflow" / "seo_snapshot.py"


def conn(monkeypatch, name, **fields):
    monkeypatch.setenv(f"AIRFLOW_CONN_{name.upper()}", json.dumps(fields))


def test_hooks_build_clients_from_connections(monkeypatch, emu):
    conn(monkeypatch, "seowire_semrush_default", conn_type="seowire-semrush", password=SECRET, host=emu.base_url("semrush"),
         extra={"budget": 5000, "ledger": "memory://", "cache": False})
    conn(monkeypatch, "seowire_moz_default", conn_type="seowire-moz", password=SECRET, host=emu.base_url("moz"),
         extra={"plan": "medium", "ledger": "memory://"})
    conn(monkeypatch, "team_ahrefs", conn_type="seowire-ahrefs", password=SECRET, host=emu.base_url("ahrefs"),
         extra={"rate_limit": 30, "budget": 900, "budget_period": "day"})
    sr = SemrushHook().get_conn()
    assert isinstance(sr, seowire.Semrush) and sr.budget.units == 5000 and sr.base_url == emu.base_url("semrush")
    assert len(sr.domain_organic("example.com", database="us", display_limit=3)) == 3
    mz = MozHook().get_conn()
    assert mz.concurrency == 5
    assert mz.url_metrics(["moz.com"])[0]["page"]
    ah = AhrefsHook("team_ahrefs").get_conn()
    assert ah.budget.units == 900 and ah.budget.period == "day"
    assert SemrushHook().get_conn() is not sr and SemrushHook().get_conn().account == sr.account
    for hook in (SemrushHook(), MozHook(), AhrefsHook("team_ahrefs")):
        assert SECRET not in repr(hook) and SECRET not in repr(hook.get_conn())


def test_moz_basic_auth_from_login_and_password(monkeypatch, emu):
    conn(monkeypatch, "moz_basic", conn_type="seowire-moz", login="mozscape-abc", password=SECRET, host=emu.base_url("moz"),
         extra={"ledger": "memory://"})
    client = MozHook("moz_basic").get_conn()
    assert client.index_metadata()["index_id"]
    assert emu.stats()["requests"] == 1


@pytest.mark.parametrize("extra,message", [
    ({"budgett": 5}, "unknown extra 'budgett'"),
    ({"budget": "lots"}, "extra 'budget' has the wrong type"),
    ({"budget": True}, "extra 'budget' has the wrong type"),
    ({"budget_period": "day"}, "budget_period without budget"),
])
def test_bad_connection_extras_are_clear_errors(monkeypatch, extra, message):
    conn(monkeypatch, "bad", conn_type="seowire-semrush", password=SECRET, extra=extra)
    with pytest.raises(seowire.InvalidRequest, match=message) as info:
        SemrushHook("bad").get_conn()
    assert SECRET not in str(info.value)


def test_provider_info_is_valid_for_airflow():
    import jsonschema
    from airflow import providers_manager

    info = get_provider_info()
    schema = json.loads((pathlib.Path(providers_manager.__file__).parent / "provider_info.schema.json").read_text())
    jsonschema.validate(info, schema)
    types = {c["connection-type"]: c["hook-class-name"] for c in info["connection-types"]}
    assert types == {"seowire-semrush": "seowire.airflow.SemrushHook", "seowire-moz": "seowire.airflow.MozHook",
                     "seowire-ahrefs": "seowire.airflow.AhrefsHook"}


def test_connection_types_are_registered_through_the_entry_point():
    eps = [e for e in importlib.metadata.entry_points(group="apache_airflow_provider") if e.value.startswith("seowire.")]
    if not eps:
        pytest.skip("seowire is not pip-installed here (the entry point comes with the installed package)")
    from airflow.providers_manager import ProvidersManager

    hooks = ProvidersManager().hooks
    assert hooks["seowire-semrush"].hook_class_name == "seowire.airflow.SemrushHook"
    assert hooks["seowire-moz"].hook_class_name == "seowire.airflow.MozHook"


@pytest.mark.timeout(300)
def test_example_dag_runs_with_dag_test_and_a_shared_redis_ledger(tmp_path, emu):
    from redis_server import RedisServer

    redis = RedisServer()
    try:
        ledger_url = redis.url
        env = dict(os.environ)
        env.update({
            "AIRFLOW_HOME": str(tmp_path / "airflow"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAG.parent),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path}/airflow.db",
            "SEO_SNAPSHOT_DB": str(tmp_path / "snapshot.sqlite3"),
            "AIRFLOW_CONN_SEOWIRE_SEMRUSH_DEFAULT": json.dumps({
                "conn_type": "seowire-semrush", "password": SECRET, "host": emu.base_url("semrush"),
                "extra": {"ledger": ledger_url, "budget": 100_000, "cache": False}}),
            "AIRFLOW_CONN_SEOWIRE_MOZ_DEFAULT": json.dumps({
                "conn_type": "seowire-moz", "password": SECRET, "host": emu.base_url("moz"),
                "extra": {"ledger": ledger_url, "plan": "medium", "cache": False}}),
        })
        env["PYTHONPATH"] = os.pathsep.join(p for p in [str(ROOT / "tests"), env.get("PYTHONPATH", "")] if p)
        migrate = subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, capture_output=True, text=True, timeout=240)
        assert migrate.returncode == 0, migrate.stdout[-3000:] + migrate.stderr[-3000:]
        run = subprocess.run([sys.executable, str(DAG)], env=env, capture_output=True, text=True, timeout=240)
        log = run.stdout + run.stderr
        assert run.returncode == 0, log[-4000:]
        assert "state=success" in log, log[-4000:]
        assert SECRET not in log

        with sqlite3.connect(tmp_path / "snapshot.sqlite3") as db:
            rows = db.execute("select keyword, url, page_authority from seo_snapshot").fetchall()
        assert len(rows) == 100 and all(r[2] is not None for r in rows)

        usage = {u["provider"]: u for u in seowire.Ledger(ledger_url).usage()}
        pages = len({r[1] for r in rows})
        assert usage["semrush"]["spent"] == 100 * 10  # domain_organic: 10 units per line
        assert usage["moz"]["spent"] == pages  # url_metrics: 1 row per page
        assert usage["semrush"]["reserved"] == usage["moz"]["reserved"] == 0
        assert emu.stats()["units_charged"] == 1000 + pages
    finally:
        redis.stop()
