"""aiokafka's exceptions become rxstreams errors at the boundary, keeping ``retriable``."""

from __future__ import annotations

import pytest
from aiokafka import errors as kafka_errors

from rxstreams.errors import (
    BrokerUnavailableError,
    CommitFailedError,
    RxStreamsError,
    TransportError,
    UnknownTopicError,
)
from rxstreams_kafka._errors import translate, translate_errors


@pytest.mark.parametrize(
    ("error", "expected", "retriable"),
    [
        (kafka_errors.KafkaConnectionError("refused"), BrokerUnavailableError, True),
        (kafka_errors.NoBrokersAvailable(), BrokerUnavailableError, True),
        (kafka_errors.NodeNotReadyError(), BrokerUnavailableError, True),
        (kafka_errors.KafkaTimeoutError(), BrokerUnavailableError, True),
        (kafka_errors.RequestTimedOutError(), BrokerUnavailableError, True),
        (kafka_errors.BrokerNotAvailableError(), BrokerUnavailableError, True),
        (kafka_errors.KafkaUnavailableError(), BrokerUnavailableError, True),
        (kafka_errors.ConsumerStoppedError(), BrokerUnavailableError, False),
        (kafka_errors.ProducerClosed(), BrokerUnavailableError, False),
        (kafka_errors.CommitFailedError("rebalanced"), CommitFailedError, False),
        (kafka_errors.IllegalGenerationError(), CommitFailedError, False),
        (kafka_errors.RebalanceInProgressError(), CommitFailedError, False),
        (kafka_errors.UnknownMemberIdError(), CommitFailedError, False),
        (kafka_errors.UnknownTopicOrPartitionError(), UnknownTopicError, True),
        (kafka_errors.NotEnoughReplicasError(), TransportError, True),
        (kafka_errors.TopicAuthorizationFailedError(), TransportError, False),
        (kafka_errors.IllegalOperation("no group"), TransportError, False),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else None,
)
def test_each_aiokafka_error_has_its_rxstreams_error(
    error: BaseException, expected: type[TransportError], retriable: bool
) -> None:
    """The class follows the table in _errors; retriable is aiokafka's, except that an
    unreachable or slow broker always is and a closed client never is; the cause is kept."""
    with pytest.raises(expected) as info, translate_errors("doing it"):
        raise error
    assert type(info.value) is expected
    assert info.value.retriable is retriable
    assert info.value.__cause__ is error
    assert str(info.value).startswith(f"doing it failed: {type(error).__name__}")


def test_our_own_errors_and_foreign_ones_pass_through() -> None:
    """An rxstreams error or a non-aiokafka exception raised in the block is left alone."""
    ours = CommitFailedError("fenced")
    with pytest.raises(CommitFailedError) as info, translate_errors("committing"):
        raise ours
    assert info.value is ours
    with pytest.raises(KeyError), translate_errors("looking up"):
        raise KeyError("x")


def test_translated_errors_are_rxstreams_errors() -> None:
    """User code catches everything with RxStreamsError, never an aiokafka class."""
    error = translate(kafka_errors.KafkaError("boom"), "x")
    assert isinstance(error, RxStreamsError)
    assert not isinstance(error, kafka_errors.KafkaError)
