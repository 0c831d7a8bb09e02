"""The seowire console script, run as its own process against the emulator."""

import json
import os
import subprocess
import sys

import pytest

from conftest import SECRET


@pytest.fixture
def run(emu, tmp_path):
    emu.configure(rate_limit=None, ahrefs_rate_per_minute=None)
    env = {**os.environ, "SEMRUSH_API_KEY": SECRET, "MOZ_TOKEN": SECRET, "AHREFS_API_KEY": SECRET,
           "SEOWIRE_SEMRUSH_URL": emu.base_url("semrush"), "SEOWIRE_MOZ_URL": emu.base_url("moz"), "SEOWIRE_MOZ_API_URL": emu.base_url("mozapi"),
           "SEOWIRE_AHREFS_URL": emu.base_url("ahrefs"), "SEOWIRE_LEDGER": f"sqlite://{tmp_path}/cli.sqlite3"}

    def go(*args, **extra_env):
        out = subprocess.run([sys.executable, "-m", "seowire", *args], capture_output=True, text=True, timeout=120,
                             env={**env, **extra_env})
        assert SECRET not in out.stdout and SECRET not in out.stderr
        return out

    return go


def test_every_command_has_help(run):
    for cmd in (["--help"], ["demo", "--help"], ["balance", "--help"], ["usage", "--help"], ["estimate", "--help"],
                ["get", "--help"], ["emulator", "serve", "--help"]):
        out = run(*cmd)
        assert out.returncode == 0 and "usage:" in out.stdout, cmd


def test_balance_per_provider(run):
    assert run("balance", "semrush").stdout.strip() == "1,000,000 units left"
    out = run("balance", "moz").stdout
    assert [line.split(":")[0] for line in out.splitlines()] == ["data", "beta", "mozscape"]
    assert "0 of 1,000,000 rows used" in out
    assert "units used by this key" in run("balance", "ahrefs").stdout


def test_estimate_is_offline(run, emu):
    assert run("estimate", "semrush", "domain_organic", "domain=x.com", "database=us", "display_limit=100").stdout.strip() == "1,000 units at most"
    assert run("estimate", "ahrefs", "all_backlinks", "target=x.com", "select=url_from,traffic", "limit=100").stdout.strip() == "1,100 units at most"
    assert run("estimate", "moz", "links", "target=moz.com", "limit=10").stdout.strip() == "10 rows at most"
    assert emu.stats()["requests"] == 0


def test_get_formats_and_streaming(run, emu):
    out = run("get", "semrush", "domain_organic", "domain=x.com", "database=us", "display_limit=5", "--format", "jsonl")
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(rows) == 5 and "keyword" in rows[0]
    out = run("get", "semrush", "phrase_this", "phrase=seo", "database=us", "--format", "csv")
    assert out.stdout.splitlines()[0].startswith("keyword,")
    out = run("get", "moz", "url_metrics", "targets=moz.com,nytimes.com", "--format", "json")
    assert [r["page"] for r in json.loads(out.stdout)] == ["moz.com/", "nytimes.com/"]
    emu.configure(rows_per_target={"moz.com": 120})
    out = run("get", "moz", "links", "target=moz.com", "--format", "jsonl")  # streams all pages
    assert len(out.stdout.splitlines()) == 120
    out = run("get", "ahrefs", "all_backlinks", "target=example.com", "select=url_from,anchor", "limit=3")
    assert out.returncode == 0 and sorted(out.stdout.splitlines()[0].split()) == ["anchor", "url_from"]
    out = run("get", "ahrefs", "site-explorer/domain-rating", "target=example.com", "--format", "json")
    assert "domain_rating" in json.loads(out.stdout)[0]


def test_get_output_streams_into_a_file(run, emu, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    out = run("get", "moz", "url_metrics", "targets=" + ",".join(f"s{i}.com" for i in range(120)), "--output", str(tmp_path / "um.parquet"))
    assert out.returncode == 0 and "wrote 120 rows" in out.stdout and "120 units" in out.stdout
    assert pq.read_table(tmp_path / "um.parquet").column("page").to_pylist()[119] == "s119.com/"
    out = run("get", "semrush", "domain_organic", "domain=x.com", "database=us", "display_limit=25", "--output", str(tmp_path / "o.csv"))
    assert out.returncode == 0 and (tmp_path / "o.csv").read_text().count("\n") == 26
    out = run("get", "ahrefs", "domain_rating", "target=example.com", "--output", str(tmp_path / "dr.jsonl"))
    assert out.returncode == 0 and "domain_rating" in (tmp_path / "dr.jsonl").read_text()
    out = run("get", "moz", "url_metrics", "targets=a.com", "--output", str(tmp_path / "x.xls"))
    assert out.returncode != 0 and "parquet" in out.stderr and not (tmp_path / "x.xls").exists()


def test_usage_shows_the_ledger(run):
    run("get", "semrush", "phrase_this", "phrase=seo", "database=us")
    out = run("usage")
    assert out.returncode == 0 and "semrush" in out.stdout and "spent" in out.stdout.splitlines()[0]


def test_errors_go_to_stderr_with_a_non_zero_exit(run, emu):
    out = run("get", "semrush", "domain_organic", "domain=x.com")  # no database
    assert out.returncode == 1 and "InvalidRequest" in out.stderr and out.stdout == ""
    emu.configure(keys=["someone-else"])
    out = run("balance", "ahrefs")
    assert out.returncode == 1 and "AuthenticationError" in out.stderr
    out = run("get", "semrush", "phrase_this", "bad-param")
    assert out.returncode == 1 and "key=value" in out.stderr


def test_the_moz_api_from_the_command_line(run, emu):
    assert run("estimate", "moz", "data.site.link.list", "site_query=moz.com", "offset.limit=10").stdout.strip() == "10 rows at most"
    assert run("estimate", "moz", "data.keyword.metrics.fetch", "serp_query=seo").stdout.strip() == "4 rows at most"
    assert emu.stats()["requests"] == 0
    emu.configure(rows_per_target={"moz.com": 70})
    out = run("get", "moz", "data.site.anchor-text.list", "site_query=moz.com", "--format", "jsonl")  # all pages
    assert len(out.stdout.splitlines()) == 70
    out = run("get", "moz", "data.site.ranking.keyword.list", "target_query=moz.com", "options.sort=volume", "limit=30", "--format", "json")
    assert len(json.loads(out.stdout)) == 30
    out = run("get", "moz", "keyword_metrics", "serp_query=seo", "--format", "json")
    assert set(json.loads(out.stdout)[0]) == {"keyword_metrics", "serp_query"}  # the Python name works too
    out = run("get", "moz", "data.keyword.metrics.fetch", "serp_query=seo", "--format", "json")
    assert set(json.loads(out.stdout)[0]) == {"keyword_metrics", "serp_query"}
