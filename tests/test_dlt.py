"""seowire.dlt: real dlt pipelines into a DuckDB file against the emulator. Two runs in one
period load and spend once; the next period loads a new snapshot; a fault mid-run loads nothing
of that run and the rerun completes it without paying twice; a budget refuses the run before
anything is sent; the tables have the catalog's types and the costs land in the same load."""

from __future__ import annotations

import datetime as dt

import pytest

import seowire

dlt = pytest.importorskip("dlt")
duckdb = pytest.importorskip("duckdb")
from seowire.dlt import ahrefs_source, moz_source, semrush_source  # noqa: E402

JUNE, JULY = dt.date(2026, 6, 1), dt.date(2026, 7, 1)


@pytest.fixture
def pipeline(tmp_path):
    def make(name="seo"):
        return dlt.pipeline(name, destination=dlt.destinations.duckdb(str(tmp_path / "warehouse.duckdb")), pipelines_dir=str(tmp_path / "pipelines"),
                            dataset_name="seo_data")
    return make


def _db(tmp_path):
    return duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True)


def _count(tmp_path, table):
    con = _db(tmp_path)
    try:
        return con.sql(f"select count(*) from seo_data.{table}").fetchall()[0][0]
    except duckdb.CatalogException:
        return 0
    finally:
        con.close()


def _semrush(emu, tmp_path, **kw):
    kw.setdefault("ledger", f"sqlite://{tmp_path}/ledger.sqlite3")
    return seowire.Semrush("dlt-key", base_url=emu.base_url("semrush"), **kw)


def _source(sr, when=JUNE, **kw):
    return semrush_source(sr, resources=["domain_organic", "keyword_overview"], domains=["a.com", "b.com"], keywords=["seo", "sem"],
                          database="us", display_limit=5, snapshot_date=when, **kw)


def test_two_runs_in_one_period_load_and_spend_once(emu, tmp_path, pipeline):
    sr = _semrush(emu, tmp_path, cache=False)
    p = pipeline()
    p.run(_source(sr))
    spent = emu.stats()["units_charged"]
    assert spent == 2 * 5 * 10 + 2 * 1 * 10
    assert _count(tmp_path, "domain_organic") == 10 and _count(tmp_path, "keyword_overview") == 2
    p.run(_source(sr))
    assert emu.stats()["units_charged"] == spent, "a rerun in the same period spends nothing"
    assert _count(tmp_path, "domain_organic") == 10
    con = _db(tmp_path)
    types = dict(con.sql("select column_name, data_type from information_schema.columns where table_schema = 'seo_data' and table_name = 'domain_organic'").fetchall())
    assert types["search_volume"] == "BIGINT" and types["cpc"] == "DOUBLE" and types["snapshot_date"] == "DATE" and types["keyword"] == "VARCHAR"
    costs = con.sql("select sum(units), count(*) from seo_data.seowire_costs").fetchall()[0]
    con.close()
    assert costs == (spent, 4), "what each call cost is in the same load"


def test_the_next_period_loads_a_new_snapshot(emu, tmp_path, pipeline):
    sr = _semrush(emu, tmp_path, cache=False)
    p = pipeline()
    p.run(_source(sr, JUNE))
    june = emu.stats()["units_charged"]
    p.run(_source(sr, JULY))
    assert emu.stats()["units_charged"] == 2 * june
    con = _db(tmp_path)
    snaps = con.sql("select snapshot_date, count(*) from seo_data.domain_organic group by 1 order by 1").fetchall()
    con.close()
    assert snaps == [(JUNE, 10), (JULY, 10)]


@pytest.mark.parametrize("fault", [{"kind": "status", "status": 500}, {"kind": "reset"}])
def test_a_fault_mid_run_loads_nothing_and_the_rerun_does_not_pay_twice(emu, tmp_path, pipeline, fault):
    sr = _semrush(emu, tmp_path, retry=seowire.RetryPolicy(max_retries=0))
    p = pipeline()
    emu.fault(fault["kind"], provider="semrush", after=2, count=1000, **{k: v for k, v in fault.items() if k != "kind"})
    with pytest.raises(Exception):
        p.run(_source(sr))
    paid_first = emu.stats()["units_charged"]
    assert paid_first > 0
    assert _count(tmp_path, "domain_organic") == 0 and _count(tmp_path, "keyword_overview") == 0, "nothing half-loaded"
    emu.configure()  # keep state, clear nothing else
    emu.reset()
    p.run(_source(sr))
    assert _count(tmp_path, "domain_organic") == 10 and _count(tmp_path, "keyword_overview") == 2
    # The rerun paid only for the calls the first run had not had answered (the cache).
    assert paid_first + emu.stats()["units_charged"] == 2 * 5 * 10 + 2 * 1 * 10


def test_a_budget_refuses_the_run_before_anything_is_sent(emu, tmp_path, pipeline):
    sr = _semrush(emu, tmp_path)
    with pytest.raises(Exception) as info:
        pipeline().run(_source(sr, budget=50))
    text = f"{info.value} {info.value.__cause__}"
    assert "120" in text and "50" in text and "budget" in text
    assert emu.stats()["requests"] == 0


def test_bad_resources_are_refused_up_front(emu, tmp_path):
    sr = _semrush(emu, tmp_path)
    with pytest.raises(seowire.InvalidRequest, match="domain_organik"):
        semrush_source(sr, resources=["domain_organik"], domains=["a.com"], database="us")
    with pytest.raises(seowire.InvalidRequest, match="domains="):
        semrush_source(sr, resources=["domain_organic"], database="us")


def test_moz_and_ahrefs_sources_load_typed_tables(emu, tmp_path, pipeline):
    emu.configure(ahrefs_rate_per_minute=None)
    moz = seowire.Moz("dlt-token", base_url=emu.base_url("moz"), ledger="memory://")
    ahrefs = seowire.Ahrefs("dlt-ahrefs", base_url=emu.base_url("ahrefs"), ledger="memory://", rate_limit=None)
    p = pipeline()
    p.run(moz_source(moz, resources=["url_metrics"], targets=["a.com", "b.com", "c.com"], snapshot_date=JUNE))
    p.run(ahrefs_source(ahrefs, resources=["refdomains"], targets=["x.com"], select=["domain", "domain_rating"], limit=7, snapshot_date=JUNE))
    assert _count(tmp_path, "url_metrics") == 3 and _count(tmp_path, "refdomains") == 7
    con = _db(tmp_path)
    types = dict(con.sql("select column_name, data_type from information_schema.columns where table_schema = 'seo_data' and table_name = 'url_metrics'").fetchall())
    con.close()
    assert types["domain_authority"] == "BIGINT" and types["last_crawled"] == "DATE"


def test_seowire_load_runs_a_pipeline_from_the_command_line(emu, tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "SEMRUSH_API_KEY": "dlt-cli-key", "SEOWIRE_SEMRUSH_URL": emu.base_url("semrush"),
           "SEOWIRE_LEDGER": f"sqlite://{tmp_path}/cli.sqlite3", "DLT_DATA_DIR": str(tmp_path / "dlt")}
    target = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    cmd = [sys.executable, "-m", "seowire", "load", "semrush", "domain_organic", "domains=a.com,b.com", "database=us", "display_limit=3", "--to", target]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "loaded semrush domain_organic" in out.stdout and "dlt-cli-key" not in out.stdout + out.stderr
    assert _count(tmp_path, "domain_organic") == 6
    again = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path)
    assert again.returncode == 0 and _count(tmp_path, "domain_organic") == 6
    assert emu.stats()["units_charged"] == 60, "the second run in the period spent nothing"


def test_the_example_pipeline_runs_offline_and_spends_once_per_period(tmp_path):
    import os
    import pathlib
    import subprocess
    import sys

    example = pathlib.Path(__file__).resolve().parents[1] / "examples" / "dlt_pipeline.py"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SEMRUSH_", "MOZ_", "AHREFS_", "SEOWIRE_"))}
    env.update({"SEOWIRE_LEDGER": f"sqlite://{tmp_path}/example.sqlite3", "DLT_DATA_DIR": str(tmp_path / "dlt")})
    for _ in range(2):
        out = subprocess.run([sys.executable, str(example), str(tmp_path / "warehouse.duckdb")], capture_output=True, text=True,
                             env=env, timeout=180, cwd=tmp_path)
        assert out.returncode == 0, out.stderr
    assert "loaded into" in out.stdout
    assert _count(tmp_path, "domain_organic") == 200 and _count(tmp_path, "refdomains") == 100 and _count(tmp_path, "url_metrics") == 2


def test_trends_summary_resource(emu, tmp_path, pipeline):
    sr = _semrush(emu, tmp_path)
    p = pipeline()
    p.run(semrush_source(sr, resources=["trends_summary"], targets=["a.com", "b.com", "c.com"], snapshot_date=JUNE))
    con = _db(tmp_path)
    rows = con.sql("select target, snapshot_date from seo_data.trends_summary order by target").fetchall()
    con.close()
    assert [r[0] for r in rows] == ["a.com", "b.com", "c.com"] and {r[1] for r in rows} == {JUNE}


def test_tagged_calls_and_budgets_as_html(emu, tmp_path):
    led = seowire.Ledger("memory://")
    sr = seowire.Semrush("tag-key", base_url=emu.base_url("semrush"), ledger=led, tag="nightly")
    with sr.tagged("backfill"):
        sr.phrase_this("seo", database="us")
    sr.phrase_this("sem", database="us")
    assert [c["tag"] for c in led.calls()] == ["backfill", "nightly"] and sr.tag == "nightly"
    assert "5,000 units per month" in seowire.Budget(5_000)._repr_html_()
