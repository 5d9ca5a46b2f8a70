"""Block Kit as Slack checks it: the limits a message or a view must keep, answered the way
Slack refuses them (``invalid_blocks`` with ``response_metadata.messages`` naming the JSON
pointer). ``block_errors`` gives the same verdict without HTTP.

Limits enforced: 50 blocks a message (100 in a view), section text 3,000 and fields
10 x 2,000, header 150 (plain_text), button text 75 / value 2,000 / url 3,000, 25 elements
an actions block, 10 a context block, text objects not empty, action_id and block_id unique
in one message (each at most 255), select options 100 (text 75, value 150), overflow 1-5,
image alt_text; top-level text over 40,000 -> ``msg_too_long``; modal title, submit and
close 24, private_metadata 3,000, callback_id 255.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from .slack_api import SlackError, short_hash

MESSAGE_BLOCKS_MAX = 50
VIEW_BLOCKS_MAX = 100
TEXT_MAX = 40_000
SECTION_TEXT_MAX = 3000
FIELD_TEXT_MAX = 2000
FIELDS_MAX = 10
HEADER_TEXT_MAX = 150
BUTTON_TEXT_MAX = 75
BUTTON_VALUE_MAX = 2000
URL_MAX = 3000
ACTIONS_ELEMENTS_MAX = 25
CONTEXT_ELEMENTS_MAX = 10
ID_MAX = 255
OPTIONS_MAX = 100
OPTION_TEXT_MAX = 75
OPTION_VALUE_MAX = 150
VIEW_TITLE_MAX = 24
PRIVATE_METADATA_MAX = 3000


_BLOCK_TYPES = frozenset(
    {
        "section",
        "actions",
        "context",
        "header",
        "divider",
        "image",
        "input",
        "rich_text",
        "file",
        "video",
        "markdown",
        "table",
        "context_actions",
    }
)
_ELEMENT_TYPES = frozenset(
    {
        "button",
        "checkboxes",
        "datepicker",
        "datetimepicker",
        "timepicker",
        "image",
        "overflow",
        "radio_buttons",
        "plain_text_input",
        "email_text_input",
        "url_text_input",
        "number_input",
        "rich_text_input",
        "file_input",
        "workflow_button",
        "static_select",
        "external_select",
        "users_select",
        "conversations_select",
        "channels_select",
        "multi_static_select",
        "multi_external_select",
        "multi_users_select",
        "multi_conversations_select",
        "multi_channels_select",
    }
)
_SELECTS_WITH_OPTIONS = frozenset({"static_select", "multi_static_select"})


class _BlockChecker:
    def __init__(self) -> None:
        self.errors: list[str] = []
        self.action_ids: set[str] = set()
        self.block_ids: set[str] = set()

    def err(self, message: str, pointer: str) -> None:
        self.errors.append(f"[ERROR] {message} [json-pointer:{pointer}]")

    def length(self, value: Any, limit: int, pointer: str, *, minimum: int = 0) -> None:
        if not isinstance(value, str):
            self.err("must be a string", pointer)
        elif len(value) > limit:
            self.err(f"must be less than {limit + 1} characters", pointer)
        elif len(value) < minimum:
            self.err(f"must be more than {minimum - 1} characters", pointer)

    def text(self, obj: Any, limit: int, pointer: str, *, plain_only: bool = False) -> None:
        if not isinstance(obj, dict):
            self.err("must be a text object", pointer)
            return
        allowed = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
        if obj.get("type") not in allowed:
            self.err(f"must be one of {', '.join(allowed)}", f"{pointer}/type")
        self.length(obj.get("text"), limit, f"{pointer}/text", minimum=1)

    def items(self, value: Any, limit: int, pointer: str, *, minimum: int = 1) -> list[Any]:
        if not isinstance(value, list):
            self.err("must be an array", pointer)
            return []
        if len(value) > limit:
            self.err(f"no more than {limit} items allowed", pointer)
        elif len(value) < minimum:
            self.err(f"must provide at least {minimum} items", pointer)
        return value

    def ident(self, obj: dict[str, Any], key: str, seen: set[str], pointer: str) -> None:
        if key not in obj:
            return
        value = obj[key]
        self.length(value, ID_MAX, f"{pointer}/{key}", minimum=1)
        if isinstance(value, str):
            if value in seen:
                self.err(f"{key} `{value}` is used more than once in this message", f"{pointer}/{key}")
            seen.add(value)

    def options(self, options: Any, limit: int, pointer: str, *, minimum: int = 1) -> None:
        for i, option in enumerate(self.items(options, limit, pointer, minimum=minimum)):
            ptr = f"{pointer}/{i}"
            if not isinstance(option, dict):
                self.err("must be an option object", ptr)
                continue
            self.text(option.get("text"), OPTION_TEXT_MAX, f"{ptr}/text")
            self.length(option.get("value"), OPTION_VALUE_MAX, f"{ptr}/value", minimum=1)

    def element(self, el: Any, pointer: str) -> None:
        if not isinstance(el, dict):
            self.err("must be an element object", pointer)
            return
        kind = el.get("type")
        if kind not in _ELEMENT_TYPES:
            self.err(f"unsupported element type `{kind}`", f"{pointer}/type")
            return
        self.ident(el, "action_id", self.action_ids, pointer)
        if kind == "button":
            self.text(el.get("text"), BUTTON_TEXT_MAX, f"{pointer}/text", plain_only=True)
            if "value" in el:
                self.length(el["value"], BUTTON_VALUE_MAX, f"{pointer}/value", minimum=1)
            if "url" in el:
                self.length(el["url"], URL_MAX, f"{pointer}/url", minimum=1)
            if "style" in el and el["style"] not in ("primary", "danger"):
                self.err("must be one of primary, danger", f"{pointer}/style")
        elif kind == "image":
            if "slack_file" not in el:
                self.length(el.get("image_url"), URL_MAX, f"{pointer}/image_url", minimum=1)
            self.length(el.get("alt_text"), 2000, f"{pointer}/alt_text", minimum=1)
        elif kind == "overflow":
            self.options(el.get("options"), 5, f"{pointer}/options")
        elif kind in ("checkboxes", "radio_buttons"):
            self.options(el.get("options"), 10, f"{pointer}/options")
        elif kind in _SELECTS_WITH_OPTIONS:
            if "option_groups" in el:
                for g, group in enumerate(
                    self.items(el["option_groups"], OPTIONS_MAX, f"{pointer}/option_groups")
                ):
                    if isinstance(group, dict):
                        self.options(
                            group.get("options"), OPTIONS_MAX, f"{pointer}/option_groups/{g}/options"
                        )
            else:
                self.options(el.get("options"), OPTIONS_MAX, f"{pointer}/options")
        if "placeholder" in el:
            self.text(el["placeholder"], 150, f"{pointer}/placeholder", plain_only=True)

    def block(self, block: Any, pointer: str) -> None:
        if not isinstance(block, dict):
            self.err("must be a block object", pointer)
            return
        kind = block.get("type")
        if kind is None:
            self.err("missing required field: type", pointer)
            return
        if kind not in _BLOCK_TYPES:
            self.err(f"unsupported block type `{kind}`", f"{pointer}/type")
            return
        self.ident(block, "block_id", self.block_ids, pointer)
        if kind == "section":
            if "text" not in block and "fields" not in block:
                self.err("must provide either text or fields", pointer)
            if "text" in block:
                self.text(block["text"], SECTION_TEXT_MAX, f"{pointer}/text")
            if "fields" in block:
                for i, f in enumerate(self.items(block["fields"], FIELDS_MAX, f"{pointer}/fields")):
                    self.text(f, FIELD_TEXT_MAX, f"{pointer}/fields/{i}")
            if "accessory" in block:
                self.element(block["accessory"], f"{pointer}/accessory")
        elif kind == "header":
            self.text(block.get("text"), HEADER_TEXT_MAX, f"{pointer}/text", plain_only=True)
        elif kind == "actions":
            elements = self.items(block.get("elements"), ACTIONS_ELEMENTS_MAX, f"{pointer}/elements")
            for i, el in enumerate(elements):
                self.element(el, f"{pointer}/elements/{i}")
        elif kind == "context":
            elements = self.items(block.get("elements"), CONTEXT_ELEMENTS_MAX, f"{pointer}/elements")
            for i, el in enumerate(elements):
                ptr = f"{pointer}/elements/{i}"
                if isinstance(el, dict) and el.get("type") == "image":
                    self.element(el, ptr)
                else:
                    self.text(el, SECTION_TEXT_MAX, ptr)
        elif kind == "image":
            if "slack_file" not in block:
                self.length(block.get("image_url"), URL_MAX, f"{pointer}/image_url", minimum=1)
            self.length(block.get("alt_text"), 2000, f"{pointer}/alt_text", minimum=1)
            if "title" in block:
                self.text(block["title"], 2000, f"{pointer}/title", plain_only=True)
        elif kind == "input":
            self.text(block.get("label"), 2000, f"{pointer}/label", plain_only=True)
            if "element" not in block:
                self.err("missing required field: element", pointer)
            else:
                self.element(block["element"], f"{pointer}/element")
            if "hint" in block:
                self.text(block["hint"], 2000, f"{pointer}/hint", plain_only=True)
        elif kind == "markdown":
            self.length(block.get("text"), 12_000, f"{pointer}/text", minimum=1)


def block_errors(blocks: Any, *, max_blocks: int = MESSAGE_BLOCKS_MAX, pointer: str = "/blocks") -> list[str]:
    """Slack's complaints about ``blocks`` (empty when Slack would accept them)."""
    checker = _BlockChecker()
    if not isinstance(blocks, list):
        checker.err("must be an array", pointer)
        return checker.errors
    if len(blocks) > max_blocks:
        checker.err(f"no more than {max_blocks} items allowed", pointer)
    for i, block in enumerate(blocks):
        checker.block(block, f"{pointer}/{i}")
    return checker.errors


def check_message(args: Mapping[str, Any], *, require_content: bool = True) -> None:
    """Refuse a message (chat.*, a response_url post) as Slack would: SlackError."""
    text, blocks, attachments = args.get("text"), args.get("blocks"), args.get("attachments")
    if require_content and not text and not blocks and not attachments:
        raise SlackError("no_text")
    if text is not None and not isinstance(text, str):
        raise SlackError("invalid_arguments", ["[ERROR] must be a string [json-pointer:/text]"])
    if text and len(text) > TEXT_MAX:
        raise SlackError("msg_too_long")
    if blocks is not None:
        if isinstance(blocks, str):  # a form field that is not valid JSON
            raise SlackError("invalid_blocks_format")
        errors = block_errors(blocks)
        if errors:
            raise SlackError("invalid_blocks", errors)
    metadata = args.get("metadata")
    if metadata is not None and not (
        isinstance(metadata, dict)
        and isinstance(metadata.get("event_type"), str)
        and metadata["event_type"]
        and isinstance(metadata.get("event_payload"), dict)
    ):
        raise SlackError("invalid_metadata_format")


def check_view(view: Any, *, kinds: tuple[str, ...]) -> dict[str, Any]:
    """The view, or SlackError as views.* refuse one of another kind or over a limit."""
    if not isinstance(view, dict):
        raise SlackError("invalid_arguments", ["[ERROR] must be an object [json-pointer:/view]"])
    checker = _BlockChecker()
    kind = view.get("type")
    if kind not in kinds:
        checker.err(f"must be one of {', '.join(kinds)}", "/view/type")
    blocks = view.get("blocks")
    if not isinstance(blocks, list):
        checker.err("missing required field: blocks", "/view")
    else:
        checker.errors += block_errors(blocks, max_blocks=VIEW_BLOCKS_MAX, pointer="/view/blocks")
    if kind == "modal":
        if "title" not in view:
            checker.err("missing required field: title", "/view")
        for key in ("title", "submit", "close"):
            if key in view:
                checker.text(view[key], VIEW_TITLE_MAX, f"/view/{key}", plain_only=True)
        if (
            isinstance(blocks, list)
            and "submit" not in view
            and any(isinstance(b, dict) and b.get("type") == "input" for b in blocks)
        ):
            checker.err("submit is required when blocks contain an input block", "/view/submit")
    if "private_metadata" in view:
        checker.length(view["private_metadata"], PRIVATE_METADATA_MAX, "/view/private_metadata")
    for key in ("callback_id", "external_id"):
        if key in view:
            checker.length(view[key], ID_MAX, f"/view/{key}")
    if checker.errors:
        raise SlackError("invalid_arguments", checker.errors)
    return view


def with_block_ids(blocks: list[Any], salt: str) -> list[Any]:
    """``blocks`` as Slack stores them: each block without a ``block_id`` is given one."""
    out = copy.deepcopy(blocks)
    for i, block in enumerate(out):
        if isinstance(block, dict) and "block_id" not in block:
            block["block_id"] = short_hash(salt, i)
    return out


def buttons_in(message: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """A message's buttons by their label, as a person sees them to press."""
    return {
        e["text"]["text"]: e
        for b in message.get("blocks", [])
        if b["type"] == "actions"
        for e in b["elements"]
    }
