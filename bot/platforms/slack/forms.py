"""Slack modals: the submit form, the rubric decision form and the one-field forms, and the
values a submitted form hands back."""

from __future__ import annotations

import json
import re
from typing import Any


def submit_view(channel: str | None) -> dict[str, Any]:
    def text_input(
        block: str, label: str, hint: str, *, optional: bool = False, multiline: bool = True
    ) -> dict[str, Any]:
        return {
            "type": "input",
            "block_id": block,
            "optional": optional,
            "label": {"type": "plain_text", "text": label},
            "hint": {"type": "plain_text", "text": hint},
            "element": {
                "type": "plain_text_input",
                "action_id": block,
                "multiline": multiline,
                "max_length": 3000,
            },
        }

    return {
        "type": "modal",
        "callback_id": "submit_form",
        "private_metadata": json.dumps({"channel": channel}),
        "title": {"type": "plain_text", "text": "Submit evidence"},
        "submit": {"type": "plain_text", "text": "Submit"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            text_input("overview", "Overview", "Your learners, your space, the project.", optional=True),
            text_input(
                "links",
                "Artifact links",
                "One link per line (up to 10): student work, "
                "plans, photos. Anyone with the link must be able to view them.",
            ),
            text_input(
                "reflection", "Reflection", "What students learned and what you would change next time."
            ),
            text_input(
                "window",
                "Window",
                "Only if you have several open windows: the credential, e.g. creators.",
                optional=True,
                multiline=False,
            ),
        ],
    }


def decision_view(review_id: int, decision: str, rubric: Any, channel: str | None) -> dict[str, Any]:
    revise = decision == "revise"
    blocks: list[dict[str, Any]] = []
    for c in rubric:
        options = [{"text": {"type": "plain_text", "text": lv.name[:75]}, "value": lv.key} for lv in c.levels]
        initial = next(o for o in options if o["value"] == c.passing_level.key)
        blocks.append(
            {
                "type": "input",
                "block_id": f"level:{c.key}",
                "label": {"type": "plain_text", "text": c.name[:2000]},
                "hint": {"type": "plain_text", "text": (c.description or c.name)[:2000]},
                "element": {
                    "type": "static_select",
                    "action_id": f"level:{c.key}",
                    "options": options,
                    "initial_option": initial,
                },
            }
        )
        blocks.append(
            {
                "type": "input",
                "block_id": f"comment:{c.key}",
                "optional": True,
                "label": {"type": "plain_text", "text": f"Comment on {c.name}"[:2000]},
                "element": {
                    "type": "plain_text_input",
                    "action_id": f"comment:{c.key}",
                    "multiline": True,
                    "max_length": 2000,
                },
            }
        )
    blocks.append(
        {
            "type": "input",
            "block_id": "feedback",
            "optional": not revise,
            "label": {"type": "plain_text", "text": "Feedback to the learner"},
            "element": {
                "type": "plain_text_input",
                "action_id": "feedback",
                "multiline": True,
                "max_length": 3000,
            },
        }
    )
    title = "Request revision" if revise else "Approve"
    return {
        "type": "modal",
        "callback_id": "decision_form",
        "private_metadata": json.dumps({"review": review_id, "decision": decision, "channel": channel}),
        "title": {"type": "plain_text", "text": title},
        "submit": {"type": "plain_text", "text": "Send back" if revise else "Approve"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": blocks,
    }


def form_values(view: dict[str, Any]) -> dict[str, str]:
    """block_id -> the typed text or chosen option of the one input in that block."""
    out: dict[str, str] = {}
    for block_id, actions in view.get("state", {}).get("values", {}).items():
        field = next(iter(actions.values()), {}) if actions else {}
        chosen = field.get("selected_option") or {}
        out[block_id] = (chosen.get("value") if chosen else field.get("value")) or ""
    return out


DECISION_RE = re.compile(r"^/review (approve|revise) (\S+)$")

# Buttons whose command needs one more piece of text open a one-field form for it.
ONE_FIELD = {
    "/submit extend": ("More time", "Why do you need more time? Your coordinator reads this.", True),
    "/badges email": ("Badge address", "The e-mail address you use on LinkedIn or in your backpack", False),
}


def one_field_view(command: str, channel: str | None) -> dict[str, Any]:
    title, label, multiline = ONE_FIELD[command]
    return {
        "type": "modal",
        "callback_id": "one_field_form",
        "private_metadata": json.dumps({"command": command, "channel": channel}),
        "title": {"type": "plain_text", "text": title},
        "submit": {"type": "plain_text", "text": "Send"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {
                "type": "input",
                "block_id": "value",
                "label": {"type": "plain_text", "text": label},
                "element": {
                    "type": "plain_text_input",
                    "action_id": "value",
                    "multiline": multiline,
                    "max_length": 1000,
                },
            }
        ],
    }
