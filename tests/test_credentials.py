"""Secret API keys, operators, login and the audit trail, against a running identity.

Credentials are checked through identity's own `/internal/authenticate` (what the
gateway asks, uncached), and GraphQL is called on identity's subgraph with the claims
it answers, as the gateway would send them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import stat
import time
import uuid

import grpc
import httpx
import pytest
from pymongo import MongoClient

from cdp.common.v1 import common_pb2
from cdp.identity.v1 import identity_pb2, identity_pb2_grpc
from services.kit import auth
from services.kit.auth import Scope
from tests.conftest import grpc_stub
from tests.helpers import claims_token, create_workspace, graphql, service_metadata
from tools import demo

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def identity(start_service):
    return start_service("identity")


@pytest.fixture
def workspace(identity) -> str:
    ws = f"ws_{uuid.uuid4().hex[:12]}"
    create_workspace(identity, ws)
    return ws


@pytest.fixture(scope="module")
def db(identity):
    with MongoClient(identity.mongo_url) as client:
        yield client[identity.mongo_db]


def stub(stack) -> identity_pb2_grpc.IdentityServiceStub:
    return grpc_stub(stack, "identity", identity_pb2_grpc.IdentityServiceStub)


def authenticate(stack, token: str, workspace: str | None = None) -> httpx.Response:
    return httpx.post(
        stack.http_url("identity") + "/internal/authenticate",
        json={"token": token, "workspace": workspace},
        headers=dict(service_metadata()),
        timeout=30,
    )


def gql(stack, workspace: str, query: str, variables: dict | None = None, token: str | None = None) -> dict:
    """identity's subgraph as `token` (a key or operator token, via the claims identity answers) or as an admin."""
    headers = None
    if token is not None:
        resp = authenticate(stack, token, workspace)
        assert resp.status_code == 200, resp.text
        headers = {"authorization": f"Bearer {resp.json()['claims']}"}
    return graphql(stack.http_url("identity") + "/graphql", workspace, query, variables, headers)


def codes(body: dict) -> set[str]:
    return {e.get("extensions", {}).get("code") for e in body.get("errors", [])}


def create_key(stack, workspace: str, scopes: list[str], name: str = "ci") -> dict:
    body = gql(
        stack,
        workspace,
        "mutation($n: String!, $s: [String!]!) { createApiKey(name: $n, scopes: $s) "
        "{ secret key { id name scopes createdBy revokedAt lastUsedAt } } }",
        {"n": name, "s": scopes},
    )
    assert "errors" not in body, body
    return body["data"]["createApiKey"]


def add_operator(stack, workspace: str, email: str, password: str = PASSWORD, role: str = "admin"):
    return stub(stack).AddOperator(
        identity_pb2.AddOperatorRequest(workspace_id=workspace, email=email, password=password, role=role)
    )


LOGIN = (
    "mutation($e: String!, $p: String!, $w: String) { login(email: $e, password: $p, workspace: $w) "
    "{ token expiresAt operatorId workspace role memberships { workspace role } } }"
)


def login(stack, workspace: str, email: str, password: str, named: str | None = None) -> dict:
    # Sent with the tests' claims header too, which login ignores: it answers by the password alone.
    return gql(stack, workspace, LOGIN, {"e": email, "p": password, "w": named})


def new_email() -> str:
    return f"op-{uuid.uuid4().hex[:10]}@Example.com"


# -- secret API keys -------------------------------------------------------------------
def test_an_api_key_is_shown_once_and_stored_only_as_its_hash(identity, workspace, db):
    created = create_key(identity, workspace, ["read", "write"])
    secret, key = created["secret"], created["key"]
    assert secret.startswith(f"cdp_sk_{key['id']}_") and len(secret) > 50
    assert key["scopes"] == ["read", "write"] and key["createdBy"] == "tools" and key["revokedAt"] is None

    listed = gql(identity, workspace, "{ apiKeys { id name scopes } }")
    assert listed["data"]["apiKeys"] == [{"id": key["id"], "name": "ci", "scopes": ["read", "write"]}]
    assert secret.split("_")[-1] not in json.dumps(listed)
    grpc_listed = stub(identity).ListApiKeys(identity_pb2.ListApiKeysRequest(workspace_id=workspace))
    assert [k.id for k in grpc_listed.keys] == [key["id"]]

    random_part = secret[len(f"cdp_sk_{key['id']}_") :]
    for doc in db["api_keys"].find({}):
        text = json.dumps(doc, default=str)
        assert secret not in text and random_part not in text, doc
    stored = db["api_keys"].find_one({"_id": key["id"]})
    assert stored["hash"] == hashlib.sha256(secret.encode()).hexdigest()
    assert stored["workspace"] == workspace


def test_a_key_answers_its_claims_until_revoked_and_records_when_it_was_last_used(identity, workspace, db):
    created = create_key(identity, workspace, ["read", "write", "admin"])
    secret, key_id = created["secret"], created["key"]["id"]
    assert db["api_keys"].find_one({"_id": key_id})["last_used_at"] is None

    resp = authenticate(identity, secret)
    assert resp.status_code == 200, resp.text
    answer = resp.json()
    assert (answer["subject"], answer["workspace"]) == (f"key:{key_id}", workspace)
    assert answer["scopes"] == ["admin", "read", "write"]
    first_use = db["api_keys"].find_one({"_id": key_id})["last_used_at"]
    assert first_use is not None
    # A second use within the minute writes nothing.
    assert authenticate(identity, secret).status_code == 200
    assert db["api_keys"].find_one({"_id": key_id})["last_used_at"] == first_use

    # The same id with another secret, and another workspace named, are refused.
    forged = secret[:-4] + ("AAAA" if not secret.endswith("AAAA") else "BBBB")
    assert authenticate(identity, forged).json()["code"] == "UNAUTHENTICATED"
    other = authenticate(identity, secret, "some-other-workspace")
    assert (other.status_code, other.json()["code"]) == (403, "FORBIDDEN")

    revoked = gql(identity, workspace, "mutation($id: ID!) { revokeApiKey(id: $id) { id revokedAt } }", {"id": key_id})
    assert revoked["data"]["revokeApiKey"]["revokedAt"] is not None
    resp = authenticate(identity, secret)
    assert (resp.status_code, resp.json()["code"]) == (401, "UNAUTHENTICATED")
    # gRPC with the revoked key: identity checks it in-process (a refusal is cached, not an answer before it).
    with pytest.raises(grpc.RpcError) as refused:
        stub(identity).ListApiKeys(
            identity_pb2.ListApiKeysRequest(workspace_id=workspace), metadata=(("authorization", f"Bearer {secret}"),)
        )
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_grpc_creates_lists_and_revokes_keys(identity, workspace):
    keys = stub(identity)
    made = keys.CreateApiKey(identity_pb2.CreateApiKeyRequest(workspace_id=workspace, name="etl", scopes=["write"]))
    assert made.secret.startswith(f"cdp_sk_{made.key.id}_") and made.key.created_by == "service:tools"
    assert not made.key.HasField("revoked_at") and not made.key.HasField("last_used_at")
    assert authenticate(identity, made.secret).json()["scopes"] == ["write"]
    revoked = keys.RevokeApiKey(identity_pb2.RevokeApiKeyRequest(workspace_id=workspace, id=made.key.id))
    assert revoked.HasField("revoked_at") and revoked.HasField("last_used_at")
    again = keys.RevokeApiKey(identity_pb2.RevokeApiKeyRequest(workspace_id=workspace, id=made.key.id))
    assert again.revoked_at == revoked.revoked_at  # revoking twice keeps the first time
    assert authenticate(identity, made.secret).status_code == 401
    # Another workspace's key id is not found from here.
    with pytest.raises(grpc.RpcError) as missing:
        keys.RevokeApiKey(identity_pb2.RevokeApiKeyRequest(workspace_id="elsewhere", id=made.key.id))
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    listed = keys.ListApiKeys(identity_pb2.ListApiKeysRequest(workspace_id=workspace)).keys
    assert [(k.id, k.HasField("revoked_at")) for k in listed] == [(made.key.id, True)]


def test_a_read_key_reads_but_is_refused_admin_operations(identity, workspace):
    secret = create_key(identity, workspace, ["read"])["secret"]
    me = gql(identity, workspace, "{ me { subject workspace scopes role } }", token=secret)
    assert me["data"]["me"]["scopes"] == ["read"] and me["data"]["me"]["workspace"] == workspace
    for document in ["{ apiKeys { id } }", "{ auditLog { action } }", 'mutation { revokeApiKey(id: "x") { id } }']:
        body = gql(identity, workspace, document, token=secret)
        assert codes(body) == {"FORBIDDEN"}, (document, body)
    with pytest.raises(grpc.RpcError) as refused:
        stub(identity).CreateApiKey(
            identity_pb2.CreateApiKeyRequest(workspace_id=workspace, name="x", scopes=["admin"]),
            metadata=(("authorization", f"Bearer {secret}"),),
        )
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert len(stub(identity).ListApiKeys(identity_pb2.ListApiKeysRequest(workspace_id=workspace)).keys) == 1


def test_bad_key_requests_are_refused_and_change_nothing(identity, workspace, db):
    for scopes in ([], ["root"]):
        body = gql(
            identity,
            workspace,
            'mutation($s: [String!]!) { createApiKey(name: "x", scopes: $s) { secret } }',
            {"s": scopes},
        )
        assert codes(body) == {"BAD_USER_INPUT"}, body
    assert db["api_keys"].count_documents({"workspace": workspace}) == 0
    body = gql(identity, workspace, 'mutation { revokeApiKey(id: "nope") { id } }')
    assert codes(body) == {"NOT_FOUND"}


# -- operators -------------------------------------------------------------------------
def test_an_operator_password_is_stored_as_scrypt_and_not_as_itself(identity, workspace, db):
    email = new_email()
    made = add_operator(identity, workspace, email)
    assert made.created and made.email == email.lower() and made.role == "admin"
    doc = db["operators"].find_one({"_id": made.id})
    assert PASSWORD not in json.dumps(doc, default=str)
    stored = doc["password"]
    assert (stored["algo"], stored["n"], stored["r"], stored["p"]) == ("scrypt", 2**14, 8, 1)
    salt = base64.b64decode(stored["salt"])
    assert len(salt) == 16
    expected = hashlib.scrypt(PASSWORD.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    assert base64.b64decode(stored["hash"]) == expected
    # The same email in other case is the same account.
    with pytest.raises(grpc.RpcError) as again:
        add_operator(identity, workspace, email.upper())
    assert again.value.code() == grpc.StatusCode.ALREADY_EXISTS
    with pytest.raises(grpc.RpcError) as short:
        add_operator(identity, workspace, new_email(), password="short")
    assert short.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_login_answers_a_wrong_password_as_an_unknown_email(identity, workspace):
    email = new_email()
    add_operator(identity, workspace, email)
    wrong = login(identity, workspace, email, "not the password")
    unknown = login(identity, workspace, new_email(), "not the password")
    assert codes(wrong) == codes(unknown) == {"UNAUTHENTICATED"}
    assert wrong["errors"][0]["message"] == unknown["errors"][0]["message"]
    assert wrong["data"] is None and unknown["data"] is None

    session = login(identity, workspace, email.upper(), PASSWORD)["data"]["login"]
    assert session["token"].startswith("cdp_op_")
    assert (session["workspace"], session["role"]) == (workspace, "admin")
    answer = authenticate(identity, session["token"]).json()
    assert (answer["workspace"], answer["role"], answer["scopes"]) == (workspace, "admin", ["admin", "read", "write"])
    assert answer["subject"] == f"operator:{session['operatorId']}"


def test_failed_logins_are_rate_limited_per_email(identity, workspace):
    email, other = new_email(), new_email()
    add_operator(identity, workspace, email)
    add_operator(identity, workspace, other)
    for _ in range(10):
        assert codes(login(identity, workspace, email, "guess guess guess")) == {"UNAUTHENTICATED"}
    # Past the limit even the right password is refused, with its own code; another email is untouched.
    limited = login(identity, workspace, email, PASSWORD)
    assert codes(limited) == {"RATE_LIMITED"} and limited["data"] is None
    assert "try again in" in limited["errors"][0]["message"]
    assert login(identity, workspace, other, PASSWORD)["data"]["login"]["token"]


def test_operator_tokens_end_at_logout_and_expiry_and_refuse_tampering(identity, workspace):
    email = new_email()
    add_operator(identity, workspace, email, role="viewer")
    first = login(identity, workspace, email, PASSWORD)["data"]["login"]["token"]
    second = login(identity, workspace, email, PASSWORD)["data"]["login"]["token"]
    assert authenticate(identity, first).status_code == 200
    # A viewer (read only) may sign out; every token of theirs ends.
    body = gql(identity, workspace, "mutation { logout }", token=first)
    assert body["data"] == {"logout": True}, body
    for token in (first, second):
        resp = authenticate(identity, token)
        assert (resp.status_code, resp.json()["code"]) == (401, "UNAUTHENTICATED")
    fresh = login(identity, workspace, email, PASSWORD)["data"]["login"]["token"]
    assert authenticate(identity, fresh).status_code == 200

    operator_id = authenticate(identity, fresh).json()["subject"].split(":", 1)[1]
    ring = auth.internal_keyring()
    expired = "cdp_op_" + ring.sign({"typ": "operator", "sub": operator_id, "ver": 1}, time.time() - 3601, 3600)
    assert authenticate(identity, expired).json()["code"] == "UNAUTHENTICATED"
    in_an_hour = "cdp_op_" + ring.sign({"typ": "operator", "sub": operator_id, "ver": 1}, time.time(), 3600)
    assert authenticate(identity, in_an_hour).status_code == 200  # ver 1 is the one after one logout
    claims_as_operator = "cdp_op_" + claims_token(workspace)  # a claims token is no operator token
    assert authenticate(identity, claims_as_operator).json()["code"] == "UNAUTHENTICATED"
    tampered = fresh[:-2] + ("AA" if not fresh.endswith("AA") else "BB")
    assert authenticate(identity, tampered).json()["code"] == "UNAUTHENTICATED"
    # An API key or a claims token cannot log out.
    key = create_key(identity, workspace, ["read", "write"])["secret"]
    assert codes(gql(identity, workspace, "mutation { logout }", token=key)) == {"BAD_USER_INPUT"}


def test_an_operator_of_two_workspaces_names_one_and_is_refused_a_third(identity, db):
    a, b, c = (f"ws_{uuid.uuid4().hex[:12]}" for _ in range(3))
    for ws in (a, b, c):
        create_workspace(identity, ws)
    email = new_email()
    add_operator(identity, a, email, role="admin")
    joined = add_operator(identity, b, email, password="a different password", role="analyst")
    assert not joined.created and joined.role == "analyst"
    # The second workspace did not change the password.
    assert codes(login(identity, a, email, "a different password")) == {"UNAUTHENTICATED"}
    session = login(identity, a, email, PASSWORD)["data"]["login"]
    assert session["workspace"] is None and session["role"] is None
    assert sorted(m["workspace"] for m in session["memberships"]) == sorted([a, b])
    token = session["token"]

    unnamed = authenticate(identity, token)
    assert (unnamed.status_code, unnamed.json()["code"]) == (400, "BAD_USER_INPUT")
    assert "x-workspace-id" in unnamed.json()["message"]
    as_a, as_b = authenticate(identity, token, a).json(), authenticate(identity, token, b).json()
    assert (as_a["workspace"], as_a["role"], as_a["scopes"]) == (a, "admin", ["admin", "read", "write"])
    assert (as_b["workspace"], as_b["role"], as_b["scopes"]) == (b, "analyst", ["read"])
    refused = authenticate(identity, token, c)
    assert (refused.status_code, refused.json()["code"]) == (403, "FORBIDDEN")
    assert codes(login(identity, c, email, PASSWORD, named=c)) == {"FORBIDDEN"}
    # The analyst reads in b but administers nothing there.
    assert codes(gql(identity, b, "{ operators { email } }", token=token)) == {"FORBIDDEN"}
    ops = gql(identity, a, "{ operators { email role } }", token=token)["data"]["operators"]
    assert ops == [{"email": email.lower(), "role": "admin"}]

    # Role changes and removals take effect on the next check.
    changed = gql(
        identity, b, 'mutation($e: String!) { setOperatorRole(email: $e, role: "marketer") { role } }', {"e": email}
    )
    assert changed["data"]["setOperatorRole"]["role"] == "marketer"
    assert authenticate(identity, token, b).json()["scopes"] == ["read", "write"]
    removed = gql(identity, b, "mutation($e: String!) { removeOperator(email: $e) { role } }", {"e": email})
    assert removed["data"]["removeOperator"]["role"] is None
    assert authenticate(identity, token, b).status_code == 403
    # The last admin of a workspace stays one.
    for document in (
        'mutation($e: String!) { setOperatorRole(email: $e, role: "viewer") { role } }',
        "mutation($e: String!) { removeOperator(email: $e) { role } }",
    ):
        assert codes(gql(identity, a, document, {"e": email})) == {"CONFLICT"}
    assert authenticate(identity, token, a).json()["role"] == "admin"
    # With one membership left, no name is needed.
    assert authenticate(identity, token).json()["workspace"] == a
    assert codes(gql(identity, b, 'mutation { setOperatorRole(email: "x@y.z", role: "boss") { role } }')) == {
        "BAD_USER_INPUT"
    }


# -- audit -----------------------------------------------------------------------------
def test_every_admin_operation_writes_an_audit_record_read_newest_first(identity, workspace):
    people = stub(identity)
    p1 = people.Resolve(
        identity_pb2.ResolveRequest(
            workspace_id=workspace, identifiers=[common_pb2.Identifier(type="user_id", value="a1")]
        )
    ).person.id
    p2 = people.Resolve(
        identity_pb2.ResolveRequest(
            workspace_id=workspace, identifiers=[common_pb2.Identifier(type="anonymous_id", value="a2")]
        )
    ).person.id
    merged = gql(
        identity,
        workspace,
        'mutation($a: ID!, $b: ID!) { mergePersons(personIdA: $a, personIdB: $b, reason: "same shopper") { id } }',
        {"a": p1, "b": p2},
    )
    merge_id = merged["data"]["mergePersons"]["id"]
    gql(identity, workspace, 'mutation($m: ID!) { unmergePersons(mergeId: $m, reason: "no") { id } }', {"m": merge_id})
    forgot = gql(
        identity, workspace, "mutation($p: ID!) { forgetPerson(personId: $p) { identifiersRemoved } }", {"p": p2}
    )
    assert forgot["data"]["forgetPerson"]["identifiersRemoved"] == 1
    people.SetIdentityRules(identity_pb2.IdentityRules(workspace_id=workspace, blocked=["guest"]))
    key = create_key(identity, workspace, ["read"])["key"]["id"]
    gql(identity, workspace, "mutation($id: ID!) { revokeApiKey(id: $id) { id } }", {"id": key})
    email = new_email()
    add_operator(identity, workspace, email, role="analyst")
    gql(
        identity,
        workspace,
        'mutation($e: String!) { setOperatorRole(email: $e, role: "viewer") { role } }',
        {"e": email},
    )
    login(identity, workspace, email, "wrong wrong wrong")
    gql(identity, workspace, "mutation($e: String!) { removeOperator(email: $e) { id } }", {"e": email})
    # Refused (no admin scope) and failed (no such key) are recorded too.
    writer = graphql(
        identity.http_url("identity") + "/graphql",
        workspace,
        'mutation { createApiKey(name: "x", scopes: ["read"]) { secret } }',
        headers={"authorization": f"Bearer {claims_token(workspace, {Scope.READ, Scope.WRITE}, 'writer')}"},
    )
    assert codes(writer) == {"FORBIDDEN"}
    gql(identity, workspace, 'mutation { revokeApiKey(id: "nope") { id } }')

    log = gql(identity, workspace, "{ auditLog(limit: 100) { who action workspace target outcome at detail } }")
    records = log["data"]["auditLog"]
    assert [r["at"] for r in records] == sorted((r["at"] for r in records), reverse=True)
    assert {r["workspace"] for r in records} == {workspace}
    seen = [(r["action"], r["outcome"]) for r in reversed(records)]
    assert seen == [
        ("workspace.create", "ok"),
        ("person.merge", "ok"),
        ("person.unmerge", "ok"),
        ("person.forget", "ok"),
        ("identity_rules.set", "ok"),
        ("api_key.create", "ok"),
        ("api_key.revoke", "ok"),
        ("operator.add", "ok"),
        ("operator.role", "ok"),
        ("login", "refused"),
        ("operator.remove", "ok"),
        ("api_key.create", "refused"),
        ("api_key.revoke", "failed"),
    ], seen
    by = {(r["action"], r["outcome"]): r for r in records}
    assert by[("person.merge", "ok")]["who"] == "tools" and by[("person.merge", "ok")]["target"] == f"merge:{merge_id}"
    assert by[("identity_rules.set", "ok")]["who"] == "service:tools"
    assert by[("api_key.create", "refused")]["who"] == "writer"
    assert by[("login", "refused")]["who"] == "anonymous"
    assert by[("login", "refused")]["detail"] == {"reason": "wrong password"}
    assert by[("api_key.create", "ok")]["target"] == f"key:{key}"
    # No secret, password or identifier value reached the log.
    text = json.dumps(records)
    for secret in ("wrong wrong wrong", PASSWORD, "a1", "a2", "guest"):
        assert f'"{secret}"' not in text and f" {secret}" not in text, secret

    only = gql(identity, workspace, '{ auditLog(action: "api_key.create") { outcome } }')["data"]["auditLog"]
    assert only == [{"outcome": "refused"}, {"outcome": "ok"}]
    assert codes(gql(identity, workspace, "{ auditLog(limit: 0) { action } }")) == {"BAD_USER_INPUT"}


# -- ./suite start ---------------------------------------------------------------------
def test_the_demo_set_up_writes_its_credentials_to_a_private_file(identity, tmp_path, db):
    demo.ensure_workspace(identity)
    found = demo.ensure_credentials(identity, tmp_path)
    path = tmp_path / "demo-credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == found
    assert set(found) == {"workspace", "write_key", "api_key", "operator_email", "operator_password"}
    assert (found["workspace"], found["write_key"], found["operator_email"]) == (
        "demo",
        demo.WRITE_KEY,
        "admin@demo.local",
    )
    answer = authenticate(identity, found["api_key"]).json()
    assert (answer["workspace"], answer["scopes"]) == ("demo", ["admin", "read", "write"])
    session = login(identity, "demo", found["operator_email"], found["operator_password"])["data"]["login"]
    assert (session["workspace"], session["role"]) == ("demo", "admin")
    # A second start reuses them rather than minting another key.
    assert demo.ensure_credentials(identity, tmp_path) == found
    assert db["api_keys"].count_documents({"workspace": "demo", "revoked_at": None}) == 1


# -- through the gateway -----------------------------------------------------------------
def test_the_gateway_takes_a_secret_key_and_an_operator_token_and_login_needs_neither(suite):
    ws = f"ws_{uuid.uuid4().hex[:12]}"
    create_workspace(suite, ws)
    secret = create_key(suite, ws, ["read", "admin"])["secret"]
    email = new_email()
    add_operator(suite, ws, email, role="marketer")

    def at_gateway(document: str, variables: dict | None = None, credential: str = "") -> dict:
        header = f"Bearer {credential}" if credential else ""
        return graphql(suite.gateway_url, ws, document, variables, headers={"authorization": header})

    me = at_gateway("{ me { subject workspace scopes role } }", credential=secret)["data"]["me"]
    assert me["subject"].startswith("key:") and (me["workspace"], me["scopes"]) == (ws, ["admin", "read"])
    assert len(at_gateway("{ apiKeys { id } }", credential=secret)["data"]["apiKeys"]) == 1

    session = at_gateway(LOGIN, {"e": email, "p": PASSWORD, "w": None})["data"]["login"]
    as_operator = at_gateway("{ me { subject scopes role } }", credential=session["token"])["data"]["me"]
    assert as_operator == {
        "subject": f"operator:{session['operatorId']}",
        "scopes": ["read", "write"],
        "role": "marketer",
    }
    assert codes(at_gateway("{ apiKeys { id } }", credential=session["token"])) == {"FORBIDDEN"}
    assert codes(at_gateway("{ me { subject } }")) == {"UNAUTHENTICATED"}


def test_only_services_may_ask_who_a_credential_is(identity, workspace):
    url = identity.http_url("identity") + "/internal/authenticate"
    admin_key = (
        stub(identity)
        .CreateApiKey(identity_pb2.CreateApiKeyRequest(workspace_id=workspace, name="probe", scopes=["admin"]))
        .secret
    )
    body = {"token": admin_key, "workspace": None}
    assert httpx.post(url, json=body, timeout=10).status_code == 401  # nobody
    as_key = httpx.post(url, json=body, headers={"authorization": f"Bearer {admin_key}"}, timeout=10)
    assert as_key.status_code == 401, as_key.text  # a key is not a service credential, not even an admin's
    as_claims = httpx.post(url, json=body, headers={"authorization": f"Bearer {claims_token(workspace)}"}, timeout=10)
    assert as_claims.status_code == 403 and as_claims.json()["code"] == "FORBIDDEN"
    bad = httpx.post(url, content=b"not json", headers=dict(service_metadata()), timeout=10)
    assert bad.status_code == 400 and bad.json()["field"] == "body"
    ok = authenticate(identity, admin_key)
    assert ok.status_code == 200 and ok.json()["workspace"] == workspace and ok.json()["scopes"] == ["admin"]
