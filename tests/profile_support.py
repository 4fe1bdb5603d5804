"""What the profile test modules share: the running service, a gRPC stub, and event helpers."""

from __future__ import annotations

import datetime as dt

import pytest

from cdp.profile.v1 import profile_pb2_grpc
from services.kit.kafka import Topics
from tests.conftest import eventually
from tests.helpers import grpc_channel, new_id, produce
from tests.test_profile import get_profile, resolved

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


# Named so that test modules import them without their test arguments shadowing the import.
@pytest.fixture(scope="module", name="profile")
def profile_fixture(start_service):
    return start_service("profile")


@pytest.fixture(scope="module", name="stub")
def stub_fixture(profile):
    with grpc_channel(profile.grpc_target("profile")) as channel:
        yield profile_pb2_grpc.ProfileServiceStub(channel)


def order(ws, person, uid, revenue, at=None, **props):
    return resolved(ws, person, uid, properties={"order_id": new_id("o"), "revenue": revenue, **props}, at=at or NOW)


def send(stack, events) -> None:
    produce(stack, [(Topics.EVENTS_RESOLVED, e.person_id, e) for e in events])


def with_events(stack, ws, person, count):
    """The person's profile once it has counted `count` events."""
    return eventually(lambda: (p := get_profile(stack, ws, person)) and p.computed.event_count == count and p)
