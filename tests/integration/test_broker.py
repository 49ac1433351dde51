"""Smoke test of the real broker: admin, produce, group consume and commit with aiokafka."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

# asyncio mark kept explicit so the test also runs where asyncio_mode is not "auto".
pytestmark = [pytest.mark.kafka, pytest.mark.asyncio]

N = 100


async def test_produce_consume_100_in_order_through_group(kafka_bootstrap: str) -> None:
    suffix = uuid.uuid4().hex[:8]
    topic, group = f"it-broker-{suffix}", f"it-broker-group-{suffix}"

    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()

    expected = [(f"key-{i:03d}".encode(), f"value-{i:03d}".encode()) for i in range(N)]
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for key, value in expected:
            await producer.send(topic, key=key, value=value)
        await producer.flush()
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    received: list[tuple[bytes | None, bytes | None]] = []
    try:

        async def collect() -> None:
            while len(received) < N:
                batches = await consumer.getmany(timeout_ms=500)
                for records in batches.values():
                    received.extend((r.key, r.value) for r in records)

        await asyncio.wait_for(collect(), timeout=60)
        await consumer.commit()
        committed = await consumer.committed(TopicPartition(topic, 0))
    finally:
        await consumer.stop()

    assert received == expected
    assert committed == N
