"""output="arrow"|"pandas"|"polars" and progress=: typed frames built in Rust, bars and callbacks."""

import importlib.util
import io
import json
import sys

import pytest

import seowire

pa = pytest.importorskip("pyarrow")
pd = pytest.importorskip("pandas")
pl = pytest.importorskip("polars")


def test_semrush_pandas_is_typed_and_matches_the_dicts(semrush):
    sr = semrush()
    rows = sr.domain_organic("example.com", database="us", display_limit=20)
    df = sr.domain_organic("example.com", database="us", display_limit=20, output="pandas")
    assert len(df) == len(rows) == 20
    assert str(df["search_volume"].dtype) == "int64" and str(df["cpc"].dtype) == "float64"
    assert df["keyword"].tolist() == [r["keyword"] for r in rows]
    assert df["search_volume"].tolist() == [r["search_volume"] for r in rows]
    assert [list(t) for t in df["trends"]] == [r["trends"] for r in rows]  # a list column, not text
    assert df.attrs["seowire"]["units"] == rows.units == 200
    assert list(df.columns) == list(rows[0])


def test_semrush_arrow_schema_and_cost_metadata(semrush):
    t = semrush().phrase_this("seo", database="us", output="arrow")
    assert isinstance(t, pa.Table)
    assert t.schema.field("search_volume").type == pa.int64()
    assert t.schema.field("cpc").type == pa.float64()
    assert pa.types.is_list(t.schema.field("trends").type)
    cost = json.loads(t.schema.metadata[b"seowire"])
    assert cost["provider"] == "semrush" and cost["units"] == 10


def test_semrush_async_polars(semrush):
    import asyncio

    df = asyncio.run(semrush().domain_organic_async("example.com", database="us", display_limit=7, output="polars"))
    assert isinstance(df, pl.DataFrame) and df.height == 7
    assert df.schema["search_volume"] == pl.Int64


def test_pages_yield_frames_per_page(semrush):
    sr = semrush()
    pages = list(sr.pages("domain_organic", domain="example.com", database="us", page_size=40, max_rows=100, output="polars"))
    assert [p.height for p in pages] == [40, 40, 20]
    dicts = list(sr.rows("domain_organic", domain="example.com", database="us", page_size=40, max_rows=100))
    assert pl.concat(pages)["keyword"].to_list() == [r["keyword"] for r in dicts]


def test_moz_url_metrics_frame_keeps_order_and_exact_counts(moz):
    targets = [f"site{i}.com" for i in range(60)] + ["site3.com"]
    rows = moz().url_metrics(targets)
    t = moz().url_metrics(targets, output="arrow")
    assert t.num_rows == 61
    assert t.column("page").to_pylist() == [r["page"] for r in rows]
    big = max(rows, key=lambda r: r["external_pages_to_root_domain"])["external_pages_to_root_domain"]
    assert big in t.column("external_pages_to_root_domain").to_pylist()  # 64-bit, exact
    assert pa.types.is_date32(t.schema.field("last_crawled").type)


def test_moz_links_and_ahrefs_backlinks_as_frames(moz, ahrefs):
    links = moz().links("moz.com", limit=25, output="pandas")
    assert len(links) == 25 and links.attrs["seowire"]["provider"] == "moz"
    df = ahrefs().all_backlinks("x.com", select=["url_from", "domain_rating_source", "first_seen"], limit=30, output="pandas")
    assert list(df.columns) == ["url_from", "domain_rating_source", "first_seen"]
    assert str(df["domain_rating_source"].dtype) == "float64"
    assert str(df["first_seen"].dtype).startswith("datetime64")


def test_single_object_is_a_one_row_frame(ahrefs):
    df = ahrefs().domain_rating("x.com", output="polars")
    assert df.height == 1 and "domain_rating" in df.columns


@pytest.mark.parametrize("call", [
    lambda c: c["semrush"].domain_organic("x.com", database="us", output="excel"),
    lambda c: c["moz"].url_metrics(["a.com"], output="frame"),
    lambda c: c["ahrefs"].all_backlinks("x.com", select=["url_from"], output="DataFrame"),
])
def test_bad_output_is_refused_before_sending(call, semrush, moz, ahrefs, emu):
    clients = {"semrush": semrush(), "moz": moz(), "ahrefs": ahrefs()}
    with pytest.raises(seowire.InvalidRequest, match="output must be one of"):
        call(clients)
    assert emu.stats()["requests"] == 0
    assert all(u["reserved"] == 0 and u["spent"] == 0 for c in clients.values() for u in c.ledger.usage())


@pytest.mark.parametrize("output,missing", [("polars", "polars"), ("pandas", "pyarrow"), ("arrow", "pyarrow")])
def test_missing_library_names_the_extra(output, missing, semrush, emu, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == missing else real(name, *a))
    with pytest.raises(seowire.MissingExtra, match=rf"pip install 'seowire\[{output}\]'") as info:
        semrush().domain_organic("x.com", database="us", output=output)
    assert isinstance(info.value, ImportError)
    assert emu.stats()["requests"] == 0


def test_progress_callback_for_bulk_url_metrics(moz):
    seen = []
    rows = moz(plan="medium").url_metrics([f"p{i}.com" for i in range(120)] + ["p0.com"], progress=seen.append)
    assert len(seen) == 3  # 120 distinct targets in requests of 50
    last = seen[-1]
    assert (last.rows, last.requests, last.total) == (120, 3, 120)
    assert last.units == rows.units
    assert [p.requests for p in seen] == [1, 2, 3]


def test_progress_callback_for_batch_analysis_and_paging(ahrefs, semrush):
    seen = []
    ahrefs().batch_analysis([f"t{i}.com" for i in range(250)], select=["url"], progress=seen.append)
    assert [p.requests for p in seen] == [1, 2, 3] and seen[-1].rows == 250
    pages = []
    list(semrush().pages("domain_organic", domain="x.com", database="us", page_size=30, max_rows=75, progress=pages.append))
    assert [(p.rows, p.requests) for p in pages] == [(30, 1), (60, 2), (75, 3)]
    assert pages[-1].total == 75 and pages[-1].units == 750


def test_progress_true_draws_a_tqdm_bar(moz, monkeypatch):
    pytest.importorskip("tqdm")
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    moz().url_metrics([f"b{i}.com" for i in range(75)], progress=True)
    assert "moz url_metrics" in err.getvalue() and "75/75" in err.getvalue()


def test_progress_true_without_tqdm_writes_a_line(moz, monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)  # import fails as if not installed
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    moz().url_metrics([f"c{i}.com" for i in range(60)], progress=True)
    assert "moz url_metrics: 60/60 rows" in err.getvalue()


def test_progress_is_off_by_default_when_not_interactive(moz, capsys):
    moz().url_metrics([f"d{i}.com" for i in range(60)])
    assert "url_metrics" not in capsys.readouterr().err


def test_a_failing_progress_callback_never_loses_the_data(moz, caplog):
    def boom(p):
        raise RuntimeError("bar broke")

    rows = moz().url_metrics([f"e{i}.com" for i in range(60)], progress=boom)
    assert len(rows) == 60
    assert "progress callback failed" in caplog.text


def test_bad_progress_is_refused(moz, emu):
    with pytest.raises(seowire.InvalidRequest, match="progress must be"):
        moz().url_metrics(["a.com"], progress="yes")
    assert emu.stats()["requests"] == 0


def _no_dict_frames(monkeypatch):
    """Frames of JSON answers must come from the core, read from the bytes: building one from
    Python dicts (``rows_table``) fails the test."""
    from seowire import _seowire

    def refuse(*a, **k):
        raise AssertionError("a JSON answer's frame was built from Python dicts")

    monkeypatch.setattr(_seowire, "rows_table", refuse)


def test_json_frames_are_read_from_the_bytes_not_from_dicts(moz, ahrefs, monkeypatch):
    from seowire import catalog, frames

    a, m = ahrefs(cache=True), moz(cache=True)  # the frames read the same bytes as the dicts (cached)
    select = ["url_from", "domain_rating_source", "first_seen", "anchor", "is_dofollow"]
    # What the dicts give, typed the same way (built before dict frames are refused).
    want_a = frames.convert(a.all_backlinks("x.com", select=select, limit=30), "arrow", None, select,
                            catalog.field_types("GET", "site-explorer/all-backlinks"))
    names, types = catalog.moz_columns("data.site.link.list")
    want_m = frames.convert([catalog.flatten(r) for r in m.site_links("moz.com", limit=7)["links"]], "arrow", None, names, types)
    v2 = m.links("moz.com", limit=5)
    _no_dict_frames(monkeypatch)
    t = a.all_backlinks("x.com", select=select, limit=30, output="arrow")
    assert t.column_names == select and t.schema.field("domain_rating_source").type == pa.float64()
    assert t.replace_schema_metadata(None).equals(want_a)
    t = m.site_links("moz.com", limit=7, output="arrow")
    assert t.schema.field("source_site_metrics.domain_authority").type == pa.int64()
    assert t.replace_schema_metadata(None).equals(want_m)
    t = m.links("moz.com", limit=5, output="arrow")
    assert t.num_rows == len(v2) == 5
    assert t.column("anchor_text").to_pylist() == [r["anchor_text"] for r in v2]
    pages = list(m.pages("data.site.link.list", site_query="moz.com", page_size=3, max_rows=7, output="polars"))
    assert [p.height for p in pages] == [3, 3, 1]
    pages = list(m.pages("links", target="moz.com", page_size=4, max_rows=6, output="arrow"))
    assert [p.num_rows for p in pages] == [4, 2]


def test_an_empty_json_page_keeps_the_catalog_schema(ahrefs, emu, monkeypatch):
    _no_dict_frames(monkeypatch)
    emu.configure(rows=0)
    t = ahrefs().all_backlinks("x.com", select=["url_from", "domain_rating_source", "first_seen"], limit=5, output="arrow")
    assert t.num_rows == 0
    assert [f.type for f in t.schema] == [pa.string(), pa.float64(), pa.timestamp("ms", tz="UTC")]


def test_bulk_frames_are_read_from_the_bytes_in_input_order(moz, ahrefs, emu, monkeypatch):
    """Moz API *.multiple (answered out of order, item errors in place), each() and Ahrefs
    batch_analysis: one row per input in input order, values equal to the dicts'."""
    emu.configure(moz_api_item_errors=["broken.com"], moz_api_null_keywords=["zzqx"])
    m, a = moz(cache=True), ahrefs(cache=True)
    sites = ["moz.com", "broken.com", "ahrefs.com", "moz.com", "nytimes.com"] + [f"s{i}.com" for i in range(60)]
    dicts = m.site_metrics_multiple(sites, chunk_size=20)
    pairs = [("moz.com", "a.com"), ("moz.com", "b.com"), ("x.com", "y.com")]
    exists = m.link_exists_multiple(pairs)
    words = m.each("data.keyword.metrics.fetch", ["seo", "zzqx", "sem"])
    targets = [f"t{i}.com" for i in range(230)]
    batch = a.batch_analysis(targets, select=["url", "domain_rating", "org_traffic"])
    _no_dict_frames(monkeypatch)

    t = m.site_metrics_multiple(sites, chunk_size=20, output="arrow")
    assert t.num_rows == len(sites)
    assert t.column("query").to_pylist()[:5] == ["moz.com", "broken.com", "ahrefs.com", "moz.com", "nytimes.com"]
    errors = t.column("error").to_pylist()
    assert [e is not None for e in errors] == [isinstance(d, seowire.exceptions.ItemError) for d in dicts]
    assert errors[1] == str(dicts[1])
    das = [None if isinstance(d, seowire.exceptions.ItemError) else d["site_metrics"]["domain_authority"] for d in dicts]
    assert t.column("domain_authority").to_pylist() == das and t.schema.field("domain_authority").type == pa.int64()
    assert t.column("title").to_pylist()[0] == dicts[0]["site_metrics"]["title"]  # a member the schema lacks is kept
    assert t.column_names[-1] == "error"

    t = m.link_exists_multiple(pairs, output="polars")
    assert t["exists"].to_list() == [d["exists"] for d in exists] and t["target"].to_list() == ["moz.com", "moz.com", "x.com"]

    t = m.each("data.keyword.metrics.fetch", ["seo", "zzqx", "sem"], output="arrow")
    assert t.num_rows == 3
    assert t.column("keyword_metrics.volume").to_pylist() == [w["keyword_metrics"]["volume"] for w in words]

    t = a.batch_analysis(targets, select=["url", "domain_rating", "org_traffic"], output="arrow")
    assert t.num_rows == 230 and t.column_names[:3] == ["url", "domain_rating", "org_traffic"]
    assert t.column("url").to_pylist() == [r["url"] for r in batch]
    assert t.column("org_traffic").to_pylist() == [r["org_traffic"] for r in batch]
    assert t.schema.field("domain_rating").type == pa.float64()
