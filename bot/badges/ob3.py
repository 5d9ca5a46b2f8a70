"""Open Badges 3.0: an OpenBadgeCredential per badge, secured as a VC-JWT, and its revocation list.

Choices, each forced by the spec or by verifiers in the field:
- Proof: OB 3.0 section 8.2 "JSON Web Token Proof Format". The JWT payload IS the credential plus
  the claims iss/jti/nbf (and sub/exp when the credential has a subject id / validUntil); header
  {alg: RS256, typ: JWT, kid}. `kid` is a URL that dereferences to one public JWK (the 1EdTech
  validator fetches it and reads `kty`/`n`/`e` directly), and the same string is the JWK's `kid`
  in our JWKS, so ordinary JOSE libraries find the key by exact match. The JWKS keeps every key
  that has signed (issuing.published_keys), so a key rotation never strands an issued credential.
- JOSE itself (JWS, JWK, thumbprints) is joserfc's: nothing here encodes or checks a signature.
- Recipient: never an e-mail in clear; an IdentityObject with the salted sha256 hash (as OB 2.0).
  With no DID for learners the subject has no `id`, so the token has no `sub`.
- Status: W3C Bitstring Status List v1.0 (`BitstringStatusListEntry`, statusPurpose revocation);
  its terms are in the VC 2.0 context, the credential schema allows a single status object, and
  both the 1EdTech validator and other OB 3.0 verifiers check it. The list is itself a credential
  and must be secured, so it is served as a VC-JWT signed with the same key.
"""

from __future__ import annotations

import base64
import gzip
import json
import secrets
import warnings
from collections.abc import Collection, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from functools import cached_property, lru_cache
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError, SecurityWarning
from joserfc.jwk import DictKey, KeySet, KeySetSerialization, RSAKey

from bot.badges.facts import BadgeFacts, CredentialFacts, IssuerFacts, Urls, iso_z
from bot.badges.ob2 import hash_identity

VC_CONTEXT = "https://www.w3.org/ns/credentials/v2"
OB3_CONTEXT = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
# Bitstring Status List's minimum (16 KiB of bits): fewer entries would let a verifier guess who is who.
STATUS_LIST_SIZE = 131_072
_JWT_CLAIMS = frozenset({"iss", "sub", "jti", "nbf", "exp", "iat", "aud"})


class InvalidCredential(ValueError):
    """A VC-JWT that must not be trusted: bad signature, unknown key, or claims that disagree."""


# --- documents ----------------------------------------------------------------------------------


def profile(urls: Urls, issuer: IssuerFacts) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": urls.issuer(issuer),
        "type": ["Profile"],
        "name": issuer.name,
        "url": issuer.url,
    }
    if issuer.email:
        doc["email"] = issuer.email
    return doc


def achievement(urls: Urls, credential: CredentialFacts) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": urls.badge_class(credential.slug),
        "type": ["Achievement"],
        "name": credential.name,
        "description": credential.description,
        "criteria": {"id": urls.criteria(credential.slug), "narrative": credential.criteria},
        "image": {"id": credential.image_url or urls.credential_image_png(credential.slug), "type": "Image"},
    }
    if credential.rubric_names:
        doc["tag"] = list(credential.rubric_names)
    return doc


def status_entry(urls: Urls, index: int) -> dict[str, Any]:
    if index < 0:
        raise ValueError(f"status index must be >= 0, got {index}")
    return {
        "id": f"{urls.status_list}#{index}",
        "type": "BitstringStatusListEntry",
        "statusPurpose": "revocation",
        "statusListIndex": str(index),
        "statusListCredential": urls.status_list,
    }


def achievement_credential(urls: Urls, badge: BadgeFacts, *, status_index: int) -> dict[str, Any]:
    """The OpenBadgeCredential for one badge, unsigned (sign with `sign_vc_jwt`)."""
    identifiers: list[dict[str, Any]] = [
        {
            "type": "IdentityObject",
            "identityHash": hash_identity(badge.recipient_email, badge.salt),
            "identityType": "emailAddress",
            "hashed": True,
            "salt": badge.salt,
        }
    ]
    if badge.earner_name.strip():
        # OB 3.0's recommended way to name the earner: a plain (unhashed) IdentityObject of type name.
        identifiers.append(
            {
                "type": "IdentityObject",
                "identityHash": badge.earner_name,
                "identityType": "name",
                "hashed": False,
            }
        )
    evidence: list[dict[str, Any]] = [{"id": link, "type": ["Evidence"]} for link in badge.evidence_links]
    if badge.evidence_text.strip():
        evidence.append({"type": ["Evidence"], "name": "Reflection", "narrative": badge.evidence_text})
    issued = iso_z(badge.issued_at)
    doc: dict[str, Any] = {
        "@context": [VC_CONTEXT, OB3_CONTEXT],
        "id": urls.credential_json(badge.uid),
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "name": badge.credential.name,
        "description": badge.credential.description,
        "issuer": profile(urls, badge.credential.issuer),
        "validFrom": issued,
        "awardedDate": issued,
        "credentialSubject": {
            "type": ["AchievementSubject"],
            "identifier": identifiers,
            "achievement": achievement(urls, badge.credential),
        },
        "credentialStatus": status_entry(urls, status_index),
    }
    if evidence:
        doc["evidence"] = evidence
    return doc


# --- keys -----------------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _import_pem(pem: bytes) -> RSAKey:
    """Parsed once per process: loading an RSA key checks it (~30 ms), and every JWT served needs one."""
    with warnings.catch_warnings(action="ignore", category=SecurityWarning):  # SigningKey refuses weak keys
        return RSAKey.import_key(pem)


class SigningKey:
    """The issuer's RSA private key (RS256, as OB 3.0 requires at minimum). Load it from settings as PEM."""

    def __init__(self, key: RSAKey) -> None:
        if not key.is_private:
            raise ValueError("the signing key must be an RSA private key (PEM)")
        if key.raw_value.key_size < 2048:
            raise ValueError(f"RSA keys below 2048 bits are not accepted (got {key.raw_value.key_size})")
        self._key = key

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(RSAKey.generate_key(2048))

    @classmethod
    def from_pem(cls, pem: str | bytes) -> SigningKey:
        if isinstance(pem, str):
            if "\n" not in pem.strip():  # from an environment variable, newlines written as "\n"
                pem = pem.replace("\\n", "\n")
            pem = pem.encode("ascii")
        try:
            return cls(_import_pem(pem))
        except JoseError as error:  # a PEM key of another type
            raise ValueError("the signing key must be an RSA private key (PEM)") from error

    def to_pem(self) -> str:
        return self._key.as_pem(private=True).decode("ascii")

    def __repr__(self) -> str:
        return f"SigningKey(thumbprint={self.thumbprint!r})"

    @property
    def public_members(self) -> dict[str, str]:
        """The public key as JWK members (kty, n, e): all that is kept of a key once it no longer signs."""
        return {"kty": "RSA", "n": str(self._key["n"]), "e": str(self._key["e"])}

    @cached_property
    def thumbprint(self) -> str:
        """RFC 7638 JWK thumbprint: stable for the key, whatever the base URL."""
        return self._key.thumbprint()

    def kid(self, urls: Urls) -> str:
        return urls.key(self.thumbprint)

    def public_jwk(self, urls: Urls) -> DictKey:
        return public_jwk(self.public_members, urls)

    def jwks(self, urls: Urls) -> KeySetSerialization:
        return jwks([self.public_members], urls)

    def sign_jwt(self, claims: dict[str, Any], urls: Urls) -> str:
        """A compact JWS (RS256) of `claims`, its `kid` the URL of this key's public JWK."""
        return jwt.encode(
            {"alg": "RS256", "typ": "JWT", "kid": self.kid(urls)}, claims, self._key, algorithms=["RS256"]
        )


def public_jwk(members: Mapping[str, str], urls: Urls) -> DictKey:
    """What a `kid` dereferences to: an RSA public key named by its thumbprint; never a private member."""
    key = RSAKey.import_key({"kty": "RSA", "n": members["n"], "e": members["e"]})
    return {**key.as_dict(private=False), "kid": urls.key(key.thumbprint()), "alg": "RS256", "use": "sig"}


def jwks(published: Iterable[Mapping[str, str]], urls: Urls) -> KeySetSerialization:
    """The JWK Set at /.well-known/jwks.json, from each key's public members (`SigningKey.public_members`)."""
    return {"keys": [public_jwk(members, urls) for members in published]}


# --- VC-JWT ---------------------------------------------------------------------------------------


def _issuer_id(credential: dict[str, Any]) -> str:
    issuer = credential.get("issuer")
    return str(issuer.get("id") if isinstance(issuer, dict) else issuer or "")


def _subject_id(credential: dict[str, Any]) -> str | None:
    subject = credential.get("credentialSubject")
    if isinstance(subject, list):
        subject = subject[0] if len(subject) == 1 else None
    return subject.get("id") if isinstance(subject, dict) else None


def _timestamp(value: str) -> int:
    moment = datetime.fromisoformat(value)
    if moment.utcoffset() is None:
        raise ValueError(f"date-time without a time zone: {value!r}")
    return int(moment.timestamp())


def jwt_claims(credential: dict[str, Any]) -> dict[str, Any]:
    """The registered claims OB 3.0 section 8.2.4 derives from the credential."""
    if not credential.get("id") or not _issuer_id(credential) or not credential.get("validFrom"):
        raise ValueError("a credential needs id, issuer and validFrom to be signed")
    claims: dict[str, Any] = {
        "iss": _issuer_id(credential),
        "jti": credential["id"],
        "nbf": _timestamp(credential["validFrom"]),
    }
    if (subject := _subject_id(credential)) is not None:
        claims["sub"] = subject
    if credential.get("validUntil"):
        claims["exp"] = _timestamp(credential["validUntil"])
    return claims


def sign_vc_jwt(credential: dict[str, Any], key: SigningKey, urls: Urls) -> str:
    """Compact JWS whose payload is the credential with its JWT claims (OB 3.0 VC-JWT)."""
    return key.sign_jwt({**credential, **jwt_claims(credential)}, urls)


def verify_vc_jwt(
    token: str,
    jwks: KeySetSerialization,
    *,
    now: datetime | None = None,
    leeway: timedelta = timedelta(seconds=60),
) -> dict[str, Any]:
    """The credential inside `token` if a key of `jwks` signed it and its claims agree (OB 3.0 8.2.6).

    Checks the proof and the validity period only; revocation is `is_revoked` on the status list.
    """
    try:
        signed = jws.extract_compact(token.strip().encode("ascii"))
        header, payload = signed.headers(), json.loads(signed.payload)
    except (JoseError, ValueError) as error:
        raise InvalidCredential(f"not a compact JWS: {error}") from error
    if not isinstance(payload, dict):
        raise InvalidCredential("JWS payload must be a JSON object")
    if header.get("alg") != "RS256":
        raise InvalidCredential(f"alg must be RS256, not {header.get('alg')!r}")
    if header.get("typ", "JWT") != "JWT":
        raise InvalidCredential(f"typ must be JWT when present, not {header.get('typ')!r}")
    try:
        key = KeySet.import_key_set(jwks).get_by_kid(header.get("kid"), {"alg": "RS256", "use": "sig"})
    except (JoseError, KeyError) as error:
        raise InvalidCredential(f"no key {header.get('kid')!r} in the published key set") from error
    try:
        verified = jws.validate_compact(signed, key, algorithms=["RS256"])
    except JoseError as error:
        raise InvalidCredential(f"key {header.get('kid')!r} is not an RS256 RSA key") from error
    if not verified:
        raise InvalidCredential("signature does not verify")

    # VCDM 1.1-era tokens carry the credential in `vc`; OB 3.0 ones are the credential.
    credential = (
        payload["vc"]
        if isinstance(payload.get("vc"), dict)
        else {k: v for k, v in payload.items() if k not in _JWT_CLAIMS}
    )
    try:
        expected = jwt_claims(credential)
    except ValueError as error:
        raise InvalidCredential(str(error)) from error
    for claim in ("iss", "jti", "nbf", "sub", "exp"):
        if payload.get(claim) != expected.get(claim):
            raise InvalidCredential(
                f"claim {claim}={payload.get(claim)!r} disagrees with the credential "
                f"({expected.get(claim)!r})"
            )
    current = (now or datetime.now(UTC)).timestamp()
    if expected["nbf"] > current + leeway.total_seconds():
        raise InvalidCredential("credential is not valid yet")
    if "exp" in expected and expected["exp"] <= current - leeway.total_seconds():
        raise InvalidCredential("credential has expired")
    return credential


# --- revocation (Bitstring Status List v1.0) -----------------------------------------------------


def new_status_index(taken: Collection[int], size: int = STATUS_LIST_SIZE) -> int:
    """A free random index: the spec asks for random ones, so positions reveal no issue order."""
    if len(taken) >= size:
        raise ValueError("the status list is full")
    while (index := secrets.randbelow(size)) in taken:
        pass
    return index


def encode_bitstring(revoked_indexes: Collection[int]) -> str:
    """GZIP, then multibase base64url (prefix `u`); index 0 is the left-most bit of the first byte."""
    if any(i < 0 for i in revoked_indexes):
        raise ValueError("status indexes must be >= 0")
    bits = STATUS_LIST_SIZE * (max(revoked_indexes, default=0) // STATUS_LIST_SIZE + 1)
    bitstring = bytearray(bits // 8)
    for index in revoked_indexes:
        bitstring[index // 8] |= 0x80 >> (index % 8)
    return "u" + base64.urlsafe_b64encode(gzip.compress(bytes(bitstring), mtime=0)).rstrip(b"=").decode()


def status_list(
    revoked_indexes: Collection[int], urls: Urls, issuer: IssuerFacts, *, now: datetime
) -> dict[str, Any]:
    """The BitstringStatusListCredential at `urls.status_list`; serve `sign_vc_jwt(...)` of it."""
    return {
        "@context": [VC_CONTEXT],
        "id": urls.status_list,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": urls.issuer(issuer),
        "validFrom": iso_z(now),
        "credentialSubject": {
            "id": f"{urls.status_list}#list",
            "type": "BitstringStatusList",
            "statusPurpose": "revocation",
            "encodedList": encode_bitstring(revoked_indexes),
        },
    }


def is_revoked(status_list_credential: dict[str, Any], index: int) -> bool:
    """Read one entry back, as a verifier would (Bitstring Status List validate algorithm)."""
    encoded = str(status_list_credential["credentialSubject"]["encodedList"])
    if not encoded.startswith("u"):
        raise ValueError("encodedList must be multibase base64url (prefix u)")
    bitstring = gzip.decompress(base64.urlsafe_b64decode(encoded[1:] + "=" * (-len(encoded[1:]) % 4)))
    if not 0 <= index < len(bitstring) * 8:
        raise ValueError(f"status index {index} is outside the list")
    return bool(bitstring[index // 8] & (0x80 >> (index % 8)))
