"""Discord's limits on what an app sends, checked as Discord checks them: each broken rule is a
`FieldError` at the JSON path Discord names, and the request is refused with 50035 Invalid Form
Body. Usable without HTTP (each function takes a body and returns `FormErrors`)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from .errors import FormErrors

CONTENT_MAX = 2000
NONCE_MAX = 25
EMBEDS_MAX = 10
EMBED_TOTAL_MAX = 6000
EMBED_TITLE_MAX = 256
EMBED_DESCRIPTION_MAX = 4096
EMBED_FIELDS_MAX = 25
EMBED_FIELD_NAME_MAX = 256
EMBED_FIELD_VALUE_MAX = 1024
EMBED_FOOTER_MAX = 2048
EMBED_AUTHOR_MAX = 256
EMBED_COLOR_MAX = 0xFFFFFF
ACTION_ROWS_MAX = 5
ROW_WIDTH = 5
CUSTOM_ID_MAX = 100
BUTTON_LABEL_MAX = 80
BUTTON_URL_MAX = 512
SELECT_OPTIONS_MAX = 25
SELECT_OPTION_TEXT_MAX = 100
SELECT_PLACEHOLDER_MAX = 150
MODAL_TITLE_MAX = 45
MODAL_COMPONENTS_MAX = 5
LABEL_MAX = 45
LABEL_DESCRIPTION_MAX = 100
TEXT_INPUT_MAX = 4000
TEXT_INPUT_PLACEHOLDER_MAX = 100
CHOICES_MAX = 25
CHOICE_NAME_MAX = 100
CHOICE_VALUE_MAX = 100
ALLOWED_MENTION_IDS_MAX = 100
COMMANDS_MAX = 100
COMMAND_OPTIONS_MAX = 25
COMMAND_DESCRIPTION_MAX = 100

IS_COMPONENTS_V2 = 1 << 15
EPHEMERAL = 1 << 6
LOADING = 1 << 7  # a deferred answer's "thinking…" message

BUTTON, ACTION_ROW, TEXT_INPUT, TEXT_DISPLAY, LABEL = 2, 1, 4, 10, 18
SELECTS = frozenset({3, 5, 6, 7, 8})
LINK_STYLE, PREMIUM_STYLE = 5, 6
COMMAND_NAME = re.compile(r"^[-_'\w]{1,32}$")

Path = tuple[str | int, ...]


def message_errors(body: Mapping[str, Any], path: Path = ()) -> FormErrors:
    """A message body (create, edit, followup, or an interaction callback's `data`)."""
    errors = FormErrors()
    content = body.get("content")
    if content is not None:
        errors.max_length((*path, "content"), str(content), CONTENT_MAX)
    nonce = body.get("nonce")
    if isinstance(nonce, str):
        errors.max_length((*path, "nonce"), nonce, NONCE_MAX)
    _embeds(errors, body.get("embeds"), (*path, "embeds"))
    if int(body.get("flags") or 0) & IS_COMPONENTS_V2:
        _custom_ids(errors, body.get("components") or [], (*path, "components"), set())
    else:
        _action_rows(errors, body.get("components"), (*path, "components"))
    _allowed_mentions(errors, body.get("allowed_mentions"), (*path, "allowed_mentions"))
    return errors


def is_empty(body: Mapping[str, Any]) -> bool:
    """Nothing to show: Discord refuses it with 50006 rather than 50035."""
    keys = ("content", "embeds", "components", "sticker_ids", "attachments", "poll")
    return not any(body.get(key) for key in keys)


def embed_size(embed: Mapping[str, Any]) -> int:
    """The characters Discord counts toward the 6,000 of a message's embeds."""
    size = len(str(embed.get("title") or "")) + len(str(embed.get("description") or ""))
    for item in embed.get("fields") or []:
        size += len(str(item.get("name") or "")) + len(str(item.get("value") or ""))
    size += len(str((embed.get("footer") or {}).get("text") or ""))
    size += len(str((embed.get("author") or {}).get("name") or ""))
    return size


def _embeds(errors: FormErrors, embeds: Any, path: Path) -> None:
    if not embeds:
        return
    errors.max_length(path, embeds, EMBEDS_MAX)
    for i, embed in enumerate(embeds):
        errors.max_length((*path, i, "title"), embed.get("title"), EMBED_TITLE_MAX)
        errors.max_length((*path, i, "description"), embed.get("description"), EMBED_DESCRIPTION_MAX)
        fields = embed.get("fields") or []
        errors.max_length((*path, i, "fields"), fields, EMBED_FIELDS_MAX)
        for j, item in enumerate(fields):
            for key, limit in (("name", EMBED_FIELD_NAME_MAX), ("value", EMBED_FIELD_VALUE_MAX)):
                if _filled(errors, (*path, i, "fields", j, key), item.get(key)):
                    errors.max_length((*path, i, "fields", j, key), item[key], limit)
        _url(errors, (*path, i, "url"), embed.get("url"), ("http", "https"))
        for key in ("thumbnail", "image"):
            if key in embed:
                _url(
                    errors, (*path, i, key, "url"), (embed[key] or {}).get("url"), MEDIA_SCHEMES, needed=True
                )
        color = embed.get("color")
        if color is not None and not (isinstance(color, int) and 0 <= color <= EMBED_COLOR_MAX):
            errors.add(
                (*path, i, "color"),
                "NUMBER_TYPE_MAX",
                f"int value should be less than or equal to {EMBED_COLOR_MAX}.",
            )
        errors.max_length(
            (*path, i, "footer", "text"), (embed.get("footer") or {}).get("text"), EMBED_FOOTER_MAX
        )
        errors.max_length(
            (*path, i, "author", "name"), (embed.get("author") or {}).get("name"), EMBED_AUTHOR_MAX
        )
    if sum(embed_size(embed) for embed in embeds) > EMBED_TOTAL_MAX:
        errors.add(path, "MAX_EMBED_SIZE_EXCEEDED", f"Embed size exceeds maximum size of {EMBED_TOTAL_MAX}")


MEDIA_SCHEMES = ("http", "https", "attachment")


def _filled(errors: FormErrors, path: Path, value: Any) -> bool:
    """A field's name and value: Discord refuses one missing or empty."""
    if value is None or value == "":
        errors.add(path, "BASE_TYPE_REQUIRED", "This field is required")
        return False
    return True


def _url(errors: FormErrors, path: Path, url: Any, schemes: tuple[str, ...], *, needed: bool = False) -> None:
    """An embed's link or picture: a well-formed address in one of `schemes`."""
    if url is None:
        if needed:
            errors.add(path, "BASE_TYPE_REQUIRED", "This field is required")
        return
    parts = urlsplit(str(url))
    if not parts.scheme or not (parts.netloc or parts.scheme == "attachment"):
        errors.add(path, "URL_TYPE_INVALID_URL", "Not a well formed URL.")
    elif parts.scheme not in schemes:
        errors.add(
            path,
            "URL_TYPE_INVALID_SCHEME",
            f'Scheme "{parts.scheme}" is not supported. Scheme must be one of {schemes}.',
        )


def _action_rows(errors: FormErrors, rows: Any, path: Path) -> None:
    if not rows:
        return
    errors.max_length(path, rows, ACTION_ROWS_MAX)
    seen: set[str] = set()
    for i, row in enumerate(rows):
        if row.get("type") != ACTION_ROW:
            errors.add((*path, i, "type"), "BASE_TYPE_CHOICES", "Value must be one of {1}.")
            continue
        children = row.get("components") or []
        errors.between((*path, i, "components"), children, 1, ROW_WIDTH)
        if any(child.get("type") in SELECTS for child in children) and len(children) > 1:
            errors.add(
                (*path, i, "components"),
                "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                "The specified component exceeds the maximum width",
            )
        for j, child in enumerate(children):
            _interactive(errors, child, (*path, i, "components", j), seen)


def _interactive(errors: FormErrors, item: Mapping[str, Any], path: Path, seen: set[str]) -> None:
    kind = item.get("type")
    if kind == BUTTON:
        errors.max_length((*path, "label"), item.get("label"), BUTTON_LABEL_MAX)
        if item.get("style") == LINK_STYLE:
            if errors.required((*path, "url"), item.get("url")):
                errors.max_length((*path, "url"), item["url"], BUTTON_URL_MAX)
            return
        if item.get("style") == PREMIUM_STYLE:
            return
    elif kind in SELECTS:
        errors.max_length((*path, "placeholder"), item.get("placeholder"), SELECT_PLACEHOLDER_MAX)
        if kind == 3:
            options = item.get("options") or []
            errors.between((*path, "options"), options, 1, SELECT_OPTIONS_MAX)
            for k, option in enumerate(options):
                for key in ("label", "value", "description"):
                    errors.max_length((*path, "options", k, key), option.get(key), SELECT_OPTION_TEXT_MAX)
    _custom_id(errors, item, path, seen)


def _custom_id(errors: FormErrors, item: Mapping[str, Any], path: Path, seen: set[str]) -> None:
    custom_id = item.get("custom_id")
    if not errors.required((*path, "custom_id"), custom_id):
        return
    errors.between((*path, "custom_id"), custom_id, 1, CUSTOM_ID_MAX)
    if custom_id in seen:
        errors.add(
            (*path, "custom_id"), "COMPONENT_CUSTOM_ID_DUPLICATED", "Component custom id cannot be duplicated"
        )
    seen.add(str(custom_id))


def _custom_ids(errors: FormErrors, items: Sequence[Any], path: Path, seen: set[str]) -> None:
    """Components v2 layouts: any depth, but every custom id within limits and unique."""
    for i, item in enumerate(items):
        if "custom_id" in item:
            _custom_id(errors, item, (*path, i), seen)
        _custom_ids(errors, item.get("components") or [], (*path, i, "components"), seen)
        for key in ("component", "accessory"):
            if isinstance(item.get(key), dict):
                _custom_ids(errors, [item[key]], (*path, i, key), seen)


def _allowed_mentions(errors: FormErrors, allowed: Any, path: Path) -> None:
    if allowed is None:
        return
    parse = allowed.get("parse") or []
    for i, kind in enumerate(parse):
        if kind not in ("users", "roles", "everyone"):
            errors.add(
                (*path, "parse", i),
                "BASE_TYPE_CHOICES",
                "Value must be one of ('users', 'roles', 'everyone').",
            )
    for kind in ("users", "roles"):
        ids = allowed.get(kind) or []
        errors.max_length((*path, kind), ids, ALLOWED_MENTION_IDS_MAX)
        if ids and kind in parse:
            errors.add(
                path,
                "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                f'parse:["{kind}"] and {kind}: [ids...] are mutually exclusive.',
            )


def modal_errors(data: Mapping[str, Any], path: Path = ("data",)) -> FormErrors:
    """A modal (callback type 9): title, custom id, at most five inputs, each within limits."""
    errors = FormErrors()
    if errors.required((*path, "custom_id"), data.get("custom_id")):
        errors.between((*path, "custom_id"), data["custom_id"], 1, CUSTOM_ID_MAX)
    if errors.required((*path, "title"), data.get("title")):
        errors.between((*path, "title"), data["title"], 1, MODAL_TITLE_MAX)
    components = data.get("components") or []
    errors.between((*path, "components"), components, 1, MODAL_COMPONENTS_MAX)
    seen: set[str] = set()
    for i, item in enumerate(components):
        at = (*path, "components", i)
        if item.get("type") == ACTION_ROW:  # the older form: one text input a row, labelled itself
            children = item.get("components") or []
            errors.between((*at, "components"), children, 1, 1)
            for j, child in enumerate(children):
                errors.max_length((*at, "components", j, "label"), child.get("label"), LABEL_MAX)
                _modal_input(errors, child, (*at, "components", j), seen)
        elif item.get("type") == LABEL:
            if errors.required((*at, "label"), item.get("label")):
                errors.between((*at, "label"), item["label"], 1, LABEL_MAX)
            errors.max_length((*at, "description"), item.get("description"), LABEL_DESCRIPTION_MAX)
            if errors.required((*at, "component"), item.get("component")):
                _modal_input(errors, item["component"], (*at, "component"), seen)
        elif item.get("type") != TEXT_DISPLAY:
            errors.add((*at, "type"), "BASE_TYPE_CHOICES", "Value must be one of {1, 10, 18}.")
    return errors


def _modal_input(errors: FormErrors, item: Mapping[str, Any], path: Path, seen: set[str]) -> None:
    _custom_id(errors, item, path, seen)
    if item.get("type") == TEXT_INPUT:
        errors.max_length((*path, "value"), item.get("value"), TEXT_INPUT_MAX)
        errors.max_length((*path, "placeholder"), item.get("placeholder"), TEXT_INPUT_PLACEHOLDER_MAX)
        for key in ("min_length", "max_length"):
            value = item.get(key)
            if value is not None and not 0 <= int(value) <= TEXT_INPUT_MAX:
                errors.add(
                    (*path, key),
                    "NUMBER_TYPE_MAX",
                    f"int value should be less than or equal to {TEXT_INPUT_MAX}.",
                )


def choices_errors(data: Mapping[str, Any], path: Path = ("data",)) -> FormErrors:
    """An autocomplete result (callback type 8): at most 25 choices, names and values within limits."""
    errors = FormErrors()
    choices = data.get("choices")
    if choices is None:
        errors.required((*path, "choices"), choices)
        return errors
    errors.max_length((*path, "choices"), choices, CHOICES_MAX)
    for i, choice in enumerate(choices):
        if errors.required((*path, "choices", i, "name"), choice.get("name")):
            errors.between((*path, "choices", i, "name"), choice["name"], 1, CHOICE_NAME_MAX)
        if isinstance(choice.get("value"), str):
            errors.max_length((*path, "choices", i, "value"), choice["value"], CHOICE_VALUE_MAX)
    return errors


def commands_errors(commands: Any) -> FormErrors:
    """A bulk overwrite of application commands."""
    errors = FormErrors()
    if not isinstance(commands, list):
        errors.add((), "BASE_TYPE_ARRAY", "Must be an array.")
        return errors
    errors.max_length((), commands, COMMANDS_MAX)
    names: set[tuple[int, str]] = set()
    for i, command in enumerate(commands):
        kind = int(command.get("type", 1))
        name = command.get("name")
        if not errors.required((i, "name"), name):
            continue
        if kind == 1:
            _name_and_description(errors, command, (i,))
        if (kind, name) in names:
            errors.add(
                (i, "name"),
                "APPLICATION_COMMANDS_DUPLICATE_NAME",
                f"Application command names must be unique: {name}",
            )
        names.add((kind, name))
        _options(errors, command.get("options") or [], (i, "options"))
    return errors


def _name_and_description(errors: FormErrors, item: Mapping[str, Any], path: Path) -> None:
    name = str(item.get("name"))
    if not COMMAND_NAME.match(name) or name != name.lower():
        errors.add((*path, "name"), "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
    if errors.required((*path, "description"), item.get("description")):
        errors.between((*path, "description"), item["description"], 1, COMMAND_DESCRIPTION_MAX)


def _options(errors: FormErrors, options: Sequence[Any], path: Path) -> None:
    errors.max_length(path, options, COMMAND_OPTIONS_MAX)
    optional_seen = False
    for i, option in enumerate(options):
        _name_and_description(errors, option, (*path, i))
        if option.get("type") in (1, 2):
            _options(errors, option.get("options") or [], (*path, i, "options"))
            continue
        if option.get("required"):
            if optional_seen:
                errors.add(
                    (*path, i, "required"),
                    "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                    "Required options must be placed before non-required options",
                )
        else:
            optional_seen = True
        choices = option.get("choices") or []
        errors.max_length((*path, i, "choices"), choices, CHOICES_MAX)
        if choices and option.get("autocomplete"):
            errors.add(
                (*path, i, "autocomplete"), "AUTOCOMPLETE_CHOICES", "Autocomplete cannot be used with choices"
            )
