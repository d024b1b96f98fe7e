"""What goes over the wire: to the provider (never the API key, the caller's headers and body as
given), to the vault (the key, the actor headers, the User-Agent, the call's fields), in both modes.

Witnesses: the sandbox's echo (`received`), the audit trail, and a recording HTTP server of this
test, used either as a provider (the vault accepts loopback hosts for the sandbox) or as the vault.
"""
from __future__ import annotations

import asyncio
import json
import uuid

import pytest

import alter_sdk
from alter_sdk import AlterVault, HttpMethod
from alter_sdk.exceptions import TokenRetrievalError
from witnesses import Recorder, headers_of, json_reply

ALICE = {"user_id": "alice"}
USER_AGENT = f"alter-sdk-cpp/{alter_sdk.__version__}"
ACTOR = dict(actor_type="ai_agent", actor_identifier="wire-agent", actor_name="Wire Agent", actor_version="3.1",
             framework="langgraph", client_type="cursor")
ACTOR_HEADERS = {"x-alter-actor-type": "ai_agent", "x-alter-actor-id": "wire-agent",
                 "x-alter-actor-name": "Wire Agent", "x-alter-actor-version": "3.1",
                 "x-alter-framework": "langgraph", "x-alter-client-type": "cursor"}


def _decision(dev_vault, request_id: str) -> dict:
    rows = dev_vault.audit("--request-id", request_id, "--kind", "token")
    assert len(rows) == 1, rows
    return rows[0]


def _assert_mode(dev_vault, request_id: str, mode: str) -> None:
    assert _decision(dev_vault, request_id).get("via") == ("proxy" if mode == "proxy" else None)


# Secrets are checked as bools of their own (`found = secret in text; assert not found, "..."`): a
# failing assert must not show a key or a token in the test's output.

# ---- to the provider ----

@pytest.mark.asyncio
async def test_api_key_never_reaches_the_sandbox(dev_vault, mode):
    async with AlterVault(api_key=dev_vault.api_key, base_url=dev_vault.url, **ACTOR) as vault:
        responses = [
            await vault.request("sandbox", HttpMethod.GET, dev_vault.sandbox("/echo/wire"), user=ALICE),
            await vault.request("sandbox", HttpMethod.POST, dev_vault.sandbox("/echo/wire"), user=ALICE,
                                json={"k": "v"}, reason="wire check", run_id="run-1"),
            await vault.request("sandbox", HttpMethod.DELETE, dev_vault.sandbox("/v1/items/{item_id}"), user=ALICE,
                                path_params={"item_id": "7"}),
        ]
        await vault.flush()
    for r in responses:
        received = r.json()["received"]
        headers = received["headers"]
        assert "x-api-key" not in headers
        assert not any(k.startswith("x-alter-") for k in headers), sorted(headers)
        for name, value in headers.items():
            key_shaped = "alter_key_" in value
            assert not key_shaped, f"an API key in the provider's {name} header"
        key_sent = dev_vault.api_key in json.dumps(received)
        assert not key_sent, "the API key reached the provider"
        redacted = headers.get("authorization") == "Bearer [redacted]"
        assert redacted, "no (redacted) Authorization reached the sandbox"  # the vault's token was injected
        assert received["subject"] == "alice"
        assert headers["user-agent"] == USER_AGENT
        _assert_mode(dev_vault, r.request_id, mode)


@pytest.mark.asyncio
async def test_provider_gets_the_token_and_not_the_key(dev_vault, recorder, mode):
    # The recorder sees the request unredacted: the sandbox's token in Authorization, nothing else.
    async with AlterVault(api_key=dev_vault.api_key, base_url=dev_vault.url, **ACTOR) as vault:
        r = await vault.request("sandbox", HttpMethod.PUT, recorder.url + "/v1/things/{id}", user=ALICE,
                                path_params={"id": "1"}, json={"a": 1}, extra_headers={"X-Custom": "yes"},
                                reason="why", run_id="r", thread_id="t", tool_call_id="c")
    assert r.status_code == 200
    [req] = recorder.requests
    h = headers_of(req)
    assert req["method"] == "PUT" and req["target"] == "/v1/things/1"
    injected = h.get("authorization", "").startswith("Bearer sbx_at.")
    assert injected, "the sandbox token was not injected"
    assert "x-api-key" not in h
    assert not [k for k in h if k.startswith("x-alter-")], "x-alter-* headers reached the provider"
    for name, value in req["headers"]:
        key_sent = dev_vault.api_key in value or "alter_key_" in value
        assert not key_sent, f"an API key in the provider's {name} header"
    key_in_body = dev_vault.api_key.encode() in req["body"]
    assert not key_in_body, "the API key in the provider's body"
    assert h["x-custom"] == "yes"
    assert h["content-type"] == "application/json"
    assert h["user-agent"] == USER_AGENT
    assert json.loads(req["body"]) == {"a": 1}
    _assert_mode(dev_vault, r.request_id, mode)


@pytest.mark.asyncio
async def test_caller_headers_and_raw_body_reach_the_provider(dev_vault, recorder, mode):
    body = bytes(range(256)) * 4
    async with AlterVault(api_key=dev_vault.api_key, base_url=dev_vault.url) as vault:
        r = await vault.request("sandbox", HttpMethod.POST, recorder.url + "/upload", user=ALICE, content=body,
                                extra_headers={"User-Agent": "my-agent/9", "Notion-Version": "2022-06-28",
                                               "X-Request-Id": "abc"})
        r2 = await vault.request("sandbox", HttpMethod.PATCH, recorder.url + "/upload", user=ALICE, content="text é",
                                 content_type="text/plain; charset=utf-8")
    first, second = recorder.requests
    h1, h2 = headers_of(first), headers_of(second)
    assert first["body"] == body
    assert h1["content-type"] == "application/octet-stream"
    assert h1["user-agent"] == "my-agent/9"  # the caller's wins over the SDK's
    assert h1["notion-version"] == "2022-06-28" and h1["x-request-id"] == "abc"
    assert second["body"] == "text é".encode()
    assert h2["content-type"] == "text/plain; charset=utf-8"
    assert second["method"] == "PATCH"
    assert r.status_code == r2.status_code == 200
    _assert_mode(dev_vault, r.request_id, mode)


@pytest.mark.asyncio
async def test_sandbox_sees_json_body_and_content_type(dev_vault, mode):
    payload = {"name": "New Item", "price": 99.99, "tags": ["a", "é"], "nested": {"n": None}}
    async with AlterVault(api_key=dev_vault.api_key, base_url=dev_vault.url) as vault:
        r = await vault.request("sandbox", HttpMethod.POST, dev_vault.sandbox("/v1/items"), user=ALICE, json=payload)
    assert r.status_code == 201
    received = r.json()["received"]
    assert received["headers"]["content-type"] == "application/json"
    assert json.loads(received["body"]) == payload
    assert int(received["headers"]["content-length"]) == len(received["body"].encode())
    _assert_mode(dev_vault, r.request_id, mode)


# ---- to the vault ----

@pytest.mark.asyncio
async def test_actor_reaches_the_vault(dev_vault, mode):
    async with AlterVault(api_key=dev_vault.api_key, base_url=dev_vault.url, **ACTOR) as vault:
        r = await vault.request("sandbox", HttpMethod.GET, dev_vault.sandbox("/echo/actor"), user=ALICE,
                                run_id="run-a", thread_id="thread-a", tool_call_id="tool-a", reason="actor check")
        await vault.flush()
    rows = dev_vault.audit("--request-id", r.request_id)
    assert {row["kind"] for row in rows} == {"token", "api_call"}
    for row in rows:
        assert row["actor"] == {"type": "ai_agent", "id": "wire-agent", "name": "Wire Agent", "version": "3.1",
                                "framework": "langgraph", "client_type": "cursor"}
        assert (row["run_id"], row["thread_id"], row["tool_call_id"]) == ("run-a", "thread-a", "tool-a")
        assert row["reason"] == "actor check"
    _assert_mode(dev_vault, r.request_id, mode)
    # The provider saw none of it.
    headers = r.json()["received"]["headers"]
    assert not [k for k in headers if k.startswith("x-alter-")]


@pytest.mark.asyncio
async def test_audit_rows_keep_no_credential(dev_vault, mode):
    async with AlterVault(api_key=dev_vault.api_key, base_url=dev_vault.url) as vault:
        r = await vault.request("sandbox", HttpMethod.GET, dev_vault.sandbox("/echo/audit"), user=ALICE,
                                extra_headers={"X-Visible": "1"})
        await vault.flush()
    calls = [row for row in dev_vault.audit("--request-id", r.request_id) if row["kind"] == "api_call"]
    assert len(calls) == 1
    sent = calls[0]["payload"]["request_headers"]
    assert sent.get("x-visible") == "1"
    credential_headers_kept = "authorization" in sent or "x-api-key" in sent
    assert not credential_headers_kept, sorted(sent)
    text = json.dumps(calls[0])
    token_kept = "sbx_at." in text
    key_kept = dev_vault.api_key in text
    assert not token_kept, "a sandbox token in the audit row"
    assert not key_kept, "the API key in the audit row"


@pytest.mark.asyncio
async def test_token_request_on_the_wire():
    # The recorder as the vault: its answer is no token, so the SDK raises after one request.
    rec = Recorder(lambda req: json_reply(200, {"not": "a token"}))
    key = "alter_key_" + "k" * 43
    try:
        async with AlterVault(api_key=key, base_url=rec.url, **ACTOR) as vault:
            with pytest.raises(TokenRetrievalError) as e:
                await vault.request("sandbox", HttpMethod.POST, "https://api.example.com/v1/items/{id}",
                                    user={"user_id": "alice", "team": "eng"}, path_params={"id": "a b"},
                                    query_params={"q": "1"}, json={"x": 1}, reason="r", run_id="run",
                                    thread_id="th", tool_call_id="tc")
    finally:
        rec.close()
    assert "malformed" in e.value.message
    [req] = rec.requests
    h = headers_of(req)
    assert req["method"] == "POST" and req["target"] == "/oauth/token"
    assert h["x-api-key"] == key
    assert h["user-agent"] == USER_AGENT
    for name, value in ACTOR_HEADERS.items():
        assert h[name] == value
    assert json.loads(req["body"]) == {
        "provider_id": "sandbox", "attributes": {"user_id": "alice", "team": "eng"}, "method": "POST",
        "url": "https://api.example.com/v1/items/a%20b?q=1", "reason": "r", "run_id": "run", "thread_id": "th",
        "tool_call_id": "tc"}


@pytest.mark.asyncio
async def test_proxy_request_on_the_wire():
    # The recorder as the vault's proxy: what it would be asked to send, and how.
    rec = Recorder(lambda req: (200, {"Content-Type": "text/plain", "x-alter-source": "provider",
                                      "x-alter-request-id": "req-42"}, b"provider says hi"))
    key = "alter_key_" + "p" * 43
    try:
        async with AlterVault(api_key=key, base_url=rec.url, **ACTOR) as vault:
            r = await vault.proxy_request("sandbox", HttpMethod.DELETE, "https://api.example.com/v1/items/{id}",
                                          user=ALICE, path_params={"id": "9"}, extra_headers={"X-Thing": "t"},
                                          content=b"\x00raw", reason="because", timeout=7)
    finally:
        rec.close()
    assert r.status_code == 200 and r.text == "provider says hi" and r.request_id == "req-42"
    assert "x-alter-source" not in r.headers
    [req] = rec.requests
    h = headers_of(req)
    assert req["method"] == "DELETE" and req["target"] == "/v1/proxy"
    assert req["body"] == b"\x00raw"
    assert h["x-api-key"] == key
    assert h["user-agent"] == USER_AGENT
    assert h["x-alter-provider"] == "sandbox"
    assert h["x-alter-url"] == "https://api.example.com/v1/items/9"
    assert json.loads(h["x-alter-user"]) == ALICE
    assert h["x-alter-reason"] == "because"
    assert h["x-alter-timeout-ms"] == "7000"
    assert h["x-thing"] == "t"
    assert h["content-type"] == "application/octet-stream"
    for name, value in ACTOR_HEADERS.items():
        assert h[name] == value


@pytest.mark.asyncio
async def test_always_proxy_skips_the_token_endpoint():
    rec = Recorder(lambda req: (200, {"x-alter-source": "provider"}, b"{}"))
    try:
        async with AlterVault(api_key="alter_key_" + "q" * 43, base_url=rec.url, always_proxy=True) as vault:
            await vault.request("sandbox", HttpMethod.GET, "https://api.example.com/v1/items", user=ALICE)
            await vault.request("sandbox", HttpMethod.GET, "https://api.example.com/v1/items", user=ALICE)
    finally:
        rec.close()
    assert [req["target"] for req in rec.requests] == ["/v1/proxy", "/v1/proxy"]


@pytest.mark.asyncio
async def test_proxy_mode_is_remembered_after_token_handout_disabled(dev_vault):
    # Token handout off: the first request learns it (one denied decision), later ones go straight
    # to the proxy.
    actor = f"remember-proxy-{uuid.uuid4().hex[:8]}"
    async with AlterVault(api_key=dev_vault.api_key, base_url=dev_vault.url, actor_type="ai_agent",
                          actor_identifier=actor) as vault:
        first = await vault.request("sandbox", HttpMethod.GET, dev_vault.sandbox("/echo/one"), user=ALICE)
        second = await vault.request("sandbox", HttpMethod.GET, dev_vault.sandbox("/echo/two"), user=ALICE)
    assert _decision(dev_vault, first.request_id)["via"] == "proxy"
    assert _decision(dev_vault, second.request_id)["via"] == "proxy"
    decisions = dev_vault.audit("--actor", f"ai_agent:{actor}", "--kind", "token")
    denied = [d for d in decisions if d["decision"] == "denied"]
    assert len(denied) == 1 and len(decisions) == 3, [(d["decision"], d.get("via")) for d in decisions]


@pytest.mark.asyncio
async def test_a_header_that_is_not_utf8_arrives_as_iso_8859_1(dev_vault, mode):
    # HTTP/1.1 allowed ISO-8859-1 in header values: such a header is decoded as that (as httpx does),
    # never an error that would leave the await without an answer.
    provider = Recorder(lambda req: (200, {"Content-Type": "application/json",
                                           "Content-Disposition": 'attachment; filename="café"'}, b"{}"))
    try:
        async with AlterVault(api_key=dev_vault.api_key, base_url=dev_vault.url) as vault:
            r = await asyncio.wait_for(vault.request("sandbox", HttpMethod.GET, provider.url + "/latin1", user=ALICE),
                                       10)
    finally:
        provider.close()
    assert r.headers["content-disposition"] == 'attachment; filename="café"'
    assert r.json() == {}
