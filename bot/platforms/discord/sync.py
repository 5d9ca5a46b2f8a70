"""`cohortbot discord sync`: register the application commands, deliberately (never on
connecting: Discord limits how often commands may be created, and every restart would spend it).

To the servers in DISCORD_GUILD_IDS (there at once: for trying it out and for one school's
server), else globally (every server the bot is in; Discord may take a while to show changes).
A bulk overwrite: commands this version no longer has are removed.
"""

from __future__ import annotations

from bot.config import Settings
from bot.platforms.discord.commands import command_tree
from bot.platforms.discord.rest import NEW_TOKEN, DiscordHttpError, DiscordRest, ErrorCode


async def application_id(rest: DiscordRest, settings: Settings) -> str:
    if settings.discord_application_id:
        return settings.discord_application_id
    return str((await rest.call("GET", "oauth2/applications/@me")).body["id"])


def refusal(error: DiscordHttpError, settings: Settings) -> str:
    """Why Discord refused, in words an operator can act on."""
    if error.status == 401:
        return f"Discord refused DISCORD_TOKEN: {NEW_TOKEN}"
    if error.status == 403 or error.code in (ErrorCode.MISSING_ACCESS, ErrorCode.UNKNOWN_GUILD):
        where = ", ".join(settings.discord_guilds) or "the application"
        return (
            f"Discord would not register commands in {where} ({error}): invite the bot to each "
            "server of DISCORD_GUILD_IDS with the invite URL (scopes bot and applications.commands), "
            "or check the ids (Copy Server ID)"
        )
    return f"Discord refused the commands ({error})"


async def sync_commands(settings: Settings) -> str:
    """Overwrite the commands; a sentence saying where they now are."""
    rest = DiscordRest(settings)
    try:
        app = await application_id(rest, settings)
        tree = command_tree()
        guilds = settings.discord_guilds
        for path in [f"applications/{app}/guilds/{g}/commands" for g in guilds] or [
            f"applications/{app}/commands"
        ]:
            await rest.call("PUT", path, tree)
    finally:
        await rest.close()
    where = (
        f"in server(s) {', '.join(guilds)}" if guilds else "globally (Discord may take a while to show them)"
    )
    return f"Registered {len(tree)} commands ({', '.join('/' + str(c['name']) for c in tree)}) {where}."
