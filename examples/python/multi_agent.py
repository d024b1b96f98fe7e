"""Multi-agent deployments: each agent has its own AlterVault with its own actor identity, so
audit logs and policies are tracked per agent. Do not share one instance across agents."""
import asyncio
import os

from alter_sdk import AlterVault, HttpMethod, Provider

API_KEY = os.environ.get("ALTER_API_KEY", "alter_key_...")


async def main():
    # Each agent gets its own vault instance
    email_agent = AlterVault(
        api_key=API_KEY,
        actor_type="ai_agent",
        actor_identifier="email-assistant-v2",
        actor_name="Email Assistant",
    )
    calendar_agent = AlterVault(
        api_key=API_KEY,
        actor_type="ai_agent",
        actor_identifier="calendar-agent-v1",
        actor_name="Calendar Agent",
    )
    # Audit logs and policies are tracked per agent
    user = {"user_id": "alice"}
    mail = await email_agent.request(
        Provider.GOOGLE, HttpMethod.GET,
        "https://gmail.googleapis.com/gmail/v1/users/me/messages",
        user=user,
    )
    events = await calendar_agent.request(
        Provider.GOOGLE, HttpMethod.GET,
        "https://www.googleapis.com/calendar/v3/calendars/primary/events",
        user=user,
    )
    print("email agent:", mail.status_code, "calendar agent:", events.status_code)
    # Clean up each instance
    await email_agent.close()
    await calendar_agent.close()


asyncio.run(main())
