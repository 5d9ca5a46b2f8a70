"""From database rows to badge documents: facts, the signing keys, the revocation list.

The document builders (ob2, ob3, bake, image) know nothing of the database; this
module reads what they need and hands them plain facts.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.badges.facts import BadgeFacts, CredentialFacts, IssuerFacts, Urls
from bot.badges.ob3 import STATUS_LIST_SIZE
from bot.badges.ob3 import SigningKey as Key
from bot.config import Settings
from bot.domain import rubric_from_data, short_id
from bot.storage import Badge, Credential, Member, PublishedKey, Review, SigningKey, Version
from bot.storage.db import Database, insert_once

STORED_KEY = "badges"  # the `signing_keys` row of the generated key


def urls_for(settings: Settings) -> Urls:
    return Urls(settings.public_base_url)


def installation_issuer(settings: Settings) -> IssuerFacts:
    """Who signs the revocation list: the installation itself."""
    return IssuerFacts(settings.issuer_name, settings.issuer_url, settings.issuer_email)


def credential_facts(credential: Credential, settings: Settings) -> CredentialFacts:
    return CredentialFacts(
        slug=credential.slug,
        name=credential.name,
        description=credential.description,
        criteria=credential.criteria,
        image_url=credential.image,
        issuer=IssuerFacts(
            credential.issuer_name, credential.issuer_url, credential.issuer_email or settings.issuer_email
        ),
        rubric_names=[c.name for c in rubric_from_data(credential.rubric)],
    )


async def badge_facts(session: AsyncSession, badge: Badge, settings: Settings) -> BadgeFacts:
    member = await session.get_one(Member, badge.member_id)
    review = await session.get_one(Review, badge.review_id)
    version = await session.get_one(Version, review.version_id)
    return BadgeFacts(
        uid=badge.uid,
        short_id=short_id("B", badge.id),
        issued_at=badge.issued_at,
        recipient_email=badge.recipient_email or "",
        salt=badge.salt,
        earner_name=member.display_name,
        credential=credential_facts(badge.credential, settings),
        # The reflection only with the learner's consent (`/badges reflection B-n show`); the
        # page, the OB 2.0 assertion, the OB 3.0 credential and the baked images all read it here.
        evidence_links=list(version.links),
        evidence_text=version.reflection if badge.reflection_public else "",
        revoked_at=badge.revoked_at,
        revoked_reason=badge.revoked_reason,
    )


async def free_status_index(session: AsyncSession) -> int:
    """A random free place in the revocation list (random, so neighbours reveal nothing).
    A rare collision with a concurrent issue fails the unique index and the command is
    run again."""
    for _ in range(20):
        index = secrets.randbelow(STATUS_LIST_SIZE)
        if await session.scalar(select(Badge.id).where(Badge.status_index == index)) is None:
            return index
    raise RuntimeError("the revocation list is nearly full")


async def signing_key(db: Database, settings: Settings, now: datetime) -> Key:
    """The key that signs new credentials now, read afresh each time so a rotation made by another
    process takes effect at once: BADGE_SIGNING_KEY from settings, else the stored one."""
    async with db.transaction() as session:
        return await _current_key(session, settings, now)


async def published_keys(db: Database, settings: Settings, now: datetime) -> list[dict[str, Any]]:
    """The public part of every key that has signed, the current one first: what the JWKS serves,
    so credentials signed before a rotation keep verifying."""
    async with db.transaction() as session:
        current = await _current_key(session, settings, now)
        rows = list(
            await session.scalars(
                select(PublishedKey).order_by(PublishedKey.published_at.desc(), PublishedKey.id.desc())
            )
        )
    return [row.jwk for row in sorted(rows, key=lambda row: row.thumbprint != current.thumbprint)]


async def published_key(db: Database, thumbprint: str) -> dict[str, Any] | None:
    """One published key by its thumbprint: what an old credential's `kid` dereferences to."""
    async with db.transaction() as session:
        return await session.scalar(select(PublishedKey.jwk).where(PublishedKey.thumbprint == thumbprint))


async def rotate_signing_key(db: Database, now: datetime) -> tuple[Key, Key]:
    """Replace the stored key with a new one, which signs from now on; the old one's public part
    stays published and its private key is forgotten. (Old, new.)"""
    new = Key.generate()
    async with db.transaction() as session:
        old = await _stored_key(session, now)
        await _publish(session, old, now)
        await session.execute(
            update(SigningKey).where(SigningKey.name == STORED_KEY).values(pem=new.to_pem(), created_at=now)
        )
        await _publish(session, new, now)
    return old, new


async def _current_key(session: AsyncSession, settings: Settings, now: datetime) -> Key:
    """The key that signs now, published before it is handed out, so nothing it signs can name a
    `kid` the JWKS does not serve. A BADGE_SIGNING_KEY's private part never reaches the database."""
    if settings.badge_signing_key:
        key = Key.from_pem(settings.badge_signing_key)
    else:
        key = await _stored_key(session, now)
    await _publish(session, key, now)
    return key


async def _stored_key(session: AsyncSession, now: datetime) -> Key:
    """The generated key, made the first time one is needed (the unique name decides between racers)."""
    pem = await session.scalar(select(SigningKey.pem).where(SigningKey.name == STORED_KEY))
    if pem is None:
        await insert_once(
            session,
            SigningKey,
            {"name": STORED_KEY, "pem": Key.generate().to_pem(), "created_at": now},
            ["name"],
        )
        pem = await session.scalar(select(SigningKey.pem).where(SigningKey.name == STORED_KEY))
    assert pem is not None
    return Key.from_pem(pem)


async def _publish(session: AsyncSession, key: Key, now: datetime) -> None:
    """Keep `key`'s public part for good (a look first: this runs for every JWT served)."""
    if await session.scalar(select(PublishedKey.id).where(PublishedKey.thumbprint == key.thumbprint)) is None:
        await insert_once(
            session,
            PublishedKey,
            {"thumbprint": key.thumbprint, "jwk": key.public_members, "published_at": now},
            ["thumbprint"],
        )


async def revoked_indexes(session: AsyncSession) -> set[int]:
    return set(await session.scalars(select(Badge.status_index).where(Badge.revoked_at.is_not(None))))
