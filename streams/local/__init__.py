"""The embedded services of the demo and the tests: a Kafka-compatible broker (Tansu) and a Redis-compatible
server (Valkey) as child processes on free loopback ports, their readiness probes, and a worker as a child
process. Stands apart from the worker: imports only the shared `streams.exceptions`."""

from streams.local.services import LocalService, free_port, start_services, start_worker, stop_pid

__all__ = ["LocalService", "free_port", "start_services", "start_worker", "stop_pid"]
