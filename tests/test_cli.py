"""The `cohortbot` command as a person runs it, in a subprocess."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from cli_kit import COMMAND, cli_env

ROOT = Path(__file__).resolve().parent.parent


def cohortbot(*args: str, tmp: Path, stdin: str = "", **settings: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*COMMAND, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp,
        env=cli_env(f"sqlite+aiosqlite:///{tmp}/bot.db", **settings),
        check=False,
    )


def test_demo_script_runs_a_whole_programme(tmp_path: Path) -> None:
    result = cohortbot("console", "--script", str(ROOT / "examples" / "demo.txt"), tmp=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "[#frl-spring] 📬 *Empowering Students as Creators* is open" in out
    seven_days = [line for line in out.splitlines() if "7 days left to submit" in line]
    assert {line.split("]")[0] for line in seven_days} == {"[DM @bob", "[DM @chen"}
    two_days = [line for line in out.splitlines() if line.startswith("[DM") and "2 days left" in line]
    assert {line.split("]")[0] for line in two_days} == {"[DM @chen", "[DM @alice"}
    assert "revision of S-1" in next(line for line in two_days if "@alice" in line)
    assert "[only @dana] Approved S-1" in out
    assert "[#frl-spring] 🎉 @bob earned" in out
    assert "Still may hand in, on deadlines of their own: @chen until" in out  # granted a week
    assert "[only @chen] ✅ Received S-3" in out
    lines = out.splitlines()  # each typed line is echoed before its answers
    typed = lines.index("> @maria /cohort add spring @dana as assessor")
    assert lines[typed + 1] == "[only @maria] Added @dana to *spring* as assessor."
    assert "# Maria sets up the cohort, its assessors' channel and roster." in lines[typed - 12 : typed]
    refused = [line for line in lines if "Example: `" in line]  # only the two bad inputs it shows
    assert [line.split("]")[0] for line in refused] == ["[only @bob", "[only @bob"], refused
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "bot.db").exists()  # a script runs on a throwaway database


def test_console_script_exits_non_zero_when_a_handler_crashes(tmp_path: Path) -> None:
    db = tmp_path / "broken.db"
    url = f"sqlite+aiosqlite:///{db}"
    assert cohortbot("console", "--script", os.devnull, "--db", url, tmp=tmp_path).returncode == 0
    with sqlite3.connect(db) as conn:  # a credential whose rubric someone broke by hand
        conn.execute("UPDATE credentials SET rubric = '[{\"oops\": 1}]' WHERE slug = 'creators'")
    script = tmp_path / "s.txt"
    script.write_text(
        ":admin @c\n@c /cohort create x #x\n@c /cohort add x @a\n@c /cohort add x @r as "
        "assessor\n@c /window open x creators closes +3d\n@a /submit https://e.org/a\n"
        "@r /review claim R-1\n@r /review approve R-1\n"
    )
    result = cohortbot("console", "--script", str(script), "--db", url, tmp=tmp_path)
    assert result.returncode == 1
    assert "crashed" in result.stderr
    assert "[only @r] Sorry, something went wrong on my side and nothing was changed" in result.stdout


def test_interactive_console_reads_commands_until_end_of_input(tmp_path: Path) -> None:
    result = cohortbot(
        "console", tmp=tmp_path, stdin=":admin @me\n@me /cohort create club #club\n@me /cohort list\n"
    )
    assert result.returncode == 0, result.stderr
    assert "[only @me] Created cohort *club*" in result.stdout
    assert "• *club* in #club" in result.stdout
    assert (tmp_path / "bot.db").exists()  # the interactive console keeps its data


def test_run_without_tokens_opens_the_console(tmp_path: Path) -> None:
    result = cohortbot("run", tmp=tmp_path, stdin="@me /help\n")
    assert result.returncode == 0, result.stderr
    assert "starting the console chat" in result.stdout
    assert "[only @me] *Cohort Bot*" in result.stdout


def test_credentials_load_adds_then_updates(tmp_path: Path) -> None:
    empty = cohortbot("credentials", "list", tmp=tmp_path)
    assert "No credentials yet: load yours with `cohortbot credentials load FILE.yml`" in empty.stdout
    catalogue = tmp_path / "c.yml"
    catalogue.write_text(
        "credentials:\n  - slug: storytime\n    name: Storytime Leader\n"
        "    issuer: {name: County Library, url: https://library.example.org}\n"
    )
    first = cohortbot("credentials", "load", str(catalogue), tmp=tmp_path)
    assert first.returncode == 0 and "Added 1 (storytime)" in first.stdout
    second = cohortbot("credentials", "load", str(catalogue), tmp=tmp_path)
    assert "updated 1 (storytime)" in second.stdout
    listed = cohortbot("credentials", "list", tmp=tmp_path)
    assert "storytime" in listed.stdout and "County Library" in listed.stdout


def test_credentials_load_explains_a_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("credentials:\n  - slug: Bad Slug\n    name: X\n    issuer: {name: A, url: https://a}\n")
    result = cohortbot("credentials", "load", str(bad), tmp=tmp_path)
    assert result.returncode == 2
    assert "slug 'Bad Slug' must be lowercase" in result.stderr
    missing = cohortbot("credentials", "load", str(tmp_path / "nope.yml"), tmp=tmp_path)
    assert missing.returncode == 2 and "no such file" in missing.stderr


def test_a_setting_it_cannot_take_is_named_with_why_and_no_traceback(tmp_path: Path) -> None:
    result = cohortbot("db", "upgrade", tmp=tmp_path, DISCORD_HANDLERS="two", OUTBOX_CONCURRENCY="0")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "DISCORD_HANDLERS='two': Input should be a valid integer" in result.stderr
    assert "OUTBOX_CONCURRENCY='0': Input should be greater than or equal to 1" in result.stderr


def test_db_upgrade_builds_the_schema(tmp_path: Path) -> None:
    result = cohortbot("db", "upgrade", tmp=tmp_path)
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(tmp_path / "bot.db") as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"submissions", "reviews", "outbox", "nudge_ledger", "badges"} <= tables


def test_outbox_lists_pending_and_dead_letters(tmp_path: Path) -> None:
    result = cohortbot("outbox", tmp=tmp_path)
    assert result.returncode == 0
    assert "0 pending, 0 dead." in result.stdout


def test_interactive_console_serves_the_badge_pages_it_links_to(tmp_path: Path) -> None:
    import socket
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/bot.db",
        "PORT": str(port),
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "LOG_LEVEL": "WARNING",
        "LINK_CHECK": "false",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "console"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    try:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(
            ":admin @c\n@c /cohort create x #x\n@c /cohort add x @a\n@c /cohort add x @r as "
            "assessor\n@c /window open x creators closes +3d\n@a /submit https://e.org/a\n"
            "@r /review claim R-1\n@r /review approve R-1\n@a /badges confirm\n"
        )
        proc.stdin.flush()
        page_url = None
        for line in iter(proc.stdout.readline, ""):
            if "Your badge: " in line:
                page_url = line.split("Your badge: ", 1)[1].strip()
                break
        assert page_url and page_url.startswith(f"http://127.0.0.1:{port}/badges/")
        with urllib.request.urlopen(page_url, timeout=10) as response:
            html = response.read().decode()
        assert "Empowering Students as Creators" in html and "a@example.org" not in html
    finally:
        if proc.stdin:
            proc.stdin.close()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
