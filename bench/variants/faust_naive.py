"""Variant (d): the naive Faust agent, one event at a time, as a tutorial writes it.

Each event runs the job on its own and is sent to the output topic (acks=all); Faust acks the input
when the loop moves on and commits on its interval. Runs at log level info: at its default Faust
sets the root logger to DEBUG.
"""

import sys
import tempfile
from pathlib import Path

import faust
from common import arguments
from job import Job


def main() -> None:
    args = arguments(__doc__.splitlines()[0])
    job = Job(args.params)
    session = args.session_timeout_ms / 1000
    app = faust.App(
        args.group,
        broker=[f"kafka://{host}" for host in args.bootstrap.split(",")],
        web_enabled=False,
        datadir=str(Path(tempfile.gettempdir()) / f"bench-{args.group}"),
        key_serializer="raw",
        value_serializer="raw",
        topic_allow_declare=False,  # bench/throughput.py creates the topics, with 2 partitions
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=session,
        broker_heartbeat_interval=max(session / 6, 0.5),
        producer_acks=-1,
    )
    source = app.topic(args.input, key_type=bytes, value_type=bytes)
    sink = app.topic(args.output, key_type=bytes, value_type=bytes)
    work = job.one if args.work == "job" else bytes

    @app.agent(source, name="route")
    async def route(stream: faust.StreamT[bytes]) -> None:
        async for key, value in stream.items():
            await sink.send(key=key, value=work(value))

    sys.argv = [sys.argv[0]]  # the worker reads its own command line
    faust.Worker(app, loglevel="info", quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main()
