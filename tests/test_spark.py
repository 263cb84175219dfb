"""Spark reads the dataset as written, with event_date as a pruned date partition."""

from __future__ import annotations

import os
import sys
from collections import Counter
from pathlib import Path

from pyspark.sql import SparkSession

from .collecting import collect_from
from .conftest import StartSimulator, read_truth


async def test_spark_reads_every_event_and_prunes_days(
    start_simulator: StartSimulator, tmp_path: Path
):
    simulator = start_simulator(events=20_000, ground_truth_hashes=False)
    truth = read_truth(simulator)
    out = tmp_path / "ds"
    await collect_from(simulator, out)
    per_day = Counter(t["portal_modified_date"][:10] for t in truth)
    day = max(per_day)

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    spark = (
        SparkSession.builder.master("local[1]")
        .appName("ctera-audit-test")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    try:
        events = spark.read.option("basePath", str(out)).parquet(str(out))
        one_day = events.where(f"event_date = DATE '{day}'")
        plan = one_day._jdf.queryExecution().executedPlan().toString()
        total, on_day = events.count(), one_day.count()
        date_type = dict(events.dtypes)["event_date"]
    finally:
        spark.stop()

    assert total == len(truth)
    assert on_day == per_day[day]
    assert date_type == "date"
    assert "PartitionFilters: [isnotnull(event_date" in plan
