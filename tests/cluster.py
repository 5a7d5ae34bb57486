"""A Valkey cluster of primaries on loopback ports, started from the embedded binary, for tests of cluster mode."""

from dataclasses import dataclass
from pathlib import Path

import redis

from streams.local.services import HOST, LocalService, free_port, start_redis
from tests.waiting import wait_for

__all__ = ["LocalCluster", "start_cluster"]

SLOTS = 16_384


@dataclass
class LocalCluster:
    """Primaries that together hold every slot, the i-th node an even i-th share of them (as `--cluster create`)."""

    nodes: list[LocalService]

    @property
    def url(self) -> str:
        """The service's cluster URL: one node is enough, the client finds the others."""
        return f"redis+cluster://{HOST}:{self.nodes[0].port}/0"

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def start_cluster(workdir: Path, size: int = 3, timeout: float = 30) -> LocalCluster:
    """`size` Valkey nodes in cluster mode, each given its range of slots and introduced to the first, once every
    node reports `cluster_state:ok`, knows all the others and has a bus link to and from each."""
    cluster, buses = LocalCluster([]), [free_port() for _ in range(size)]
    try:
        for i, bus in enumerate(buses):
            folder = workdir / f"node{i}"
            folder.mkdir()
            options = ["--cluster-enabled", "yes", "--cluster-config-file", str(folder / "nodes.conf")]
            options += ["--cluster-port", str(bus)]  # else the bus is the port + 10,000, maybe taken or too high
            cluster.nodes.append(start_redis(folder, options=options))
        clients = [redis.Redis(host=HOST, port=node.port, decode_responses=True) for node in cluster.nodes]
        for i, client in enumerate(clients):
            client.cluster("ADDSLOTSRANGE", SLOTS * i // size, SLOTS * (i + 1) // size - 1)
            client.cluster("MEET", HOST, cluster.nodes[0].port, buses[0])
        wait_for(lambda: all(_formed(client, size) for client in clients), timeout, f"a cluster of {size} nodes", 0.05)
        for client in clients:
            client.close()
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _formed(client: redis.Redis, size: int) -> bool:
    info = client.cluster("INFO")
    return bool(info["cluster_state"] == "ok" and int(info["cluster_known_nodes"]) == size) and _linked(client, size)


def _linked(client: redis.Redis, size: int) -> bool:
    """Whether the node has a bus link to and from each other node. Two nodes introduced only to a third learn of
    each other by gossip, and one may keep a link the other already dropped for up to seconds: a PUBLISH on the
    one is then lost to the other's subscribers. A "to" link is listed while it is still connecting; a "from" link
    only once a packet came over it, so with every node checked, each link is proven from its far end."""
    links = [dict(zip(pairs[::2], pairs[1::2], strict=True)) for pairs in client.cluster("LINKS")]
    return all(len({link["node"] for link in links if link["direction"] == way}) == size - 1 for way in ("to", "from"))
