import logging
import os
import pathlib
import tempfile

import pytest

# Keep the default SQLite ledger out of the user's cache during tests.
_tmp = tempfile.mkdtemp(prefix="seowire-tests-")
os.environ["SEOWIRE_LEDGER"] = f"sqlite://{_tmp}/ledger.sqlite3"
os.environ.pop("SEMRUSH_API_KEY", None)
os.environ.pop("SEOWIRE_SEMRUSH_URL", None)

# Rust log records are filtered by level once and cached: set it before anything logs.
logging.getLogger("seowire").setLevel(logging.DEBUG)

import seowire  # noqa: E402
from seowire.testing import Emulator  # noqa: E402

FIXTURES = pathlib.Path(__file__).resolve().parent.parent.parent / "shared" / "fixtures"
SECRET = "sk-TEST-0123456789abcdef-SECRET"


@pytest.fixture
def emu():
    with Emulator() as e:
        yield e


@pytest.fixture
def semrush(emu):
    """A client on the emulator with its own in-memory ledger and fast retries."""

    def make(**kw):
        kw.setdefault("ledger", seowire.Ledger("memory://"))
        kw.setdefault("retry", seowire.RetryPolicy(base_delay=0.01, max_delay=0.05))
        if "rate_limit" not in kw:  # limits have their own tests; elsewhere they only slow things down
            kw["rate_limit"] = None
            emu.configure(rate_limit=None)
        return seowire.Semrush(kw.pop("api_key", SECRET), base_url=emu.base_url("semrush"), **kw)

    return make


@pytest.fixture
def fixtures():
    if not FIXTURES.is_dir():
        if os.environ.get("CI"):  # CI has shared/ beside the clone: never skip there
            pytest.fail(f"shared fixtures not found at {FIXTURES}")
        pytest.skip(f"shared fixtures not found at {FIXTURES}")
    return FIXTURES
