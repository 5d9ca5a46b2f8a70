"""Settings from the environment and `.env`; secrets never come from anywhere else."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str = Field(
        "sqlite+aiosqlite:///cohortbot.db", description="SQLAlchemy async URL; SQLite file by default"
    )
    public_base_url: str = Field(
        "http://localhost:3000", description="Where badge pages are reachable by people"
    )
    default_timezone: str = Field("UTC", description="IANA zone for people and cohorts without one")
    max_open_claims: int = Field(3, ge=1, description="Open review claims one assessor may hold")
    review_reannounce_hours: float = Field(48, gt=0, description="Unclaimed this long: posted again")
    review_escalate_hours: float = Field(96, gt=0, description="Unclaimed this long: coordinators told")
    review_remind_hours: float = Field(72, gt=0, description="Claimed, undecided: assessor reminded")
    review_release_hours: float = Field(168, gt=0, description="Claimed, undecided: back to the queue")
    link_check: bool = Field(True, description="Check evidence links in the background")
    link_check_allow_loopback: bool = Field(False, description="Tests only: check 127.0.0.1 links")
    link_check_timeout: float = Field(5.0, gt=0)
    issuer_name: str = Field("Cohort Bot", description="Who signs the revocation list")
    issuer_url: str = "http://localhost:3000"
    issuer_email: str | None = Field(None, description="Issuer contact in badge documents")
    badge_signing_key: str | None = Field(
        None, description="PEM RSA key; generated once if unset. Earlier keys stay published (rotation)"
    )
    host: str = Field("127.0.0.1", description="Interface to listen on; 0.0.0.0 in deployments")
    port: int = 3000
    max_request_bytes: int = Field(
        1_048_576, ge=65_536, description="Largest request body the web app reads (413 above)"
    )
    slack_bot_token: str | None = None
    slack_signing_secret: str | None = None
    slack_app_token: str | None = None
    slack_api_url: str = "https://slack.com/api/"
    slack_timeout: float = Field(30, gt=0, description="Seconds to wait for a Web API answer")
    slack_channel_rate: float = Field(1.0, gt=0, description="Messages per second to one channel")
    slack_channel_burst: int = Field(3, ge=1)
    slack_workspace_rate: float = Field(5.0, gt=0, description="Messages per second per workspace")
    slack_workspace_burst: int = Field(20, ge=1)
    slack_workspace_rate_max: float = Field(100.0, gt=0, description="Learned workspace rate: at most")
    slack_lookup_rate: float = Field(0.8, gt=0, description="History lookups per second per workspace")
    slack_lookup_burst: int = Field(5, ge=1)
    outbox_lease_seconds: float = Field(10, gt=0, description="A claimed message is retried after")
    outbox_concurrency: int = Field(16, ge=1, description="Platform calls in flight at once (delivery)")
    slack_client_id: str | None = Field(None, description="OAuth: install into many workspaces")
    slack_client_secret: str | None = None
    discord_token: str | None = None
    discord_application_id: str | None = Field(
        None, description="Optional: the application's id (else asked of Discord with the token)"
    )
    discord_guild_ids: str = Field(
        "", description="Comma list: `discord sync` registers commands in these servers, at once"
    )
    discord_api_url: str = Field("https://discord.com/api/v10", description="REST base, or a local fake")
    discord_gateway_url: str = Field("wss://gateway.discord.gg", description="Gateway, or a local fake")
    discord_timeout: float = Field(15, gt=0, description="Seconds to wait for a REST answer")
    discord_channel_rate: float = Field(
        1.0, gt=0, description="Messages per second to one channel (Discord: 5 per 5 s)"
    )
    discord_channel_burst: int = Field(1, ge=1, description="Discord counts fixed windows: keep it 1")
    discord_global_rate: float = Field(50.0, gt=0, description="Requests per second for the bot as a whole")
    discord_handlers: int = Field(
        1, ge=0, le=32, description="Processes answering interactions apart from the gateway's (0: in it)"
    )
    discord_handler_timeout: float = Field(
        30.0, gt=0, description="Seconds a handler process may go silent before it is ended and replaced"
    )
    credly_organization_id: str | None = Field(None, description="Also issue badges through Credly")
    credly_token: str | None = None
    credly_api_url: str = Field("https://api.credly.com", description="Or the sandbox, or a test server")
    log_level: str = "INFO"

    @property
    def discord_guilds(self) -> list[str]:
        return [part.strip() for part in self.discord_guild_ids.split(",") if part.strip()]

    @property
    def credly_enabled(self) -> bool:
        return bool(self.credly_organization_id and self.credly_token)


@lru_cache
def get_settings() -> Settings:
    return Settings()


def unusable(error: ValidationError) -> str:
    """Which settings have values the bot cannot take, by their environment names, and why."""
    said = []
    for problem in error.errors():
        name = str(problem["loc"][0]).upper() if problem["loc"] else "a setting"
        said.append(f"{name}={problem.get('input')!r}: {problem['msg']}")
    return "; ".join(said) + " (README: Settings)"


class ConfigError(Exception):
    """Settings that would run the bot unsafely or not at all; the message says which."""
