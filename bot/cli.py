"""`cohortbot`: run the bot, its console, and its housekeeping."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import socket
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError
from sqlalchemy import select, update

from bot.catalogue import BUNDLED, CatalogueError, catalogue_is_empty, load_catalogue
from bot.clock import SystemClock
from bot.config import ConfigError, Settings, get_settings, unusable
from bot.outbox import UNSENT
from bot.platforms import chats_configured
from bot.storage import Outbox, OutboxState
from bot.storage.db import Database

if TYPE_CHECKING:
    from bot.runtime import Runtime


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cohortbot",
        description="Cohort coordination and badges in Slack, Discord or a local console chat.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run everything configured (the console when no chat tokens)")
    serve = sub.add_parser("serve", help="the web app: Slack endpoint, health, badge pages")
    serve.add_argument("--host", help="interface (default HOST, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default PORT, 3000)")
    sub.add_parser("worker", help="deliver outbox messages")
    sub.add_parser("clock", help="run scheduled work: openings, nudges, closings, reminders")
    console = sub.add_parser("console", help="chat with the bot in this terminal")
    console.add_argument(
        "--script",
        type=Path,
        help="run lines from FILE and exit "
        "(non-zero if a handler crashed); uses a fresh database unless --db",
    )
    console.add_argument("--db", help="database URL (default: DATABASE_URL)")
    db = sub.add_parser("db", help="database schema")
    db.add_argument("action", choices=["upgrade"])
    creds = sub.add_parser("credentials", help="the credential catalogue")
    creds_sub = creds.add_subparsers(dest="action", required=True)
    load = creds_sub.add_parser("load", help="add or update credentials from a YAML file")
    load.add_argument("file", type=Path)
    creds_sub.add_parser("list", help="list the catalogue")
    slack_manifest = sub.add_parser("slack-manifest", help="print the Slack app manifest (YAML)")
    slack_manifest.add_argument("--url", default=None, help="public base URL (default PUBLIC_BASE_URL)")
    discord = sub.add_parser(
        "discord",
        help="the Discord application: register its slash commands",
        description="`cohortbot discord sync` registers the slash commands with Discord (needs "
        "DISCORD_TOKEN): in the servers of DISCORD_GUILD_IDS at once, else globally. Run it again "
        "after upgrading; the bot never registers them on connecting.",
    )
    discord.add_argument(
        "action", choices=["sync"], help="register the slash commands (DISCORD_GUILD_IDS, else globally)"
    )
    sub.add_parser(
        "gateway", help="the chat platforms' own connections: Discord's gateway, Slack's Socket Mode"
    )
    box = sub.add_parser("outbox", help="messages waiting to be delivered, and dead letters")
    box.add_argument("action", nargs="?", choices=["list", "retry"], default="list")
    badges = sub.add_parser("badges", help="Open Badges signing keys")
    badges.add_argument(
        "action",
        choices=["rotate-key"],
        help="sign new badges with a new stored key; earlier keys stay published",
    )
    return parser


async def open_db(url: str) -> Database:
    db = Database(url)
    await db.upgrade()
    return db


async def ensure_catalogue(db: Database, say: bool = True) -> None:
    async with db.transaction() as session:
        if await catalogue_is_empty(session):
            loaded = await load_catalogue(session, BUNDLED, SystemClock().now())
            if say:
                print(f"Loaded the example credential catalogue ({', '.join(loaded.added)}) from {BUNDLED}.")


@asynccontextmanager
async def badge_pages(runtime: Runtime) -> AsyncIterator[None]:
    """The console serves the same web app on localhost, so the badge links it prints open."""
    settings = runtime.settings
    with socket.socket() as probe:
        try:
            probe.bind((settings.host, settings.port))
        except OSError:
            print(
                f"(Port {settings.port} is busy, so badge pages are not served; set PORT and "
                "PUBLIC_BASE_URL to use another.)"
            )
            yield
            return
    stop = asyncio.Event()
    server = asyncio.create_task(runtime.serve(stop, settings.host, settings.port))
    print(f"Badge pages: {settings.public_base_url} (served on {settings.host}:{settings.port}).")
    try:
        yield
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server, 10)


async def console(settings: Settings, script: Path | None, db_url: str | None) -> int:
    from bot.platforms.console import ConsoleChat, interactive

    tmp = None
    if script is not None and db_url is None:
        tmp = tempfile.TemporaryDirectory(prefix="cohortbot-")
        db_url = f"sqlite+aiosqlite:///{tmp.name}/demo.db"
    db = await open_db(db_url or settings.database_url)
    try:
        await ensure_catalogue(db, say=script is None)
        chat = ConsoleChat(db, settings, echo=True)
        if script is None:
            async with badge_pages(chat.runtime):
                await interactive(chat)
            return 0
        try:
            text = await asyncio.to_thread(script.read_text, encoding="utf-8")
        except OSError as exc:
            print(f"cohortbot: can't read {script}: {exc.strerror}", file=sys.stderr)
            return 2
        await chat.run(text)
        if chat.crashes:
            print(f"cohortbot: {chat.crashes} command(s) crashed; see the log above.", file=sys.stderr)
            return 1
        return 0
    finally:
        await db.dispose()
        if tmp is not None:
            tmp.cleanup()


async def credentials(settings: Settings, action: str, file: Path | None) -> int:
    db = await open_db(settings.database_url)
    try:
        async with db.transaction() as session:
            if action == "load":
                assert file is not None
                loaded = await load_catalogue(session, file, SystemClock().now())
                print(
                    f"Added {len(loaded.added)} ({', '.join(loaded.added) or '-'}), updated "
                    f"{len(loaded.updated)} ({', '.join(loaded.updated) or '-'})."
                )
            else:
                from bot.storage import Credential

                found = list(await session.scalars(select(Credential).order_by(Credential.slug)))
                for cred in found:
                    print(f"{cred.slug:20} {cred.name} — {cred.issuer_name}")
                if not found:
                    print(
                        f"No credentials yet: load yours with `cohortbot credentials load FILE.yml` "
                        f"(an example: {BUNDLED})."
                    )
        return 0
    except CatalogueError as exc:
        print(f"cohortbot: {exc}", file=sys.stderr)
        return 2
    finally:
        await db.dispose()


async def outbox(settings: Settings, action: str) -> int:
    db = await open_db(settings.database_url)
    try:
        async with db.transaction() as session:
            if action == "retry":
                result = await session.execute(
                    update(Outbox)
                    .where(Outbox.state == OutboxState.DEAD)
                    .values(state=OutboxState.PENDING, attempts=0, next_attempt_at=SystemClock().now())
                )
                print(f"{result.rowcount} dead letter(s) queued again.")  # type: ignore[attr-defined]
                return 0
            rows = list(
                await session.scalars(
                    select(Outbox).where(Outbox.state.in_([*UNSENT, OutboxState.DEAD])).order_by(Outbox.id)
                )
            )
            for row in rows:
                print(
                    f"{row.state:8} {row.attempts}x {row.dest_kind}:{row.dest_id} {row.key}"
                    + (f" — {row.last_error}" if row.last_error else "")
                )
            print(
                f"{sum(r.state != OutboxState.DEAD for r in rows)} pending, "
                f"{sum(r.state == OutboxState.DEAD for r in rows)} dead."
            )
            return 0
    finally:
        await db.dispose()


async def badges(settings: Settings) -> int:
    """`badges rotate-key`: a new stored key signs from now on, in every running process; the old
    one's public part stays in the JWKS, so the badges it signed keep verifying."""
    from bot.badges.issuing import rotate_signing_key, urls_for

    if settings.badge_signing_key:
        print(
            "cohortbot: BADGE_SIGNING_KEY is set, and it signs: to rotate, set a new one and restart "
            "(the old one stays published).",
            file=sys.stderr,
        )
        return 2
    db = await open_db(settings.database_url)
    try:
        old, new = await rotate_signing_key(db, SystemClock().now())
    finally:
        await db.dispose()
    urls = urls_for(settings)
    print(
        f"New badges are signed with {new.kid(urls)}.\n{old.kid(urls)} stays in {urls.jwks}, "
        "so the badges it signed keep verifying."
    )
    return 0


async def discord_sync(settings: Settings) -> int:
    from bot.platforms import discord
    from bot.platforms.discord.rest import DiscordHttpError, DiscordUnreachable
    from bot.platforms.discord.sync import refusal, sync_commands

    if not settings.discord_token:
        print("cohortbot: set DISCORD_TOKEN (README: Discord) to register the commands.", file=sys.stderr)
        return 2
    if wrong := discord.problem(settings):
        print(f"cohortbot: {wrong}", file=sys.stderr)
        return 2
    try:
        print(await sync_commands(settings))
    except DiscordHttpError as error:
        print(f"cohortbot: {refusal(error, settings)}; nothing was registered.", file=sys.stderr)
        return 1
    except DiscordUnreachable as error:  # no network, a wrong DISCORD_API_URL, a timeout
        print(
            f"cohortbot: could not reach Discord at {settings.discord_api_url} "
            f"({error or type(error).__name__}); nothing was registered.",
            file=sys.stderr,
        )
        return 1
    return 0


async def upgrade(settings: Settings) -> int:
    db = await open_db(settings.database_url)
    await db.dispose()
    print("Database schema is up to date.")
    return 0


async def until_signalled(parts: list[Callable[[asyncio.Event], Awaitable[None]]]) -> int:
    """Run long-lived parts until SIGINT/SIGTERM, then stop them all cleanly; if one fails (a
    platform refusing its token), the others are stopped too, and its error raised."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    tasks = [asyncio.ensure_future(part(stop)) for part in parts]
    try:
        await asyncio.gather(*tasks)
    except Exception:
        stop.set()
        await asyncio.wait(tasks, timeout=10)
        raise
    return 0


async def serve_parts(
    settings: Settings, parts: set[str], host: str | None = None, port: int | None = None
) -> int:
    from bot.runtime import Runtime, settle_heap

    try:
        runtime = Runtime(settings)
    except ConfigError as exc:
        print(f"cohortbot: {exc}", file=sys.stderr)
        return 2
    await runtime.start()
    settle_heap()  # a long-lived process, set up: see settle_heap
    jobs: list[Callable[[asyncio.Event], Awaitable[None]]] = []
    if "web" in parts:
        jobs.append(lambda stop: runtime.serve(stop, host or settings.host, port or settings.port))
        print(
            f"Serving on http://{host or settings.host}:{port or settings.port} "
            f"({', '.join(runtime.platforms) or 'no chat platform configured'})."
        )
    if "worker" in parts:
        jobs.append(runtime.deliver_forever)
    if "clock" in parts:
        jobs.append(runtime.lead_clock)
    if "socket" in parts:  # the platforms' own connections: Discord's gateway, Slack's Socket Mode
        jobs.extend(runtime.runners())
        if parts == {"socket"} and not jobs:
            print("No Discord token or Slack app token is set: there is no connection to keep.")
    try:
        return await until_signalled(jobs)
    except ConfigError as exc:  # found only on connecting: a chat platform refused its token
        print(f"cohortbot: {exc}", file=sys.stderr)
        return 2
    finally:
        await runtime.stop()


def configure_logging(settings: Settings, chatting: bool) -> None:
    """Logs go to stderr, apart from the chat. The console chat (stdout) logs only warnings
    unless LOG_LEVEL says otherwise; APScheduler's two lines for every run of every job are
    quiet unless LOG_LEVEL is DEBUG."""
    level = "WARNING" if chatting and "log_level" not in settings.model_fields_set else settings.log_level
    logging.basicConfig(
        level=level.upper(), stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        logging.getLogger("apscheduler.executors").setLevel(logging.WARNING)


async def run(settings: Settings) -> int:
    if not chats_configured(settings):
        print("No Slack or Discord tokens configured: starting the console chat.")
        return await console(settings, None, None)
    return await serve_parts(settings, {"web", "worker", "clock", "socket"})


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = get_settings()
    except ValidationError as error:
        print(f"cohortbot: {unusable(error)}", file=sys.stderr)
        return 2
    configure_logging(
        settings,
        chatting=args.command == "console" or (args.command == "run" and not chats_configured(settings)),
    )
    if args.command == "slack-manifest":
        from bot.platforms.slack.manifest import render

        print(render(args.url or settings.public_base_url), end="")
        return 0
    if args.command == "console":
        coro = console(settings, args.script, args.db)
    elif args.command == "db":
        coro = upgrade(settings)
    elif args.command == "credentials":
        coro = credentials(settings, args.action, getattr(args, "file", None))
    elif args.command == "outbox":
        coro = outbox(settings, args.action)
    elif args.command == "badges":
        coro = badges(settings)
    elif args.command == "serve":
        coro = serve_parts(settings, {"web"}, args.host, args.port)
    elif args.command == "worker":
        coro = serve_parts(settings, {"worker"})
    elif args.command == "clock":
        coro = serve_parts(settings, {"clock"})
    elif args.command == "gateway":
        coro = serve_parts(settings, {"socket"})
    elif args.command == "discord":
        coro = discord_sync(settings)
    else:
        coro = run(settings)
    try:
        return asyncio.run(coro)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
