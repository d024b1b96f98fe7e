"""Alter Vault SDK for Python: call providers' APIs on a user's behalf without touching a token.

    from alter_sdk import AlterVault, Provider, HttpMethod

    async with AlterVault(api_key="alter_key_...") as vault:
        response = await vault.request(Provider.GOOGLE, HttpMethod.GET,
            "https://www.googleapis.com/calendar/v3/calendars/primary/events",
            user={"user_id": "alice"}, query_params={"maxResults": "10"})
        events = response.json()

A binding of the C++ SDK (alter::Vault): see docs/python.md.
"""
from . import _native
from ._enums import HttpMethod, Provider
from ._response import Headers, Response
from ._vault import AlterVault
from .exceptions import (
    AlterSDKError,
    ApprovalRequiredError,
    ConnectionNotFoundError,
    NetworkError,
    PolicyViolationError,
    ProviderAPIError,
    TimeoutError,
    TokenExpiredError,
    TokenRetrievalError,
)

#: The C++ SDK's version, which this package is.
__version__: str = _native.version

__all__ = [
    "AlterVault",
    "Provider",
    "HttpMethod",
    "Response",
    "Headers",
    "AlterSDKError",
    "TokenRetrievalError",
    "PolicyViolationError",
    "ConnectionNotFoundError",
    "TokenExpiredError",
    "ApprovalRequiredError",
    "NetworkError",
    "TimeoutError",
    "ProviderAPIError",
    "__version__",
]
