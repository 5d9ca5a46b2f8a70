"""The public badge site: permanent URLs for every badge document, as Starlette routes.

Assertions are served as `application/ld+json` (or `application/json` when that is
all the client accepts); a revoked assertion answers 410 Gone with `revoked: true`.
Nothing here ever shows a learner's e-mail: documents carry it hashed and salted.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable
from functools import lru_cache
from typing import Any

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from bot.badges import ob2, ob3
from bot.badges.bake import bake_png, bake_svg
from bot.badges.facts import BadgeFacts
from bot.badges.image import badge_png, badge_svg
from bot.badges.issuing import (
    badge_facts,
    credential_facts,
    installation_issuer,
    published_key,
    published_keys,
    revoked_indexes,
    signing_key,
    urls_for,
)
from bot.badges.pages import badge_page, criteria_page
from bot.badges.share import share_links
from bot.clock import Clock
from bot.config import Settings
from bot.domain import BadgeState, slug
from bot.storage import Badge, Credential
from bot.storage.db import Database

LD_JSON = "application/ld+json"
JWT = "application/vc+jwt"


def json_ld(request: Request, doc: dict[str, Any], status: int = 200) -> Response:
    accept = request.headers.get("accept", "")
    media = "application/json" if "application/json" in accept and LD_JSON not in accept else LD_JSON
    return Response(
        json.dumps(doc, indent=2),
        status_code=status,
        media_type=media,
        headers={"Access-Control-Allow-Origin": "*"},
    )


@lru_cache(maxsize=64)
def plain_png(name: str, issuer: str) -> bytes:
    return badge_png(name, issuer)


BadgeView = Callable[["BadgeSite", Request, Badge, BadgeFacts], Awaitable[Response]]


def no_page() -> Response:
    return HTMLResponse("<h1>No such badge</h1>", status_code=404)


def no_document() -> Response:
    return JSONResponse({"error": "no such badge"}, status_code=404)


def no_image() -> Response:
    return Response(status_code=404)


def of_badge(missing: Callable[[], Response]) -> Callable[[BadgeView], Callable[..., Awaitable[Response]]]:
    """A route about one issued badge (`{uid}` in its path): the view gets the badge and its
    facts, and a badge that is not there (or not issued) gets `missing`."""

    def wrap(view: BadgeView) -> Callable[..., Awaitable[Response]]:
        @functools.wraps(view)
        async def endpoint(site: BadgeSite, request: Request) -> Response:
            found = await site.badge(request.path_params["uid"])
            return missing() if found is None else await view(site, request, *found)

        return endpoint

    return wrap


class BadgeSite:
    def __init__(self, db: Database, settings: Settings, clock: Clock) -> None:
        self.db, self.settings, self.clock = db, settings, clock
        self.urls = urls_for(settings)

    async def key(self) -> ob3.SigningKey:
        return await signing_key(self.db, self.settings, self.clock.now())

    async def badge(self, uid: str) -> tuple[Badge, BadgeFacts] | None:
        async with self.db.transaction() as session:
            badge = await session.scalar(select(Badge).where(Badge.uid == uid))
            if badge is None or badge.state != BadgeState.ISSUED:
                return None
            return badge, await badge_facts(session, badge, self.settings)

    async def credential(self, slug_: str) -> Credential | None:
        async with self.db.transaction() as session:
            return await session.scalar(select(Credential).where(Credential.slug == slug_))

    # ------------------------------------------------------------------ badges

    @of_badge(no_page)
    async def page(self, request: Request, badge: Badge, facts: BadgeFacts) -> Response:
        links = share_links(
            base_url=self.urls.base_url,
            uid=facts.uid,
            badge_id=facts.short_id,
            name=facts.credential.name,
            issuer=facts.credential.issuer.name,
            issued_at=facts.issued_at,
            image_url=self.urls.badge_png(facts.uid),
        )
        return HTMLResponse(badge_page(facts, self.urls, links))

    @of_badge(no_document)
    async def assertion(self, request: Request, badge: Badge, facts: BadgeFacts) -> Response:
        if facts.revoked:
            return json_ld(request, ob2.revoked_assertion(self.urls, facts), status=410)
        return json_ld(request, ob2.assertion(self.urls, facts))

    @of_badge(no_document)
    async def credential_json(self, request: Request, badge: Badge, facts: BadgeFacts) -> Response:
        return json_ld(request, ob3.achievement_credential(self.urls, facts, status_index=badge.status_index))

    @of_badge(no_document)
    async def credential_jwt(self, request: Request, badge: Badge, facts: BadgeFacts) -> Response:
        doc = ob3.achievement_credential(self.urls, facts, status_index=badge.status_index)
        return Response(
            ob3.sign_vc_jwt(doc, await self.key(), self.urls),
            media_type=JWT,
            headers={"Access-Control-Allow-Origin": "*"},
        )

    @of_badge(no_image)
    async def image_png(self, request: Request, badge: Badge, facts: BadgeFacts) -> Response:
        baked = bake_png(
            plain_png(facts.credential.name, facts.credential.issuer.name),
            json.dumps(ob2.assertion(self.urls, facts)),
        )
        return Response(
            baked,
            media_type="image/png",
            headers={"Content-Disposition": f'inline; filename="{slug(facts.credential.name)}.png"'},
        )

    @of_badge(no_image)
    async def image_svg(self, request: Request, badge: Badge, facts: BadgeFacts) -> Response:
        baked = bake_svg(
            badge_svg(facts.credential.name, facts.credential.issuer.name),
            ob2.assertion(self.urls, facts),
            self.urls.assertion(facts.uid),
        )
        return Response(baked, media_type="image/svg+xml")

    # ------------------------------------------------------------------ classes and issuers

    async def badge_class(self, request: Request) -> Response:
        cred = await self.credential(request.path_params["slug"])
        if cred is None:
            return JSONResponse({"error": "no such credential"}, status_code=404)
        return json_ld(request, ob2.badge_class(self.urls, credential_facts(cred, self.settings)))

    async def criteria(self, request: Request) -> Response:
        cred = await self.credential(request.path_params["slug"])
        if cred is None:
            return HTMLResponse("<h1>No such credential</h1>", status_code=404)
        return HTMLResponse(criteria_page(cred.name, cred.issuer_name, cred.description, cred.criteria))

    async def class_png(self, request: Request) -> Response:
        cred = await self.credential(request.path_params["slug"])
        if cred is None:
            return Response(status_code=404)
        if cred.image:
            return RedirectResponse(cred.image)
        return Response(plain_png(cred.name, cred.issuer_name), media_type="image/png")

    async def class_svg(self, request: Request) -> Response:
        cred = await self.credential(request.path_params["slug"])
        if cred is None:
            return Response(status_code=404)
        return Response(badge_svg(cred.name, cred.issuer_name), media_type="image/svg+xml")

    async def issuer(self, request: Request) -> Response:
        wanted = request.path_params["slug"]
        async with self.db.transaction() as session:
            for cred in await session.scalars(select(Credential)):
                facts = credential_facts(cred, self.settings)
                if slug(facts.issuer.name) == wanted:
                    return json_ld(request, ob2.issuer_profile(self.urls, facts.issuer))
        issuer = installation_issuer(self.settings)
        if slug(issuer.name) == wanted:
            return json_ld(request, ob2.issuer_profile(self.urls, issuer))
        return JSONResponse({"error": "no such issuer"}, status_code=404)

    # ------------------------------------------------------------------ keys and status

    async def jwks(self, request: Request) -> Response:
        """Every key that has signed, not just today's: old credentials name old `kid`s."""
        keys = await published_keys(self.db, self.settings, self.clock.now())
        return JSONResponse(ob3.jwks(keys, self.urls), headers={"Access-Control-Allow-Origin": "*"})

    async def public_key(self, request: Request) -> Response:
        members = await published_key(self.db, request.path_params["thumbprint"])
        if members is None:
            return JSONResponse({"error": "no such key"}, status_code=404)
        return JSONResponse(ob3.public_jwk(members, self.urls), headers={"Access-Control-Allow-Origin": "*"})

    async def revocations(self, request: Request) -> Response:
        async with self.db.transaction() as session:
            revoked = await revoked_indexes(session)
        doc = ob3.status_list(revoked, self.urls, installation_issuer(self.settings), now=self.clock.now())
        return Response(
            ob3.sign_vc_jwt(doc, await self.key(), self.urls),
            media_type=JWT,
            headers={"Cache-Control": "max-age=60", "Access-Control-Allow-Origin": "*"},
        )

    def routes(self) -> list[Route]:
        return [
            Route("/badges/{uid}", self.page),
            Route("/badges/{uid}/assertion.json", self.assertion),
            Route("/badges/{uid}/credential.json", self.credential_json),
            Route("/badges/{uid}/credential.jwt", self.credential_jwt),
            Route("/badges/{uid}/image.png", self.image_png),
            Route("/badges/{uid}/image.svg", self.image_svg),
            Route("/credentials/{slug}", self.badge_class),
            Route("/credentials/{slug}/criteria", self.criteria),
            Route("/credentials/{slug}/image.png", self.class_png),
            Route("/credentials/{slug}/image.svg", self.class_svg),
            Route("/issuers/{slug}", self.issuer),
            Route("/.well-known/jwks.json", self.jwks),
            Route("/keys/{thumbprint}.json", self.public_key),
            Route("/status/revocations.jwt", self.revocations),
        ]
