"""POST with a JSON body, and a reason recorded in the audit trail."""
import asyncio
import os

from alter_sdk import AlterVault, HttpMethod, Provider

API_KEY = os.environ.get("ALTER_API_KEY", "alter_key_...")


async def main():
    vault = AlterVault(api_key=API_KEY)
    response = await vault.request(
        Provider.SALESFORCE,
        HttpMethod.POST,
        "https://api.example.com/v1/items",
        user={"user_id": "alice"},
        json={"name": "New Item", "price": 99.99},
        reason="Creating new item",
    )
    print(response.status_code, response.json())
    await vault.close()


asyncio.run(main())
