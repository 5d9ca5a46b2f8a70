"""Modals and the Home tab in the fake Slack: views.open and views.push take a fresh
trigger_id (a used one is ``exchanged_trigger_id``, one made to expire
``expired_trigger_id``), views.publish keeps one Home view a user, views.update finds a
view by id or external_id, and a ``hash`` that is not the view's current one is
``hash_conflict``. Every view is checked as Slack checks it (``blockkit.check_view``)."""

from __future__ import annotations

import copy
import itertools
import time
from collections.abc import Callable
from typing import Any

from .blockkit import check_view, with_block_ids
from .slack_api import SlackError, short_hash


class Views:
    """FakeSlack's views.* methods (a part of FakeSlack, not used alone)."""

    team_id: str
    app_id: str
    bot_id: str
    _require_user: Callable[[Any], str]  # the workspace's

    def _init_views(self) -> None:
        self.views: dict[str, dict[str, Any]] = {}  # view id -> the view as stored
        self._home_views: dict[str, str] = {}  # user id -> their Home view's id
        self._used_triggers: set[str] = set()
        self._expired_triggers: set[str] = set()
        self._view_seq = itertools.count(1)

    def expire_trigger(self, trigger_id: str) -> None:
        """Make views.open/push with this trigger_id answer ``expired_trigger_id`` (3 s passed)."""
        self._expired_triggers.add(trigger_id)

    def _take_trigger(self, args: dict[str, Any]) -> None:
        trigger = args.get("trigger_id") or args.get("interactivity_pointer")
        if not trigger:
            raise SlackError("invalid_arguments", ["[ERROR] missing required field: trigger_id"])
        if trigger in self._expired_triggers:
            raise SlackError("expired_trigger_id")
        if trigger in self._used_triggers:
            raise SlackError("exchanged_trigger_id")
        self._used_triggers.add(trigger)

    def _store_view(
        self,
        view: dict[str, Any],
        *,
        view_id: str | None = None,
        previous: str | None = None,
        root: str | None = None,
    ) -> dict[str, Any]:
        view_id = view_id or f"V{next(self._view_seq):08d}"
        stored = {
            "id": view_id,
            "team_id": self.team_id,
            "type": view["type"],
            "blocks": with_block_ids(view.get("blocks", []), view_id),
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "state": {"values": {}},
            "hash": f"{time.time():.6f}.{short_hash(view_id, time.monotonic(), length=8)}",
            "title": view.get("title"),
            "clear_on_close": bool(view.get("clear_on_close", False)),
            "notify_on_close": bool(view.get("notify_on_close", False)),
            "close": view.get("close"),
            "submit": view.get("submit"),
            "previous_view_id": previous,
            "root_view_id": root or view_id,
            "app_id": self.app_id,
            "external_id": view.get("external_id", ""),
            "app_installed_team_id": self.team_id,
            "bot_id": self.bot_id,
        }
        self.views[view_id] = stored
        return copy.deepcopy(stored)

    def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        view = check_view(args.get("view"), kinds=("modal",))
        self._take_trigger(args)
        return {"ok": True, "view": self._store_view(view)}

    def _views_push(self, args: dict[str, Any]) -> dict[str, Any]:
        view = check_view(args.get("view"), kinds=("modal",))
        self._take_trigger(args)
        previous = next(reversed(self.views), None)
        root = self.views[previous]["root_view_id"] if previous else None
        return {"ok": True, "view": self._store_view(view, previous=previous, root=root)}

    def _views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self._require_user(args.get("user_id"))
        view = check_view(args.get("view"), kinds=("home",))
        current = self._home_views.get(user)
        if args.get("hash") and current and self.views[current]["hash"] != args["hash"]:
            raise SlackError("hash_conflict")
        stored = self._store_view(view, view_id=current)
        self._home_views[user] = stored["id"]
        self.views[stored["id"]]["user_id"] = user
        return {"ok": True, "view": stored}

    def _views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        view_id = args.get("view_id")
        if not view_id and args.get("external_id"):
            view_id = next(
                (v["id"] for v in self.views.values() if v["external_id"] == args["external_id"]), None
            )
            if view_id is None:
                raise SlackError("not_found")
        if not view_id:
            raise SlackError("invalid_arguments", ["[ERROR] missing required field: view_id or external_id"])
        if view_id not in self.views:
            raise SlackError("not_found")
        current = self.views[view_id]
        view = check_view(args.get("view"), kinds=(current["type"],))
        if args.get("hash") and args["hash"] != current["hash"]:
            raise SlackError("hash_conflict")
        stored = self._store_view(
            view, view_id=view_id, previous=current["previous_view_id"], root=current["root_view_id"]
        )
        if "user_id" in current:
            self.views[view_id]["user_id"] = current["user_id"]
        return {"ok": True, "view": stored}
