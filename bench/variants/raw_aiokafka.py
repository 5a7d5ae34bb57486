"""Variants (a) and (b): a plain aiokafka consume-produce loop, one batch at a time.

`--work none` passes every input through unchanged (a); `--work job` runs the job on the batch,
vectorized (b). A batch's offsets are committed only after the broker acknowledged (acks=all) every
output of the batch: the worker's at-least-once contract.
"""

import asyncio

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from common import arguments, stop_on_signals
from job import Job
from job_batch import BatchJob


async def main() -> None:
    args = arguments(__doc__.splitlines()[0])
    stop = stop_on_signals()
    batch_job = BatchJob(Job(args.params)) if args.work == "job" else None
    servers = args.bootstrap.split(",")
    consumer = AIOKafkaConsumer(
        args.input,
        bootstrap_servers=servers,
        group_id=args.group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=args.session_timeout_ms,
        heartbeat_interval_ms=max(args.session_timeout_ms // 6, 500),
        **({"fetch_max_wait_ms": args.fetch_max_wait_ms} if args.fetch_max_wait_ms is not None else {}),
    )
    # librdkafka's defaults (Quix Streams runs on them): 5 ms linger, batches up to 1 MB. aiokafka's own
    # (no linger, 16 kB batches) send a 1,000-event batch as dozens of requests, each waiting for acks=all.
    producer = AIOKafkaProducer(bootstrap_servers=servers, acks="all", linger_ms=5, max_batch_size=1_000_000)
    await producer.start()
    await consumer.start()
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=200, max_records=1000)
            pending = []
            for messages in batches.values():
                values = [m.value or b"" for m in messages]
                outputs = batch_job.many(values) if batch_job is not None else values
                for message, output in zip(messages, outputs, strict=True):
                    pending.append(await producer.send(args.output, output, key=message.key))
            if pending:
                await asyncio.gather(*pending)
                await consumer.commit({tp: messages[-1].offset + 1 for tp, messages in batches.items()})
    finally:
        await consumer.stop()
        await producer.stop()


if __name__ == "__main__":
    asyncio.run(main())
