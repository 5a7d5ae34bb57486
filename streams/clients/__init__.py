"""Kafka and Redis plumbing: clients built from settings, the records the hot path reads and writes, producing a
batch (the outbox), backing off while a broker is down, and whether Redis answers. Nothing here knows what a lead
or a model is. Imports `models.settings`, `streams.exceptions` and `streams.metrics` only."""

from streams.clients.kafka import (
    aiokafka_security,
    bootstrap_servers,
    ensure_topics,
    faust_app_id,
    faust_credentials,
    kafka_consumer,
    kafka_producer,
)
from streams.clients.kafka_backoff import back_off_metadata_retries
from streams.clients.outbox import KafkaOutbox, Outbox
from streams.clients.records import LeadMessage, Outgoing, RawLead
from streams.clients.redis_client import RedisClient, initialized, redis_client, tagged_key
from streams.clients.redis_health import REDIS_ERRORS, RedisHealth, answer
from streams.clients.transactions import PartitionTransactions, check_transactions

__all__ = [
    "REDIS_ERRORS",
    "KafkaOutbox",
    "LeadMessage",
    "Outbox",
    "Outgoing",
    "PartitionTransactions",
    "RawLead",
    "RedisClient",
    "RedisHealth",
    "aiokafka_security",
    "answer",
    "back_off_metadata_retries",
    "bootstrap_servers",
    "check_transactions",
    "ensure_topics",
    "faust_app_id",
    "faust_credentials",
    "initialized",
    "kafka_consumer",
    "kafka_producer",
    "redis_client",
    "tagged_key",
]
