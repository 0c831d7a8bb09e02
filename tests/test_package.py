import pathlib
import re
import subprocess
import sys

import pytest

import seowire

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_version_matches_cargo():
    cargo = (ROOT / "Cargo.toml").read_text()
    assert seowire.__version__ == re.search(r'^version = "([^"]+)"', cargo, re.M).group(1)


def test_typed_package_and_private_native_module():
    pkg = pathlib.Path(seowire.__file__).parent
    assert (pkg / "py.typed").exists()
    assert seowire._seowire.__name__ == "seowire._seowire"
    assert seowire.build_profile in ("release", "debug")


def test_import_creates_no_threads_and_opens_no_files():
    code = r"""
import os, threading
before = set(os.listdir('/proc/self/fd'))
import seowire
after = set(os.listdir('/proc/self/fd'))
opened = [os.readlink(f'/proc/self/fd/{fd}') for fd in after - before if os.path.exists(f'/proc/self/fd/{fd}')]
opened = [p for p in opened if not p.endswith('.so') and '/proc/' not in p]
tasks = len(os.listdir('/proc/self/task'))
print(threading.active_count(), tasks, seowire._seowire.runtime_started(), opened)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split(maxsplit=3)
    assert out[0] == "1" and out[1] == "1", out  # one Python thread, one OS thread
    assert out[2] == "False"
    assert out[3].strip() == "[]"


def test_exception_hierarchy():
    for name in ["AuthenticationError", "InvalidRequest", "BudgetExceeded", "UnitsExhausted", "RateLimited",
                 "ProviderError", "TransportError", "ResponseFormatError", "LedgerError", "NotSupported"]:
        assert issubclass(getattr(seowire, name), seowire.SeowireError)
    assert issubclass(seowire.InvalidRequest, ValueError)
    e = seowire.RateLimited("slow down", provider="semrush", status=429, code="429", retryable=True)
    import pickle

    e2 = pickle.loads(pickle.dumps(e))
    assert (e2.provider, e2.status, e2.code, e2.retryable, str(e2)) == ("semrush", 429, "429", True, "slow down")


def test_stubs_match_the_native_module(tmp_path):
    """The hand-written stubs (seowire/_seowire.pyi) agree with the compiled module."""
    pytest.importorskip("mypy")
    import os

    # Check the very package these tests import (installed or a source tree on PYTHONPATH).
    env = {**os.environ, "PYTHONPATH": str(pathlib.Path(seowire.__file__).resolve().parents[1])}
    out = subprocess.run([sys.executable, "-m", "mypy.stubtest", "seowire"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr


BLOCK_EXTRAS = r"""
import importlib.abc, sys
BLOCKED = {"polars", "pandas", "pyarrow", "airflow", "pytest", "_pytest", "tqdm", "dlt", "duckdb", "pyspark"}
class _Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is blocked: seowire is installed without extras here")
sys.meta_path.insert(0, _Block())
"""


def test_stubs_match_without_the_optional_extras(tmp_path):
    """A user who type-checks with seowire installed alone (no polars, pandas, pyarrow, Airflow,
    pytest, tqdm) gets a clean stubtest run: the extras are blocked at import and, for mypy,
    absent from the search path."""
    pytest.importorskip("mypy")
    import os

    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BLOCK_EXTRAS)
    pkg_root = pathlib.Path(seowire.__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": f"{site}{os.pathsep}{pkg_root}"}
    check = subprocess.run([sys.executable, "-c", "import polars"], env=env, capture_output=True, text=True)
    assert check.returncode != 0 and "blocked" in check.stderr  # the blocker works
    (tmp_path / "mypy.ini").write_text("[mypy]\nno_site_packages = True\n")
    out = subprocess.run([sys.executable, "-m", "mypy.stubtest", "--mypy-config-file", str(tmp_path / "mypy.ini"), "seowire"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr


def test_typed_example_passes_mypy_strict(tmp_path):
    pytest.importorskip("mypy")
    import os

    example = pathlib.Path(__file__).resolve().parent.parent / "examples" / "typed.py"
    env = {**os.environ, "PYTHONPATH": str(pathlib.Path(seowire.__file__).resolve().parents[1])}
    out = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(tmp_path), str(example)],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
