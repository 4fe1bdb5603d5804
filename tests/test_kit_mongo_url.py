"""The embedded default goes without retryable writes; a deployment's URL keeps them."""

from __future__ import annotations

import asyncio

from pymongo import MongoClient

from services.kit import mongo
from services.kit.settings import ServiceSettings


def test_embedded_url_turns_retryable_writes_off(stack):
    assert "retryWrites=false" in stack.mongo_url
    with MongoClient(stack.mongo_url) as client:
        assert client.options.retry_writes is False
        # And the server still takes writes through it.
        client["urltest"]["c"].insert_one({"_id": 1})
        assert client["urltest"]["c"].find_one({"_id": 1}) == {"_id": 1}


def test_service_default_is_the_embedded_url(monkeypatch):
    monkeypatch.delenv("CDP_MONGO_URL", raising=False)
    assert ServiceSettings().mongo_url == mongo.embedded_url(27017)


def test_a_production_url_keeps_retryable_writes():
    async def options(url):
        client = mongo.connect(url, "test")
        try:
            return client.options.retry_writes
        finally:
            await client.close()

    assert asyncio.run(options("mongodb://mongo:27017/?replicaSet=rs0")) is True
    assert asyncio.run(options(mongo.embedded_url(27017))) is False
