"""How previous segments are spread: every process puts a lead in the same shard, shards get even shares of the
leads, and each shard's hash tag lands in its own equal share of the cluster's slots."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot

from streams.routing.previous import _shard_tags, shard_of


@given(st.lists(st.text(min_size=1, max_size=64), min_size=1, max_size=50))
def test_a_lead_goes_to_the_same_shard_whatever_batch_it_comes_in(ids: list[str]) -> None:
    alone = [int(shard_of([lead], 12)[0]) for lead in ids]
    assert shard_of(ids, 12).tolist() == alone
    assert shard_of(ids[::-1], 12).tolist() == alone[::-1]


@pytest.mark.parametrize("ids", [[f"L{i:07d}" for i in range(60_000)], [f"{i:032x}" for i in range(60_000)]])
def test_shards_get_even_shares_of_the_leads(ids: list[str]) -> None:
    counts = np.bincount(shard_of(ids, 12), minlength=12)
    assert counts.min() > 0.95 * len(ids) / 12 and counts.max() < 1.05 * len(ids) / 12, counts


@pytest.mark.parametrize("shards", [1, 3, 12, 64])
def test_each_shards_tag_hashes_into_its_own_share_of_the_slots(shards: int) -> None:
    slots = [key_slot(tag.encode()) for tag in _shard_tags("segmenter", shards)]
    share = [
        range(REDIS_CLUSTER_HASH_SLOTS * i // shards, REDIS_CLUSTER_HASH_SLOTS * (i + 1) // shards)
        for i in range(shards)
    ]
    assert all(slot in share[i] for i, slot in enumerate(slots)), slots
