"""bench/discord_ack.py runs end to end (a handful of interactions, no timing asserted): our bot
and the bare one log into their fakes, the programme is set up, every run is answered as it
should be, and the figures and ratios are printed."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


async def test_the_discord_ack_bench_runs_end_to_end_without_errors() -> None:
    bench = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "bench/discord_ack.py"),
        "-n",
        "5",
        "-c",
        "2",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(bench.communicate(), 120)
    printed = out.decode()
    assert bench.returncode == 0, err.decode()[-2000:]
    runs = [line for line in printed.splitlines() if " n=    5 " in line and "errors" in line]
    assert [line.split(" n=")[0].strip() for line in runs] == [
        "cohortbot /submit",
        "bare discord.py /submit",
        "cohortbot /submit status",
        "bare discord.py /submit status",
    ], printed
    assert all(line.endswith("errors 0") for line in runs), printed
    assert "its receipt, from sending" in printed  # timed, and each one arrived (else an error)
    assert printed.count("its answer, from sending") == 2, printed  # ours: "thinking…" filled in
    assert printed.count("ratio ours/bare") == 2, printed
