"""Neutral forms (`bot.forms`) as Block Kit modals, and the values a submitted modal hands back.

Each field is one input block whose block_id and action_id are the field's key; the form's
request rides in `private_metadata` with the channel it was opened in (`payload.read_form`
reads it back). Words are cut to Block Kit's limits, which are wider than the forms need.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from bot.forms import Choice, Field, Form

LABEL_MAX = 2000
HINT_MAX = 2000
OPTION_MAX = 75


def plain_text(text: str) -> dict[str, str]:
    return {"type": "plain_text", "text": text}


def option(choice: Choice) -> dict[str, Any]:
    return {"text": plain_text(choice.label[:OPTION_MAX]), "value": choice.key}


def element(field: Field) -> dict[str, Any]:
    if field.choices:
        select: dict[str, Any] = {
            "type": "static_select",
            "action_id": field.key,
            "options": [option(c) for c in field.choices],
        }
        initial = next((c for c in field.choices if c.key == field.initial), None)
        if initial is not None:
            select["initial_option"] = option(initial)
        return select
    text: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": field.key,
        "multiline": field.multiline,
        "max_length": field.max_length,
    }
    if field.value:
        text["initial_value"] = field.value[: field.max_length]
    return text


def input_block(field: Field) -> dict[str, Any]:
    block: dict[str, Any] = {
        "type": "input",
        "block_id": field.key,
        "optional": not field.required,
        "label": plain_text(field.label[:LABEL_MAX]),
    }
    if field.hint:
        block["hint"] = plain_text(field.hint[:HINT_MAX])
    block["element"] = element(field)
    return block


def modal(form: Form, channel: str | None) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": form.request.kind.value,
        "private_metadata": json.dumps({**asdict(form.request), "channel": channel}),
        "title": plain_text(form.title),
        "submit": plain_text(form.submit),
        "close": plain_text("Cancel"),
        "blocks": [input_block(f) for f in form.fields],
    }


def form_values(view: dict[str, Any]) -> dict[str, str]:
    """block_id -> the typed text or chosen option of the one input in that block."""
    out: dict[str, str] = {}
    for block_id, actions in view.get("state", {}).get("values", {}).items():
        field: dict[str, Any] = next(iter(actions.values()), {}) if actions else {}
        chosen = field.get("selected_option") or {}
        out[block_id] = (chosen.get("value") if chosen else field.get("value")) or ""
    return out
