"""Helpers for tests that talk to real Kafka and Redis."""

import uuid

__all__ = ["unique"]


def unique(name: str) -> str:
    """`name` with a random suffix, so tests sharing one broker never share a topic, group or key."""
    return f"{name}-{uuid.uuid4().hex[:8]}"
