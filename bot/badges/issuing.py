"""From database rows to badge documents: facts, the signing key, the revocation list.

The document builders (ob2, ob3, bake, image) know nothing of the database; this
module reads what they need and hands them plain facts.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.badges.facts import BadgeFacts, CredentialFacts, IssuerFacts, Urls
from bot.badges.ob3 import STATUS_LIST_SIZE
from bot.badges.ob3 import SigningKey as Key
from bot.config import Settings
from bot.domain import rubric_from_data, short_id
from bot.storage import Badge, Credential, Member, Review, SigningKey, Version
from bot.storage.db import Database, insert_once


def urls_for(settings: Settings) -> Urls:
    return Urls(settings.public_base_url)


def installation_issuer(settings: Settings) -> IssuerFacts:
    """Who signs the revocation list: the installation itself."""
    return IssuerFacts(settings.issuer_name, settings.issuer_url, settings.issuer_email)


def credential_facts(credential: Credential, settings: Settings) -> CredentialFacts:
    return CredentialFacts(
        slug=credential.slug, name=credential.name, description=credential.description,
        criteria=credential.criteria, image_url=credential.image,
        issuer=IssuerFacts(credential.issuer_name, credential.issuer_url,
                           credential.issuer_email or settings.issuer_email),
        rubric_names=[c.name for c in rubric_from_data(credential.rubric)])


async def badge_facts(session: AsyncSession, badge: Badge, settings: Settings) -> BadgeFacts:
    member = await session.get_one(Member, badge.member_id)
    review = await session.get_one(Review, badge.review_id)
    version = await session.get_one(Version, review.version_id)
    return BadgeFacts(
        uid=badge.uid, short_id=short_id("B", badge.id), issued_at=badge.issued_at,
        recipient_email=badge.recipient_email or "", salt=badge.salt,
        earner_name=member.display_name, credential=credential_facts(badge.credential, settings),
        evidence_links=list(version.links), evidence_text=version.reflection,
        revoked_at=badge.revoked_at, revoked_reason=badge.revoked_reason)


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
    """BADGE_SIGNING_KEY from settings, else the key generated once and stored."""
    if settings.badge_signing_key:
        return Key.from_pem(settings.badge_signing_key)
    async with db.transaction() as session:
        pem = await session.scalar(select(SigningKey.pem).where(SigningKey.name == "badges"))
        if pem is None:
            await insert_once(session, SigningKey, {"name": "badges", "pem": Key.generate().to_pem(),
                                                    "created_at": now}, ["name"])
            pem = await session.scalar(select(SigningKey.pem).where(SigningKey.name == "badges"))
    assert pem is not None
    return Key.from_pem(pem)


async def revoked_indexes(session: AsyncSession) -> set[int]:
    return set(await session.scalars(select(Badge.status_index).where(Badge.revoked_at.is_not(None))))
