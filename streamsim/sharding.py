"""Kafka's default partitioner, so the in-process evaluation shards users exactly as the broker does.

Kafka (and aiokafka's DefaultPartitioner) place a keyed record on ``murmur2(key) & 0x7fffffff % n``.
"""

from __future__ import annotations


def murmur2(data: bytes) -> int:
    """The 32-bit murmur2 variant of Kafka's ``Utils.murmur2`` (seed 0x9747b28c), as a signed int."""
    length = len(data)
    m, r = 0x5BD1E995, 24
    h = (0x9747B28C ^ length) & 0xFFFFFFFF
    n4 = length // 4
    for i in range(n4):
        k = int.from_bytes(data[4 * i: 4 * i + 4], "little")
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r
        k = (k * m) & 0xFFFFFFFF
        h = (h * m) & 0xFFFFFFFF
        h ^= k
    rest = length & 3
    tail = 4 * n4
    if rest >= 3:
        h ^= data[tail + 2] << 16
    if rest >= 2:
        h ^= data[tail + 1] << 8
    if rest >= 1:
        h ^= data[tail]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def partition_for(key: str, n_partitions: int) -> int:
    """The partition Kafka assigns to a record keyed by ``key`` (utf-8)."""
    if n_partitions <= 1:
        return 0
    return (murmur2(key.encode()) & 0x7FFFFFFF) % n_partitions
