"""Open Badges 3.0: an OpenBadgeCredential per badge, secured as a VC-JWT, and its revocation list.

Choices, each forced by the spec or by verifiers in the field:
- Proof: OB 3.0 section 8.2 "JSON Web Token Proof Format". The JWT payload IS the credential plus
  the claims iss/jti/nbf (and sub/exp when the credential has a subject id / validUntil); header
  {alg: RS256, typ: JWT, kid}. `kid` is a URL that dereferences to one public JWK (the 1EdTech
  validator fetches it and reads `kty`/`n`/`e` directly), and the same string is the JWK's `kid`
  in our JWKS, so ordinary JOSE libraries find the key by exact match.
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
import hashlib
import json
import secrets
from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

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
    doc: dict[str, Any] = {"id": urls.issuer(issuer), "type": ["Profile"], "name": issuer.name,
                           "url": issuer.url}
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
        "image": {"id": credential.image_url or urls.credential_image_png(credential.slug),
                  "type": "Image"},
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
    identifiers: list[dict[str, Any]] = [{
        "type": "IdentityObject",
        "identityHash": hash_identity(badge.recipient_email, badge.salt),
        "identityType": "emailAddress",
        "hashed": True,
        "salt": badge.salt,
    }]
    if badge.earner_name.strip():
        # OB 3.0's recommended way to name the earner: a plain (unhashed) IdentityObject of type name.
        identifiers.append({"type": "IdentityObject", "identityHash": badge.earner_name,
                            "identityType": "name", "hashed": False})
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

def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _uint(value: int) -> str:
    return _b64url(value.to_bytes((value.bit_length() + 7) // 8 or 1, "big"))


class SigningKey:
    """The issuer's RSA key (RS256, as OB 3.0 requires at minimum). Load it from settings as PEM."""

    def __init__(self, private_key: rsa.RSAPrivateKey) -> None:
        if private_key.key_size < 2048:
            raise ValueError(f"RSA keys below 2048 bits are not accepted (got {private_key.key_size})")
        self._key = private_key

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(rsa.generate_private_key(public_exponent=65537, key_size=2048))

    @classmethod
    def from_pem(cls, pem: str | bytes) -> SigningKey:
        if isinstance(pem, str):
            if "\n" not in pem.strip():  # from an environment variable, newlines written as "\n"
                pem = pem.replace("\\n", "\n")
            pem = pem.encode("ascii")
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("the signing key must be an RSA private key (PEM)")
        return cls(key)

    def to_pem(self) -> str:
        return self._key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()).decode("ascii")

    def __repr__(self) -> str:
        return f"SigningKey(thumbprint={self.thumbprint!r})"

    def _public_members(self) -> dict[str, str]:
        numbers = self._key.public_key().public_numbers()
        return {"e": _uint(numbers.e), "kty": "RSA", "n": _uint(numbers.n)}

    @property
    def thumbprint(self) -> str:
        """RFC 7638 JWK thumbprint: stable for the key, whatever the base URL."""
        canonical = json.dumps(self._public_members(), separators=(",", ":"), sort_keys=True)
        return _b64url(hashlib.sha256(canonical.encode("utf-8")).digest())

    def kid(self, urls: Urls) -> str:
        return urls.key(self.thumbprint)

    def public_jwk(self, urls: Urls) -> dict[str, str]:
        """What `kid` dereferences to; never contains a private member."""
        return {**self._public_members(), "kid": self.kid(urls), "alg": "RS256", "use": "sig"}

    def jwks(self, urls: Urls) -> dict[str, list[dict[str, str]]]:
        return {"keys": [self.public_jwk(urls)]}

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data, padding.PKCS1v15(), hashes.SHA256())


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
    claims: dict[str, Any] = {"iss": _issuer_id(credential), "jti": credential["id"],
                              "nbf": _timestamp(credential["validFrom"])}
    if (subject := _subject_id(credential)) is not None:
        claims["sub"] = subject
    if credential.get("validUntil"):
        claims["exp"] = _timestamp(credential["validUntil"])
    return claims


def sign_vc_jwt(credential: dict[str, Any], key: SigningKey, urls: Urls) -> str:
    """Compact JWS whose payload is the credential with its JWT claims (OB 3.0 VC-JWT)."""
    header = {"alg": "RS256", "typ": "JWT", "kid": key.kid(urls)}
    payload = {**credential, **jwt_claims(credential)}
    signing_input = ".".join(
        _b64url(json.dumps(part, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
        for part in (header, payload))
    return f"{signing_input}.{_b64url(key.sign(signing_input.encode('ascii')))}"


def _public_key(jwk: dict[str, Any]) -> rsa.RSAPublicKey:
    if jwk.get("kty") != "RSA" or jwk.get("alg", "RS256") != "RS256":
        raise InvalidCredential(f"key {jwk.get('kid')!r} is not an RS256 RSA key")
    n = int.from_bytes(_b64url_decode(jwk["n"]), "big")
    e = int.from_bytes(_b64url_decode(jwk["e"]), "big")
    return rsa.RSAPublicNumbers(e, n).public_key()


def verify_vc_jwt(token: str, jwks: dict[str, Any], *, now: datetime | None = None,
                  leeway: timedelta = timedelta(seconds=60)) -> dict[str, Any]:
    """The credential inside `token` if a key of `jwks` signed it and its claims agree (OB 3.0 8.2.6).

    Checks the proof and the validity period only; revocation is `is_revoked` on the status list.
    """
    try:
        header_b64, payload_b64, signature_b64 = token.strip().split(".")
        header = json.loads(_b64url_decode(header_b64))
        payload = json.loads(_b64url_decode(payload_b64))
        signature = _b64url_decode(signature_b64)
    except ValueError as error:
        raise InvalidCredential(f"not a compact JWS: {error}") from error
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise InvalidCredential("JWS header and payload must be JSON objects")
    if header.get("alg") != "RS256":
        raise InvalidCredential(f"alg must be RS256, not {header.get('alg')!r}")
    if header.get("typ", "JWT") != "JWT":
        raise InvalidCredential(f"typ must be JWT when present, not {header.get('typ')!r}")
    jwk = next((k for k in jwks.get("keys", []) if k.get("kid") == header.get("kid")), None)
    if jwk is None:
        raise InvalidCredential(f"no key {header.get('kid')!r} in the published key set")
    try:
        _public_key(jwk).verify(signature, f"{header_b64}.{payload_b64}".encode("ascii"),
                                padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature as error:
        raise InvalidCredential("signature does not verify") from error

    # VCDM 1.1-era tokens carry the credential in `vc`; OB 3.0 ones are the credential.
    credential = payload["vc"] if isinstance(payload.get("vc"), dict) else {
        k: v for k, v in payload.items() if k not in _JWT_CLAIMS}
    try:
        expected = jwt_claims(credential)
    except ValueError as error:
        raise InvalidCredential(str(error)) from error
    for claim in ("iss", "jti", "nbf", "sub", "exp"):
        if payload.get(claim) != expected.get(claim):
            raise InvalidCredential(f"claim {claim}={payload.get(claim)!r} disagrees with the credential "
                                    f"({expected.get(claim)!r})")
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
    return "u" + _b64url(gzip.compress(bytes(bitstring), mtime=0))


def status_list(revoked_indexes: Collection[int], urls: Urls, issuer: IssuerFacts, *,
                now: datetime) -> dict[str, Any]:
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
    bitstring = gzip.decompress(_b64url_decode(encoded[1:]))
    if not 0 <= index < len(bitstring) * 8:
        raise ValueError(f"status index {index} is outside the list")
    return bool(bitstring[index // 8] & (0x80 >> (index % 8)))
