"""Plain facts about an issued badge and the permanent URLs its documents live at.

The document builders (ob2, ob3, bake, image) take only these, never database rows, so the
web app, the handlers and the tests can all call them with whatever they have at hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from bot.domain import slug


@dataclass(frozen=True)
class IssuerFacts:
    name: str
    url: str
    # Open Badges 2.0 requires an e-mail on an issuer Profile; validators reject one without it.
    email: str | None = None


@dataclass(frozen=True)
class CredentialFacts:
    slug: str
    name: str
    description: str
    criteria: str
    image_url: str | None
    issuer: IssuerFacts
    rubric_names: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class BadgeFacts:
    uid: str
    short_id: str
    issued_at: datetime
    recipient_email: str
    salt: str
    earner_name: str
    credential: CredentialFacts
    evidence_links: list[str] = field(default_factory=list)
    evidence_text: str = ""  # the learner's reflection, only when they chose to publish it
    revoked_at: datetime | None = None
    revoked_reason: str | None = None

    def __post_init__(self) -> None:
        # A naive time would be read as local time by some verifiers and shift the award date.
        for name in ("issued_at", "revoked_at"):
            value = getattr(self, name)
            if value is not None and value.utcoffset() is None:
                raise ValueError(f"BadgeFacts.{name} must be timezone-aware (UTC), got {value!r}")

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


def iso_z(moment: datetime) -> str:
    """UTC, whole seconds, trailing Z: the one form OB 2.0, OB 3.0 and JWT `nbf` all agree on."""
    return moment.astimezone(UTC).replace(microsecond=0, tzinfo=None).isoformat() + "Z"


@dataclass(frozen=True)
class Urls:
    """Where every public badge document lives; ids inside documents are these URLs, so they never move."""

    base_url: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))

    # Issuer, credential (badge class) and its images.
    def issuer(self, issuer: IssuerFacts) -> str:
        return f"{self.base_url}/issuers/{slug(issuer.name)}"

    def badge_class(self, credential_slug: str) -> str:
        return f"{self.base_url}/credentials/{credential_slug}"

    def criteria(self, credential_slug: str) -> str:
        """A human-readable page with the criteria (OB 2.0 Criteria.id)."""
        return f"{self.base_url}/credentials/{credential_slug}/criteria"

    def credential_image_png(self, credential_slug: str) -> str:
        return f"{self.base_url}/credentials/{credential_slug}/image.png"

    def credential_image_svg(self, credential_slug: str) -> str:
        return f"{self.base_url}/credentials/{credential_slug}/image.svg"

    # One issued badge.
    def page(self, uid: str) -> str:
        return f"{self.base_url}/badges/{uid}"

    def assertion(self, uid: str) -> str:
        return f"{self.base_url}/badges/{uid}/assertion.json"

    def credential_json(self, uid: str) -> str:
        return f"{self.base_url}/badges/{uid}/credential.json"

    def credential_jwt(self, uid: str) -> str:
        return f"{self.base_url}/badges/{uid}/credential.jwt"

    def badge_png(self, uid: str) -> str:
        return f"{self.base_url}/badges/{uid}/image.png"

    def badge_svg(self, uid: str) -> str:
        return f"{self.base_url}/badges/{uid}/image.svg"

    # Keys and status.
    @property
    def jwks(self) -> str:
        return f"{self.base_url}/.well-known/jwks.json"

    def key(self, thumbprint: str) -> str:
        """One public JWK: OB 3.0 wants the JWT `kid` to dereference to a JWK, not to a set."""
        return f"{self.base_url}/keys/{thumbprint}.json"

    @property
    def status_list(self) -> str:
        """The W3C BitstringStatusListCredential (served as a VC-JWT) that OB 3.0 credentials point at."""
        return f"{self.base_url}/status/revocations.jwt"
