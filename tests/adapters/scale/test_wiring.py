"""The queue's settings from the environment, `cw worker` refusing to start without a queue, and the
give-up hook recording a run past its delivery limit as failed."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from adapters.cli.main import main
from adapters.queue.wiring import database_connections, give_up_recorder, queue_settings, worker_concurrency
from adapters.storage.sql import Database
from domain.errors import ConfigError
from domain.service import AgentRecord, ConversationRecord, ConversationStatus, RunJob


def test_defaults() -> None:
    settings = queue_settings("redis://127.0.0.1:6379/0")
    assert (settings.prefix, settings.max_deliveries, settings.redelivery_after) == ("cw", 3, 30.0)
    assert settings.lease < settings.redelivery_after
    assert worker_concurrency() == 100
    assert database_connections() == 40


def test_values_from_the_environment() -> None:
    settings = queue_settings(
        "rediss://cache:6380/2",
        {"CW_QUEUE_PREFIX": "prod", "CW_QUEUE_MAX_DELIVERIES": "5", "CW_QUEUE_REDELIVERY_AFTER": "4"},
    )
    assert (settings.prefix, settings.max_deliveries, settings.redelivery_after, settings.lease) == (
        "prod",
        5,
        4.0,
        3.0,
    )
    assert worker_concurrency({"CW_WORKER_CONCURRENCY": "7"}) == 7


@pytest.mark.parametrize(
    ("url", "environ", "named"),
    [
        ("http://127.0.0.1:6379", {}, "CW_QUEUE_URL"),
        ("redis://127.0.0.1:6379", {"CW_QUEUE_MAX_DELIVERIES": "0"}, "CW_QUEUE_MAX_DELIVERIES"),
        ("redis://127.0.0.1:6379", {"CW_QUEUE_REDELIVERY_AFTER": "soon"}, "CW_QUEUE_REDELIVERY_AFTER"),
        ("redis://127.0.0.1:6379", {"CW_QUEUE_PREFIX": "a b"}, "CW_QUEUE_PREFIX"),
    ],
)
def test_bad_settings_name_the_variable(url: str, environ: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        queue_settings(url, environ)


def test_a_bad_url_never_echoes_its_password() -> None:
    with pytest.raises(ConfigError) as caught:
        queue_settings("http://user:hunter22@127.0.0.1:6379")
    assert "hunter22" not in str(caught.value)


def test_cw_worker_without_a_queue_is_a_configuration_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["worker"], environ={}) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "--queue" in err
    assert "CW_QUEUE_URL" in err


@pytest.mark.anyio
async def test_giving_up_records_the_run_failed_with_its_terminal_event(database: Database) -> None:
    now = dt.datetime.now(dt.UTC)
    user = await database.users.create_user(name="Ada", email="ada@example.org", password_hash=None)
    agent = await database.agents.add(
        AgentRecord(
            id=uuid.uuid4().hex, owner_id=user.id, name="a", ai_backend="fake", created_at=now, updated_at=now
        )
    )
    conversation = await database.conversations.add(
        ConversationRecord(
            id=uuid.uuid4().hex, owner_id=user.id, agent_id=agent.id, created_at=now, updated_at=now
        )
    )
    assert await database.conversations.claim(conversation.id, "run-1")
    give_up = give_up_recorder(database.conversations, database.events)

    await give_up(
        RunJob(run_id="run-1", conversation_id=conversation.id, owner_id=user.id, attempt=4),
        "interrupted 3 times",
    )

    record = await database.conversations.get_any(conversation.id)
    assert record is not None
    assert (record.status, record.error) == (ConversationStatus.FAILED, "interrupted 3 times")
    events = await database.events.read(conversation.id)
    assert [e.type for e in events] == ["failed"]
    assert events[0].data["error"] == "interrupted 3 times"
    # A late second give-up (another worker) writes nothing more: one terminal event per run.
    await give_up(RunJob(run_id="run-1", conversation_id=conversation.id, owner_id=user.id), "again")
    assert len(await database.events.read(conversation.id)) == 1
