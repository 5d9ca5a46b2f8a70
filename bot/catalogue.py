"""The credential catalogue, loaded from YAML so programme staff can edit it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import rubric_from_data, rubric_to_data, slug
from bot.storage import Credential, Workspace

BUNDLED = Path(__file__).resolve().parent / "data" / "credentials.yml"


class CatalogueError(Exception):
    """A catalogue file that can't be loaded; the message says where and why."""


@dataclass(frozen=True)
class Loaded:
    added: list[str]
    updated: list[str]


def read_catalogue(path: Path) -> list[dict[str, Any]]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CatalogueError(f"{path}: no such file") from None
    except yaml.YAMLError as exc:
        raise CatalogueError(f"{path}: not valid YAML ({exc})") from None
    items = data.get("credentials") if isinstance(data, dict) else None
    if not isinstance(items, list) or not items:
        raise CatalogueError(f"{path}: expected a top-level 'credentials:' list")
    out = []
    for n, item in enumerate(items, 1):
        where = f"{path}: credential #{n}"
        if not isinstance(item, dict):
            raise CatalogueError(f"{where}: expected a mapping")
        for key in ("slug", "name", "issuer"):
            if not item.get(key):
                raise CatalogueError(f"{where}: '{key}' is required")
        if slug(str(item["slug"])) != str(item["slug"]) or len(str(item["slug"])) > 40:
            raise CatalogueError(
                f"{where}: slug '{item['slug']}' must be lowercase letters, digits and hyphens (at most 40)"
            )
        issuer = item["issuer"]
        if not isinstance(issuer, dict) or not issuer.get("name") or not issuer.get("url"):
            raise CatalogueError(f"{where}: issuer needs a name and a url")
        try:
            rubric = rubric_from_data(
                item.get("rubric") or [], unmentioned=str(item.get("unmentioned_criteria") or "not judged")
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CatalogueError(f"{where}: bad rubric ({exc})") from None
        out.append({**item, "rubric": rubric_to_data(rubric)})
    return out


async def load_catalogue(session: AsyncSession, path: Path, now: datetime) -> Loaded:
    items = read_catalogue(path)
    added, updated = [], []
    for item in items:
        workspace_id = None
        if item.get("workspace"):
            platform, _, external = str(item["workspace"]).partition(":")
            ws = await session.scalar(
                select(Workspace).where(Workspace.platform == platform, Workspace.external_id == external)
            )
            if ws is None:
                ws = Workspace(platform=platform, external_id=external, name=external, created_at=now)
                session.add(ws)
                await session.flush()
            workspace_id = ws.id
        values = dict(
            workspace_id=workspace_id,
            name=item["name"],
            description=str(item.get("description") or "").strip(),
            criteria=str(item.get("criteria") or "").strip(),
            rubric=item["rubric"],
            image=item.get("image"),
            issuer_name=item["issuer"]["name"],
            issuer_url=item["issuer"]["url"],
            issuer_email=item["issuer"].get("email"),
            blind_review=bool(item.get("blind_review")),
            credly_template_id=item.get("credly_template_id"),
            updated_at=now,
        )
        cred = await session.scalar(select(Credential).where(Credential.slug == item["slug"]))
        if cred is None:
            session.add(Credential(slug=item["slug"], **values))
            added.append(item["slug"])
        else:
            for key, value in values.items():
                setattr(cred, key, value)
            updated.append(item["slug"])
    return Loaded(added, updated)


async def catalogue_is_empty(session: AsyncSession) -> bool:
    return await session.scalar(select(Credential.id).limit(1)) is None
