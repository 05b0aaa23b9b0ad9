"""Settings: defaults, then `aupgate.toml`, then `AUPGATE_*` environment variables."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from platformdirs import user_data_dir
from pydantic import Field, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from aupgate.errors import InvalidInputError


def default_home() -> Path:
    """The per-user data directory (overridden by AUPGATE_HOME or --home)."""
    return Path(user_data_dir("aupgate", appauthor=False))


class Settings(BaseSettings):
    """Everything a deployment configures; every field has an embedded default."""

    model_config = SettingsConfigDict(env_prefix="AUPGATE_", extra="forbid")

    home: Path = Field(default_factory=default_home)
    database_url: str | None = None
    pack: str = "llama-aup-2024-11"
    screening_threshold: float = Field(default=90.0, ge=0, le=100)
    actor: str = Field(default_factory=lambda: os.environ.get("USER") or "admin")
    default_model: str = "llama"
    audit_origin: str = "aupgate.local/audit"
    audit_checkpoint_every: int = Field(default=1000, ge=1)
    audit_checkpoint_seconds: float = Field(default=60.0, gt=0)
    # AES-256 key (64 hex digits) for prompt text a pack's retention rule keeps; without it a
    # pack that retains prompts refuses every request rather than store them in the clear.
    audit_prompt_key: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{64}$")
    # The embedded classifier's second stage (the fine-tuned encoder for the windows the
    # linear model is unsure of): fewer false positives, ~16 ms more for those windows.
    classifier_second_stage: bool = True
    # -- gateway --
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    workers: int = Field(default=1, ge=1)
    upstream_url: str | None = None  # None: `aupgate serve` starts the embedded SmolLM2 server
    upstream_model: str | None = None  # rewrite `model` to this name when forwarding
    upstream_timeout_s: float = Field(default=60.0, gt=0)
    upstream_connect_timeout_s: float = Field(default=5.0, gt=0)
    max_body_bytes: int = Field(default=1 << 20, ge=1)
    max_messages: int = Field(default=256, ge=1)
    rate_limit: str = "600/minute"  # per key or token subject; `limits` notation
    redis_url: str | None = None  # rate-limit counters shared by workers and replicas
    hold_back_tokens: int = Field(default=16, ge=1)  # streamed chunks held until checked
    moderation_context_chars: int = Field(default=400, ge=0)
    decide_service_keys: list[str] = Field(default_factory=list)  # may decide for any org
    oidc_issuer: str | None = None
    oidc_audience: str | None = None
    oidc_jwks_url: str | None = None
    oidc_jwks_file: Path | None = None
    oidc_org_claim: str = "org"
    oidc_purposes_claim: str = "aup_purposes"
    oidc_models_claim: str = "aup_models"
    shutdown_grace_s: float = Field(default=30.0, ge=0)
    auth_cache_s: float = Field(default=1.0, ge=0)  # reuse key/org lookups (revocation delay)

    @property
    def database(self) -> str:
        """The store's URL: the configured one, else a SQLite file in the home directory."""
        return self.database_url or f"sqlite:///{self.home / 'aupgate.db'}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The TOML file (if any) is named in the model config by `load_settings`.
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))


def load_settings(home: Path | None = None, config: Path | None = None) -> Settings:
    """Build Settings; `home`/`config` come from the command line and win over the rest."""
    overrides: dict[str, Any] = {}
    if home is not None:
        overrides["home"] = home
    if config is None and os.environ.get("AUPGATE_CONFIG"):
        config = Path(os.environ["AUPGATE_CONFIG"])
    settings_cls = Settings
    if config is not None:
        if not config.is_file():
            raise InvalidInputError(f"config file not found: {config}")

        class FileSettings(Settings):
            model_config = SettingsConfigDict({**Settings.model_config, "toml_file": config})

        settings_cls = FileSettings
    try:
        return settings_cls(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidInputError(f"invalid setting {where}: {first['msg']}") from None
