"""The example notebook, executed by a real Jupyter kernel (nbclient) against the emulator."""

import pathlib

import pytest

NOTEBOOK = pathlib.Path(__file__).resolve().parent.parent / "examples" / "notebook.ipynb"


def test_example_notebook_runs_in_a_kernel(emu, monkeypatch):
    nbclient = pytest.importorskip("nbclient")
    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("ipykernel")
    emu.configure(rate_limit=None)
    for provider, var in (("semrush", "SEOWIRE_SEMRUSH_URL"), ("moz", "SEOWIRE_MOZ_URL"), ("mozapi", "SEOWIRE_MOZ_API_URL"), ("ahrefs", "SEOWIRE_AHREFS_URL")):
        monkeypatch.setenv(var, emu.base_url(provider))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    out = {i: "".join(o.get("text", "") + str(o.get("data", {}).get("text/plain", "")) for o in c.get("outputs", []))
           for i, c in enumerate(nb.cells) if c.cell_type == "code"}
    assert "20 200 units" in out[2]  # sync call inside the kernel's running loop
    assert "['moz.com/', 'example.com/', 'moz.com/']" in out[3]  # top-level await of _async methods
    assert "budget exceeded" in out[4] and "nothing was sent" in out[4]
    assert "50 int64 500 units" in out[6] and "120 Int64" in out[6]  # frames
    assert "3 requests, 150 rows, 150 units" in out[7]  # progress callback
    assert "moz url_metrics" in out[7] and "100/100" in out[7]  # the default bar in a notebook
    # Spend you can see: HTML for Rows and the ledger, a PNG burn-down.
    code = [c for c in nb.cells if c.cell_type == "code"]
    data = lambda c: {k for o in c.get("outputs", []) for k in o.get("data", {})}
    assert "text/html" in data(code[7]) and "20 rows" in code[7].outputs[0]["data"]["text/html"]
    assert "text/html" in data(code[8]) and "seowire ledger" in code[8].outputs[0]["data"]["text/html"]
    assert "image/png" in data(code[9])
    stats = emu.stats()
    assert stats["by_provider"] == {"semrush": 3, "moz": 1 + 3 + 3 + 2, "ahrefs": 1}
