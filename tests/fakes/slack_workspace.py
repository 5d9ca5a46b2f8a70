"""The workspace behind the fake Slack's Web API: its people (users.info), channels and
the bot's membership (conversations.join; ``not_in_channel`` until then), direct messages
("D" + user id; a user id as ``channel`` posts to that DM), and the history of every
conversation (chat.postMessage, chat.update, conversations.history and .replies, with
metadata only when asked), as slack_sdk sees them."""

from __future__ import annotations

import base64
import copy
import itertools
import time
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .blockkit import check_message, with_block_ids
from .slack_api import SlackError, short_hash, truthy

_FIRST_TS_MICROS = 1_700_000_000_000_000


def _ts_key(ts: Any, error: str = "invalid_arguments") -> Decimal:
    try:
        return Decimal(str(ts))
    except ArithmeticError:
        raise SlackError(error) from None


# A person as a test describes them: a partial users.info object.
UserSpec = Mapping[str, Any]


# People of a Future Ready Librarians cohort as users.info describes them (Maria is an admin).
SCHOOL_USERS: dict[str, dict[str, Any]] = {
    "UCOORD": {
        "name": "maria",
        "real_name": "Maria Lopez",
        "tz": "America/Chicago",
        "is_admin": True,
        "profile": {"email": "maria@school.org", "display_name": "maria"},
    },
    "UALICE": {
        "name": "alice",
        "real_name": "Alice Ng",
        "tz": "America/Chicago",
        "profile": {"email": "alice@school.org", "display_name": "alice"},
    },
    "UBOB": {
        "name": "bob",
        "real_name": "Bob Ruiz",
        "tz": "America/New_York",
        "profile": {"email": "bob@school.org", "display_name": "bob"},
    },
    "UDANA": {
        "name": "dana",
        "real_name": "Dana Smith",
        "tz": "America/Chicago",
        "profile": {"email": "dana@school.org", "display_name": "dana"},
    },
}


class Workspace:
    """FakeSlack's people, channels and messages (a part of FakeSlack, not used alone)."""

    team_id: str
    team_name: str
    team_domain: str
    bot_user_id: str
    bot_id: str
    bot_name: str
    app_id: str

    def _init_workspace(
        self,
        users: Mapping[str, UserSpec] | None,
        channels: Mapping[str, str] | None,
        member_of: Iterable[str] | None,
    ) -> None:
        self.users: dict[str, dict[str, Any]] = {uid: dict(spec) for uid, spec in (users or {}).items()}
        self.users.setdefault(
            self.bot_user_id, {"name": self.bot_name, "real_name": self.bot_name, "is_bot": True}
        )
        self.channels: dict[str, str] = dict(channels if channels is not None else {"C1": "general"})
        self._members: set[str] = set(self.channels if member_of is None else member_of)
        self.ephemerals: list[dict[str, Any]] = []
        self._messages: dict[str, list[dict[str, Any]]] = {}
        self._open_dms: set[str] = set()
        self._ts = itertools.count(1)

    def messages(self, channel: str) -> list[dict[str, Any]]:
        """Messages stored in ``channel`` (including thread replies), oldest first."""
        return copy.deepcopy(self._messages.get(channel, []))

    def add_user(self, user_id: str, **spec: Any) -> None:
        self.users[user_id] = spec

    def add_channel(self, channel_id: str, name: str, *, member: bool = True) -> None:
        """A channel created (or unarchived) now; the bot is in it unless ``member=False``."""
        self.channels[channel_id] = name
        if member:
            self._members.add(channel_id)

    def seed_message(self, channel: str, text: str, *, user: str = "U1", **fields: Any) -> str:
        """Put a message from someone else into ``channel``'s history; returns its ts."""
        ts = self._next_ts()
        message = {"type": "message", "user": user, "text": text, "ts": ts, "team": self.team_id, **fields}
        self._messages.setdefault(channel, []).append(message)
        return ts

    def _next_ts(self) -> str:
        micros = _FIRST_TS_MICROS + next(self._ts) * 100
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _require_user(self, user_id: Any) -> str:
        if not isinstance(user_id, str) or user_id not in self.users:
            raise SlackError("user_not_found")
        return user_id

    def conversation(self, channel: Any) -> str:
        """The conversation a ``channel`` argument names, unchecked: a known user's id names
        their DM ("D" + id), as when the bot posts to a person; anything else is itself."""
        channel = str(channel or "")
        return "D" + channel if channel[:1] in ("U", "W") and channel in self.users else channel

    def _dm_for(self, user_id: str) -> str:
        channel = "D" + self._require_user(user_id)
        self._open_dms.add(channel)
        return channel

    def _resolve(self, channel: Any) -> str:
        """A postable conversation id for ``channel`` (id, #name, or a user id for its DM)."""
        if not isinstance(channel, str) or not channel:
            raise SlackError("channel_not_found")
        if channel.startswith("#"):
            by_name = {name: cid for cid, name in self.channels.items()}
            if channel[1:] not in by_name:
                raise SlackError("channel_not_found")
            channel = by_name[channel[1:]]
        if channel[0] in "UW" and channel in self.users:
            return self._dm_for(channel)
        if channel in self._open_dms or (channel[0] == "D" and channel[1:] in self.users):
            self._open_dms.add(channel)
            return channel
        if channel in self.channels:
            if channel not in self._members:
                raise SlackError("not_in_channel")
            return channel
        raise SlackError("channel_not_found")

    def _find(self, channel: str, ts: Any) -> dict[str, Any]:
        for message in self._messages.get(channel, []):
            if message["ts"] == ts:
                return message
        raise SlackError("message_not_found")

    def _bot_profile(self) -> dict[str, Any]:
        return {
            "id": self.bot_id,
            "app_id": self.app_id,
            "name": self.bot_name,
            "deleted": False,
            "team_id": self.team_id,
            "updated": 1700000000,
            "icons": {},
        }

    def _channel_object(self, channel: str) -> dict[str, Any]:
        name = self.channels[channel]
        return {
            "id": channel,
            "name": name,
            "name_normalized": name,
            "is_channel": True,
            "is_group": False,
            "is_im": False,
            "is_mpim": False,
            "is_private": False,
            "is_archived": False,
            "is_general": name == "general",
            "is_shared": False,
            "is_ext_shared": False,
            "is_org_shared": False,
            "is_member": channel in self._members,
            "created": 1700000000,
            "creator": self.bot_user_id,
            "context_team_id": self.team_id,
            "topic": {"value": "", "creator": "", "last_set": 0},
            "purpose": {"value": "", "creator": "", "last_set": 0},
        }

    def _user_object(self, user_id: str, include_locale: bool) -> dict[str, Any]:
        spec = self.users[user_id]
        given_profile = dict(spec.get("profile") or {})
        name = spec.get("name", user_id.lower())
        real_name = spec.get("real_name", given_profile.get("real_name", name))
        display = given_profile.get("display_name", spec.get("display_name", ""))
        tz_name = spec.get("tz", "America/Los_Angeles")
        try:
            now = datetime.now(ZoneInfo(tz_name))
            tz_label, tz_offset = now.tzname() or tz_name, int(now.utcoffset().total_seconds())  # type: ignore[union-attr]
        except (ZoneInfoNotFoundError, ValueError):
            tz_label, tz_offset = tz_name, 0
        profile: dict[str, Any] = {
            "real_name": real_name,
            "real_name_normalized": real_name,
            "display_name": display,
            "display_name_normalized": display,
            "title": "",
            "phone": "",
            "skype": "",
            "status_text": "",
            "status_emoji": "",
            "status_expiration": 0,
            "avatar_hash": short_hash(user_id, length=12),
            "team": self.team_id,
            "first_name": real_name.split(" ")[0] if real_name else "",
            "last_name": " ".join(real_name.split(" ")[1:]) if real_name else "",
            "image_48": f"https://avatars.slack-edge.com/{user_id}_48.png",
            "image_72": f"https://avatars.slack-edge.com/{user_id}_72.png",
        }
        if spec.get("email") is not None:
            profile["email"] = spec["email"]
        profile.update(given_profile)
        user: dict[str, Any] = {
            "id": user_id,
            "team_id": self.team_id,
            "name": name,
            "deleted": False,
            "color": "9f69e7",
            "real_name": real_name,
            "tz": tz_name,
            "tz_label": tz_label,
            "tz_offset": tz_offset,
            "is_admin": False,
            "is_owner": False,
            "is_primary_owner": False,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "is_bot": False,
            "is_app_user": False,
            "updated": 1700000000,
            "is_email_confirmed": True,
            "who_can_share_contact_card": "EVERYONE",
        }
        user.update({k: v for k, v in spec.items() if k not in ("profile", "email", "display_name")})
        user["profile"] = profile
        if user.get("is_bot"):
            user["profile"]["bot_id"] = self.bot_id if user_id == self.bot_user_id else "B" + user_id[1:]
        if include_locale:
            user.setdefault("locale", "en-US")
        return user

    def _team_info(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "team": {
                "id": self.team_id,
                "name": self.team_name,
                "url": f"https://{self.team_domain}.slack.com/",
                "domain": self.team_domain,
                "email_domain": "",
                "is_verified": False,
                "icon": {"image_default": True, "image_34": "https://a.slack-edge.com/team_34.png"},
                "avatar_base_url": "https://ca.slack-edge.com/",
                "lob_sales_home_enabled": False,
            },
        }

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user_id = self._require_user(args.get("user"))
        return {"ok": True, "user": self._user_object(user_id, truthy(args.get("include_locale")))}

    def _conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        if args.get("channel"):
            channel = args["channel"]
            if channel not in self._open_dms and not (channel[:1] == "D" and channel[1:] in self.users):
                raise SlackError("channel_not_found")
            self._open_dms.add(channel)
            return {"ok": True, "channel": {"id": channel}}
        users = [u.strip() for u in str(args.get("users") or "").split(",") if u.strip()]
        if not users:
            raise SlackError("users_list_not_supplied")
        if len(users) > 8:
            raise SlackError("too_many_users")
        for user_id in users:
            self._require_user(user_id)
        channel = "D" + users[0] if len(users) == 1 else "G" + short_hash(*sorted(users), length=10)
        already = channel in self._open_dms
        self._open_dms.add(channel)
        body: dict[str, Any] = {"ok": True, "channel": {"id": channel}}
        if truthy(args.get("return_im")):
            body["channel"] = {
                "id": channel,
                "created": 1700000000,
                "is_im": len(users) == 1,
                "is_mpim": len(users) > 1,
                "is_org_shared": False,
                "is_user_deleted": False,
                "user": users[0] if len(users) == 1 else None,
                "priority": 0,
            }
        if already:
            body.update(no_op=True, already_open=True)
        return body

    def _conversations_join(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = args.get("channel")
        if isinstance(channel, str) and channel[:1] in ("D", "G") and channel not in self.channels:
            raise SlackError("method_not_supported_for_channel_type")
        if channel not in self.channels:
            raise SlackError("channel_not_found")
        body: dict[str, Any] = {"ok": True}
        if channel in self._members:
            body.update(warning="already_in_channel", response_metadata={"warnings": ["already_in_channel"]})
        self._members.add(channel)
        body["channel"] = self._channel_object(channel)
        return body

    def _conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve(args.get("channel"))
        inclusive = truthy(args.get("inclusive"))
        oldest = _ts_key(args.get("oldest") or "0", "invalid_ts_oldest")
        latest = _ts_key(args["latest"], "invalid_ts_latest") if args.get("latest") else None
        try:
            limit = int(args.get("limit") or 100)
        except ValueError:
            raise SlackError("invalid_limit") from None
        limit = max(1, min(limit, 999))
        found = []
        for message in reversed(self._messages.get(channel, [])):
            if (
                message.get("thread_ts", message["ts"]) != message["ts"]
                and message.get("subtype") != "thread_broadcast"
            ):
                continue  # thread replies stay in conversations.replies
            key = _ts_key(message["ts"])
            if key < oldest or (key == oldest and not inclusive):
                continue
            if latest is not None and (key > latest or (key == latest and not inclusive)):
                continue
            found.append(message)
        start = 0
        if args.get("cursor"):
            try:
                start = int(base64.b64decode(str(args["cursor"])).decode().removeprefix("offset:"))
            except ValueError:
                raise SlackError("invalid_cursor") from None
        page = found[start : start + limit]
        with_metadata = truthy(args.get("include_all_metadata"))
        messages = []
        for message in page:
            out = copy.deepcopy(message)
            if not with_metadata:
                out.pop("metadata", None)
            messages.append(out)
        has_more = start + limit < len(found)
        body: dict[str, Any] = {
            "ok": True,
            "messages": messages,
            "has_more": has_more,
            "pin_count": 0,
            "channel_actions_ts": None,
            "channel_actions_count": 0,
        }
        if has_more:
            cursor = base64.b64encode(f"offset:{start + limit}".encode()).decode()
            body["response_metadata"] = {"next_cursor": cursor}
        return body

    def _conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve(args.get("channel"))
        ts = args.get("ts")
        thread = [m for m in self._messages.get(channel, []) if m["ts"] == ts or m.get("thread_ts") == ts]
        if not thread:
            raise SlackError("thread_not_found")
        messages = copy.deepcopy(thread)
        if not truthy(args.get("include_all_metadata")):
            for m in messages:
                m.pop("metadata", None)
        return {"ok": True, "messages": messages, "has_more": False}

    def _chat_post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve(args.get("channel"))
        check_message(args)
        ts = self._next_ts()
        message: dict[str, Any] = {
            "type": "message",
            "subtype": "bot_message" if args.get("username") else None,
            "text": args.get("text") or "",
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "ts": ts,
            "team": self.team_id,
            "bot_profile": self._bot_profile(),
        }
        if message["subtype"] is None:
            del message["subtype"]
        if args.get("blocks") is not None:
            message["blocks"] = with_block_ids(args["blocks"], ts)
        if args.get("attachments") is not None:
            message["attachments"] = args["attachments"]
        if args.get("metadata") is not None:
            message["metadata"] = args["metadata"]
        if args.get("thread_ts"):
            parent = self._find(channel, args["thread_ts"])
            message["thread_ts"] = parent["ts"]
            parent.setdefault("thread_ts", parent["ts"])
            parent["reply_count"] = parent.get("reply_count", 0) + 1
            parent["latest_reply"] = ts
            if truthy(args.get("reply_broadcast")):
                message["subtype"] = "thread_broadcast"
        self._messages.setdefault(channel, []).append(message)
        return {"ok": True, "channel": channel, "ts": ts, "message": copy.deepcopy(message)}

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve(args.get("channel"))
        message = self._find(channel, args.get("ts"))
        if message.get("bot_id") != self.bot_id:
            raise SlackError("cant_update_message")
        check_message(args, require_content=False)
        if not args.get("text") and args.get("blocks") is None and args.get("attachments") is None:
            raise SlackError("no_text")
        if "text" in args:
            message["text"] = args.get("text") or ""
        if args.get("blocks") is not None:  # omitted blocks are kept, [] removes them
            message["blocks"] = with_block_ids(args["blocks"], f"{message['ts']}:{time.monotonic()}")
        if args.get("attachments") is not None:
            message["attachments"] = args["attachments"]
        if args.get("metadata") is not None:
            message["metadata"] = args["metadata"]
        message["edited"] = {"user": self.bot_user_id, "ts": self._next_ts()}
        return {
            "ok": True,
            "channel": channel,
            "ts": message["ts"],
            "text": message["text"],
            "message": copy.deepcopy(message),
        }

    def _chat_post_ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve(args.get("channel"))
        user = self._require_user(args.get("user"))
        check_message(args)
        ts = self._next_ts()
        self.ephemerals.append(
            {
                "channel": channel,
                "user": user,
                "ts": ts,
                "text": args.get("text") or "",
                "blocks": args.get("blocks"),
                "thread_ts": args.get("thread_ts"),
            }
        )
        return {"ok": True, "message_ts": ts}
