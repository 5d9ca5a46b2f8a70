"""Open Badges 2.0 documents for hosted verification: issuer Profile, BadgeClass, Assertion.

Hosted verification means the assertion URL is the source of truth: a verifier fetches it,
follows `badge` to the BadgeClass and `issuer` to the Profile, all on our origin. A revoked
badge's assertion URL answers 410 Gone with `revoked_assertion()` as the body.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from bot.badges.facts import BadgeFacts, CredentialFacts, IssuerFacts, Urls, iso_z

CONTEXT = "https://w3id.org/openbadges/v2"


def issuer_profile(urls: Urls, issuer: IssuerFacts) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "@context": CONTEXT,
        "type": "Profile",
        "id": urls.issuer(issuer),
        "name": issuer.name,
        "url": issuer.url,
    }
    if issuer.email:
        doc["email"] = issuer.email
    return doc


def badge_class(
    urls: Urls, credential: CredentialFacts, alignment: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    """`alignment`: schema.org AlignmentObjects (targetName and targetUrl required), if any."""
    doc: dict[str, Any] = {
        "@context": CONTEXT,
        "type": "BadgeClass",
        "id": urls.badge_class(credential.slug),
        "name": credential.name,
        "description": credential.description,
        # The unbaked image; a generated one is served when the credential has none.
        "image": credential.image_url or urls.credential_image_png(credential.slug),
        "criteria": {"id": urls.criteria(credential.slug), "narrative": credential.criteria},
        "issuer": urls.issuer(credential.issuer),
    }
    if credential.rubric_names:
        doc["tags"] = list(credential.rubric_names)
    if alignment:
        doc["alignment"] = [{"type": "AlignmentObject", **a} for a in alignment]
    return doc


def evidence(badge: BadgeFacts) -> list[dict[str, Any]]:
    """Each link as its own Evidence, then the learner's reflection as a narrative Evidence."""
    items: list[dict[str, Any]] = [{"type": "Evidence", "id": link} for link in badge.evidence_links]
    if badge.evidence_text.strip():
        items.append({"type": "Evidence", "name": "Reflection", "narrative": badge.evidence_text})
    return items


def assertion(urls: Urls, badge: BadgeFacts) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "@context": CONTEXT,
        "type": "Assertion",
        "id": urls.assertion(badge.uid),
        "recipient": {
            "type": "email",
            "hashed": True,
            "salt": badge.salt,
            "identity": hash_identity(badge.recipient_email, badge.salt),
        },
        "badge": urls.badge_class(badge.credential.slug),
        "verification": {"type": "HostedBadge"},
        "issuedOn": iso_z(badge.issued_at),
        "image": urls.badge_png(badge.uid),
        # The same award as an OB 3.0 credential, for wallets that read only that.
        "related": [urls.credential_json(badge.uid)],
    }
    items = evidence(badge)
    if items:
        doc["evidence"] = items
    return doc


def revoked_assertion(urls: Urls, badge: BadgeFacts) -> dict[str, Any]:
    """The body served with 410 Gone: OB 2.0 requires only `id` and `revoked` for a revoked Assertion."""
    doc: dict[str, Any] = {
        "@context": CONTEXT,
        "type": "Assertion",
        "id": urls.assertion(badge.uid),
        "revoked": True,
    }
    if badge.revoked_reason:
        doc["revocationReason"] = badge.revoked_reason
    return doc


def _normal_email(email: str) -> str:
    # Case-folded so "Ana@School.org" and "ana@school.org" verify alike, as backpacks expect.
    return email.strip().lower()


def hash_identity(email: str, salt: str) -> str:
    """OB 2.0 IdentityHash: `sha256$` + hex(sha256(email + salt)); the plain e-mail is never published."""
    digest = hashlib.sha256((_normal_email(email) + salt).encode("utf-8")).hexdigest()
    return f"sha256${digest}"


def new_salt() -> str:
    return secrets.token_hex(16)


def verify_recipient(assertion_doc: dict[str, Any], email: str) -> bool:
    """Is `email` the recipient of this assertion (hashed or plain)? Used when someone claims a badge."""
    recipient = assertion_doc.get("recipient") or {}
    if recipient.get("type") != "email":
        return False
    identity = str(recipient.get("identity", ""))
    if not recipient.get("hashed"):
        return hmac.compare_digest(_normal_email(identity), _normal_email(email))
    alg, _, digest = identity.partition("$")
    if alg.lower() != "sha256" or not digest:
        return False
    salt = str(recipient.get("salt") or "")
    # Ours are hashed case-folded; other issuers may have hashed the address as typed.
    for candidate in {_normal_email(email), email.strip()}:
        computed = hashlib.sha256((candidate + salt).encode("utf-8")).hexdigest()
        if hmac.compare_digest(computed, digest.lower()):
            return True
    return False
