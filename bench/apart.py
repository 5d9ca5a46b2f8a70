"""A benchmark's helper process (a fake Slack) on a core of its own, as the real service
would be on other machines: it says "READY <url>" once serving and stops when its stdin
closes, so it never outlives the benchmark."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path


@asynccontextmanager
async def process_apart(args: list[str], cwd: Path) -> AsyncIterator[str]:
    """Start `args` (a Python script and its arguments); its URL once it is READY."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *args, cwd=cwd, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode().split()
        if line[:1] != ["READY"]:
            raise RuntimeError(f"{args[0]} did not start: {line}")
        yield line[1]
    finally:
        proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()


async def ready_until_stdin_closes(url: str) -> None:
    """The helper's side: say READY, then serve until the benchmark closes our stdin."""
    print("READY", url, flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
