"""The platform seam: a platform is one folder behind one protocol, and nothing outside its
folder names it or imports its SDK, so a new platform is a new folder, not edits all over."""

from __future__ import annotations

import io
import tokenize
from pathlib import Path

import pytest
from test_layout import imports_of

from bot.config import ConfigError, Settings
from bot.platforms import PLUGINS, chats_configured, check_settings

BOT = Path(__file__).resolve().parents[2] / "bot"
PLATFORMS = sorted(p.name for p in (BOT / "platforms").iterdir() if p.is_dir() and p.name != "__pycache__")
SDKS = {"slack": ("slack_bolt", "slack_sdk"), "discord": ("discord",)}
# The registry lists the plug-ins; the CLI's `slack-manifest` prints Slack's manifest.
MAY_NAME_PLATFORMS = {BOT / "platforms" / "__init__.py", BOT / "cli.py"}
# Settings names are a contract (SLACK_BOT_TOKEN, DISCORD_TOKEN): config.py holds them.
MAY_NAME_SETTINGS = {BOT / "config.py"}


def home(path: Path) -> str | None:
    """The platform whose folder holds `path`, if any."""
    parts = path.relative_to(BOT).parts
    return parts[1] if len(parts) > 2 and parts[0] == "platforms" else None


def code_names(path: Path) -> list[tuple[int, str]]:
    """Identifiers in a file's code (not its comments or strings)."""
    tokens = tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline)
    return [(tok.start[0], tok.string) for tok in tokens if tok.type == tokenize.NAME]


def sources() -> list[Path]:
    return sorted(BOT.rglob("*.py"))


def test_there_is_a_folder_for_each_platform() -> None:
    assert {"console", "slack", "discord"} <= set(PLATFORMS)
    assert {plugin.NAME for plugin in PLUGINS} == {"slack", "discord"}


def test_no_sdk_or_platform_module_is_imported_outside_its_folder() -> None:
    wrong = []
    for path in sources():
        for found in imports_of(path):
            top = found.name.split(".")[0]
            for platform in PLATFORMS:
                owns = top in SDKS.get(platform, ()) or found.name.startswith(f"bot.platforms.{platform}")
                if owns and home(path) != platform and path not in MAY_NAME_PLATFORMS:
                    wrong.append(str(found))
    assert not wrong, "a platform's SDK or modules imported outside its folder:\n" + "\n".join(wrong)


def test_code_outside_a_platforms_folder_never_names_a_platform() -> None:
    wrong = []
    for path in sources():
        if home(path) is not None or path in MAY_NAME_PLATFORMS | MAY_NAME_SETTINGS:
            continue
        for line, name in code_names(path):
            if any(platform in name.lower() for platform in ("slack", "discord")):
                wrong.append(f"{path.relative_to(BOT.parent)}:{line} {name}")
    assert not wrong, "platform names in neutral code:\n" + "\n".join(wrong)


def test_a_discord_token_alone_runs_discord() -> None:
    settings = Settings(discord_token="x", _env_file=None)  # type: ignore[call-arg]
    assert chats_configured(settings)
    check_settings(settings)  # no application id needed: Discord tells it with each interaction


def test_discord_server_ids_that_are_not_ids_are_refused_with_a_sentence() -> None:
    settings = Settings(discord_token="x", discord_guild_ids="123, my-school", _env_file=None)  # type: ignore[call-arg]
    with pytest.raises(ConfigError, match="DISCORD_GUILD_IDS holds my-school, which is not a server id"):
        check_settings(settings)


def test_slack_without_a_way_to_verify_requests_is_refused() -> None:
    with pytest.raises(ConfigError, match="SLACK_SIGNING_SECRET"):
        check_settings(Settings(slack_bot_token="xoxb-1", _env_file=None))  # type: ignore[call-arg]


def test_no_settings_means_the_console() -> None:
    assert not chats_configured(Settings(_env_file=None))  # type: ignore[call-arg]
