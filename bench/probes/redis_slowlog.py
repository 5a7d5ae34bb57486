"""Redis's SLOWLOG, per command: how often each took longer than a threshold, its median and its longest.

    python bench/probes/redis_slowlog.py REDIS_URL reset [--slower-than-us 1000]
    ... run the benchmark ...
    python bench/probes/redis_slowlog.py REDIS_URL report

`reset` sets the threshold (and keeps up to 10,000 entries) and empties the log; `report` groups the entries by
the command and its first key's kind (the part of the key after the prefix's hash tag), so a script call that holds
Redis shows beside the hot path's calls that waited behind it. Commands run by a script are logged too.
"""

import argparse
import re
import statistics
from collections import defaultdict

import redis


def _name(command: bytes) -> str:
    words = command.decode(errors="replace").split(" ", 4)[:4]  # redis-py gives the command's words joined
    if words[0].upper() == "EVALSHA" and len(words) > 3:  # EVALSHA sha numkeys key
        return f"EVALSHA {words[1][:8]} {re.sub(r'^.*}', '', words[3])}"
    return f"{words[0].upper()} {re.sub(r'^.*}', '', words[1]) if len(words) > 1 else ''}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("redis_url")
    parser.add_argument("action", choices=["reset", "report"])
    parser.add_argument("--slower-than-us", type=int, default=1_000)
    args = parser.parse_args()
    client = redis.Redis.from_url(args.redis_url)
    if args.action == "reset":
        client.config_set("slowlog-log-slower-than", args.slower_than_us)
        client.config_set("slowlog-max-len", 10_000)
        client.slowlog_reset()
        return
    durations: dict[str, list[int]] = defaultdict(list)
    for entry in client.slowlog_get(10_000):
        durations[_name(entry["command"])].append(entry["duration"])
    for name, us in sorted(durations.items(), key=lambda item: -max(item[1])):
        print(f"{name}: {len(us)} calls, median {statistics.median(us) / 1000:.1f} ms, longest {max(us) / 1000:.1f} ms")


if __name__ == "__main__":
    main()
