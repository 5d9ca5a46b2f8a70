"""`cohortbot` as an operator runs it, in a process of its own: its environment (a database, quiet
logs, no chat platform unless a test names one) and, for tests whose fakes serve from their own
event loop, the process run without blocking that loop."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

PLATFORM_SETTINGS = ("SLACK_BOT_TOKEN", "SLACK_CLIENT_ID", "DISCORD_TOKEN")
COMMAND = [sys.executable, "-m", "bot"]


def cli_env(database_url: str, **settings: str) -> dict[str, str]:
    """This process's environment for `cohortbot`: `database_url`, warnings only, no platform's
    token from the developer's shell, then `settings`."""
    env = {**os.environ, "DATABASE_URL": database_url, "LOG_LEVEL": "WARNING"}
    for name in PLATFORM_SETTINGS:
        env.pop(name, None)
    return env | settings


async def run_cohortbot(
    *args: str, cwd: Path, env: dict[str, str], merge_stderr: bool = False, within: float = 60
) -> tuple[int, str, str]:
    """`cohortbot args…`, awaited: its exit code, standard output and error (empty when merged
    into the output)."""
    process = await asyncio.create_subprocess_exec(
        *COMMAND,
        *args,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT if merge_stderr else asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), within)
    assert process.returncode is not None
    return process.returncode, out.decode(), (err or b"").decode()
