"""Admin operations of every service land in one audit trail, read through the gateway's `auditLog`."""

from __future__ import annotations

from services.kit.auth import Scope
from tests.helpers import claims_token, create_workspace, graphql, new_id

AUDIT = "query($a: String) { auditLog(limit: 20, action: $a) { who action workspace target outcome detail } }"


def test_channels_policy_and_profile_settings_are_audited_with_their_outcome(suite, sink, workspace_id):
    create_workspace(suite, workspace_id)
    url = suite.gateway_url
    name = new_id("hook")
    body = graphql(
        url, workspace_id, f'mutation {{ upsertWebhookChannel(name: "{name}", url: "{sink.url}/a") {{ name }} }}'
    )
    assert "errors" not in body, body
    policy = 'mutation { setMessagingPolicy(input: {quietStart: "23:00", quietEnd: "07:00", caps: []}) { quietStart } }'
    assert "errors" not in graphql(url, workspace_id, policy), graphql(url, workspace_id, policy)
    settings = "mutation { updateProfileSettings(retentionDays: 400) { retentionDays } }"
    assert "errors" not in graphql(url, workspace_id, settings)

    # A marketer-like credential (read, write) is refused the admin operation, and the refusal is recorded.
    writer = {"authorization": f"Bearer {claims_token(workspace_id, {Scope.READ, Scope.WRITE}, subject='key:writer')}"}
    refused = graphql(
        url,
        workspace_id,
        f'mutation {{ upsertWebhookChannel(name: "x", url: "{sink.url}/b") {{ name }} }}',
        headers=writer,
    )
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    log = graphql(url, workspace_id, AUDIT)["data"]["auditLog"]
    seen = {(r["action"], r["outcome"], r["who"]) for r in log}
    assert ("channel.upsert", "ok", "tools") in seen, log
    assert ("messaging.policy", "ok", "tools") in seen, log
    assert ("profile.settings", "ok", "tools") in seen, log
    assert ("channel.upsert", "refused", "key:writer") in seen, log
    assert all(r["workspace"] == workspace_id for r in log)
    hooks = graphql(url, workspace_id, AUDIT, {"a": "channel.upsert"})["data"]["auditLog"]
    assert [r["target"] for r in hooks] == ["channel:x", f"channel:{name}"], hooks  # newest first
    assert sink.url not in str(log)  # a record names what was acted on, not its settings


def test_another_workspace_reads_none_of_the_trail(suite, workspace_id):
    create_workspace(suite, workspace_id)
    assert "errors" not in graphql(
        suite.gateway_url, workspace_id, "mutation { updateProfileSettings(retentionDays: 401) { retentionDays } }"
    )
    other = f"{workspace_id}x"
    create_workspace(suite, other)
    log = graphql(suite.gateway_url, other, AUDIT)["data"]["auditLog"]
    assert [(r["action"], r["workspace"]) for r in log] == [("workspace.create", other)], log
