"""Supported providers: the Provider enum, and plain strings for any catalog provider."""
import asyncio
import os
import sys

from alter_sdk import AlterVault, HttpMethod, Provider

API_KEY = os.environ.get("ALTER_API_KEY", "alter_key_...")

print(Provider.GOOGLE, Provider.GITHUB, Provider.SLACK, Provider.MICROSOFT, Provider.SALESFORCE, Provider.SENTRY)
assert Provider.GOOGLE == "google"


async def main(provider, url):
    async with AlterVault(api_key=API_KEY) as vault:
        # Strings also work for any provider
        response = await vault.request(provider, HttpMethod.GET, url, user={"user_id": "alice"})
        print(provider, response.status_code)


if len(sys.argv) == 3:
    asyncio.run(main(sys.argv[1], sys.argv[2]))
