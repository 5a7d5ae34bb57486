"""The measured impact from the tallies the workers keep in Redis: what `segmenter impact` reports without files.
Read from Redis directly, not asked of a worker over the control topic: every worker counts into the same tallies,
so any reader gets the same answer, with no worker running and no reply to wait for."""

from dataclasses import dataclass

from models.impact_report import ImpactReport, impact_report
from models.settings import Settings
from models.snapshot import ModelSnapshot
from segmentation.tallies import Cell
from streams.clients import RedisHealth, redis_client
from streams.model_plane import RedisModelStore
from streams.outcomes import Attribution

__all__ = ["OnlineImpact", "online_impact"]


@dataclass(frozen=True)
class OnlineImpact:
    """The report, the cells it was made of, and the model it is on (None: no model published)."""

    report: ImpactReport
    cells: list[Cell]
    model: ModelSnapshot | None


async def online_impact(settings: Settings, version: int | None = None) -> OnlineImpact:
    """The report on model `version`, by default the current one (every version's if none is published).
    Raises `ServiceUnavailableError` when Redis does not answer."""
    client = redis_client(settings)
    try:
        health = RedisHealth(client, timeout=settings.redis_timeout_seconds)
        store = RedisModelStore(client, settings.redis_key_prefix, health)
        version = await store.current_version() if version is None else version
        model = await store.load(version) if version is not None else None
        window = settings.attribution_window_seconds
        tallies = await Attribution(client, health, settings.redis_key_prefix, window).tallies()
    finally:
        await client.aclose()
    cells = [cell for cell in tallies.cells if version is None or cell.model_version == version]
    report = impact_report(cells, tallies.unattributed + tallies.after_window, window, version)
    return OnlineImpact(report, cells, model)
