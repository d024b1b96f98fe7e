"""Error handling: each failure is its own exception class (alter_sdk.exceptions)."""
import asyncio
import os
import sys

from alter_sdk import AlterVault, HttpMethod, Provider
from alter_sdk.exceptions import (
    AlterSDKError,  # Base exception for all SDK errors (including validation: api_key, actor_type, URL scheme, path_params)
    ConnectionNotFoundError,  # No OAuth connection found (404)
    NetworkError,  # Backend or provider unreachable
    PolicyViolationError,  # Policy denied access (403)
    ProviderAPIError,  # Provider API returned error (4xx/5xx)
    TimeoutError,  # Request timed out (subclass of NetworkError)
    TokenExpiredError,  # Token refresh failed (400/502)
    TokenRetrievalError,  # Other backend errors
)

API_KEY = os.environ.get("ALTER_API_KEY", "alter_key_...")
# The calendar to read, and whose calendar: `private` is denied by alter-vault dev's starter policy.
URL = "https://www.googleapis.com/calendar/v3/calendars/" + (sys.argv[1] if len(sys.argv) > 1 else "primary") + "/events"
USER = sys.argv[2] if len(sys.argv) > 2 else "alice"


async def main():
    vault = AlterVault(api_key=API_KEY)
    try:
        response = await vault.request(
            Provider.GOOGLE,
            HttpMethod.GET,
            URL,
            user={"user_id": USER},
        )
        print("ok", response.status_code)
    except PolicyViolationError as e:
        print(f"Policy denied: {e.message}")
        print(f"Policy error: {e.policy_error}")  # Detailed policy failure reason
    except ConnectionNotFoundError:
        print("No OAuth connection - user needs to authenticate")
    except TokenExpiredError as e:
        print(f"Token expired for connection: {e.connection_id}")
    except TokenRetrievalError as e:
        print(f"The vault refused: {e.message}")
    except TimeoutError as e:
        print(f"Request timed out — safe to retry: {e.message}")
    except NetworkError as e:
        print(f"Network issue: {e.message}")
    except ProviderAPIError as e:
        print(f"Provider error {e.status_code}: {e.response_body}")
    except AlterSDKError as e:
        print(f"SDK error: {e.message}")
    finally:
        await vault.close()


asyncio.run(main())
