"""Templates from real profiles, engagement events on events.raw, conversions and statistics.

All four pieces run as real processes: identity resolves the shopper,
profile keeps her traits, messaging renders from them (BatchGetProfiles),
emits Message Clicked to events.raw with her user id (identity GetPerson),
and attributes an Order Completed from events.resolved to the message.
"""

from __future__ import annotations

import grpc
import httpx
import pytest

from cdp.identity.v1 import events_pb2 as identity_events
from cdp.identity.v1 import identity_pb2_grpc
from cdp.messaging.v1 import messaging_pb2, messaging_pb2_grpc
from cdp.profile.v1 import profile_pb2, profile_pb2_grpc
from services.kit.kafka import Topics
from services.kit.protos import to_struct
from services.messaging.links import Links
from tests.conftest import eventually, grpc_stub
from tests.helpers import collect, create_workspace, graphql, lookup, new_id, produce
from tests.messaging_support import ProviderServer, channel, link_signer, no_quiet_hours, settled
from tests.test_messaging_channels import read_until


@pytest.fixture(scope="module")
def services(start_service):
    for name in ("identity", "profile", "messaging"):
        stack = start_service(name)
    return stack


@pytest.fixture(scope="module")
def stub(services):
    return grpc_stub(services, "messaging", messaging_pb2_grpc.MessagingServiceStub)


def shopper(stack, ws: str) -> str:
    """An identified shopper with traits, as the SDK would report her; her person id once profile has them."""
    key = create_workspace(stack, ws)
    traits = {"name": "李华", "email": "li@example.com", "timezone": "America/New_York"}
    event = {"type": "identify", "userId": "u-li", "anonymousId": "dev-li", "traits": traits, "messageId": new_id()}
    assert collect(stack, key, [event]).status_code == 200
    identity = grpc_stub(stack, "identity", identity_pb2_grpc.IdentityServiceStub)
    person = eventually(lambda: lookup(identity, ws, "user_id", "u-li"), timeout=30)
    profiles = grpc_stub(stack, "profile", profile_pb2_grpc.ProfileServiceStub)

    def has_traits():
        try:
            p = profiles.GetProfile(profile_pb2.GetProfileRequest(workspace_id=ws, person_id=person.id))
        except grpc.RpcError:
            return None
        return p if p.traits.fields.get("name") else None

    eventually(has_traits, timeout=30)
    return person.id


def test_template_click_conversion_and_stats_end_to_end(services, stub, workspace_id):
    ws = workspace_id
    person = shopper(services, ws)
    provider = ProviderServer()
    try:
        no_quiet_hours(stub, ws)
        channel(stub, ws, "hook", "webhook", url=f"{provider.url}/{ws}")
        tpl = stub.CreateTemplate(
            messaging_pb2.Template(
                workspace_id=ws,
                name="618 水果团",
                channel="webhook",
                content=messaging_pb2.Content(
                    title="{{ traits.name }}，进口水果拼团",
                    body="满 {{ vars.threshold }} 减 10，{{ traits.timezone }}",
                    deep_link="https://shop.example/fruit",
                ),
            )
        )
        preview = stub.Render(
            messaging_pb2.RenderRequest(
                workspace_id=ws, template_id=tpl.id, person_id=person, vars=to_struct({"threshold": 99})
            )
        )
        assert preview.content.title == "李华，进口水果拼团"

        msg = stub.Send(
            messaging_pb2.SendRequest(
                workspace_id=ws,
                person_id=person,
                channel="hook",
                template_id=tpl.id,
                campaign_id="618",
                vars=to_struct({"threshold": 99}),
            )
        )
        assert msg.idempotency_key == f"c:618:s::p:{person}"
        assert settled(stub, ws, msg.id).status == "sent"
        (post,) = provider.at(f"/{ws}")
        assert post.body["content"]["title"] == "李华，进口水果拼团"
        assert post.body["content"]["body"] == "满 99 减 10，America/New_York"

        # The person's click: a signed redirect to the message's link.
        click = Links(link_signer(services), services.http_url("messaging")).click(
            ws, msg.id, "https://shop.example/fruit"
        )
        assert httpx.get(click, follow_redirects=False).status_code == 302
        clicked = read_until(
            services,
            Topics.EVENTS_RAW,
            identity_events.RawEvent,
            lambda e: e.workspace_id == ws and e.event == "Message Clicked",
            timeout=30,
        )
        assert clicked.user_id == "u-li" and clicked.properties.fields["message_id"].string_value == msg.id
        assert clicked.properties.fields["campaign_id"].string_value == "618"

        # An order within the window after the click is attributed to the message, once.
        order = identity_events.ResolvedEvent(
            event=identity_events.RawEvent(
                workspace_id=ws,
                message_id=new_id("order"),
                type="track",
                event="Order Completed",
                user_id="u-li",
                properties=to_struct({"order_id": "o-1", "revenue": 128.5}),
            ),
            person_id=person,
        )
        order.event.timestamp.GetCurrentTime()
        produce(services, [(Topics.EVENTS_RESOLVED, person, order), (Topics.EVENTS_RESOLVED, person, order)])
        done = eventually(
            lambda: (m := stub.GetMessage(messaging_pb2.GetMessageRequest(workspace_id=ws, id=msg.id))).converted and m,
            timeout=30,
        )
        assert done.revenue == pytest.approx(128.5)

        # A second send of the campaign to a person without a name trait is skipped, with the reason.
        batch = stub.SendBatch(
            messaging_pb2.SendBatchRequest(
                requests=[
                    messaging_pb2.SendRequest(
                        workspace_id=ws, person_id="nobody", channel="hook", template_id=tpl.id, campaign_id="618"
                    )
                ]
            )
        )
        assert batch.messages[0].status == "skipped" and "name" in batch.messages[0].status_reason

        stats = stub.GetStats(messaging_pb2.GetStatsRequest(workspace_id=ws, campaign_id="618"))
        assert (stats.total, stats.sent, stats.opened, stats.clicked, stats.converted, stats.skipped) == (
            2,
            1,
            1,
            1,
            1,
            1,
        )
        assert stats.revenue == pytest.approx(128.5)
        assert stats.conversion_rate == 1.0 and stats.delivery_rate == 0.0
        by_template = graphql(
            services.http_url("messaging") + "/graphql",
            ws,
            "query($t: String) { messageStats(templateId: $t) { sent clicked converted revenue clickRate } }",
            {"t": tpl.id},
        )["data"]["messageStats"]
        assert by_template == {"sent": 1, "clicked": 1, "converted": 1, "revenue": 128.5, "clickRate": 0.0}
    finally:
        provider.close()


def test_render_names_the_missing_variable(stub, workspace_id):
    with pytest.raises(grpc.RpcError) as err:
        stub.Render(
            messaging_pb2.RenderRequest(
                workspace_id=workspace_id, content=messaging_pb2.Content(title="{{ vars.coupon_code }}")
            )
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "coupon_code" in err.value.details()
