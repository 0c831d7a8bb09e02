"""seowire.spark with real PySpark in local mode, 4 Python workers, one Redis ledger: the whole
cluster within the plan's concurrency, the ledger exact, a budget refusal raised to the driver
with nothing sent past it, and a rerun (Spark's task retry) paid from the cache."""

from __future__ import annotations

import os
import shutil
import sys

import pytest

import seowire
from seowire.spark import ClientConfig, url_metrics
from redis_server import RedisServer

pyspark = pytest.importorskip("pyspark")
pa = pytest.importorskip("pyarrow")

if shutil.which("java") is None:
    if os.environ.get("SEOWIRE_REQUIRE_SPARK") == "1":
        pytest.fail("Java is required for the Spark tests (SEOWIRE_REQUIRE_SPARK=1) but not installed")
    pytest.skip("no Java runtime (apt-get install default-jre-headless)", allow_module_level=True)

N = 20_000
TOKEN = "spark-moz-token"


@pytest.fixture(scope="module")
def spark():
    import logging

    from pyspark.sql import SparkSession

    # py4j logs at INFO from __del__ at interpreter exit, after pytest closed its streams.
    logging.getLogger("py4j").setLevel(logging.WARNING)
    os.environ["PYSPARK_PYTHON"] = sys.executable
    session = (
        SparkSession.builder.master("local[4]")
        .appName("seowire-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.python.worker.reuse", "true")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "2500")
        .getOrCreate()
    )
    yield session
    session.stop()


@pytest.fixture
def redis():
    server = RedisServer()
    yield server
    server.close()


def _frame(spark, n, start=0):
    return spark.createDataFrame([(f"https://site{i}.example.com/p",) for i in range(start, start + n)], "url string").repartition(4)


def test_cluster_stays_within_the_plan_and_the_ledger_is_exact(spark, redis, emu):
    emu.reset(latency_ms=20, moz_concurrency=10, balance=10**12)
    config = ClientConfig("moz", token=TOKEN, plan="large", base_url=emu.base_url("moz"), ledger=redis.url, cache=True)
    assert TOKEN not in repr(config)
    df = _frame(spark, N)
    enrich = url_metrics(config, column="url")
    out = df.mapInArrow(enrich, enrich.schema(df.schema))
    rows = out.select("url", "page", "domain_authority", "last_crawled").collect()
    assert len(rows) == N
    assert all(r["page"] == r["url"].split("://", 1)[1] for r in rows)  # every row joined to its own metrics
    assert dict(out.dtypes)["domain_authority"] == "bigint" and dict(out.dtypes)["last_crawled"] == "date"
    stats = emu.stats()
    assert stats["peak_in_flight"] <= 10 and stats["rejected_concurrency"] == 0, stats
    assert stats["requests"] == N // 50
    ledger = seowire.Ledger(redis.url)
    spent = sum(u["spent"] for u in ledger.usage() if u["provider"] == "moz")
    assert spent == stats["units_by_provider"]["moz"] == N
    # Run again (what a retried task does): every chunk is in the shared cache, nothing is paid.
    again = df.mapInArrow(enrich, enrich.schema(df.schema)).count()
    assert again == N and emu.stats()["units_by_provider"]["moz"] == N


def test_a_budget_refusal_reaches_the_driver_with_nothing_sent_past_it(spark, redis, emu):
    emu.reset(latency_ms=5, moz_concurrency=10, balance=10**12)
    config = ClientConfig("moz", token=TOKEN, plan="large", base_url=emu.base_url("moz"), ledger=redis.url, cache=False, budget=3_000)
    enrich = url_metrics(config)
    df = _frame(spark, 6_000)
    with pytest.raises(Exception, match="BudgetExceeded|budget"):
        df.mapInArrow(enrich, enrich.schema(df.schema)).count()
    charged = emu.stats()["units_by_provider"].get("moz", 0)
    assert 0 < charged <= 3_000, "never a unit past the budget, across all executors"
    spent = sum(u["spent"] for u in seowire.Ledger(redis.url).usage() if u["provider"] == "moz")
    assert spent == charged


def test_config_is_checked_and_the_functions_work_without_spark(emu):
    with pytest.raises(seowire.InvalidRequest):
        ClientConfig("majestic", token="x")
    with pytest.raises(seowire.InvalidRequest, match="URL"):
        ClientConfig("moz", token="x", ledger=seowire.Ledger("memory://"))
    config = ClientConfig("moz", token=TOKEN, plan="large", base_url=emu.base_url("moz"), ledger="memory://", cache=False)
    enrich = url_metrics(config)
    table = pa.table({"url": ["a.com", "b.com"], "id": [1, 2]})
    out = enrich.arrow_table(table)
    assert out.column_names[:2] == ["url", "id"] and out.column("page").to_pylist() == ["a.com/", "b.com/"]
    pd = pytest.importorskip("pandas")
    assert list(enrich.pandas(pd.DataFrame({"url": ["c.com"]}))["page"]) == ["c.com/"]
    with pytest.raises(seowire.InvalidRequest, match="nulls"):
        enrich.arrow_table(pa.table({"url": ["a.com", None]}))
