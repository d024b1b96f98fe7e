"""Every example of the seed (alter-sdk 0.2.1's README), as written, against `alter-vault dev`.

The changes, and only these: `api_key="alter_key_..."` is the dev vault's key, `base_url` is the dev
vault's address (the seed's default is its cloud), each provider URL's host is the sandbox's
(`dev_vault.seed_url`), and the provider is "sandbox" wherever the seed says Provider.GOOGLE,
Provider.SALESFORCE or "notion" (the sandbox is the one provider `alter-vault dev` connects).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import uuid

import pytest

from alter_sdk import AlterVault, HttpMethod, Provider
from alter_sdk.exceptions import (
    AlterSDKError,
    ConnectionNotFoundError,
    NetworkError,
    PolicyViolationError,
    ProviderAPIError,
    TimeoutError,
    TokenExpiredError,
    TokenRetrievalError,
)
from witnesses import closed_url

SANDBOX = "sandbox"  # the seed's Provider.GOOGLE / Provider.SALESFORCE / "notion"


def _calls(dev_vault, request_id: str) -> list[dict]:
    return dev_vault.audit("--request-id", request_id)


# ---- Quick Start ----

async def quick_start(dev_vault):
    async def main():
        vault = AlterVault(api_key=dev_vault.api_key, base_url=dev_vault.url)

        # Make API request - token injected automatically, never exposed
        response = await vault.request(
            SANDBOX,
            HttpMethod.GET,
            dev_vault.seed_url("https://www.googleapis.com/calendar/v3/calendars/primary/events"),
            user={"user_id": "alice"},
            query_params={"maxResults": "10"},
        )
        events = response.json()
        print(events)
        await vault.close()
        return vault, response

    return await main()


@pytest.mark.asyncio
async def test_quick_start(dev_vault, capsys):
    vault, response = await quick_start(dev_vault)
    assert vault.closed
    assert response.status_code == 200
    events = response.json()
    assert events["kind"] == "sandbox#events" and events["owner"] == "alice"
    assert [e["id"] for e in events["items"]] == ["evt-standup", "evt-review", "evt-1on1"]
    assert response.url == dev_vault.sandbox("/calendar/v3/calendars/primary/events") + "?maxResults=10"
    out = capsys.readouterr().out
    assert out == f"{events}\n"
    rows = _calls(dev_vault, response.request_id)
    assert {(r["kind"], r["decision"]) for r in rows} == {("token", "issued"), ("api_call", "called")}


QUICK_START_SCRIPT = '''\
import asyncio
from alter_sdk import AlterVault, Provider, HttpMethod

async def main():
    vault = AlterVault(api_key=API_KEY)

    # Make API request - token injected automatically, never exposed
    response = await vault.request(
        "sandbox",
        HttpMethod.GET,
        EVENTS_URL,
        user={"user_id": "alice"},
        query_params={"maxResults": "10"},
    )
    events = response.json()
    print(events)
    await vault.close()

asyncio.run(main())
'''


def test_quick_start_as_a_script(dev_vault, tmp_path):
    # The quick start exactly, as a plain script: base_url comes from $ALTER_VAULT_URL (the SDK's
    # default), the key and the URL are literals as a user would paste them.
    script = tmp_path / "quickstart.py"
    script.write_text(QUICK_START_SCRIPT.replace("API_KEY", repr(dev_vault.api_key)).replace(
        "EVENTS_URL", repr(dev_vault.seed_url("https://www.googleapis.com/calendar/v3/calendars/primary/events"))))
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "ALTER_VAULT_URL": dev_vault.url}
    started = time.monotonic()
    p = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60, env=env,
                       cwd=tmp_path)
    took = time.monotonic() - started
    key_printed = dev_vault.api_key in p.stdout + p.stderr
    assert not key_printed, "the API key in the script's output"
    assert p.returncode == 0, p.stderr
    assert p.stderr == ""
    assert "'kind': 'sandbox#events'" in p.stdout and "'owner': 'alice'" in p.stdout
    assert p.stdout.count("'id': 'evt-") == 3
    assert took < 20


# ---- Usage ----

@pytest.mark.asyncio
async def test_simple_get(dev_vault):
    async with AlterVault(api_key=dev_vault.api_key, base_url=dev_vault.url) as vault:
        response = await vault.request(
            SANDBOX,
            HttpMethod.GET,
            dev_vault.seed_url("https://www.googleapis.com/calendar/v3/calendars/primary/events"),
            user={"user_id": "alice"},
        )
    assert response.status_code == 200
    body = response.json()
    assert body["calendar"] == "primary" and len(body["items"]) == 3


@pytest.mark.asyncio
async def test_post_with_json_body(dev_vault):
    async with AlterVault(api_key=dev_vault.api_key, base_url=dev_vault.url) as vault:
        response = await vault.request(
            SANDBOX,
            HttpMethod.POST,
            dev_vault.seed_url("https://api.example.com/v1/items"),
            user={"user_id": "alice"},
            json={"name": "New Item", "price": 99.99},
            reason="Creating new item",
        )
    assert response.status_code == 201
    item = response.json()
    assert item["name"] == "New Item" and item["price"] == 99.99
    assert item["id"].startswith("item-")
    received = item["received"]
    assert received["method"] == "POST"
    assert received["target"] == "/sandbox/api/v1/items"
    assert received["headers"]["content-type"] == "application/json"
    assert json.loads(received["body"]) == {"name": "New Item", "price": 99.99}
    assert received["subject"] == "alice"
    rows = _calls(dev_vault, response.request_id)
    assert rows and all(r["reason"] == "Creating new item" for r in rows)
    assert [r["response_status"] for r in rows if r["kind"] == "api_call"] == [201]


@pytest.mark.asyncio
async def test_url_path_templating(dev_vault):
    async with AlterVault(api_key=dev_vault.api_key, base_url=dev_vault.url) as vault:
        response = await vault.request(
            SANDBOX,
            HttpMethod.PUT,
            dev_vault.seed_url("https://api.example.com/v1/items/{item_id}"),
            user={"user_id": "alice"},
            path_params={"item_id": "123"},
            json={"price": 89.99},
        )
    assert response.status_code == 200
    item = response.json()
    assert item["id"] == "123" and item["price"] == 89.99
    assert item["received"]["method"] == "PUT"
    assert item["received"]["target"] == "/sandbox/api/v1/items/123"
    assert item["received"]["path_params"] == {"item_id": "123"}
    assert json.loads(item["received"]["body"]) == {"price": 89.99}
    assert response.url == dev_vault.sandbox("/v1/items/123")


@pytest.mark.asyncio
async def test_query_parameters_and_extra_headers(dev_vault):
    async with AlterVault(api_key=dev_vault.api_key, base_url=dev_vault.url) as vault:
        response = await vault.request(
            SANDBOX,  # the seed's "notion"
            HttpMethod.POST,
            dev_vault.seed_url("https://api.notion.com/v1/databases/{db_id}/query"),
            user={"user_id": "alice"},
            path_params={"db_id": "abc123"},
            extra_headers={"Notion-Version": "2022-06-28"},
            json={"page_size": 10},
        )
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "list" and body["database_id"] == "abc123" and body["results"] == []
    assert body["page_size"] == 10
    received = body["received"]
    assert received["headers"]["notion-version"] == "2022-06-28"
    assert received["target"] == "/sandbox/api/v1/databases/abc123/query"
    assert json.loads(received["body"]) == {"page_size": 10}


@pytest.mark.asyncio
async def test_query_params_reach_the_provider(dev_vault):
    # The section's other half: query_params appended to a query already in the URL.
    async with AlterVault(api_key=dev_vault.api_key, base_url=dev_vault.url) as vault:
        response = await vault.request(SANDBOX, HttpMethod.GET, dev_vault.sandbox("/echo/query?a=1"),
                                       user={"user_id": "alice"}, query_params={"page_size": 10, "q": "a b&c"})
    received = response.json()["received"]
    assert received["query"] == {"a": "1", "page_size": "10", "q": "a b&c"}
    assert received["target"] == "/sandbox/api/echo/query?a=1&page_size=10&q=a%20b%26c"


@pytest.mark.asyncio
async def test_context_manager(dev_vault):
    async with AlterVault(api_key=dev_vault.api_key, base_url=dev_vault.url) as vault:
        response = await vault.request(
            SANDBOX,
            HttpMethod.GET,
            dev_vault.seed_url("https://www.googleapis.com/calendar/v3/calendars/primary/events"),
            user={"user_id": "alice"},
        )
        assert not vault.closed
    # Automatically closed
    assert response.status_code == 200
    assert vault.closed
    with pytest.raises(AlterSDKError) as e:
        await vault.request(SANDBOX, HttpMethod.GET,
                            dev_vault.seed_url("https://www.googleapis.com/calendar/v3/calendars/primary/events"),
                            user={"user_id": "alice"})
    assert type(e.value) is AlterSDKError and "closed" in e.value.message
    await vault.close()  # idempotent


@pytest.mark.asyncio
async def test_context_manager_closes_on_error(dev_vault):
    with pytest.raises(RuntimeError):
        async with AlterVault(api_key=dev_vault.api_key, base_url=dev_vault.url) as vault:
            raise RuntimeError("inside the block")
    assert vault.closed


@pytest.mark.asyncio
async def test_ai_agent_actor_tracking(dev_vault):
    vault = AlterVault(
        api_key=dev_vault.api_key,
        base_url=dev_vault.url,
        actor_type="ai_agent",
        actor_identifier="email-assistant-v2",
        actor_name="Email Assistant",
        actor_version="2.0.0",
        framework="langgraph",
    )
    response = await vault.request(
        SANDBOX,
        HttpMethod.GET,
        dev_vault.seed_url("https://www.googleapis.com/calendar/v3/calendars/primary/events"),
        user={"user_id": "alice"},
        run_id="550e8400-e29b-41d4-a716-446655440000",
        thread_id="thread-xyz",
        tool_call_id="call_abc_123",
    )
    await vault.close()
    assert response.status_code == 200
    rows = _calls(dev_vault, response.request_id)
    assert {r["kind"] for r in rows} == {"token", "api_call"}
    for row in rows:
        assert row["actor"]["type"] == "ai_agent"
        assert row["actor"]["id"] == "email-assistant-v2"
        assert row["actor"]["name"] == "Email Assistant"
        assert row["actor"]["version"] == "2.0.0"
        assert row["actor"]["framework"] == "langgraph"
        assert row["run_id"] == "550e8400-e29b-41d4-a716-446655440000"
        assert row["thread_id"] == "thread-xyz"
        assert row["tool_call_id"] == "call_abc_123"
        assert row["user"] == {"user_id": "alice"}
    # The actor filter of the trail finds the call too.
    by_actor = dev_vault.audit("--actor", "ai_agent:email-assistant-v2")
    assert response.request_id in {r.get("request_id") for r in by_actor}


@pytest.mark.asyncio
async def test_configuration_block(dev_vault):
    # The seed's "Configuration" block: every option, with the MCP client type too.
    vault = AlterVault(
        api_key=dev_vault.api_key,  # Required: Alter Vault API key
        base_url=dev_vault.url,  # Optional: Custom API URL
        timeout=30.0,  # Optional: HTTP timeout in seconds
        # Actor tracking (optional)
        actor_type="mcp_server",  # "ai_agent" or "mcp_server"
        actor_identifier=f"my-agent-{uuid.uuid4().hex[:6]}",  # Unique identifier
        actor_name="My Agent",  # Human-readable name
        actor_version="1.0.0",  # Version string
        framework="langgraph",  # AI framework
        client_type="cursor",  # MCP client type
    )
    try:
        r = await vault.request(SANDBOX, HttpMethod.GET, dev_vault.sandbox("/userinfo"), user={"user_id": "alice"})
    finally:
        await vault.close()
    rows = _calls(dev_vault, r.request_id)
    assert rows
    for row in rows:
        assert row["actor"]["type"] == "mcp_server"
        assert row["actor"]["client_type"] == "cursor"
        assert row["actor"]["name"] == "My Agent"


@pytest.mark.asyncio
async def test_multi_agent_deployments(dev_vault):
    # Each agent gets its own vault instance
    email_agent = AlterVault(
        api_key=dev_vault.api_key,
        base_url=dev_vault.url,
        actor_type="ai_agent",
        actor_identifier="email-assistant-v2",
        actor_name="Email Assistant",
    )
    calendar_agent = AlterVault(
        api_key=dev_vault.api_key,
        base_url=dev_vault.url,
        actor_type="ai_agent",
        actor_identifier="calendar-agent-v1",
        actor_name="Calendar Agent",
    )

    # Audit logs and policies are tracked per agent
    user = {"user_id": "alice"}
    email = await email_agent.request(
        SANDBOX, HttpMethod.GET,
        dev_vault.seed_url("https://gmail.googleapis.com/gmail/v1/users/me/messages"),
        user=user,
    )
    calendar = await calendar_agent.request(
        SANDBOX, HttpMethod.GET,
        dev_vault.seed_url("https://www.googleapis.com/calendar/v3/calendars/primary/events"),
        user=user,
    )

    # Clean up each instance
    await email_agent.close()
    await calendar_agent.close()

    assert email.status_code == 200 and calendar.status_code == 200
    assert [m["id"] for m in email.json()["messages"]] == ["msg-1", "msg-2"]
    assert email.json()["resultSizeEstimate"] == 2
    assert calendar.json()["kind"] == "sandbox#events"
    for response, actor_id, name in ((email, "email-assistant-v2", "Email Assistant"),
                                     (calendar, "calendar-agent-v1", "Calendar Agent")):
        rows = _calls(dev_vault, response.request_id)
        assert {r["kind"] for r in rows} == {"token", "api_call"}
        assert {(r["actor"]["type"], r["actor"]["id"], r["actor"]["name"]) for r in rows} == {
            ("ai_agent", actor_id, name)}
    calendar_rows = dev_vault.audit("--actor", "ai_agent:calendar-agent-v1")
    ids = {r.get("request_id") for r in calendar_rows}
    assert calendar.request_id in ids and email.request_id not in ids


# ---- Error Handling: the seed's try/except chain, each branch reached ----

async def seed_error_handling(vault, url, user, method=HttpMethod.GET, **kw):
    try:
        response = await vault.request(
            SANDBOX,
            method,
            url,
            user=user,
            **kw,
        )
        return response
    except PolicyViolationError as e:
        print(f"Policy denied: {e.message}")
        print(f"Policy error: {e.policy_error}")  # Detailed policy failure reason
    except ConnectionNotFoundError:
        print("No OAuth connection - user needs to authenticate")
    except TokenExpiredError as e:
        print(f"Token expired for connection: {e.connection_id}")
    except TimeoutError as e:
        print(f"Request timed out — safe to retry: {e.message}")
    except NetworkError as e:
        print(f"Network issue: {e.message}")
    except ProviderAPIError as e:
        print(f"Provider error {e.status_code}: {e.response_body}")


EVENTS = "https://www.googleapis.com/calendar/v3/calendars/primary/events"


@pytest.mark.asyncio
async def test_error_handling_success(dev_vault, capsys):
    async with AlterVault(api_key=dev_vault.api_key, base_url=dev_vault.url) as vault:
        response = await seed_error_handling(vault, dev_vault.seed_url(EVENTS), {"user_id": "alice"})
    assert response.status_code == 200
    assert capsys.readouterr().out == ""


@pytest.mark.asyncio
async def test_error_handling_policy_violation(dev_vault, capsys):
    async with AlterVault(api_key=dev_vault.api_key, base_url=dev_vault.url) as vault:
        url = dev_vault.seed_url("https://www.googleapis.com/calendar/v3/calendars/private/events")
        assert await seed_error_handling(vault, url, {"user_id": "alice"}) is None
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("Policy denied: ") and len(out[0]) > len("Policy denied: ")
    assert out[1] == "Policy error: denied_by_rule"


@pytest.mark.asyncio
async def test_error_handling_connection_not_found(dev_vault, capsys):
    async with AlterVault(api_key=dev_vault.api_key, base_url=dev_vault.url) as vault:
        assert await seed_error_handling(vault, dev_vault.seed_url(EVENTS), {"user_id": "bob"}) is None
    assert capsys.readouterr().out == "No OAuth connection - user needs to authenticate\n"


@pytest.mark.asyncio
async def test_error_handling_token_expired(dev_vault, capsys, expired_connection):
    user, connection_id = expired_connection
    async with AlterVault(api_key=dev_vault.api_key, base_url=dev_vault.url) as vault:
        assert await seed_error_handling(vault, dev_vault.seed_url(EVENTS), user) is None
    assert capsys.readouterr().out == f"Token expired for connection: {connection_id}\n"


@pytest.mark.asyncio
async def test_error_handling_timeout(dev_vault, capsys, silent_url):
    async with AlterVault(api_key=dev_vault.api_key, base_url=silent_url, timeout=0.3) as vault:
        assert await seed_error_handling(vault, dev_vault.seed_url(EVENTS), {"user_id": "alice"}) is None
    out = capsys.readouterr().out
    assert out.startswith("Request timed out — safe to retry: the vault at ")


@pytest.mark.asyncio
async def test_error_handling_network(dev_vault, capsys):
    base = closed_url()
    async with AlterVault(api_key=dev_vault.api_key, base_url=base) as vault:
        assert await seed_error_handling(vault, dev_vault.seed_url(EVENTS), {"user_id": "alice"}) is None
    assert capsys.readouterr().out.startswith(f"Network issue: cannot reach the vault at {base}")


@pytest.mark.asyncio
@pytest.mark.parametrize("method, path, status", [
    (HttpMethod.DELETE, "/calendar/v3/calendars/primary/events/nope", 404),
    (HttpMethod.PATCH, "/calendar/v3/calendars/primary/events", 405),
])
async def test_error_handling_provider_api_error(dev_vault, capsys, method, path, status):
    async with AlterVault(api_key=dev_vault.api_key, base_url=dev_vault.url) as vault:
        url = dev_vault.seed_url("https://www.googleapis.com" + path)
        assert await seed_error_handling(vault, url, {"user_id": "alice"}, method=method) is None
    out = capsys.readouterr().out
    prefix = f"Provider error {status}: "
    assert out.startswith(prefix)
    assert "error" in json.loads(out[len(prefix):])


@pytest.mark.asyncio
async def test_error_handling_uncaught_token_retrieval_error(dev_vault):
    # What the seed's chain does not name propagates: an unknown key is a TokenRetrievalError.
    async with AlterVault(api_key="alter_key_" + "9" * 43, base_url=dev_vault.url) as vault:
        with pytest.raises(TokenRetrievalError) as e:
            await seed_error_handling(vault, dev_vault.seed_url(EVENTS), {"user_id": "alice"})
    assert e.value.error_code == "invalid_api_key"


# ---- Supported Providers ----

@pytest.mark.asyncio
async def test_strings_also_work_for_any_provider(dev_vault):
    url = dev_vault.sandbox("/calendar/v3/calendars/primary/events")
    user = {"user_id": "alice"}
    async with AlterVault(api_key=dev_vault.api_key, base_url=dev_vault.url) as vault:
        # Strings also work for any provider ("notion" in the seed; the sandbox here)
        response = await vault.request("sandbox", HttpMethod.GET, url, user=user)
        assert response.status_code == 200
        # A catalog provider without alice's connection: the string reaches the vault as an id.
        with pytest.raises(ConnectionNotFoundError):
            await vault.request("notion", HttpMethod.GET, "https://api.notion.com/v1/users/me", user=user)
        with pytest.raises(ConnectionNotFoundError):
            await vault.request(Provider.NOTION, HttpMethod.GET, "https://api.notion.com/v1/users/me", user=user)
    rows = _calls(dev_vault, response.request_id)
    assert all(r["provider_id"] == "sandbox" for r in rows)


def test_supported_providers_block():
    # The seed's block, with its comments as the expected values.
    block = textwrap.dedent("""\
        Provider.GOOGLE # "google"
        Provider.GITHUB # "github"
        Provider.SLACK # "slack"
        Provider.MICROSOFT # "microsoft"
        Provider.SALESFORCE # "salesforce"
        Provider.SENTRY # "sentry"
        """)
    for line in block.splitlines():
        expr, _, comment = line.partition("#")
        assert eval(expr, {"Provider": Provider}) == json.loads(comment)
