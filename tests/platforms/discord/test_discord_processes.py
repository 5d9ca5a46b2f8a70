"""`cohortbot gateway` as an operator runs it: the gateway acknowledges each interaction and a
handler process of its own (DISCORD_HANDLERS, 1 by default) answers it, over Discord's wire
against the fake Discord. A handler that dies is started again, and whoever it left waiting is
told so."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from cli_kit import COMMAND, cli_env, run_cohortbot
from delivery_kit import until
from fakes.discord import CallbackType, FakeDiscord, Interaction

from bot.platforms.discord.asked import Kind, acknowledged_first
from bot.platforms.discord.processes import INTERRUPTED, RESTARTING

MEMBER_LOOKUP = "GET /guilds/{guild_id}/members/{user_id}"


def handler_processes(gateway: asyncio.subprocess.Process) -> list[int]:
    """The gateway's children: its handler processes (Linux's record of them)."""
    assert gateway.pid is not None
    children = Path(f"/proc/{gateway.pid}/task/{gateway.pid}/children").read_text()
    return [int(pid) for pid in children.split()]


@asynccontextmanager
async def gateway_running(
    fake: FakeDiscord, tmp: Path, **settings: str
) -> AsyncIterator[asyncio.subprocess.Process]:
    """`cohortbot discord sync`, then `cohortbot gateway` connected to `fake`; stopped (SIGTERM)
    afterwards, its handler process with it. Its log: gateway.log."""
    env = cli_env(
        f"sqlite+aiosqlite:///{tmp}/bot.db",
        DISCORD_TOKEN=fake.token,
        DISCORD_API_URL=fake.api_url,
        DISCORD_GATEWAY_URL=fake.gateway_url,
        DISCORD_GUILD_IDS=",".join(str(g) for g in fake.world.guilds),
        LOG_LEVEL="INFO",
        **settings,
    )
    code, _, err = await run_cohortbot("discord", "sync", cwd=tmp, env=env)
    assert code == 0, err
    log = (tmp / "gateway.log").open("wb")
    gateway = await asyncio.create_subprocess_exec(
        *COMMAND, "gateway", cwd=tmp, env=env, stdout=log, stderr=log
    )
    try:
        await fake.connected(within=20)
        await until(lambda: handler_processes(gateway), 10, "a handler process", gateway, tmp / "gateway.log")
        yield gateway
    finally:
        if gateway.returncode is None:
            gateway.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(gateway.wait(), 20)
            except TimeoutError:
                gateway.kill()
                await gateway.wait()
        log.close()


async def answered(fake: FakeDiscord, interaction: Interaction, within: float = 20) -> str:
    """What the person was answered, once "thinking…" is filled in."""
    await fake.wait_until(lambda: interaction.original and not interaction.loading, within=within)
    assert interaction.original is not None
    return interaction.original.content


async def test_the_gateway_acknowledges_and_a_handler_process_answers(tmp_path: Path) -> None:
    async with FakeDiscord() as fake:
        assert fake.guild is not None
        owner, home = fake.guild.member(fake.owner), fake.guild.text_channels[0]
        async with gateway_running(fake, tmp_path) as gateway:
            (handler,) = handler_processes(gateway)
            created = await fake.slash(owner, "cohort create", {"name": "spring"}, channel=home)
            callback = await fake.answer(created, within=10)
            assert callback.type is CallbackType.DEFERRED_CHANNEL_MESSAGE and callback.ephemeral
            assert "spring" in await answered(fake, created)
            form = await fake.slash(owner, "submit evidence", channel=home)  # the form, or why not:
            assert (await fake.answer(form, within=10)).type is CallbackType.MODAL  # a first answer
            sent = await fake.submit_modal(
                form, {"Artifact links": "https://example.org/a", "Reflection": "Why"}
            )
            said = await answered(fake, sent)  # the form's values, run by the handler as typed text
            assert said.startswith("Only learners of a cohort can hand in work. You coordinate spring.")
            assert sent.original is not None and "/submit" in sent.original.custom_ids()  # the form again
            assert handler_processes(gateway) == [handler]
        assert gateway.returncode == 0
        with pytest.raises(ProcessLookupError):  # stopped with the gateway
            os.kill(handler, 0)
        fake.check_violations(ending=True)


async def test_a_handler_process_killed_mid_answer_is_replaced_and_its_person_told(tmp_path: Path) -> None:
    async with FakeDiscord() as fake:
        assert fake.guild is not None
        owner, home = fake.guild.member(fake.owner), fake.guild.text_channels[0]
        zoe = fake.member("zoe")
        async with gateway_running(fake, tmp_path) as gateway:
            await answered(fake, await fake.slash(owner, "cohort create", {"name": "spring"}, channel=home))
            (handler,) = handler_processes(gateway)
            fake.faults.delay(MEMBER_LOOKUP, 30, times=1)  # the handler is busy looking zoe up...
            adding = await fake.slash(
                owner, "cohort add", {"name": "spring", "people": f"<@{zoe.id}>"}, channel=home
            )
            await fake.wait_until(lambda: fake.in_flight(MEMBER_LOOKUP), within=10, what="zoe's lookup")
            os.kill(handler, signal.SIGKILL)  # ...when it dies
            assert await answered(fake, adding) == INTERRUPTED
            await until(
                lambda: handler_processes(gateway) not in ([], [handler]), 10, "a new handler", gateway
            )
            again = await fake.slash(
                owner, "cohort add", {"name": "spring", "people": f"<@{zoe.id}>"}, channel=home
            )
            assert await answered(fake, again) == f"Added <@{zoe.id}> to **spring** as learner."
        log = (tmp_path / "gateway.log").read_text()
        assert (
            f"Discord handler process 0 (pid {handler}) was killed by SIGKILL; starting another in 0.2 s"
            in log
        )
        fake.check_violations(ending=True)


async def test_while_its_handler_restarts_a_form_is_answered_with_a_sentence_not_a_failure(
    tmp_path: Path,
) -> None:
    async with FakeDiscord() as fake:
        assert fake.guild is not None
        owner, home = fake.guild.member(fake.owner), fake.guild.text_channels[0]
        async with gateway_running(fake, tmp_path) as gateway:
            await answered(fake, await fake.slash(owner, "cohort create", {"name": "spring"}, channel=home))
            (handler,) = handler_processes(gateway)
            os.kill(handler, signal.SIGKILL)
            log = tmp_path / "gateway.log"
            await until(lambda: "killed by SIGKILL" in log.read_text(), 10, "the handler's end", gateway)
            form = await fake.slash(owner, "submit evidence", channel=home)  # a form: it cannot wait
            callback = await fake.answer(form, within=3)
            assert callback.type is CallbackType.CHANNEL_MESSAGE and callback.ephemeral
            assert form.original is not None and form.original.content == RESTARTING
            later = await fake.slash(owner, "cohort list", channel=home)  # this one can: it waits
            assert "spring" in await answered(fake, later)
        fake.check_violations(ending=True)


async def test_a_handler_process_that_stops_answering_is_ended_and_replaced(tmp_path: Path) -> None:
    async with FakeDiscord() as fake:
        assert fake.guild is not None
        owner, home = fake.guild.member(fake.owner), fake.guild.text_channels[0]
        async with gateway_running(fake, tmp_path, DISCORD_HANDLER_TIMEOUT="1.5") as gateway:
            await answered(fake, await fake.slash(owner, "cohort create", {"name": "spring"}, channel=home))
            (handler,) = handler_processes(gateway)
            os.kill(handler, signal.SIGSTOP)  # stuck, say: alive, and answering nothing
            stuck = await fake.slash(owner, "cohort list", channel=home)
            assert await answered(fake, stuck) == INTERRUPTED
            assert "spring" in await answered(fake, await fake.slash(owner, "cohort list", channel=home))
        log = (tmp_path / "gateway.log").read_text()
        assert f"Discord handler process 0 (pid {handler}) has not answered for over 1.5 s; ending it" in log
        fake.check_violations(ending=True)


def test_the_gateway_acknowledges_first_all_but_what_answers_with_a_form_or_suggestions() -> None:
    evidence = {
        "type": 1,
        "name": "evidence",
        "options": [{"type": 3, "name": "links", "value": "https://x.org"}],
    }
    assert acknowledged_first(Kind.application_command, {"name": "submit", "options": [evidence]})
    assert acknowledged_first(
        Kind.application_command, {"name": "cohort", "options": [{"type": 1, "name": "list"}]}
    )
    assert not acknowledged_first(Kind.application_command, {"name": "submit"})  # opens the form
    assert acknowledged_first(Kind.component, {"custom_id": "/review claim R-1"})
    assert acknowledged_first(Kind.component, {"custom_id": "an old button"})  # answered with what to do
    assert not acknowledged_first(Kind.component, {"custom_id": "/review approve R-1"})  # the rubric form
    assert acknowledged_first(Kind.modal_submit, {"custom_id": "submit"})
    assert not acknowledged_first(Kind.autocomplete, {"name": "window"})
