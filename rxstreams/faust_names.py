"""Faust spellings rxstreams does not have, each with what to write instead.

A Faust user's code either runs as written or fails at once, at the line that uses a
Faust name rxstreams lacks, with an :class:`~rxstreams.errors.UnsupportedFeatureError`
saying what to write here. ``App``, ``Stream``, ``Agent`` and ``Topic`` look
unknown attributes up in :data:`MISSING` (from a ``__getattr__`` that type checkers do not
see, so a typo is still a type error); :class:`~rxstreams.settings.Settings` looks unknown
settings up in :data:`SETTINGS`. ``docs/faust.md`` lists every Faust feature with its
status here, and a test runs each line of that list.
"""

from __future__ import annotations

from typing import NoReturn

from .errors import UnsupportedFeatureError

__all__ = ("MISSING", "SETTINGS", "refuse")

_TABLES = (
    "tables are not in rxstreams yet (planned: changelogged tables with recovery); "
    "until then keep per-key state in a group_by(key, name=...).each(fun) function"
)
_WEB = (
    "the worker has no web server yet (planned: metrics, health and table routes); "
    "read app.status() or run `rxstreams worker` with its structured logs"
)
_METRICS = (
    "sensors and the monitor are not in rxstreams yet (planned: Prometheus metrics); "
    "read app.status(), or the structured logs (rxstreams.logging.configure)"
)
_CONFIGURED = (
    "settings are keyword arguments of App(...), validated when the app is created; "
    "there is no configuration phase to hook into"
)

#: ``owner class name -> Faust attribute -> what to write instead``
MISSING: dict[str, dict[str, str]] = {
    "App": {
        "Table": _TABLES,
        "GlobalTable": _TABLES,
        "SetTable": _TABLES,
        "SetGlobalTable": _TABLES,
        "tables": _TABLES,
        "page": _WEB,
        "web": _WEB,
        "table_route": _WEB,
        "topic_route": _WEB,
        "monitor": _METRICS,
        "sensors": _METRICS,
        "in_transaction": "read app.conf.exactly_once (processing_guarantee='exactly_once')",
        "service": (
            "rxstreams has no service classes; run background work with @app.task "
            "(or @app.timer), or start your own tasks inside `async with app:`"
        ),
        "LiveCheck": "LiveCheck is not in rxstreams; test agents with app.run() on memory://",
        "Worker": (
            "start a worker with `rxstreams worker module:app`, app.main(), "
            "or `await app.run()` / `async with app:` in your own code"
        ),
        "discover": (
            "there is no autodiscovery: import the modules that declare agents "
            "before the app starts"
        ),
        "producer": (
            "the producer belongs to app.worker and is started with the app; "
            "send with topic.send(), agent.send() or event.send()"
        ),
        "consumer": (
            "the consumer belongs to app.worker and is started with the app; "
            "iterate a stream in an agent instead"
        ),
        "on_before_configured": _CONFIGURED,
        "on_configured": _CONFIGURED,
        "on_after_configured": _CONFIGURED,
        "config_from_object": _CONFIGURED,
        "on_worker_init": "use @app.on_started, called once the worker has started",
        "on_rebalance_complete": "use app.on_partitions_assigned.connect",
        "on_produce_message": "headers are given per send: topic.send(..., headers={...})",
        "is_leader": "read app.leader.is_leader (a property, updated by the election)",
        "send": "write `await app.topic(name).send(key=..., value=...)` (or agent.send)",
        "stream": "write channel.stream() or topic.stream()",
    },
    "Stream": {
        "take_with_timestamp": (
            "take(max_, within=) limits a stream; for batches write buffer(size, timeout=seconds)"
        ),
        "noack_take": (
            "write stream.noack().take_events(max_, within) and ack each event "
            "(event.ack() or stream.ack(event))"
        ),
        "derive_topic": "declare the topic with app.topic(...) and write stream.through(topic)",
        "left_join": (
            "Faust never implemented left_join; stream.join(other, within=) is a keyed, "
            "time-windowed inner join"
        ),
        "inner_join": "write stream.join(other, within=seconds): a keyed, time-windowed join",
        "outer_join": (
            "Faust never implemented outer_join; stream.join(other, within=) is a keyed, "
            "time-windowed inner join"
        ),
        "add_processor": "write stream.map(fun), or stream.pipe(reactivex operators)",
        "get_active_stream": "the stream an agent iterates is the one it was given",
        "info": "a stream's repr describes it; app.status() shows what runs",
        "throw": "raise the exception in the agent: its on_error decides what happens",
    },
    "Agent": {
        "ask_nowait": "write agent.cast(value) (no reply) or agent.ask(value) (waits for it)",
        "add_sink": "pass sink=[...] to @app.agent(...)",
        "info": "an agent's repr describes it; app.status() shows what runs",
        "actor_tracebacks": "a failed agent's error is logged and raised by app.run()/app.wait()",
    },
    "Topic": {
        "send_soon": (
            "write `await topic.send(...)`: it returns once the record is handed to the "
            "producer, which batches (producer_linger)"
        ),
        "derive": "declare the other topic with app.topic(name, ...)",
        "derive_topic": "declare the other topic with app.topic(name, ...)",
        "maybe_declare": "topics are created when the app starts (and by `rxstreams topics`)",
        "declare": "topics are created when the app starts (and by `rxstreams topics`)",
        "publish_message": "write `await topic.send(key=..., value=..., headers=...)`",
        "pattern": (
            "topics are subscribed by name; declare each topic with app.topic(name) and "
            "merge their streams with stream.combine(...)"
        ),
    },
}

#: ``Faust setting -> what to write instead`` (unknown settings are refused with this hint)
SETTINGS: dict[str, str] = {
    "broker_commit_interval": "commit_interval=",
    "broker_commit_every": "commit_every=",
    "consumer_auto_offset_reset": "auto_offset_reset=",
    "broker_session_timeout": "session_timeout=",
    "broker_request_timeout": "producer_request_timeout=",
    "broker_max_poll_records": "max_poll_records=",
    "producer_linger_ms": "producer_linger= (in seconds)",
    "producer_compression_type": "producer_compression=",
    "producer_max_request_size": "producer_max_request_size=",
    "producer_max_batch_size": "producer_max_batch_size=",
    "producer_request_timeout": "producer_request_timeout=",
    "topic_replication_factor": "per topic: app.topic(name, replicas=N)",
    "store": _TABLES,
    "table_cleanup_interval": _TABLES,
    "table_standby_replicas": _TABLES,
    "web_enabled": _WEB,
    "web_port": _WEB,
    "web_bind": _WEB,
    "autodiscover": "import the modules that declare agents before the app starts",
    "origin": "import the modules that declare agents before the app starts",
    "datadir": "rxstreams keeps no local data yet (tables are planned)",
    "version": "group ids and topic names are the app id; rename the app to start afresh",
    "timezone": "pass timezone= to @app.crontab(...) (default UTC)",
    "reply_to": "replies are read by the app from its own reply topic: use agent.ask(...)",
    "ssl_context": "broker_credentials= (an ssl.SSLContext, SSLCredentials or SASLCredentials)",
    "stream_wait_empty": "a graceful stop always waits for agents to finish what they hold",
    "agent_supervisor": "pass supervisor_strategy= to @app.agent(...)",
}


def refuse(owner: object, name: str) -> NoReturn:
    """Raise for ``owner.name``: :class:`UnsupportedFeatureError` with a hint if ``name`` is a
    Faust spelling rxstreams lacks, else the plain :class:`AttributeError` Python raises."""
    for cls in type(owner).__mro__:
        hint = MISSING.get(cls.__name__, {}).get(name)
        if hint is not None:
            raise UnsupportedFeatureError(
                f"{cls.__name__}.{name} (Faust) is not in rxstreams: {hint}", name=name, obj=owner
            )
    kind = type(owner).__name__
    raise AttributeError(f"{kind!r} object has no attribute {name!r}", name=name, obj=owner)
