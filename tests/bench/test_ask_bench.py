"""bench/ask.py runs end to end on the Harper Valley transcripts (one timed pass) and
prints its two tables, with ask's quotes no worse than the bare search's hits."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = Path("/work/shared/eval-data/call_transcripts/harper_valley_bank")


@pytest.mark.skipif(not DATA.is_dir(), reason="the Harper Valley transcripts are not here")
def test_the_bench_runs_and_prints_its_tables() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "ask.py"), "--repeat", "1"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    found = re.findall(r"^\| (ask|hybrid) \| (\d+)/10 \| (\d+)/10 \|", done.stdout, flags=re.M)
    assert [name for name, _, _ in found] == ["ask", "hybrid"], done.stdout
    (_, ask1, ask3), (_, hyb1, hyb3) = found
    assert int(ask3) >= int(hyb3) and int(ask1) >= int(hyb1)
