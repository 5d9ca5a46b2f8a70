"""Rotating the badge signing key, as a verifier sees it over HTTP: a credential signed before a
rotation keeps verifying from /.well-known/jwks.json, and new ones are signed with the new key.
Verification uses joserfc and the published key set alone, as any verifier would."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from badge_site import PROGRAMME, STARTED, Site
from cli_kit import cli_env, run_cohortbot
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from joserfc import jwt
from joserfc.jwk import KeySet
from serving import free_port, serving

from bot.clock import FakeClock
from bot.config import Settings
from bot.platforms.console import ConsoleChat
from bot.runtime import Runtime
from bot.storage.db import Database, run_migrations


def new_pem() -> str:
    """A key as an operator makes one (openssl genrsa), for BADGE_SIGNING_KEY."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()


async def verify(site: Site, token: str) -> jwt.Token:
    """The token checked against the key set served now; BadSignatureError/InvalidKeyIdError if not."""
    keys = KeySet.import_key_set((await site.http.get("/.well-known/jwks.json")).json())
    return jwt.decode(token, keys, algorithms=["RS256"])


async def kid(site: Site, token: str) -> str:
    """The kid of a token that verifies from the served key set."""
    return str((await verify(site, token)).header["kid"])


async def published(site: Site) -> list[str]:
    return [key["kid"] for key in (await site.http.get("/.well-known/jwks.json")).json()["keys"]]


async def badge_jwt(site: Site, badge: str = "B-1") -> str:
    response = await site.http.get(f"/badges/{site.uid(badge)}/credential.jwt")
    assert response.status_code == 200
    return response.text


async def status_list_jwt(site: Site) -> str:
    return (await site.http.get("/status/revocations.jwt")).text


async def rotate_key(settings: Settings, cwd: Path, **env: str) -> tuple[int, str]:
    """`cohortbot badges rotate-key` as an operator runs it, in a process of its own."""
    environment = cli_env(settings.database_url, PUBLIC_BASE_URL=settings.public_base_url, **env)
    code, out, _ = await run_cohortbot("badges", "rotate-key", cwd=cwd, env=environment, merge_stderr=True)
    return code, out


async def programme(db: Database, settings: Settings) -> tuple[ConsoleChat, Settings]:
    """The programme run to an issued badge, for an installation at a free local address."""
    configured = settings.model_copy(update={"public_base_url": f"http://127.0.0.1:{free_port()}"})
    chat = ConsoleChat(db, configured, clock=FakeClock(STARTED), out=None)
    await chat.run(PROGRAMME)
    assert chat.errors == 0 and chat.crashes == 0, chat.transcript
    return chat, configured


@asynccontextmanager
async def served(chat: ConsoleChat, settings: Settings) -> AsyncIterator[Site]:
    """The installation's web app served at its address with `settings`: a start, or a restart."""
    base = settings.public_base_url
    async with (
        serving(Runtime(settings, clock=chat.clock), int(base.rsplit(":", 1)[1])),
        httpx.AsyncClient(base_url=base, timeout=10) as http,
    ):
        yield Site(chat, http, base)


async def test_a_new_signing_key_setting_signs_new_badges_and_old_ones_keep_verifying(
    db: Database, settings: Settings
) -> None:
    chat, configured = await programme(db, settings)
    async with served(chat, configured) as site:  # no BADGE_SIGNING_KEY: the generated key signs
        before = await badge_jwt(site)
        old_kid = await kid(site, before)

    async with served(chat, configured.model_copy(update={"badge_signing_key": new_pem()})) as site:
        await chat.run("@coord /badges correct B-1 alice@library.org")  # a new badge, B-2
        after = await badge_jwt(site, "B-2")
        new_kid = await kid(site, after)
        assert new_kid != old_kid
        assert await published(site) == [new_kid, old_kid]  # today's key first
        assert await kid(site, before) == old_kid  # the token a learner kept from before the rotation
        old_key = await site.http.get(old_kid.removeprefix(site.base))  # its kid still dereferences
        assert old_key.status_code == 200 and old_key.json()["kid"] == old_kid and "d" not in old_key.json()
        assert await kid(site, await status_list_jwt(site)) == new_kid

    async with served(chat, configured) as site:  # the setting removed: the stored key signs again
        assert await kid(site, await badge_jwt(site, "B-2")) == old_kid
        assert set(await published(site)) == {old_kid, new_kid}
        assert await kid(site, after) == new_kid


async def test_rotate_key_command_takes_effect_in_the_running_web_app(
    site: Site, settings: Settings, tmp_path: Path
) -> None:
    before = await badge_jwt(site)
    old_kid = await kid(site, before)

    code, out = await rotate_key(settings.model_copy(update={"public_base_url": site.base}), tmp_path)
    assert code == 0, out
    # The web app was not restarted: it publishes both keys and signs with the new one.
    new_kid, *older = await published(site)
    assert older == [old_kid] and new_kid != old_kid
    assert f"New badges are signed with {new_kid}." in out
    assert f"{old_kid} stays in {site.base}/.well-known/jwks.json" in out
    assert await kid(site, await badge_jwt(site)) == new_kid
    assert await kid(site, before) == old_kid
    assert await kid(site, await status_list_jwt(site)) == new_kid


async def test_rotate_key_is_refused_while_a_signing_key_setting_signs(
    settings: Settings, tmp_path: Path
) -> None:
    code, out = await rotate_key(settings, tmp_path, BADGE_SIGNING_KEY=new_pem())
    assert code == 2
    assert "BADGE_SIGNING_KEY is set" in out and "set a new one" in out


async def test_a_key_that_signed_before_the_upgrade_stays_published_when_a_setting_replaces_it(
    db: Database, settings: Settings
) -> None:
    """An installation from before key rotation, its badges signed with the generated key, upgraded
    and given a BADGE_SIGNING_KEY at once: its badges still verify (the migration publishes the key)."""
    chat, configured = await programme(db, settings)
    async with served(chat, configured) as site:
        before = await badge_jwt(site)
    async with db.engine.begin() as conn:  # back to the schema before published keys, then up again
        await conn.run_sync(run_migrations, "downgrade", "0006")
    await db.upgrade()

    async with served(chat, configured.model_copy(update={"badge_signing_key": new_pem()})) as site:
        old_kid = await kid(site, before)
        assert old_kid in await published(site) and len(await published(site)) == 2
