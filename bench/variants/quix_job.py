"""Variant (c): Quix Streams doing the job, one event at a time (its model: `sdf.apply`).

Runs in its own virtualenv (bench/requirements-quix.txt): Quix Streams pins pydantic below the
product's. librdkafka's consumer waits a full session timeout on Tansu before its first message, so
the session timeout is lowered to 10 s as for the other variants.
"""

import time

from common import arguments
from job import Job
from quixstreams import Application


def main() -> None:
    args = arguments(__doc__.splitlines()[0])
    job = Job(args.params)
    app = Application(
        broker_address=args.bootstrap,
        consumer_group=args.group,
        auto_offset_reset="earliest",
        consumer_extra_config={"session.timeout.ms": args.session_timeout_ms}
        | ({"fetch.wait.max.ms": args.fetch_max_wait_ms} if args.fetch_max_wait_ms is not None else {}),
        producer_extra_config={"acks": "all"},
        loglevel="WARNING",
        auto_create_topics=False,  # bench/throughput.py creates the topics, with 2 partitions
        use_changelog_topics=False,
    )
    source = app.topic(args.input, key_deserializer="bytes", value_deserializer="bytes")
    sink = app.topic(args.output, key_serializer="bytes", value_serializer="bytes")
    frame = app.dataframe(source)
    if args.work == "job":
        frame = frame.apply(job.one)
    # `to_topic` keeps the input's timestamp; the benchmark times results by theirs, so stamp them now,
    # as the other clients do when they produce.
    frame = frame.set_timestamp(lambda value, key, timestamp, headers: time.time_ns() // 1_000_000)
    frame.to_topic(sink)
    app.run()


if __name__ == "__main__":
    main()
