"""AlterVault: the seed's client, over the C++ SDK (alter_sdk._native).

Templating, validation, the vault protocol, error mapping, the audit sender and the proxy are the
C++ SDK's; this layer converts arguments, awaits the C++ SDK's completion on the caller's event
loop, and shapes the answer and the errors as the seed does.
"""
from __future__ import annotations

import asyncio
import atexit
import json as _json
import logging
import math
import os
import threading
import warnings
import weakref
from collections.abc import Mapping
from typing import Any

from . import _native
from ._enums import HttpMethod, Provider
from ._response import Response
from .exceptions import AlterSDKError, _from_native

__all__ = ["AlterVault"]

_log = logging.getLogger("alter_sdk")
_LEVELS = (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR)

# Every vault still open, closed at interpreter exit (before the interpreter stops threads from
# taking the GIL): the SDK's threads finish their requests and flush the audit queue first. After
# that, no vault may start: its threads could not finish.
_open_vaults: weakref.WeakSet[AlterVault] = weakref.WeakSet()
_open_lock = threading.Lock()
_shutting_down = False


@atexit.register
def _close_all_at_exit() -> None:
    global _shutting_down
    with _open_lock:
        _shutting_down = True
        vaults = list(_open_vaults)
    for vault in vaults:
        vault._close_now()
    _native.join_closers()  # vaults dropped unclosed earlier, being closed on threads of their own


def _after_fork_in_child() -> None:
    # The SDK's threads stayed in the parent: a vault made before fork() can be neither used nor
    # closed here. Each is cut loose (its memory left alone) and refuses requests.
    global _open_lock
    _open_lock = threading.Lock()
    for vault in list(_open_vaults):
        native, vault._native = vault._native, None
        vault._forked = True
        if native is not None:
            native.abandon()
    _open_vaults.clear()
    _native.after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _log_from_sdk(level: int, message: str) -> None:
    _log.log(_LEVELS[level] if 0 <= level < len(_LEVELS) else logging.WARNING, "%s", message)


_MAX_SECONDS = 1_000_000.0


def _utf8(name: str, value: str) -> str:
    # A str with no UTF-8 form (a lone surrogate) cannot reach the SDK; the message never repeats it.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise AlterSDKError(f"{name} is not valid text (it has no UTF-8 form)") from None
    return value


def _text(name: str, value: Any, *, optional: bool = True) -> str:
    if value is None and optional:
        return ""
    if not isinstance(value, str):
        raise AlterSDKError(f"{name} must be a string, got {type(value).__name__}")
    return _utf8(name, value)


def _string_map(name: str, value: Any) -> dict[str, str]:
    """A mapping of strings (numbers are accepted as values, written with str())."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise AlterSDKError(f"{name} must be a dict of strings, got {type(value).__name__}")
    out: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(key, str):
            raise AlterSDKError(f"{name}: keys must be strings, got {type(key).__name__}")
        _utf8(f"{name}: a key", key)
        if isinstance(item, bool) or not isinstance(item, (str, int, float)):
            raise AlterSDKError(f"{name}['{key}'] must be a string or a number, got {type(item).__name__}")
        out[key] = _utf8(f"{name}['{key}']", item) if isinstance(item, str) else str(item)
    return out


def _seconds(name: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise AlterSDKError(f"{name} must be a positive number of seconds")
    if not math.isfinite(value) or value > _MAX_SECONDS:
        raise AlterSDKError(f"{name} must be at most {_MAX_SECONDS:,.0f} seconds")
    return float(value)


def _settle(future: asyncio.Future[Any], response: Any, error: Any) -> None:
    # On the caller's loop. A cancelled awaiter has gone: its outcome is dropped.
    if future.done():
        return
    if error is not None:
        future.set_exception(_from_native(error))
    else:
        future.set_result(Response._from_native(response))


def _settings(base_url: Any, timeout: Any, actor_type: Any, actor_identifier: Any, actor_name: Any,
              actor_version: Any, framework: Any, client_type: Any, ca_file: Any, always_proxy: Any,
              max_concurrency: Any) -> dict[str, Any]:
    """Every option of _native.Vault but the key, type-checked (the C++ SDK validates the values)."""
    t = _seconds("timeout", timeout)
    if max_concurrency is not None and (isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int)
                                        or not 1 <= max_concurrency <= 1024):
        raise AlterSDKError("max_concurrency must be an integer from 1 to 1024")
    return dict(
        base_url=_text("base_url", base_url),
        timeout=t if t is not None else 30.0,
        actor_type=_text("actor_type", actor_type),
        actor_identifier=_text("actor_identifier", actor_identifier),
        actor_name=_text("actor_name", actor_name),
        actor_version=_text("actor_version", actor_version),
        framework=_text("framework", framework),
        client_type=_text("client_type", client_type),
        ca_file=_text("ca_file", ca_file if ca_file is None else os.fspath(ca_file)),
        always_proxy=bool(always_proxy),
        async_threads=max_concurrency or 0,
        log=_log_from_sdk,
    )


class AlterVault:
    """A client of one Alter Vault, acting as one actor (an application, an AI agent or an MCP
    server). Each agent should create its own instance, so audit and policies see distinct actors.

    Validates its arguments without a network call: ``api_key`` (else ``$ALTER_API_KEY``) must start
    with ``alter_key_``, ``actor_type`` be ``"ai_agent"`` or ``"mcp_server"`` when set, ``base_url``
    (else ``$ALTER_VAULT_URL``, else ``http://127.0.0.1:8787``) an http(s) URL; raises
    ``AlterSDKError`` otherwise. Safe to use from several threads and event loops at once.
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float = 30.0,
        actor_type: str | None = None,
        actor_identifier: str | None = None,
        actor_name: str | None = None,
        actor_version: str | None = None,
        framework: str | None = None,
        client_type: str | None = None,
        *,
        ca_file: str | None = None,
        always_proxy: bool = False,
        max_concurrency: int | None = None,
    ) -> None:
        """``timeout``: seconds for each HTTP call. ``ca_file``: a PEM bundle of trusted CAs.
        ``always_proxy``: every request goes through the vault's proxy. ``max_concurrency``: SDK
        threads serving requests (default 4); more requests wait for one."""
        self._forked = False
        self._used = False
        self._native: _native.Vault | None = None
        try:
            if _shutting_down:
                raise AlterSDKError("the interpreter is exiting: no new AlterVault")
            settings = _settings(base_url, timeout, actor_type, actor_identifier, actor_name, actor_version,
                                 framework, client_type, ca_file, always_proxy, max_concurrency)
            if api_key is not None and not isinstance(api_key, str):
                raise AlterSDKError(f"api_key must be a string, got {type(api_key).__name__}")
            _utf8("api_key", api_key or "")
            self._native = _native.Vault(api_key=api_key or "", **settings)
        except _native.Error as e:
            api_key = None  # noqa: F841
            raise _from_native(e.args[0]) from None
        except BaseException:
            # Traceback printers that show frame locals (loguru's diagnose, rich) must not show the key.
            api_key = None  # noqa: F841
            raise
        self._base_url: str = self._native.base_url
        self._actor: str = actor_identifier or ""
        with _open_lock:
            _open_vaults.add(self)

    @property
    def base_url(self) -> str:
        """The vault's address in use (after defaults)."""
        return self._base_url

    @property
    def closed(self) -> bool:
        return self._native is None or self._native.closed

    def __repr__(self) -> str:
        actor = f", actor_identifier={self._actor!r}" if self._actor else ""
        return f"AlterVault(base_url={self._base_url!r}{actor}, closed={self.closed})"

    async def request(
        self,
        provider: Provider | str,
        method: HttpMethod | str,
        url: str,
        *,
        user: Mapping[str, str],
        path_params: Mapping[str, str] | None = None,
        query_params: Mapping[str, str] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        json: Any = None,
        reason: str | None = None,
        run_id: str | None = None,
        thread_id: str | None = None,
        tool_call_id: str | None = None,
        content: bytes | str | None = None,
        content_type: str | None = None,
        timeout: float | None = None,
        wait_for_approval: float | None = None,
    ) -> Response:
        """Calls a provider's API on a user's behalf; the token is injected and never seen here.

        With token handout on for the app, the SDK asks the vault for a token (policy-checked and
        audited) and calls ``url`` itself; otherwise (the default for new apps) the vault's proxy
        makes the call. ``path_params`` fill ``{name}`` placeholders, each percent-encoded as one
        path segment; ``json`` is sent as a JSON body, ``content`` as a raw one (not both);
        ``timeout`` overrides the vault's for this call; ``wait_for_approval`` waits up to that many
        seconds for a person's decision instead of raising ApprovalRequiredError at once.

        Raises AlterSDKError on invalid arguments (nothing is sent) or after close();
        PolicyViolationError, ApprovalRequiredError, ConnectionNotFoundError, TokenExpiredError or
        TokenRetrievalError when the vault refuses; NetworkError or TimeoutError when the vault or
        the provider cannot be reached in time; ProviderAPIError for a provider status >= 400.
        """
        return await self._call(False, provider, method, url, user, path_params, query_params, extra_headers, json,
                                reason, run_id, thread_id, tool_call_id, content, content_type, timeout,
                                wait_for_approval)

    async def proxy_request(
        self,
        provider: Provider | str,
        method: HttpMethod | str,
        url: str,
        *,
        user: Mapping[str, str],
        path_params: Mapping[str, str] | None = None,
        query_params: Mapping[str, str] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        json: Any = None,
        reason: str | None = None,
        run_id: str | None = None,
        thread_id: str | None = None,
        tool_call_id: str | None = None,
        content: bytes | str | None = None,
        content_type: str | None = None,
        timeout: float | None = None,
        wait_for_approval: float | None = None,
    ) -> Response:
        """``request`` through the vault's proxy whatever the app's setting: the vault checks the
        policy, injects the credential, makes the call and audits it. Same arguments, answer and
        exceptions as ``request``."""
        return await self._call(True, provider, method, url, user, path_params, query_params, extra_headers, json,
                                reason, run_id, thread_id, tool_call_id, content, content_type, timeout,
                                wait_for_approval)

    async def _call(self, proxy: bool, provider: Any, method: Any, url: Any, user: Any, path_params: Any,
                    query_params: Any, extra_headers: Any, json: Any, reason: Any, run_id: Any, thread_id: Any,
                    tool_call_id: Any, content: Any, content_type: Any, timeout: Any,
                    wait_for_approval: Any) -> Response:
        native = self._native
        if native is None:
            if self._forked:
                raise AlterSDKError("this AlterVault was created before os.fork(): create one in this process")
            raise AlterSDKError("the AlterVault is closed: request() after close()")
        if _shutting_down:
            raise AlterSDKError("the interpreter is exiting: request() refused")
        if not isinstance(provider, str):
            raise AlterSDKError(f"provider must be a Provider or a string, got {type(provider).__name__}")
        if not isinstance(method, str):
            raise AlterSDKError(f"method must be an HttpMethod or a string, got {type(method).__name__}")
        _utf8("provider", provider)
        _utf8("method", method)
        if user is None:
            raise AlterSDKError("user is required: the attributes that select the connection, e.g. {'user_id': 'alice'}")
        body: bytes | None = None
        ctype = _text("content_type", content_type)
        if json is not None and content is not None:
            raise AlterSDKError("set either json or content, not both")
        if json is not None:
            try:
                body = _json.dumps(json, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
            except (TypeError, ValueError) as e:
                raise AlterSDKError(f"json is not serializable as JSON: {e}") from None
            ctype = ctype or "application/json"
        elif content is not None:
            if isinstance(content, str):
                body = _utf8("content", content).encode()
            elif isinstance(content, (bytes, bytearray, memoryview)):
                body = bytes(content)
            else:
                raise AlterSDKError(f"content must be bytes or str, got {type(content).__name__}")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Response] = loop.create_future()
        self._used = True

        # What the SDK's callback reaches; emptied when the awaiter goes, so that a call still under
        # way holds neither the future nor, through it, this frame and the vault.
        waiter: list[Any] = [loop, future]

        def done(response: Any, error: Any) -> None:  # on an SDK thread, with the GIL
            if not waiter:
                return
            to, fut = waiter
            try:
                to.call_soon_threadsafe(_settle, fut, response, error)
            except RuntimeError:
                pass  # the loop is closed: nobody is waiting any more

        handle = native.request(
            proxy=proxy,
            provider=str(provider),
            method=str(method).upper(),
            url=_text("url", url, optional=False),
            user=_string_map("user", user),
            path_params=_string_map("path_params", path_params),
            query_params=_string_map("query_params", query_params),
            extra_headers=_string_map("extra_headers", extra_headers),
            body=body,
            content_type=ctype,
            reason=_text("reason", reason),
            run_id=_text("run_id", run_id),
            thread_id=_text("thread_id", thread_id),
            tool_call_id=_text("tool_call_id", tool_call_id),
            timeout=_seconds("timeout", timeout),
            wait_for_approval=_seconds("wait_for_approval", wait_for_approval),
            done=done,
        )
        try:
            return await future
        except asyncio.CancelledError:
            handle.cancel()  # not sent if it has not started; one under way runs to its end
            waiter.clear()
            raise

    async def flush(self, timeout: float = 5.0) -> bool:
        """Sends the queued audit events now, waiting up to ``timeout`` seconds. True when the
        queue was emptied."""
        native = self._native
        if native is None:
            return True
        return await asyncio.get_running_loop().run_in_executor(None, native.flush, float(timeout))

    def audit_stats(self) -> dict[str, int]:
        """Counters of the background audit sender (enqueued, sent, dropped_*, retries, queued)."""
        native = self._native
        return native.audit_stats() if native is not None else {}

    async def close(self) -> None:
        """Waits for requests in flight, sends the queued audit events (up to 5 s) and releases
        connections, without blocking the event loop. Idempotent; request() afterwards raises
        AlterSDKError."""
        if self._native is None:
            return
        await asyncio.get_running_loop().run_in_executor(None, self._close_now)

    def _close_now(self) -> None:
        native = self._native
        if native is None:
            return
        native.close()
        self._native = None
        with _open_lock:
            _open_vaults.discard(self)

    def __del__(self) -> None:
        # As httpx does: a client that made requests and was not closed is a ResourceWarning. The
        # native object then closes itself on a thread of its own (its queued audit events still go).
        native = getattr(self, "_native", None)
        if native is not None and getattr(self, "_used", False) and not native.closed:
            warnings.warn(f"unclosed {self!r}: use 'async with AlterVault(...)' or 'await vault.close()'",
                          ResourceWarning, source=self, stacklevel=2)

    async def __aenter__(self) -> AlterVault:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
