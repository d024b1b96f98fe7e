"""AI agent actor tracking: the audit trail names the agent, its run, thread and tool call."""
import asyncio
import os

from alter_sdk import AlterVault, HttpMethod, Provider

API_KEY = os.environ.get("ALTER_API_KEY", "alter_key_...")


async def main():
    vault = AlterVault(
        api_key=API_KEY,
        actor_type="ai_agent",
        actor_identifier="email-assistant-v2",
        actor_name="Email Assistant",
        actor_version="2.0.0",
        framework="langgraph",
    )
    response = await vault.request(
        Provider.GOOGLE,
        HttpMethod.GET,
        "https://www.googleapis.com/calendar/v3/calendars/primary/events",
        user={"user_id": "alice"},
        run_id="550e8400-e29b-41d4-a716-446655440000",
        thread_id="thread-xyz",
        tool_call_id="call_abc_123",
    )
    print(response.status_code, "audit record:", response.request_id)
    await vault.close()


asyncio.run(main())
