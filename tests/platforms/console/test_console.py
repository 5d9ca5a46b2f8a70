"""The console a newcomer meets: a script reads as the conversation it is, the console says what
its own lines did, handles name people however they are typed, profiles outlive a restart, and
moving the clock lets time pass as it would with the bot running. Logs stay out of the chat."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from test_cli import cohortbot

from bot.clock import FakeClock
from bot.config import Settings
from bot.platforms.console import ConsoleChat
from bot.storage.db import Database


def lines_from(out: str, first: str) -> list[str]:
    """The output's lines from the one starting with `first` on."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(first))
    return lines[start:]


def test_a_script_prints_each_line_before_its_answers(tmp_path: Path) -> None:
    script = tmp_path / "club.txt"
    script.write_text(
        "# Maria starts a book club.\n"
        ":admin @maria\n"
        "@maria /cohort create club #club\n"
        "\n"
        "# What time is it?\n"
        ":clock\n",
        encoding="utf-8",
    )
    result = cohortbot("console", "--script", str(script), tmp=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = lines_from(result.stdout, "# Maria")
    assert lines[:4] == [
        "# Maria starts a book club.",
        "> :admin @maria",
        "[console] @maria is now a workspace admin: they can create cohorts and act as coordinators.",
        "> @maria /cohort create club #club",
    ]
    assert lines[4].startswith("[only @maria] Created cohort *club* in #club")
    channel = next(i for i, line in enumerate(lines) if line.startswith("[#club] 👋"))
    assert lines[channel + 1 : channel + 4] == ["", "# What time is it?", "> :clock"]
    assert lines[channel + 4].startswith("[console] It is ")


def test_piped_input_is_echoed_like_a_script(tmp_path: Path) -> None:
    result = cohortbot("console", tmp=tmp_path, stdin="@me /cohort list\n")
    assert result.returncode == 0, result.stderr
    assert lines_from(result.stdout, "> @me")[:2] == [
        "> @me /cohort list",
        "[only @me] You are not in any cohort yet. A coordinator adds you to one.",
    ]


async def test_the_console_echoes_what_it_runs(db: Database, settings: Settings, clock: FakeClock) -> None:
    printed: list[str] = []
    chat = ConsoleChat(db, settings, clock=clock, out=printed.append, echo=True)
    await chat.run("""
        # Alice looks around.
        @alice /cohort list

        :clock +1h
    """)
    assert printed == [
        "",
        "# Alice looks around.",
        "> @alice /cohort list",
        "[only @alice] You are not in any cohort yet. A coordinator adds you to one.",
        "",
        "> :clock +1h",
        "[console] It is now Mon 2 Mar 2026, 16:00 UTC.",
        "",
    ]


async def test_directives_say_what_they_did(chat: ConsoleChat) -> None:
    await chat.run("""
        :admin @maria
        :admin @ana @ben
        :user @alice name="Alice Ng" tz=America/Chicago email=alice@school.org
        :user @bob
        :clock
        :clock +1d
        :clock
    """)
    assert chat.errors == 0, chat.transcript
    assert chat.said("console") == [
        "@maria is now a workspace admin: they can create cohorts and act as coordinators.",
        "@ana and @ben are now workspace admins: they can create cohorts and act as coordinators.",
        "@alice is Alice Ng, time zone America/Chicago, e-mail alice@school.org.",
        "@bob is bob, time zone UTC, e-mail bob@example.org.",
        "It is Mon 2 Mar 2026, 15:00 UTC.",
        "It is now Tue 3 Mar 2026, 15:00 UTC.",
        "It is Tue 3 Mar 2026, 15:00 UTC.",
    ]
    await chat.run(":user @maria")
    assert chat.last("console").endswith(", workspace admin.")


async def test_handles_are_case_insensitive_and_may_hold_any_letters(spring: ConsoleChat) -> None:
    await spring.run("""
        :user @Zoë tz=America/Chicago
        @Coord /cohort add spring @ZOË @Alice
        @zoë /submit https://example.org/z -- Our zine corner
        @coord /cohort remove spring @CAROL
        @COORD /cohort status spring
    """)
    assert spring.errors == 0 and spring.crashes == 0, spring.transcript
    added = spring.said("only @coord")[-3]
    assert added == "Added @zoë to *spring* as learner. @alice was already a learner."
    assert spring.saw("only @zoë", "Received S-1")
    assert spring.saw("DM @zoë", "Welcome to cohort *spring*")
    assert spring.said("only @coord")[-2].startswith("Removed @carol from the cohort")
    status = spring.last("only @coord")
    assert "1 of 3 submitted" in status  # alice, bob and zoë: @Alice and @ZOË are no new people
    assert "not submitted: @alice, @bob" in status


async def test_a_name_that_is_no_handle_is_refused(chat: ConsoleChat) -> None:
    await chat.run("@al!ce /submit status")
    assert chat.last("console") == (
        "'@al!ce' is not a user name; a handle is letters or digits, then "
        "also . _ or -. Example: `@alice /submit status`"
    )


async def test_profiles_outlive_a_restart(db: Database, settings: Settings, clock: FakeClock) -> None:
    first = ConsoleChat(db, settings, clock=clock, out=None)
    await first.run("""
        :admin @maria
        :user @alice name="Alice Ng" tz=America/Chicago email=alice@school.org
    """)
    again = ConsoleChat(db, settings, clock=clock, out=None)  # the console started again
    await again.run("""
        :user @alice
        @maria /cohort create club #club
        @maria /cohort add club @alice
        @maria /window open club creators closes 2026-03-20T17:00 America/Chicago
        @alice /submit https://example.org/a -- my reflection
        @alice /badges
    """)
    assert again.errors == 0 and again.crashes == 0, again.transcript
    assert again.said("console") == [
        "@alice is Alice Ng, time zone America/Chicago, e-mail alice@school.org."
    ]
    assert "The window closes Fri 20 Mar 2026, 17:00 CDT" in again.said("only @alice")[0]
    assert "Badges are issued to alice@school.org" in again.last("only @alice")


def test_a_console_on_a_file_database_keeps_profiles_after_a_restart(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/club.db"
    before, after = tmp_path / "before.txt", tmp_path / "after.txt"
    before.write_text(':user @alice name="Alice Ng" tz=America/Chicago email=alice@school.org\n')
    after.write_text(":user @alice\n")
    assert cohortbot("console", "--script", str(before), "--db", url, tmp=tmp_path).returncode == 0
    result = cohortbot("console", "--script", str(after), "--db", url, tmp=tmp_path)
    assert (
        "[console] @alice is Alice Ng, time zone America/Chicago, e-mail alice@school.org." in result.stdout
    )


# ------------------------------------------------------------------- time passing


async def test_moving_the_clock_past_a_reminder_posts_it_once_on_time(spring: ConsoleChat) -> None:
    await spring.run("""
        @coord /cohort remind spring 2026-03-03T09:00 Office hours today at 4pm
        :clock +5d
        :clock +1d
    """)
    posts = [i for i, s in enumerate(spring.transcript) if s.where == "#frl" and "Office hours" in s.text]
    assert len(posts) == 1, spring.transcript
    assert spring.transcript[posts[0] - 1].text == "It is now Tue 3 Mar 2026, 15:00 UTC."  # 09:00 CST
    assert spring.said("console")[-1] == "It is now Sun 8 Mar 2026, 15:00 UTC."


async def test_a_daily_reminder_posts_each_day_the_clock_passes(spring: ConsoleChat) -> None:
    await spring.run("""
        @coord /cohort remind spring "0 9 * * *" Share one win from today
        :clock 2026-03-05T15:00Z
    """)
    assert len([t for t in spring.said("#frl") if "Share one win" in t]) == 3  # Tue, Wed, Thu
    assert spring.said("console")[-3:] == [
        "It is now Tue 3 Mar 2026, 15:00 UTC.",
        "It is now Wed 4 Mar 2026, 15:00 UTC.",
        "It is now Thu 5 Mar 2026, 15:00 UTC.",
    ]


# ------------------------------------------------------------------- logs


def quiet_env(tmp: Path) -> dict[str, str]:
    """The environment a newcomer has: no LOG_LEVEL, no chat tokens."""
    env = {**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/bot.db"}
    for name in ("LOG_LEVEL", "SLACK_BOT_TOKEN", "DISCORD_TOKEN"):
        env.pop(name, None)
    return env


def test_the_console_keeps_info_logs_out_of_the_chat(tmp_path: Path) -> None:
    """A reminder missed while the console was closed (real downtime) is skipped as ever, and
    saying so is an INFO line for operators: not in the console chat, nor on its stderr."""
    url = f"sqlite+aiosqlite:///{tmp_path}/club.db"
    set_up, later = tmp_path / "set_up.txt", tmp_path / "later.txt"
    set_up.write_text(
        ":clock 2020-01-01T09:00Z\n:admin @maria\n@maria /cohort create club #club\n"
        "@maria /cohort remind club 2020-01-02T09:00 Bring a book\n"
    )
    later.write_text(":clock +1m\n")
    env = quiet_env(tmp_path)
    run = [sys.executable, "-m", "bot", "console", "--db", url, "--script"]
    first = subprocess.run(
        [*run, str(set_up)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120, check=False
    )
    assert "[only @maria] Reminder set for #club" in first.stdout, first.stdout
    second = subprocess.run(
        [*run, str(later)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120, check=False
    )
    assert second.returncode == 0
    assert "Bring a book" not in second.stdout  # missed by years: skipped
    assert second.stderr == ""
    assert "missed by" not in second.stdout


def test_the_clock_does_not_log_every_run_of_its_jobs(tmp_path: Path) -> None:
    err = tmp_path / "clock.log"
    with err.open("w") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "clock"],
            stdout=subprocess.DEVNULL,
            stderr=sink,
            env=quiet_env(tmp_path),
            cwd=tmp_path,
        )
        try:
            deadline = time.monotonic() + 60
            while "Scheduler started" not in err.read_text() and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(2)  # the minute job and the reminder sync run at once on start
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    logged = err.read_text()
    assert "Scheduler started" in logged  # INFO is on: the scheduler's own news is logged
    assert "Running job" not in logged and "executed successfully" not in logged, logged


async def test_a_group_mentioned_in_the_console_is_refused_in_a_sentence(spring: ConsoleChat) -> None:
    await spring.run("@coord /cohort add spring @zoë <@&123>")
    assert spring.last("only @coord") == (
        "The console has no groups: mention each person. Example: `/cohort add spring @alice @bob`"
    )
    assert not spring.said("DM @zoë")
