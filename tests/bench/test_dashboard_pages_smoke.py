"""The dashboard pages benchmark still runs: its smoke mode (2 days x 1 feed, once) on the local stack."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGES = ("Peg Deviation", "Peg Z-Score", "Depeg Events", "Market vs Oracle", "Feed Health")


def test_dashboard_pages_smoke(stack) -> None:
    result = subprocess.run(
        [sys.executable, "bench/dashboard_pages.py", "--smoke"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    for page in PAGES:
        assert re.search(rf"^  {page} +\d+\.\d\d +\d+\.\d\d$", result.stdout, re.MULTILINE), result.stdout
    assert re.search(r"^worst cold \d+\.\d\d s .* worst warm \d+\.\d\d s", result.stdout, re.MULTILINE), result.stdout
