import logging
import os
import pathlib
import tempfile

import pytest

# Keep the default SQLite ledger out of the user's cache during tests.
_tmp = tempfile.mkdtemp(prefix="seowire-tests-")
os.environ["SEOWIRE_LEDGER"] = f"sqlite://{_tmp}/ledger.sqlite3"
for _var in ("SEMRUSH_API_KEY", "SEOWIRE_SEMRUSH_URL", "MOZ_TOKEN", "MOZ_ACCESS_ID", "MOZ_SECRET_KEY",
             "SEOWIRE_MOZ_URL", "SEOWIRE_MOZ_API_URL", "SEMRUSH_V4_API_KEY", "SEOWIRE_SEMRUSH_V4_URL", "SEOWIRE_SEMRUSH_TRENDS_URL", "SEOWIRE_SEMRUSH_PROJECTS_URL", "AHREFS_API_KEY", "SEOWIRE_AHREFS_URL"):
    os.environ.pop(_var, None)

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
        kw.setdefault("cache", False)  # tests count requests; the cache has its own tests
        if "rate_limit" not in kw:  # limits have their own tests; elsewhere they only slow things down
            kw["rate_limit"] = None
            emu.configure(rate_limit=None)
        return seowire.Semrush(kw.pop("api_key", SECRET), base_url=emu.base_url("semrush"), **kw)

    return make


FAST = seowire.RetryPolicy(base_delay=0.01, max_delay=0.05)


@pytest.fixture
def moz(emu):
    """A Moz client on the emulator (token auth, large plan) with its own ledger."""

    def make(*args, **kw):
        kw.setdefault("ledger", seowire.Ledger("memory://"))
        kw.setdefault("retry", FAST)
        kw.setdefault("cache", False)
        if not args and not {"access_id", "secret_key"} & set(kw):
            args = (SECRET,)
        kw.setdefault("plan", "large")
        kw.setdefault("api_url", emu.base_url("mozapi"))
        return seowire.Moz(*args, base_url=emu.base_url("moz"), **kw)

    return make


@pytest.fixture
def ahrefs(emu):
    """An Ahrefs client on the emulator, unthrottled unless asked, with its own ledger."""

    def make(**kw):
        kw.setdefault("ledger", seowire.Ledger("memory://"))
        kw.setdefault("retry", FAST)
        kw.setdefault("cache", False)
        if "rate_limit" not in kw:
            kw["rate_limit"] = None
            emu.configure(ahrefs_rate_per_minute=None)
        return seowire.Ahrefs(kw.pop("api_key", SECRET), base_url=emu.base_url("ahrefs"), **kw)

    return make


@pytest.fixture
def fixtures():
    if not FIXTURES.is_dir():
        if os.environ.get("CI"):  # CI has shared/ beside the clone: never skip there
            pytest.fail(f"shared fixtures not found at {FIXTURES}")
        pytest.skip(f"shared fixtures not found at {FIXTURES}")
    if not any(FIXTURES.iterdir()):  # a folder that exists but holds nothing must not pass tests
        pytest.fail(f"the shared fixtures folder {FIXTURES} is empty")
    return FIXTURES
