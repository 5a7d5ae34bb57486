"""The measured impact from the tallies the workers keep in Redis: what `segmenter impact` reports without files.
Read from Redis directly, not asked of a worker over the control topic: every worker counts into the same tallies,
so any reader gets the same answer, with no worker running and no reply to wait for."""

from models.impact_report import ImpactReport, impact_report
from models.settings import Settings
from streams.clients import RedisHealth, redis_client
from streams.model_plane import RedisModelStore
from streams.outcomes import Attribution

__all__ = ["online_report"]


async def online_report(settings: Settings, version: int | None = None) -> ImpactReport:
    """The report on model `version`, by default the current one (every version's if none is published).
    Raises `ServiceUnavailableError` when Redis does not answer."""
    client = redis_client(settings)
    try:
        health = RedisHealth(client, timeout=settings.redis_timeout_seconds)
        if version is None:
            version = await RedisModelStore(client, settings.redis_key_prefix, health).current_version()
        window = settings.attribution_window_seconds
        tallies = await Attribution(client, health, settings.redis_key_prefix, window).tallies()
    finally:
        await client.aclose()
    return impact_report(tallies.cells, tallies.unattributed + tallies.after_window, window, version)
