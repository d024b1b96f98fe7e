"""Simple GET request."""
import asyncio
import os

from alter_sdk import AlterVault, HttpMethod, Provider

API_KEY = os.environ.get("ALTER_API_KEY", "alter_key_...")


async def main():
    vault = AlterVault(api_key=API_KEY)
    response = await vault.request(
        Provider.GOOGLE,
        HttpMethod.GET,
        "https://www.googleapis.com/calendar/v3/calendars/primary/events",
        user={"user_id": "alice"},
    )
    print(response.status_code, len(response.json().get("items", [])), "events")
    await vault.close()


asyncio.run(main())
