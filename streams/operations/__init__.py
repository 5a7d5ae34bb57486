"""What an operator sees of a worker: the activity of recent batches (counted into Prometheus, kept for the
dashboard, said in progress lines), the HTTP server (`/metrics`, `/healthz`, `/readyz`, the live dashboard) and the
worker's logging. Imports `streams.routing` (the types of what was routed), `streams.model_plane` (the served
model), `models`, `segmentation` and the shared `streams.metrics`; nothing imports it but the app."""

from streams.operations.activity import Activity
from streams.operations.logs import logging_config, start_line, stop_message
from streams.operations.web import Check, WebServer

__all__ = ["Activity", "Check", "WebServer", "logging_config", "start_line", "stop_message"]
