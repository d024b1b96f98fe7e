"""Quick start: one call to Google Calendar on alice's behalf; the token never reaches this code.

With `alter-vault dev`, `. alter-dev/dev.env` sets ALTER_API_KEY and ALTER_VAULT_URL, and
ALTER_PROVIDER / ALTER_CALENDAR_URL to the sandbox, so this runs without Google credentials.
"""
import asyncio
import os

from alter_sdk import AlterVault, HttpMethod, Provider

API_KEY = os.environ.get("ALTER_API_KEY", "alter_key_...")
PROVIDER = os.environ.get("ALTER_PROVIDER", Provider.GOOGLE)
CALENDAR_URL = os.environ.get("ALTER_CALENDAR_URL", "https://www.googleapis.com/calendar/v3/calendars/primary/events")


async def main():
    vault = AlterVault(api_key=API_KEY)
    # Make API request - token injected automatically, never exposed
    response = await vault.request(
        PROVIDER,
        HttpMethod.GET,
        CALENDAR_URL,
        user={"user_id": "alice"},
        query_params={"maxResults": "10"},
    )
    events = response.json()
    print(events)
    await vault.close()


asyncio.run(main())
