"""Bulk at scale: frames read straight from the answer's bytes, streaming bulk calls (ordered
batches, bounded window, failures after the rows before them), and jobs that resume from the
response cache."""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

import seowire
from seowire import _seowire
from seowire.catalog import flatten

pa = pytest.importorskip("pyarrow")

FIXTURES = pathlib.Path(__file__).resolve().parents[2] / "shared" / "fixtures"


def _rows_at(doc, path):
    for k in path:
        doc = doc.get(k) if isinstance(doc, dict) else None
    return [] if doc is None else doc if isinstance(doc, list) else [doc]


# Every JSON fixture whose answer holds rows, and where they are.
ROW_FIXTURES = [
    ("moz_url_metrics_1.json", ["results"]),
    ("moz_links_1.json", ["results"]),
    ("moz_rpc_data_site_link_list_1.json", ["links"]),
    ("moz_rpc_data_site_linking_domain_list_1.json", ["linking_domains"]),
    ("moz_rpc_data_site_anchor_text_list_1.json", ["anchor_texts"]),
    ("moz_rpc_data_site_ranking_keyword_list_1.json", ["ranking_keywords"]),
    ("moz_rpc_data_keyword_suggestions_list_1.json", ["suggestions"]),
    ("semrush_projects_list_1.json", []),
]


@pytest.mark.parametrize("name,path", ROW_FIXTURES)
def test_frames_from_the_bytes_equal_frames_from_the_dicts(name, path):
    body = (FIXTURES / name).read_bytes()
    rows = [flatten(r) for r in _rows_at(json.loads(body), path)]
    assert rows, f"{name}: the fixture has rows at {path}"
    ours = pa.table(_seowire.json_table(body, path))
    via_dicts = pa.table(_seowire.rows_table(rows))
    assert ours.schema == via_dicts.schema
    assert ours.to_pylist() == via_dicts.to_pylist()


def test_declared_columns_hold_for_an_empty_page_and_refuse_a_wrong_type():
    names, types = ["page", "domain_authority", "last_crawled"], {"page": "string", "domain_authority": "integer", "last_crawled": "date"}
    empty = pa.table(_seowire.json_table(b'{"results": []}', ["results"], names, types))
    assert empty.num_rows == 0 and empty.schema.names == names
    assert empty.schema.field("last_crawled").type == pa.date32()
    with pytest.raises(seowire.ResponseFormatError, match="domain_authority"):
        _seowire.json_table(b'{"results": [{"domain_authority": "high"}]}', ["results"], names, types)
    with pytest.raises(seowire.ResponseFormatError):
        _seowire.json_table(b'{"results": [{"page": "a"}', ["results"], names, types)


def test_url_metrics_arrow_is_read_from_the_wire_and_typed(moz):
    m = moz()
    targets = [f"site{i}.com/p" for i in range(120)] + ["site7.com/p"]
    rows = m.url_metrics(targets)
    t = m.url_metrics(targets, output="arrow")
    assert t.num_rows == len(targets)
    assert t.schema.field("domain_authority").type == pa.int64()
    assert t.schema.field("link_propensity").type == pa.float64()
    assert t.schema.field("last_crawled").type == pa.date32()
    got = t.to_pylist()
    for want, have in zip(rows, got):
        assert have["page"] == want["page"]
        assert have["external_pages_to_root_domain"] == want["external_pages_to_root_domain"]
        assert str(have["last_crawled"]) == want["last_crawled"]
    assert got[-1] == got[7] and got[-1] is not got[7]
    cost = json.loads(t.schema.metadata[b"seowire"])
    assert cost["units"] == rows.units == 120
    # No targets: the catalog's schema, no rows, nothing sent.
    empty = m.url_metrics([], output="arrow")
    assert empty.num_rows == 0 and "domain_authority" in empty.schema.names


def _targets(n, start=0):
    return (f"https://site{i}.example.com/page" for i in range(start, start + n))


def test_stream_batches_in_input_order_with_repeats(moz, emu):
    m = moz(plan="medium")
    inputs = [f"s{i}.com" for i in range(230)]
    inputs[101] = inputs[100]  # a repeat inside one request
    batches = m.url_metrics(iter(inputs), stream=True, batch_rows=64)
    seen = list(batches)
    assert [len(b) for b in seen] == [64, 64, 64, 38]
    assert [b.first for b in seen] == [0, 64, 128, 192]
    pages = [r["page"] for b in seen for r in b]
    assert pages == [r["page"] for r in moz().url_metrics(inputs)]
    # One request per 50 inputs; the repeat is fetched (and charged) once.
    assert batches.meta["requests"] == 5 and batches.meta["units"] == 229
    assert sum(b.units for b in seen) == 229
    assert m.ledger.usage()[0]["spent"] == 229


def test_stream_frames_share_one_schema_and_async_for_works(moz):
    m = moz(plan="large")

    async def run():
        out = []
        async for t in m.url_metrics(_targets(260), stream=True, batch_rows=100, output="arrow"):
            out.append(t)
        return out

    tables = asyncio.run(run())
    assert [t.num_rows for t in tables] == [100, 100, 60]
    assert len({t.schema.remove_metadata() for t in tables}) == 1
    whole = pa.concat_tables([t.replace_schema_metadata(None) for t in tables])
    assert whole.column("page").to_pylist() == [r["page"] for r in moz().url_metrics(list(_targets(260)))]


def test_stream_reads_inputs_only_as_requests_need_them(moz, emu):
    """A window of requests, not the whole input: a consumer that stops early leaves the rest
    of a long generator unread and unsent."""
    pulled = []

    def gen():
        for i in range(1_000_000):
            pulled.append(i)
            yield f"g{i}.com"

    m = moz(plan="medium")  # 5 in flight
    batches = m.url_metrics(gen(), stream=True, batch_rows=50)
    first = next(batches)
    assert len(first) == 50
    time.sleep(0.3)
    assert len(pulled) < 50 * 12, len(pulled)  # the window and one batch, not a million
    del batches, first


def test_stream_bad_input_raises_after_the_rows_before_it(moz, emu):
    inputs = [f"ok{i}.com" for i in range(120)] + ["   "] + [f"late{i}.com" for i in range(100)]
    m = moz(plan="free")  # one at a time: the order of events is certain
    got = []
    with pytest.raises(seowire.InvalidRequest, match="target 120 is blank"):
        for b in m.url_metrics(inputs, stream=True, batch_rows=50):
            got.extend(b)
    assert [r["page"] for r in got] == [f"ok{i}.com/" for i in range(100)]
    # The chunk holding the bad target was never sent; nothing after it either.
    assert emu.stats()["requests"] == 2


def test_stream_failure_keeps_what_was_paid_for(moz, emu):
    m = moz(plan="free", retry=seowire.RetryPolicy(max_retries=0))  # one in flight: chunk 4 is the 5th request
    emu.fault("status", status=500, provider="moz", after=4, count=100)
    got = []
    with pytest.raises(seowire.SeowireError, match="inputs 200..=249"):
        for b in m.url_metrics(_targets(2000), stream=True, batch_rows=50):
            got.extend(b)
    assert len(got) == 200, "the rows before the failed chunk were handed out"
    charged = emu.stats()["units_by_provider"].get("moz", 0)
    assert m.ledger.usage()[0]["spent"] == charged, "every charged answer was committed"


def test_stream_refuses_bad_settings_before_sending(moz, emu):
    with pytest.raises(seowire.InvalidRequest):
        moz().url_metrics(_targets(10), stream=True, batch_rows=0)
    with pytest.raises(seowire.InvalidRequest, match="iterable"):
        moz().url_metrics("a.com", stream=True)
    with pytest.raises(seowire.InvalidRequest):
        moz().url_metrics(_targets(10), stream=True, progress="yes")
    assert emu.stats()["requests"] == 0


JOB = """
import sys, seowire
moz = seowire.Moz("moz-token", plan="medium", base_url=sys.argv[1], ledger=sys.argv[2], cache=True)
done = 0
for batch in moz.url_metrics((f"https://job{i}.example.com/" for i in range(10_000)), stream=True, batch_rows=50, progress=False):
    done += len(batch)
print(done, flush=True)
"""


def test_a_killed_job_resumes_paying_only_for_what_it_had_not_finished(emu, tmp_path):
    """SIGKILL a 10,000-target job about half way; the rerun's units are exactly the units of
    the chunks the first run had not had answered (emulator counts), and it says how many
    chunks came from the cache."""
    emu.reset(latency_ms=20)
    ledger = f"sqlite://{tmp_path / 'ledger.db'}"
    env = dict(os.environ)  # the seowire the tests run on: installed, or the tree on PYTHONPATH
    job = subprocess.Popen([sys.executable, "-c", JOB, emu.base_url("moz"), ledger], env=env, stdout=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while emu.stats()["requests"] < 100 and time.monotonic() < deadline:
        time.sleep(0.01)
    job.send_signal(signal.SIGKILL)
    job.wait()
    first = emu.stats()["units_by_provider"]["moz"]
    assert 0 < first < 10_000
    m = seowire.Moz("moz-token", plan="medium", base_url=emu.base_url("moz"), ledger=ledger, cache=True)
    batches = m.url_metrics(_targets_job(), stream=True, batch_rows=1000, progress=False)
    rows = sum(len(b) for b in batches)
    assert rows == 10_000
    rerun = emu.stats()["units_by_provider"]["moz"] - first
    cached = batches.meta["cached_requests"]
    assert 0 < cached < 200 and batches.meta["requests"] == 200
    # Answered chunks came from the cache; the rerun paid exactly for the others. (Requests in
    # flight when the first run died were charged by the server but never finished.)
    assert rerun == 10_000 - 50 * cached == batches.meta["units"]
    assert 50 * cached <= first <= 50 * cached + 50 * 5


def _targets_job():
    return (f"https://job{i}.example.com/" for i in range(10_000))


def test_export_streams_to_parquet_csv_and_jsonl_with_the_cost(moz, emu, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    m = moz(plan="large")
    out = m.export("url_metrics", _targets(1234), to=tmp_path / "um.parquet", batch_rows=500)
    assert (out["rows"], out["units"], out["requests"], out["batches"]) == (1234, 1234, 25, 3)
    f = pq.ParquetFile(tmp_path / "um.parquet")
    assert f.metadata.num_rows == 1234 and f.num_row_groups == 3, "one row group per batch"
    info = json.loads(f.metadata.metadata[b"seowire"])
    assert info["units"] == 1234 and info["columns"]["domain_authority"] == "int64"
    assert f.schema_arrow.field("last_crawled").type == pa.date32()
    assert f.read().column("page").to_pylist() == [r["page"] for r in moz().url_metrics(list(_targets(1234)))]
    # A paged endpoint through pages(); CSV and JSON lines.
    links = m.export("links", target="moz.com", max_rows=120, to=tmp_path / "links.csv")
    assert links["rows"] == 120 and (tmp_path / "links.csv").read_text().count("\n") == 121
    js = m.export("url_metrics", ["a.com", "b.com"], to=tmp_path / "two.jsonl")
    lines = (tmp_path / "two.jsonl").read_text().splitlines()
    assert js["rows"] == 2 and json.loads(lines[1])["page"] == "b.com/"
    assert m.ledger.usage()[0]["spent"] == out["units"] + links["units"] + js["units"] == 1234 + 120 + 2


def test_export_refuses_an_unknown_format_before_sending_and_leaves_no_half_file(moz, emu, tmp_path):
    with pytest.raises(seowire.InvalidRequest, match="parquet"):
        moz().export("url_metrics", ["a.com"], to=tmp_path / "x.xlsx")
    assert emu.stats()["requests"] == 0
    emu.fault("status", status=500, provider="moz", after=2, count=50)
    with pytest.raises(seowire.SeowireError):
        moz(plan="free", retry=seowire.RetryPolicy(max_retries=0)).export("url_metrics", _targets(500), to=tmp_path / "cut.parquet", batch_rows=50)
    assert list(tmp_path.iterdir()) == [], "no file, not even a partial one"


def test_ahrefs_batch_analysis_streams_typed_batches(ahrefs, emu):
    a = ahrefs()
    targets = [f"site{i}.com" for i in range(250)]
    whole = a.batch_analysis(targets, select=["url", "domain_rating", "org_cost"])
    emu.reset()
    batches = list(a.batch_analysis(iter(targets), select=["url", "domain_rating", "org_cost"], stream=True, batch_rows=120, output="arrow"))
    assert [t.num_rows for t in batches] == [120, 120, 10]
    assert batches[0].schema.field("org_cost").type == pa.int64() and batches[0].schema.names == ["url", "domain_rating", "org_cost"]
    assert [u for t in batches for u in t.column("url").to_pylist()] == targets
    assert sum(json.loads(t.schema.metadata[b"seowire"])["units"] for t in batches) == whole.units == emu.stats()["units_charged"]
    with pytest.raises(seowire.InvalidRequest, match="no_such_field"):
        a.batch_analysis(iter(targets), select=["url", "no_such_field"], stream=True)


def test_stream_pandas_and_polars_batches(moz):
    pd = pytest.importorskip("pandas")
    pl = pytest.importorskip("polars")
    m = moz(plan="large")
    frames = list(m.url_metrics(_targets(150), stream=True, batch_rows=100, output="pandas"))
    assert [len(f) for f in frames] == [100, 50] and str(frames[0]["domain_authority"].dtype) == "int64"
    assert frames[1].attrs["seowire"]["first"] == 100
    polars = list(m.url_metrics(_targets(150, start=500), stream=True, batch_rows=100, output="polars"))
    assert [f.height for f in polars] == [100, 50] and polars[0].schema["domain_authority"] == pl.Int64
    assert "SECRET" not in repr(m.url_metrics(_targets(1), stream=True))


def test_moz_api_multiple_streams_in_input_order_with_item_errors(moz, emu):
    """site_metrics_multiple / link_exists_multiple with stream=True: a generator read as
    requests need it, answers (out of order on the wire) placed back in input order, failed
    items in place, frames of one schema, and the rows per pool exact."""
    emu.configure(moz_api_item_errors=["broken.com"])
    pulled = []

    def sites():
        for i in range(1000):
            pulled.append(i)
            yield "broken.com" if i == 7 else f"s{i}.com"

    m = moz(plan="medium")
    batches = m.site_metrics_multiple(sites(), chunk_size=20, stream=True, batch_rows=300, output="arrow")
    first = next(batches)
    assert len(pulled) <= 2 * 300 + 20 * 6, len(pulled)  # a batch out, the next filling, a window: not the whole input
    tables = [first, *batches]
    assert [t.num_rows for t in tables] == [300, 300, 300, 100]
    assert len({t.schema.remove_metadata() for t in tables}) == 1
    whole = pa.concat_tables([t.replace_schema_metadata(None) for t in tables])
    assert whole.column("query").to_pylist() == ["broken.com" if i == 7 else f"s{i}.com" for i in range(1000)]
    errors = whole.column("error").to_pylist()
    assert [i for i, e in enumerate(errors) if e] == [7] and "UnhandledError" in errors[7]
    # 999 answered sites billed, the failed one not; ledger == Moz's own count.
    assert batches.meta["units"] == 999 and batches.meta["requests"] == 50
    assert m.quota("data")["used"] == 999

    dicts = list(m.link_exists_multiple(((f"t{i}.com", f"u{i}.com") for i in range(130)), stream=True, batch_rows=64))
    assert [len(b) for b in dicts] == [64, 64, 2] and [b.first for b in dicts] == [0, 64, 128]
    flat = [r for b in dicts for r in b]
    assert [r["target_site_query"]["original_site_query"]["query"] for r in flat[:2]] == ["t0.com", "t1.com"]
    assert all(isinstance(r["exists"], bool) for r in flat)


def test_moz_api_multiple_stream_refuses_a_bad_item_after_the_rows_before_it(moz, emu):
    m = moz(plan="free")
    got = []
    with pytest.raises(seowire.InvalidRequest, match="item 120"):
        for b in m.site_metrics_multiple([f"ok{i}.com" for i in range(120)] + [{"query": "x.com", "scope": "galaxy"}],
                                         chunk_size=50, stream=True, batch_rows=50):
            got.extend(b)
    assert len(got) == 100 and emu.stats()["requests"] == 2
