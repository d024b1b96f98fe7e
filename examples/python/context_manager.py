"""The context manager: the vault is closed when the block ends (close() is idempotent, and a
request() after it raises AlterSDKError)."""
import asyncio
import os

from alter_sdk import AlterVault, HttpMethod, Provider
from alter_sdk.exceptions import AlterSDKError

API_KEY = os.environ.get("ALTER_API_KEY", "alter_key_...")
URL = "https://www.googleapis.com/calendar/v3/calendars/primary/events"


async def main():
    async with AlterVault(api_key=API_KEY) as vault:
        response = await vault.request(
            Provider.GOOGLE,
            HttpMethod.GET,
            URL,
            user={"user_id": "alice"},
        )
        print(response.status_code)
    # Automatically closed
    try:
        await vault.request(Provider.GOOGLE, HttpMethod.GET, URL, user={"user_id": "alice"})
    except AlterSDKError as e:
        print("after close:", e.message)


asyncio.run(main())
