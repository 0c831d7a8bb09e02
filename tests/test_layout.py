"""The Rust core's layering (DEVELOPERS.md): a module uses only modules of lower layers, so there
is no import loop and, for example, the ledger never learns a wire format."""

from __future__ import annotations

import pathlib
import re

SRC = pathlib.Path(__file__).resolve().parent.parent / "src"

# Lowest first. Modules of one layer do not use each other.
LAYERS = [
    {"secrets", "runtime", "catalog"},
    {"error"},
    {"units", "retry", "tape"},
    {"ledger"},
    {"limits"},
    {"http"},
    {"providers"},
    {"frame", "emulator"},
    {"py"},
]


def uses(module: str) -> set[str]:
    path = SRC / module
    files = list(path.rglob("*.rs")) if path.is_dir() else [SRC / f"{module}.rs"]
    found = set()
    for f in files:
        text = re.sub(r"#\[cfg\(test\)\]\s*mod tests \{.*", "", f.read_text(), flags=re.S)  # tests may reach anywhere
        found |= set(re.findall(r"crate::([a-z_]+)", text))
    return found - {module}


def test_every_module_uses_only_lower_layers():
    layer = {m: i for i, mods in enumerate(LAYERS) for m in mods}
    on_disk = {p.stem for p in SRC.glob("*.rs")} | {p.name for p in SRC.iterdir() if p.is_dir()}
    assert on_disk - {"lib"} == set(layer), "every module of src/ has a layer here"
    wrong = [(m, u) for m in layer for u in uses(m) if u in layer and layer[u] >= layer[m]]
    assert not wrong, f"modules using a module of their own or a higher layer: {wrong}"


def test_redaction_has_one_home():
    assert "fn scrub" in (SRC / "secrets.rs").read_text()
    offenders = [p.name for p in SRC.rglob("*.rs") if p.name != "secrets.rs" and re.search(r"fn (redact|scrub)\b", p.read_text())]
    assert not offenders, offenders


def test_the_emulator_keeps_facts_of_its_own():
    """No emulator module uses a client table (so client and emulator cannot agree by
    construction): their facts come from facts.rs, their own tables or the catalog's data."""
    for path in (SRC / "emulator").glob("*.rs"):
        assert "crate::providers" not in path.read_text(), path.name
