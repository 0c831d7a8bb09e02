"""Spend you can see: Rows and the ledger as HTML in a notebook, and the period's burn-down as a
matplotlib figure."""

from __future__ import annotations

import pytest

import seowire


def test_rows_and_ledger_render_as_html(emu):
    led = seowire.Ledger("memory://")
    sr = seowire.Semrush("k-html", base_url=emu.base_url("semrush"), ledger=led, budget=1_000)
    rows = sr.domain_organic("example.com", database="us", display_limit=12)
    html = rows._repr_html_()
    assert "domain_organic" in html and "12 rows" in html and "120 units" in html and html.count("<tr>") == 11  # header + 10
    assert "2 more rows" in html and "partial" not in html
    rows.partial = True
    assert "partial</span>" in rows._repr_html_()
    page = led._repr_html_()
    assert "seowire ledger" in page and "120" in page and "1,000" in page and "width:12%" in page  # the budget bar
    assert "domain_organic" in page  # the last 24 hours by report
    assert "k-html" not in page + html


def test_the_burn_down_plot(emu):
    pytest.importorskip("matplotlib")
    led = seowire.Ledger("memory://")
    sr = seowire.Semrush("k-plot", base_url=emu.base_url("semrush"), ledger=led, budget=1_000)
    for n in (5, 10, 20):
        sr.domain_organic(f"site{n}.com", database="us", display_limit=n)
    fig = led.plot(provider="semrush")
    ax = fig.axes[0]
    labels = [line.get_label() for line in ax.get_lines()]
    assert "spent" in labels and "budget 1,000" in labels and "projection at the current rate" in labels
    spent = next(line for line in ax.get_lines() if line.get_label() == "spent")
    assert list(spent.get_ydata())[-1] == 350
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    assert buf.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(seowire.InvalidRequest):
        led.plot(provider="ahrefs")
