"""The one settings object, read from `SEGMENTER_*` environment variables at the edge."""

from pathlib import Path
from typing import Any, Literal, get_args
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from models.k_range import MAX_K, MIN_K

__all__ = ["EXACTLY_ONCE_BATCH_SIZE", "Settings", "settings_table"]

# Each exactly_once batch is a transaction, with its round trips and commit markers: in two sweeps, exactly_once
# routed 19,755 and 22,584 leads/s with batches of 4,000, 15,088 and 17,768 with 1,000, and nothing consistently
# more with 8,000 (bench/results/issue20/batch-size-*.json, docs/exactly-once.md "Cost").
EXACTLY_ONCE_BATCH_SIZE = 4000


class Settings(BaseSettings):
    """Where the services are, what the topics are called, and how the worker batches.

    Built once by the CLI and passed down; nothing else reads the environment.
    """

    model_config = SettingsConfigDict(env_prefix="SEGMENTER_", frozen=True, extra="ignore")

    kafka_bootstrap: str = Field(default="localhost:9092", description="Kafka bootstrap servers, host:port[,host:port]")
    redis_url: SecretStr = Field(
        default=SecretStr("redis://localhost:6379/0"),
        description="redis:// or rediss:// URL, user and password included; redis+cluster:// (rediss+cluster://) "
        "for a Redis Cluster, any one node's address",
    )
    app_id: str = Field(default="lead-segmenter", description="Faust app id and consumer group")
    partitions: int = Field(default=2, ge=1, le=1024, description="Partitions of every topic the worker creates")
    replication_factor: int = Field(default=1, ge=1, le=16, description="Replication factor of created topics")
    leads_topic: str = Field(default="leads", description="Lead events in")
    segments_topic: str = Field(default="lead-segments", description="SegmentAssigned events out")
    dlq_topic: str = Field(default="leads-dlq", description="Invalid lead events, with the reason in headers")
    control_topic: str = Field(default="segmenter-control", description="Operator commands")
    models_topic: str = Field(default="segmenter-models", description="Model version announcements")
    transitions_topic: str = Field(default="lead-segment-transitions", description="Assignments that changed segment")
    outcomes_topic: str = Field(default="lead-outcomes", description="OutcomeEvents in: deals won, lost, reopened")
    registry_topic: str = Field(
        default="segmenter-registry",
        description="Compacted topic that keeps every model version and the controls: the copy Redis is refilled from",
    )
    holdout_share: float = Field(
        default=0.05, ge=0, le=0.5,
        description="Share of leads (a stable hash of lead_id) told to get the baseline campaign: the randomized "
        "control group the measured lift is taken against (0: no holdout)",
    )  # fmt: skip
    holdout_salt: str = Field(
        default="", max_length=200, description="Mixed into the holdout hash: a new salt draws a new holdout"
    )
    attribution_window_seconds: float = Field(
        default=90 * 86_400, gt=0, le=730 * 86_400,
        description="An outcome counts for a lead's first exposure this long before it; a lead with no result by "
        "then counts as lost",
    )  # fmt: skip
    engine: Literal["agent", "batch"] = Field(
        default="batch",
        description="How leads are consumed: a Faust agent, or an aiokafka consumer reading whole batches",
    )
    processing_guarantee: Literal["at_least_once", "exactly_once"] = Field(
        default="at_least_once",
        description="exactly_once (batch engine, a broker with transactions): each batch's outputs and its input "
        "offsets in one Kafka transaction per input partition, for consumers reading with read_committed",
    )
    batch_size: int = Field(
        default=1000,
        ge=1,
        le=100_000,
        description=f"Most leads assigned in one batch; {EXACTLY_ONCE_BATCH_SIZE} by default under exactly_once, "
        "where each batch is a transaction and fewer, larger ones route more leads a second",
    )
    batch_max_latency_ms: float = Field(default=50, gt=0, le=60_000, description="Longest wait to fill a batch")
    max_event_bytes: int = Field(
        default=65_536, ge=256, le=10_485_760, description="Larger lead events are dead-lettered"
    )
    kafka_session_timeout_seconds: float = Field(
        default=10, ge=1, le=300, description="Consumer group session timeout; a dead worker's partitions move after it"
    )
    model_poll_seconds: float = Field(default=5, gt=0, le=3600, description="How often the model pointer is polled")
    registry_check_seconds: float = Field(
        default=1, gt=0, le=3600,
        description="How often a worker compares Redis's model pointer and controls with the registry topic's",
    )  # fmt: skip
    command_ttl_seconds: float = Field(
        default=60,
        gt=0,
        le=7 * 86_400,
        description="An operator command older than this (from its `sent_at`, else its Kafka timestamp) is answered "
        "`expired` and not carried out",
    )
    refit_interval_seconds: float = Field(
        default=0, ge=0, le=30 * 86_400, description="The leader refits this often (0: only on `segmenter refit`)"
    )
    refit_sample_size: int = Field(
        default=100_000,
        ge=1_000,
        le=10_000_000,
        description="Leads in the refit sample all workers share in Redis (`{prefix}:sample`), recency-weighted",
    )
    refit_sample_half_life_seconds: float = Field(
        default=7 * 86_400,
        gt=0,
        le=365 * 86_400,
        description="A lead seen this much later is twice as likely to be in the refit sample",
    )
    refit_min_leads: int = Field(
        default=5_000, ge=100, description="A refit with fewer sampled leads is rejected with that reason"
    )
    refit_seed_file: Path | None = Field(
        default=None, description="Leads file (CSV or JSONL) that fills the refit sample at start if it is empty"
    )
    refit_max_k: int = Field(
        default=10, ge=MIN_K, le=MAX_K, description="Largest K a refit considers when K is chosen again (`set_k auto`)"
    )
    drift_check_seconds: float = Field(
        default=30,
        ge=0,
        le=86_400,
        description="How often each worker judges drift, and the leader refits on it (0: never)",
    )
    drift_window_leads: int = Field(
        default=20_000, ge=100, le=1_000_000, description="Most recent sampled leads drift is judged on"
    )
    drift_window_seconds: float = Field(
        default=3600,
        ge=0,
        le=30 * 86_400,
        description="Sampled leads older than this leave the drift window (0: never)",
    )
    drift_rows_per_batch: int = Field(
        default=64, ge=1, le=10_000, description="Leads of each routed batch sampled, evenly spaced, for drift"
    )
    drift_min_leads: int = Field(
        default=2_000, ge=10, description="Drift is not judged on fewer sampled leads in the window"
    )
    drift_distance_ratio: float = Field(
        default=1.5, gt=1, le=100, description="Drift: a segment's mean distance this many times its fit-time one"
    )
    drift_outlier_excess: float = Field(
        default=0.10,
        gt=0,
        le=1,
        description="Drift: a segment's outlier share, or the share beyond every radius, this much above fit time",
    )
    drift_traffic_shift: float = Field(
        default=0.15, gt=0, le=1, description="Drift: this share of leads in other segments than at fit time"
    )
    drift_refit_min_seconds: float = Field(
        default=3600, ge=0, le=30 * 86_400, description="Least time between two refits the leader asks for on drift"
    )
    gate_inertia_tolerance: float = Field(
        default=0.05, ge=0, le=10, description="A refit is refused if its inertia per held-out lead is this much higher"
    )
    gate_silhouette_tolerance: float = Field(
        default=0.05, ge=0, le=2, description="A refit is refused if its held-out silhouette is this much lower"
    )
    gate_stability_tolerance: float = Field(
        default=0.10, ge=0, le=2, description="A refit is refused if its resampling stability (ARI) is this much lower"
    )
    gate_min_share: float = Field(
        default=0.01, ge=0, le=0.5, description="A refit is refused if its smallest segment holds a smaller share"
    )
    gate_min_stability: float = Field(
        default=0.5, ge=0, le=1, description="A refit is refused if its own resampling stability (ARI) is lower"
    )
    gate_max_moved_share: float = Field(
        default=0.30,
        ge=0,
        le=1,
        description="A refit is refused if it moves a larger share of leads in a way its lineage does not explain "
        "(a kept segment's leads to another)",
    )
    transition_margin: float = Field(
        default=0.1,
        ge=0,
        le=10,
        description="Hysteresis: a lead leaves a segment still served only if that is this much (relative) farther"
        " than the nearest (0: off)",
    )
    redis_key_prefix: str = Field(
        default="segmenter",
        min_length=1,
        description="Prefix of every Redis key and channel (no braces: the keys' hash tags are made with them)",
    )
    redis_timeout_seconds: float = Field(
        default=1,
        gt=0,
        le=60,
        description="Longest wait on Redis; a worker that waited this long treats Redis as down and probes it",
    )
    previous_retention_seconds: int = Field(
        default=90 * 86_400,
        ge=1,
        le=10 * 365 * 86_400,
        description="A lead's last segment is forgotten this long (at most twice this) after it was last routed",
    )
    previous_shards: int = Field(
        default=0,
        ge=0,
        le=1024,
        description="Redis hashes that hold previous segments (0: 1 on a single server, 12 on a cluster)",
    )
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT", description="Kafka security protocol"
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = Field(
        default=None, description="SASL mechanism (PLAIN when SASL is on and this is unset)"
    )
    kafka_sasl_username: str | None = Field(default=None, description="SASL user")
    kafka_sasl_password: SecretStr | None = Field(default=None, description="SASL password (never logged)")
    kafka_ssl_cafile: str | None = Field(default=None, description="CA bundle for SSL (system CAs if unset)")
    kafka_ssl_certfile: str | None = Field(default=None, description="Client certificate for mutual TLS")
    kafka_ssl_keyfile: str | None = Field(default=None, description="Client key for mutual TLS")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Worker log level (DEBUG also shows the frameworks' own lines)"
    )
    log_format: Literal["text", "json"] = Field(
        default="text", description="Worker log lines as text or one JSON object each"
    )
    web_host: str = Field(
        default="127.0.0.1", description="Address the worker's HTTP server binds (0.0.0.0 in a container)"
    )
    web_port: int = Field(
        default=6066, ge=0, le=65_535, description="Port of /metrics, /healthz, /readyz and the dashboard (0: none)"
    )
    web_token: SecretStr | None = Field(
        default=None, description="If set, required on every path but /healthz and /readyz (never logged)"
    )

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, url: SecretStr) -> SecretStr:
        parts = urlsplit(url.get_secret_value())
        if parts.scheme not in ("redis", "rediss", "redis+cluster", "rediss+cluster"):
            raise ValueError(
                f"must start with redis://, rediss:// or redis+cluster://, not {parts.scheme or 'nothing'}://"
            )
        try:
            parts.port  # noqa: B018 - raises on a port that is not a number
        except ValueError:
            raise ValueError("the port must be a number") from None
        if not parts.hostname:
            raise ValueError("a host is required, as in redis://host:6379/0")
        if parts.scheme.endswith("+cluster") and parts.path.strip("/") not in ("", "0"):
            raise ValueError("a Redis Cluster has database 0 only, as in redis+cluster://host:6379/0")
        return url

    @model_validator(mode="before")
    @classmethod
    def _larger_batches_under_exactly_once(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("processing_guarantee") == "exactly_once" and "batch_size" not in data:
            return data | {"batch_size": EXACTLY_ONCE_BATCH_SIZE}
        return data

    @field_validator("processing_guarantee")
    @classmethod
    def _batch_engine_only(cls, guarantee: str, info: ValidationInfo) -> str:
        if guarantee == "exactly_once" and info.data.get("engine") == "agent":
            raise ValueError(
                "exactly_once needs the batch engine: faust-streaming's own exactly_once still duplicates "
                "(faust-streaming issues #323, #517), so the agent engine stays at_least_once"
            )
        return guarantee

    @field_validator("redis_key_prefix")
    @classmethod
    def _no_braces(cls, prefix: str) -> str:
        if "{" in prefix or "}" in prefix:
            raise ValueError(
                f"{prefix!r} has braces: the service makes its keys' hash tags with them, as in {{segmenter}}"
            )
        return prefix

    @field_validator("kafka_bootstrap")
    @classmethod
    def _hosts(cls, value: str) -> str:
        for host in value.split(","):
            name, _, port = host.strip().rpartition(":")
            if not name or not port.isdigit():
                raise ValueError(f"expected host:port[,host:port], got {value!r}")
        return value

    def as_env(self) -> dict[str, str]:
        """These settings as the `SEGMENTER_*` variables that rebuild them (for a child worker)."""
        env, values = {}, self.model_dump(exclude_defaults=True)
        if self.processing_guarantee == "exactly_once":
            values["batch_size"] = self.batch_size  # its default depends on the guarantee: 1,000 is not it there
        for name, value in values.items():
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            env[f"SEGMENTER_{name.upper()}"] = str(value)
        return env

    @property
    def redis_url_redacted(self) -> str:
        """The Redis URL with its password replaced, for logs."""
        parts = urlsplit(self.redis_url.get_secret_value())
        netloc = parts.netloc
        if parts.password is not None:
            netloc = f"{parts.username or ''}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        query = "&".join(
            f"{key}=***" if key.lower() == "password" else f"{key}={value}" for key, value in parse_qsl(parts.query)
        )
        return urlunsplit(parts._replace(netloc=netloc, query=query))


def settings_table() -> str:
    """The README's configuration table, made from the fields above so the two cannot drift."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = field.default
        if isinstance(default, SecretStr):
            default = default.get_secret_value()
        meaning = field.description or ""
        choices = get_args(
            get_args(field.annotation)[0] if type(None) in get_args(field.annotation) else field.annotation
        )
        if choices and all(isinstance(c, str) for c in choices):
            meaning += ": " + ", ".join(choices)
        shown = "" if default is None else f"`{default}`"
        rows.append(f"| `SEGMENTER_{name.upper()}` | {shown} | {meaning} |")
    return "\n".join(rows)
