"""The pure-Python Keccak-256 agrees with eth_hash's."""

from __future__ import annotations

import random

from eth_hash.auto import keccak

from chainlink_feeds.keccak import keccak256


def test_matches_eth_hash_across_block_boundaries() -> None:
    rng = random.Random(1)
    for length in [0, 1, 40, 135, 136, 137, 271, 272, 500]:
        data = bytes(rng.randrange(256) for _ in range(length))
        assert keccak256(data) == keccak(data), length


def test_known_vector() -> None:
    assert keccak256(b"").hex() == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
