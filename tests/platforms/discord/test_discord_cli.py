"""`cohortbot` with Discord's settings, as an operator runs it (a subprocess), against the fake
Discord: the commands registered by `discord sync`, and a token Discord refuses said in a
sentence."""

from __future__ import annotations

from pathlib import Path

from cli_kit import cli_env, run_cohortbot
from fakes.discord import FakeDiscord
from serving import free_port

from bot.platforms.discord.commands import command_tree


async def cohortbot(*args: str, tmp: Path, fake: FakeDiscord, **settings: str) -> tuple[int, str, str]:
    on_the_fake = {
        "DISCORD_TOKEN": fake.token,
        "DISCORD_API_URL": fake.api_url,
        "DISCORD_GATEWAY_URL": fake.gateway_url,
        "PORT": str(free_port()),
    }
    env = cli_env(f"sqlite+aiosqlite:///{tmp}/bot.db", **(on_the_fake | settings))
    return await run_cohortbot(*args, cwd=tmp, env=env)


async def test_discord_sync_registers_the_commands_in_the_servers_named(tmp_path: Path) -> None:
    async with FakeDiscord() as fake:
        assert fake.guild is not None
        code, out, err = await cohortbot(
            "discord", "sync", tmp=tmp_path, fake=fake, DISCORD_GUILD_IDS=str(fake.guild.id)
        )
        assert code == 0, err
        assert (
            "Registered 6 commands (/submit, /cohort, /window, /review, /badges, /help) "
            f"in server(s) {fake.guild.id}." in out
        )
        (put,) = fake.calls("PUT /applications/{application_id}/guilds/{guild_id}/commands")
        assert put.json == command_tree()
        assert fake.calls("GET /oauth2/applications/@me")  # the application id, asked with the token
        fake.check_violations(ending=True)


async def test_discord_sync_without_servers_registers_globally(tmp_path: Path) -> None:
    async with FakeDiscord() as fake:
        code, out, _ = await cohortbot(
            "discord", "sync", tmp=tmp_path, fake=fake, DISCORD_APPLICATION_ID=str(fake.application_id)
        )
        assert code == 0 and "globally" in out
        assert fake.calls("PUT /applications/{application_id}/commands")
        assert not fake.calls("GET /oauth2/applications/@me")


async def test_a_gateway_whose_token_discord_refuses_stops_with_a_sentence(tmp_path: Path) -> None:
    async with FakeDiscord() as fake:
        code, _, err = await cohortbot("gateway", tmp=tmp_path, fake=fake, DISCORD_TOKEN="not-the-token")
        fake.take_violations()
    assert code == 2, err
    assert "cohortbot: Discord refused DISCORD_TOKEN" in err and "Reset Token" in err
    assert "Traceback" not in err and "voice" not in err


async def test_discord_sync_where_discord_cannot_be_reached_says_so(tmp_path: Path) -> None:
    async with FakeDiscord() as fake:
        unreachable = f"http://127.0.0.1:{free_port()}/api/v10"  # nothing listens there
        code, out, err = await cohortbot(
            "discord", "sync", tmp=tmp_path, fake=fake, DISCORD_API_URL=unreachable
        )
    assert code == 1 and not out
    assert f"cohortbot: could not reach Discord at {unreachable}" in err and "nothing was registered" in err
    assert "Traceback" not in err


async def test_discord_sync_with_a_token_discord_refuses_says_which_setting(tmp_path: Path) -> None:
    async with FakeDiscord() as fake:
        code, out, err = await cohortbot("discord", "sync", tmp=tmp_path, fake=fake, DISCORD_TOKEN="stale")
        fake.take_violations()
    assert code == 1 and not out
    assert "cohortbot: Discord refused DISCORD_TOKEN" in err and "Reset Token" in err
    assert "nothing was registered" in err and "HTTP 401" not in err


async def test_discord_sync_with_server_ids_that_are_not_ids_says_so_before_asking_discord(
    tmp_path: Path,
) -> None:
    async with FakeDiscord() as fake:
        code, _, err = await cohortbot(
            "discord", "sync", tmp=tmp_path, fake=fake, DISCORD_GUILD_IDS="My School Library"
        )
        assert not fake.calls()
    assert code == 2
    assert "DISCORD_GUILD_IDS holds My School Library, which is not a server id" in err


async def test_discord_sync_to_a_server_the_bot_is_not_in_says_to_invite_it(tmp_path: Path) -> None:
    async with FakeDiscord() as fake:
        code, _, err = await cohortbot(
            "discord", "sync", tmp=tmp_path, fake=fake, DISCORD_GUILD_IDS="123456789012345678"
        )
        fake.take_violations()
    assert code == 1
    assert "Discord would not register commands in 123456789012345678" in err
    assert "invite the bot" in err and "Traceback" not in err
