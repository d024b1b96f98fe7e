"""The SDK's exceptions, as in alter-sdk 0.2.1 (plus ApprovalRequiredError).

    AlterSDKError                    every SDK error, including validation failures
    ├── TokenRetrievalError          the vault refused or failed to hand out a token
    │   ├── PolicyViolationError     403: a policy denied the call (``policy_error``)
    │   ├── ConnectionNotFoundError  404: no OAuth connection for these user attributes
    │   ├── TokenExpiredError        400/502: the grant is dead or could not be refreshed
    │   └── ApprovalRequiredError    403: a person must approve the call first
    ├── NetworkError                 the vault or the provider could not be reached
    │   └── TimeoutError             the call timed out (safe to retry)
    └── ProviderAPIError             the provider answered with a status >= 400

No message, attribute or detail holds a token or the API key.
"""
from __future__ import annotations

import json as _json
from typing import Any

__all__ = [
    "AlterSDKError",
    "TokenRetrievalError",
    "PolicyViolationError",
    "ConnectionNotFoundError",
    "TokenExpiredError",
    "ApprovalRequiredError",
    "NetworkError",
    "TimeoutError",
    "ProviderAPIError",
]


class AlterSDKError(Exception):
    """Base exception for all SDK errors (including validation: api_key, actor_type, URL scheme,
    path_params)."""

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message: str = message
        #: Structured details: for vault errors its answer's ``details`` plus ``status`` and ``error``.
        self.details: dict[str, Any] = dict(details or {})

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class TokenRetrievalError(AlterSDKError):
    """The vault did not hand out a token (e.g. 401 ``invalid_api_key``, 409
    ``ambiguous_connection``, 503 when the vault cannot audit)."""

    def __init__(self, message: str, details: dict[str, Any] | None = None, *, status: int = 0,
                 error_code: str = "") -> None:
        super().__init__(message, details)
        #: The HTTP status the vault answered with (0 when not from an HTTP answer).
        self.status: int = status
        #: The vault's ``error`` code, e.g. ``"invalid_api_key"``.
        self.error_code: str = error_code


class PolicyViolationError(TokenRetrievalError):
    """A policy denied the request (403)."""

    def __init__(self, message: str, policy_error: str = "", details: dict[str, Any] | None = None, **kw: Any) -> None:
        super().__init__(message, details, **kw)
        #: A stable code: ``no_matching_rule``, ``denied_by_rule``, ``rate_limited``, ...
        self.policy_error: str = policy_error


class ConnectionNotFoundError(TokenRetrievalError):
    """No OAuth connection matches the user attributes (404): the user needs to connect."""


class TokenExpiredError(TokenRetrievalError):
    """The grant is dead (400, re-authorization needed) or could not be refreshed now (502)."""

    def __init__(self, message: str, connection_id: str = "", details: dict[str, Any] | None = None,
                 **kw: Any) -> None:
        super().__init__(message, details, **kw)
        self.connection_id: str = connection_id


class ApprovalRequiredError(TokenRetrievalError):
    """A policy requires a person's approval before this exact call may go ahead (403)."""

    def __init__(self, message: str, approval_id: str = "", approval_url: str = "",
                 details: dict[str, Any] | None = None, **kw: Any) -> None:
        super().__init__(message, details, **kw)
        self.approval_id: str = approval_id
        #: A page where an approver can see the request and decide.
        self.approval_url: str = approval_url


class NetworkError(AlterSDKError):
    """The vault or the provider could not be reached, or the connection broke."""


class TimeoutError(NetworkError):  # noqa: A001 (the seed's name)
    """The call did not finish within its timeout. Safe to retry."""


class ProviderAPIError(AlterSDKError):
    """The provider's API answered with a status >= 400. The call is still audited."""

    def __init__(self, message: str, status_code: int = 0, response_body: str = "",
                 details: dict[str, Any] | None = None) -> None:
        super().__init__(message, details)
        self.status_code: int = status_code
        self.response_body: str = response_body


def _from_native(d: dict[str, Any]) -> AlterSDKError:
    """The exception for an error the C++ SDK reported (a dict made by _native)."""
    message = d.get("message", "")
    try:
        details = _json.loads(d.get("details") or "{}")
    except ValueError:
        details = {}
    if not isinstance(details, dict):
        details = {"value": details}
    kind = d.get("kind", "sdk")
    vault = {"status": d.get("status", 0), "error_code": d.get("error_code", "")}
    if kind == "approval_required":
        return ApprovalRequiredError(message, d.get("approval_id", ""), d.get("approval_url", ""), details, **vault)
    if kind == "policy_violation":
        return PolicyViolationError(message, d.get("policy_error", ""), details, **vault)
    if kind == "connection_not_found":
        return ConnectionNotFoundError(message, details, **vault)
    if kind == "token_expired":
        return TokenExpiredError(message, d.get("connection_id", ""), details, **vault)
    if kind == "token_retrieval":
        return TokenRetrievalError(message, details, **vault)
    if kind == "timeout":
        return TimeoutError(message, details)
    if kind == "network":
        return NetworkError(message, details)
    if kind == "provider_api":
        body = d.get("response_body", b"")
        return ProviderAPIError(message, d.get("status_code", 0), body.decode("utf-8", "replace"), details)
    return AlterSDKError(message, details)
