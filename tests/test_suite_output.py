"""What a developer reads at the end of a test run: one line for all the PostgreSQL tests
skipped without TEST_DATABASE_URL, not one per test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_postgresql_skips_are_summarised_in_one_line() -> None:
    env = {k: v for k, v in os.environ.items() if k != "TEST_DATABASE_URL"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/handlers/test_reminders.py",
            "-k",
            "(accepted_and_post or told_the_minimum) and console",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert "2 passed, 2 skipped" in result.stdout
    skipped = [line for line in result.stdout.splitlines() if line.startswith("SKIPPED")]
    assert skipped == [
        "SKIPPED [2] tests/conftest.py: PostgreSQL tests need TEST_DATABASE_URL (see README); skipped"
    ]
