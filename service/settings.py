"""The server's one settings object, read from NETADAPT_* environment variables (or .env)."""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path
from typing import Self

from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

log = logging.getLogger(__name__)

ENV_PREFIX = "NETADAPT_"
# Shipped so a developer can start the server with no setup (dev_mode only).
DEFAULT_SECRET = "changethis"
MIN_SECRET_LENGTH = 16


class InsecureSettingsError(ValueError):
    """A secret is empty or still the built-in default outside dev_mode."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        extra="ignore",
        validate_default=True,  # the shipped default secrets must go through the check
        hide_input_in_errors=True,  # a startup error must not print the other secrets
    )

    data_dir: Path = Path("./netadapt-data")
    # Default: SQLite in data_dir (filled in by the validator below).
    database_url: str = ""
    dev_mode: bool = False

    # Agents exchange agent_token once for a per-agent secret; API clients (runs,
    # estimators) send api_token on every call.
    agent_token: str = Field(DEFAULT_SECRET, repr=False)
    api_token: str = Field(DEFAULT_SECRET, repr=False)

    lease_seconds: float = Field(30.0, gt=0)
    heartbeat_seconds: float = Field(10.0, gt=0)
    max_attempts: int = Field(3, ge=1)
    long_poll_seconds: float = Field(20.0, ge=0)
    requeue_interval_seconds: float = Field(5.0, gt=0)
    # An agent silent for this many heartbeats is shown offline.
    offline_after_heartbeats: float = Field(3.0, gt=0)
    max_upload_bytes: int = Field(512 * 1024 * 1024, gt=0)

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)

    @field_validator("agent_token", "api_token")
    @classmethod
    def _refuse_weak_secrets(cls, value: str, info: ValidationInfo) -> str:
        # dev_mode is declared above the tokens, so it is already in info.data.
        _check_secret(str(info.field_name), value, bool(info.data.get("dev_mode")))
        return value

    @model_validator(mode="after")
    def _default_database(self) -> Self:
        if not self.database_url:
            self.database_url = f"sqlite:///{(self.data_dir / 'netadapt.db').as_posix()}"
        return self

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def offline_after_seconds(self) -> float:
        return self.heartbeat_seconds * self.offline_after_heartbeats


def _check_secret(name: str, value: str, dev_mode: bool) -> None:
    env_var = f"{ENV_PREFIX}{name.upper()}"
    weak = not value or value == DEFAULT_SECRET
    if weak and not dev_mode:
        raise InsecureSettingsError(
            f"{env_var} is {'empty' if not value else 'the built-in default'}: set {env_var} to a "
            "long random string (e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))'), "
            f"or set {ENV_PREFIX}DEV_MODE=1 on a development machine"
        )
    if weak:
        log.warning(
            "%s is %s; acceptable only because dev_mode is on", env_var, "empty" if not value else "the default"
        )
    elif len(value) < MIN_SECRET_LENGTH:
        log.warning("%s is shorter than %d characters; use a longer random string", env_var, MIN_SECRET_LENGTH)


@lru_cache
def get_settings() -> Settings:
    """Settings from the environment, read once (dependency for code outside a request)."""
    return Settings()
