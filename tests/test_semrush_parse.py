"""The real payloads in shared/fixtures parse to the right typed rows."""

import pytest

import seowire

from seowire.semrush import parse_csv

ORGANIC = ["Ph", "Po", "Pp", "Pd", "Nq", "Cp", "Ur", "Tr", "Tc", "Co", "Nr", "Td"]


def test_domain_organic_fixture(fixtures):
    rows = parse_csv((fixtures / "semrush_domain_organic_1.csv").read_bytes(), ORGANIC)
    assert len(rows) == 10
    first = rows[0]
    assert first == {
        "keyword": "pistonheads", "position": 1, "previous_position": 1, "position_difference": 0,
        "search_volume": 673000, "cpc": 0.33, "url": "http://www.pistonheads.com/", "traffic_percent": 31.54,
        "traffic_cost_percent": 12.44, "competition": 0.0, "number_of_results": 1230000,
        "trends": [0.82, 0.82, 0.82, 0.99, 0.99, 0.99, 0.82, 0.82, 0.82, 0.82, 0.82, 0.67],
    }
    assert rows[5]["number_of_results"] == 393000000
    assert [r["keyword"] for r in rows].count("pistonheads uk") == 3


def test_phrase_this_fixture(fixtures):
    rows = parse_csv((fixtures / "semrush_phrase_this_1.csv").read_bytes(), ["Ph", "Nq", "Cp", "Co", "Nr", "Td"])
    assert rows == [{"keyword": "seo", "search_volume": 110000, "cpc": 14.82, "competition": 0.5,
                     "number_of_results": 678000000,
                     "trends": [0.81, 1.0, 1.0, 1.0, 1.0, 0.81, 0.81, 0.81, 0.81, 0.81, 0.81, 0.81]}]


def test_backlinks_overview_fixture_raw_headers(fixtures):
    data = (fixtures / "semrush_backlinks_overview_1.csv").read_bytes()
    rows = parse_csv(data)  # no columns: names from the raw lowercase header
    assert rows[0]["ascore"] == 74 and rows[0]["total"] == 22063983 and rows[0]["frames_num"] == 320
    assert len(rows[0]) == 14


def test_error_50_is_an_empty_result(fixtures):
    assert parse_csv((fixtures / "semrush_error_50_1.txt").read_bytes(), ORGANIC) == []
    assert parse_csv(b"ERROR 50 :: NOTHING FOUND") == []


def test_escaped_values_newlines_and_line_endings():
    body = b'Keyword;Title;Search Volume\r\n"a ""b""";"x;\ny";"10"\r\n"c";"";""'
    rows = parse_csv(body, ["Ph", "Tt", "Nq"])
    assert rows == [{"keyword": 'a "b"', "title": "x;\ny", "search_volume": 10},
                    {"keyword": "c", "title": None, "search_volume": None}]
    assert parse_csv(b"Keyword;Position\nx;1", ["Ph", "Po"]) == parse_csv(b"Keyword;Position\nx;1\n", ["Ph", "Po"])


def test_mismatched_columns_raise():
    import pytest

    import seowire

    with pytest.raises(seowire.ResponseFormatError):
        parse_csv(b"Keyword;Position\nx;1", ["Ph"])
    with pytest.raises(seowire.ResponseFormatError):
        parse_csv(b"Keyword;Position\nx;1;2", ["Ph", "Po"])
    with pytest.raises(seowire.ResponseFormatError):
        parse_csv(b'Keyword;Position\n"unterminated;1', ["Ph", "Po"])


def test_large_quoted_bodies_decode_the_same_on_all_cores():
    """Bodies over 256 KB are cut at record ends and parsed in parallel: values holding newlines,
    separators and doubled quotes must come out exactly as written, in order, once each."""
    from seowire.semrush import parse_csv

    rows = []
    for i in range(9000):
        kw = f'kw {i}; "q{i}"\nline two' if i % 7 == 0 else f"kw {i}"
        rows.append({"keyword": kw, "search_volume": i * 3, "cpc": round(i / 100, 2), "trends": [0.5, i % 10 / 10]})
    esc = lambda s: '"' + s.replace('"', '""') + '"'
    body = "Keyword;Search Volume;CPC;Trends\n" + "".join(
        f"{esc(r['keyword'])};{esc(str(r['search_volume']))};{esc(str(r['cpc']))};{esc(','.join(map(str, r['trends'])))}\n"
        for r in rows)
    body = body.encode()
    assert len(body) > 256 * 1024
    decoded = parse_csv(body, ["Ph", "Nq", "Cp", "Td"])
    assert decoded == rows
    pytest.importorskip("pyarrow")
    table = parse_csv(body, ["Ph", "Nq", "Cp", "Td"], output="arrow")
    assert table.column("keyword").to_pylist() == [r["keyword"] for r in rows]
    assert table.column("trends").to_pylist() == [r["trends"] for r in rows]


def test_a_bad_record_late_in_a_large_body_is_reported_by_its_line():
    """Large bodies are parsed in parts on another core while rows are built: a malformed record
    near the end still fails the whole decode (no partial list) and names its line from the top."""
    from seowire.semrush import parse_csv

    lines = [f"kw {i};{i}" for i in range(40_000)]
    lines[38_000] = "kw bad;1;extra"
    body = ("Keyword;Search Volume\n" + "\n".join(lines) + "\n").encode()
    assert len(body) > 256 * 1024
    with pytest.raises(seowire.ResponseFormatError, match="line 38002 has 3 values"):
        parse_csv(body, ["Ph", "Nq"])
    lines[38_000] = "kw 38000;38000"
    assert parse_csv(("Keyword;Search Volume\n" + "\n".join(lines)).encode(), ["Ph", "Nq"])[-1] == {"keyword": "kw 39999", "search_volume": 39999}
