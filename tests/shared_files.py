"""The Open Badges contexts and schemas in ../shared, beside the checkout (CI puts it there)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED = Path(os.environ.get("COHORTBOT_SHARED", Path(__file__).resolve().parents[2] / "shared"))


def shared(*parts: str) -> Path:
    """A file from ../shared; without it the test skips and says why (it never passes blind)."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(
            f"{path} is missing: the Open Badges contexts and schemas live in ../shared beside "
            "this checkout (or set COHORTBOT_SHARED)"
        )
    return path
