"""The server's one settings object, read from NETADAPT_* environment variables (or .env)."""

from __future__ import annotations

import json
import logging
from functools import lru_cache
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from service.netadapt.errors import UserError

log = logging.getLogger(__name__)

ENV_PREFIX = "NETADAPT_"
# Shipped so a developer can start the server with no setup (dev_mode only).
DEFAULT_SECRET = "changethis"
MIN_SECRET_LENGTH = 16
# A child process that imports TensorFlow needs ~1.3 GiB of address space before it loads
# anything (measured, service.uploads.inspection).
MIN_CHILD_MEMORY_BYTES = 1536 * 1024 * 1024


class InsecureSettingsError(UserError, ValueError):
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
    # The request line and headers of one request (uvicorn's h11 buffer limit and the app's
    # own check, service.api.http_server): larger ones get a 431 problem.
    max_header_bytes: int = Field(64 * 1024, ge=4096)

    # Uploaded models (.keras) and datasets (.npz), service.uploads. Both are zip archives:
    # the sum of their members' uncompressed sizes is capped before anything is read.
    # Then a child process loads them, limited to inspect_memory_bytes of address space
    # (RLIMIT_AS) and inspect_timeout_seconds, max_concurrent_inspections at a time.
    # Measured peaks (VmPeak, with the child's one-thread settings): TensorFlow alone
    # ~1.3 GiB; loading a model adds 3-8x its weights (Keras reads the weights file into
    # memory, initialisers make temporaries): ResNet50 (103 MB) 1.7 GB, VGG16 (553 MB)
    # 4.3 GB; a 500 MB uint8 .npz (4x as float32) fits in 6 GiB, not in 4. So 6 GiB loads
    # what fits under max_upload_bytes and stops a config that asks for more (a few bytes
    # of JSON can ask for an 80 GB Dense kernel).
    max_model_uncompressed_bytes: int = Field(1024 * 1024 * 1024, gt=0)
    max_dataset_uncompressed_bytes: int = Field(512 * 1024 * 1024, gt=0)
    inspect_memory_bytes: int = Field(6 * 1024 * 1024 * 1024, ge=MIN_CHILD_MEMORY_BYTES)
    inspect_timeout_seconds: float = Field(180.0, gt=0)
    max_concurrent_inspections: int = Field(1, ge=1)
    # Uploads waiting for an inspection slot; one more is answered 429 with Retry-After.
    max_queued_inspections: int = Field(8, ge=0)

    # How large a model may be (service.uploads.limits; checked at upload from the
    # analysis and again at run creation). Reference points, measured: keras.applications
    # ResNet50 at 224x224x3 has 25.6 M parameters and 142 MiB of activations per sample,
    # MobileNetV2 3.5 M and 83 MiB, VGG16 138 M and 58 MiB. 150 M parameters is more than
    # a .keras file under max_upload_bytes holds (4 bytes each).
    max_model_input_elements: int = Field(2**24, ge=1)  # per sample: 4096x4096x1, 2364x2364x3
    max_model_params: int = Field(150_000_000, ge=1)
    max_activation_bytes_per_sample: int = Field(1024 * 1024 * 1024, ge=1)
    # Address space (RLIMIT_AS) of a run worker and of each fine-tune process it starts; a
    # run that hits it fails saying so. 0: no limit (GPU runtimes reserve more address
    # space than any physical memory).
    run_memory_bytes: int = Field(16 * 1024 * 1024 * 1024, ge=0)

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    # Requests whose work runs in the server process's thread pool at once (every database
    # call of an endpoint; the rest wait for a thread). Their Python shares one GIL, so
    # more threads only take turns on it: anyio's default of 40 had the longer lease
    # waits under load (README, "Load"; benchmarks/agents_load.py).
    request_threads: int = Field(4, ge=1)

    # Scaling out. Where runs fine-tune their proposals (service.executors.selection):
    # "local" worker processes or "ray" tasks; unset: ray when a Ray address is set here
    # or in Ray's own RAY_ADDRESS variable, else local. The database is database_url
    # (SQLite by default; postgresql://user:password@host/db for PostgreSQL).
    executor: Literal["local", "ray"] | None = None
    ray_address: str | None = None

    # Runs: how many execute at once (each uses every core for its fine-tunes; 0 = none), how
    # often the supervisor looks at the queue, how long a cancelled worker gets to stop.
    max_concurrent_runs: int = Field(1, ge=0)  # 0: runs stay queued (an API-only server)
    supervisor_interval_seconds: float = Field(0.5, gt=0)
    cancel_grace_seconds: float = Field(5.0, ge=0)
    # A device agent the server starts and stops with itself (a netadapt-agent backend
    # name, e.g. host-latency); none by default.
    embedded_agent: str | None = None

    @field_validator("agent_token", "api_token")
    @classmethod
    def _refuse_weak_secrets(cls, value: str, info: ValidationInfo) -> str:
        # dev_mode is declared above the tokens, so it is already in info.data.
        _check_secret(str(info.field_name), value, bool(info.data.get("dev_mode")))
        return value

    @field_validator("run_memory_bytes")
    @classmethod
    def _room_for_tensorflow(cls, value: int) -> int:
        if 0 < value < MIN_CHILD_MEMORY_BYTES:
            raise ValueError(
                f"NETADAPT_RUN_MEMORY_BYTES={value} leaves no room for TensorFlow (~1.3 GiB); set at least "
                f"{MIN_CHILD_MEMORY_BYTES} or 0 for no limit"
            )
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
    def runs_dir(self) -> Path:
        return self.data_dir / "runs"

    @property
    def internal_url(self) -> str:
        """Where the server's own worker processes reach its API (loopback when it
        listens on every interface)."""
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else ("::1" if self.host == "::" else self.host)
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

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


def settings_environment(settings: Settings) -> dict[str, str]:
    """NETADAPT_* variables that make Settings() in a child process equal `settings`
    (the server's settings may have been built in code, not from the environment)."""
    env = {}
    for name, value in settings.model_dump(mode="json").items():
        if value is None:
            continue
        env[f"{ENV_PREFIX}{name.upper()}"] = value if isinstance(value, str) else json.dumps(value)
    return env
