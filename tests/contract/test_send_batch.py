"""``ProducerT.send_batch``, the same on every broker: records sent at once, each landing
where ``send`` would put it, and on the broker when the call returns."""

from __future__ import annotations

import orjson

from rxstreams.transports import transport_from_url
from rxstreams.types import ProducerConfig
from tests.contract.conftest import Cluster


async def test_a_batch_lands_in_order_by_key_or_partition_and_is_on_the_broker(
    cluster: Cluster,
) -> None:
    """300 records: keyed ones go to their key's partition (as send() puts them), explicit
    partitions are kept, the metadata come back in order, and a reader finds them all."""
    topic = cluster.name("batch")
    await cluster.create_topic(topic, 3)
    transport = transport_from_url(cluster.url)
    producer = transport.create_producer(ProducerConfig(client_id="batch"))
    await producer.start()
    try:
        keyed = [(orjson.dumps(f"k{i % 7}"), orjson.dumps(i), None) for i in range(200)]
        placed = [(None, orjson.dumps(1000 + i), i % 3) for i in range(100)]
        landed = await producer.send_batch(topic, keyed + placed)
        single = await (await producer.send(topic, orjson.dumps(-1), key=orjson.dumps("k3")))
    finally:
        await producer.stop()
        await transport.close()
    assert len(landed) == 300
    by_key = {orjson.loads(k): md.partition for (k, _, _), md in zip(keyed, landed, strict=False)}
    assert by_key["k3"] == single.partition
    assert [md.partition for md in landed[200:]] == [i % 3 for i in range(100)]
    records = await cluster.records(topic, 3)
    values = sorted(orjson.loads(m.value) for m in records if m.value is not None)
    assert values == sorted([*range(200), *range(1000, 1100), -1])
    for md in landed:
        assert md.topic == topic
        assert md.offset >= 0
    offsets = {(md.partition, md.offset) for md in landed}
    assert len(offsets) == 300
