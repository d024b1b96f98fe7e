"""URL path templating: {item_id} is filled from path_params, percent-encoded as one path segment."""
import asyncio
import os

from alter_sdk import AlterVault, HttpMethod, Provider

API_KEY = os.environ.get("ALTER_API_KEY", "alter_key_...")


async def main():
    vault = AlterVault(api_key=API_KEY)
    response = await vault.request(
        Provider.SALESFORCE,
        HttpMethod.PUT,
        "https://api.example.com/v1/items/{item_id}",
        user={"user_id": "alice"},
        path_params={"item_id": "123"},
        json={"price": 89.99},
    )
    print(response.status_code, response.json())
    await vault.close()


asyncio.run(main())
