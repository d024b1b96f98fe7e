"""Query parameters and extra headers, with a provider named by string."""
import asyncio
import os

from alter_sdk import AlterVault, HttpMethod

API_KEY = os.environ.get("ALTER_API_KEY", "alter_key_...")


async def main():
    vault = AlterVault(api_key=API_KEY)
    response = await vault.request(
        "notion",
        HttpMethod.POST,
        "https://api.notion.com/v1/databases/{db_id}/query",
        user={"user_id": "alice"},
        path_params={"db_id": "abc123"},
        extra_headers={"Notion-Version": "2022-06-28"},
        json={"page_size": 10},
    )
    print(response.json())
    await vault.close()


asyncio.run(main())
