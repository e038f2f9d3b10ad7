"""The realtime latency benchmark still runs, as far as it can without the demo: its smoke mode
counts the warehouse statements of one near-real-time run (every feed's ingest, then a paging run's
alert evaluation) on a scratch schema. Its watching part needs the live demo (oracle, dashboard,
inbox, Airflow) and is not run here; tests/e2e/test_realtime.py measures that path on a cluster
of its own."""

from __future__ import annotations


def test_realtime_latency_smoke(run_bench, all_feeds) -> None:
    run_bench(
        "realtime_latency.py",
        "--smoke",
        expect=(
            rf"^warehouse work of one near-real-time run \({len(all_feeds)} feeds, measured on the emulator\):$",
            r"^  ingest: [1-9]\d* statements, \d+\.\d\d s in the warehouse$",
            r"^  alerts: [1-9]\d* statements, \d+\.\d\d s in the warehouse \(\d+ transition\(s\), \d+ recorded, "
            r"\d+ sent; \d+ received\)$",
            r"^  whole run in this process: \d+\.\d\d s$",
        ),
        schemas="BENCH_RT_",
        timeout=120,
    )
