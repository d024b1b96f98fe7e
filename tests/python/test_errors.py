"""The exceptions: hierarchy, attributes, validation (which sends nothing), and each vault, network and
provider error raised by real calls against `alter-vault dev`."""
from __future__ import annotations

import json
import socket
import threading
import time
import uuid

import pytest

from alter_sdk import AlterVault, HttpMethod, Provider
from alter_sdk.exceptions import (
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
from witnesses import closed_url

ALICE = {"user_id": "alice"}
FAKE_KEY = "alter_key_" + "A" * 43


# ---- hierarchy and attributes ----

@pytest.mark.parametrize("cls, parents", [
    (AlterSDKError, (Exception,)),
    (TokenRetrievalError, (AlterSDKError,)),
    (PolicyViolationError, (TokenRetrievalError, AlterSDKError)),
    (ConnectionNotFoundError, (TokenRetrievalError, AlterSDKError)),
    (TokenExpiredError, (TokenRetrievalError, AlterSDKError)),
    (ApprovalRequiredError, (TokenRetrievalError, AlterSDKError)),
    (NetworkError, (AlterSDKError,)),
    (TimeoutError, (NetworkError, AlterSDKError)),
    (ProviderAPIError, (AlterSDKError,)),
])
def test_hierarchy(cls, parents):
    for parent in parents:
        assert issubclass(cls, parent), f"{cls.__name__} is not a {parent.__name__}"


@pytest.mark.parametrize("cls, not_parent", [
    (ApprovalRequiredError, PolicyViolationError),
    (NetworkError, TokenRetrievalError),
    (ProviderAPIError, TokenRetrievalError),
    (ProviderAPIError, NetworkError),
    (TimeoutError, TokenRetrievalError),
])
def test_hierarchy_keeps_branches_apart(cls, not_parent):
    assert not issubclass(cls, not_parent)


def test_attributes_and_defaults():
    e = AlterSDKError("boom")
    assert e.message == "boom" and str(e) == "boom" and e.details == {} and e.args == ("boom",)
    assert repr(e) == "AlterSDKError('boom')"
    d = {"rule_id": "r"}
    p = PolicyViolationError("denied", "denied_by_rule", d, status=403, error_code="denied_by_rule")
    assert (p.message, p.policy_error, p.details, p.status, p.error_code) == ("denied", "denied_by_rule", d, 403,
                                                                              "denied_by_rule")
    assert p.details is not d  # a copy
    assert TokenRetrievalError("x").status == 0 and TokenRetrievalError("x").error_code == ""
    assert TokenExpiredError("x", "conn-1").connection_id == "conn-1"
    a = ApprovalRequiredError("wait", "ap_1", "http://v/approvals/ap_1")
    assert (a.approval_id, a.approval_url) == ("ap_1", "http://v/approvals/ap_1")
    pa = ProviderAPIError("bad", 418, "teapot")
    assert (pa.status_code, pa.response_body) == (418, "teapot")
    assert TimeoutError("slow").message == "slow"


# ---- validation: AlterSDKError, nothing sent ----

class Listener:
    """A loopback TCP port that counts connection attempts (it never answers)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.setblocking(False)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.accepted = 0

    def connections(self) -> int:
        while True:
            try:
                conn, _ = self.sock.accept()
            except BlockingIOError:
                return self.accepted
            conn.close()
            self.accepted += 1

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def listener():
    lis = Listener()
    yield lis
    lis.close()


@pytest.mark.parametrize("kwargs, message", [
    ({"api_key": "sk_live_123"}, "api_key must start with 'alter_key_'"),
    ({"api_key": "alter_key_"}, "api_key must start with 'alter_key_'"),
    ({"api_key": "ALTER_KEY_abc"}, "api_key must start with 'alter_key_'"),
    ({"api_key": 12345}, "api_key must be a string"),
    ({"api_key": FAKE_KEY + "\n"}, "CR, LF or NUL"),
    ({"actor_type": "robot"}, "actor_type must be 'ai_agent' or 'mcp_server'"),
    ({"actor_type": "AI_AGENT"}, "actor_type must be 'ai_agent' or 'mcp_server'"),
    ({"actor_identifier": "a\r\nx-evil: 1"}, "CR, LF or NUL"),
    ({"base_url": "ftp://vault.example.com"}, "base_url scheme must be http or https"),
    ({"base_url": "file:///etc/passwd"}, "base_url"),
    ({"base_url": "not a url"}, "base_url"),
    ({"base_url": "https://vault.example.com/?x=1"}, "query"),
    ({"base_url": "https://user:pw@vault.example.com"}, "user info"),
    ({"timeout": 0}, "timeout"),
    ({"timeout": -1.0}, "timeout"),
    ({"timeout": "30"}, "timeout"),
    ({"timeout": True}, "timeout"),
    ({"max_concurrency": 0}, "max_concurrency"),
    ({"max_concurrency": 2.5}, "max_concurrency"),
])
def test_constructor_validation(kwargs, message, monkeypatch, listener):
    monkeypatch.delenv("ALTER_API_KEY", raising=False)
    args = {"api_key": FAKE_KEY, "base_url": listener.url, **kwargs}
    with pytest.raises(AlterSDKError) as e:
        AlterVault(**args)
    assert type(e.value) is AlterSDKError
    assert message in e.value.message
    assert listener.connections() == 0


# (provider, method, url, kwargs, expected message part); {base} is the listener's address.
REQUEST_CASES = [
    pytest.param("sandbox", "GET", "ftp://{host}/x", {}, "URL scheme must be https", id="ftp-scheme"),
    pytest.param("sandbox", "GET", "file:///etc/passwd", {}, "URL scheme must be https", id="file-scheme"),
    pytest.param("sandbox", "GET", "javascript:alert(1)", {}, "URL", id="javascript-scheme"),
    pytest.param("google", "GET", "http://www.googleapis.com/calendar/v3/calendars/primary/events", {},
                 "http is allowed only for loopback hosts", id="http-non-loopback"),
    pytest.param("google", "GET", "https://user:pw@www.googleapis.com/x", {}, "user info", id="userinfo"),
    pytest.param("sandbox", "PUT", "{base}/sandbox/api/v1/items/{item_id}", {},
                 "missing path_params for placeholder(s): item_id", id="missing-path-param"),
    pytest.param("sandbox", "PUT", "{base}/sandbox/api/v1/items/{item_id}", {"path_params": {"item": "1"}},
                 "missing path_params", id="misspelled-path-param"),
    pytest.param("sandbox", "GET", "{base}/sandbox/api/v1/items", {"path_params": {"item_id": "1"}},
                 "path_params given for no placeholder in the URL: item_id", id="unknown-path-param"),
    pytest.param("sandbox", "GET", "{base}/sandbox/api/v1/items/{item_id}", {"path_params": {"item_id": ""}},
                 "is empty", id="empty-path-param"),
    pytest.param("sandbox", "GET", "{base}/sandbox/api/v1/items/{1bad}", {}, "invalid URL template",
                 id="bad-placeholder"),
    pytest.param("sandbox", "GET", "{base}/sandbox/api/v1/items/{item_id}", {"path_params": {"item_id": ["1"]}},
                 "must be a string or a number", id="path-param-list"),
    pytest.param("Not A Provider!", "GET", "{base}/x", {}, "invalid provider id", id="bad-provider-id"),
    pytest.param(42, "GET", "{base}/x", {}, "provider must be", id="provider-int"),
    pytest.param("sandbox", "FETCH", "{base}/x", {}, "unknown HTTP method", id="unknown-method"),
    pytest.param("sandbox", 1, "{base}/x", {}, "method must be", id="method-int"),
    pytest.param("sandbox", "GET", None, {}, "url must be a string", id="url-none"),
    pytest.param("sandbox", "GET", "{base}/x", {"user": None}, "user is required", id="user-none"),
    pytest.param("sandbox", "GET", "{base}/x", {"user": ["alice"]}, "user must be a dict", id="user-list"),
    pytest.param("sandbox", "GET", "{base}/x", {"user": {"": "alice"}}, "non-empty names", id="user-empty-name"),
    pytest.param("sandbox", "GET", "{base}/x", {"user": {1: "alice"}}, "keys must be strings", id="user-int-key"),
    pytest.param("sandbox", "POST", "{base}/x", {"json": {"a": 1}, "content": b"x"}, "not both",
                 id="json-and-content"),
    pytest.param("sandbox", "POST", "{base}/x", {"json": {"a": object()}}, "not serializable", id="json-object"),
    pytest.param("sandbox", "POST", "{base}/x", {"json": {"a": float("nan")}}, "not serializable", id="json-nan"),
    pytest.param("sandbox", "POST", "{base}/x", {"content": 12}, "content must be bytes or str", id="content-int"),
    pytest.param("sandbox", "GET", "{base}/x", {"extra_headers": {"Authorization": "Bearer mine"}},
                 "must not set 'Authorization'", id="extra-authorization"),
    pytest.param("sandbox", "GET", "{base}/x", {"extra_headers": {"proxy-authorization": "x"}},
                 "must not set", id="extra-proxy-authorization"),
    pytest.param("sandbox", "GET", "{base}/x", {"extra_headers": {"X-A": "1\r\nX-B: 2"}}, "CR, LF or NUL",
                 id="extra-crlf-value"),
    pytest.param("sandbox", "GET", "{base}/x", {"extra_headers": {"Bad Name": "1"}}, "invalid header name",
                 id="extra-bad-name"),
    pytest.param("sandbox", "GET", "{base}/x", {"content_type": "text/plain\r\nX: 1", "content": "a"},
                 "content_type holds", id="content-type-crlf"),
    pytest.param("sandbox", "GET", "{base}/x", {"query_params": {"q": ["a", "b"]}}, "must be a string or a number",
                 id="query-list"),
    pytest.param("sandbox", "GET", "{base}/x", {"query_params": {"q": True}}, "must be a string or a number",
                 id="query-bool"),
    pytest.param("sandbox", "GET", "{base}/x", {"timeout": 0}, "timeout must be a positive", id="timeout-zero"),
    pytest.param("sandbox", "GET", "{base}/x", {"wait_for_approval": -1}, "wait_for_approval", id="wait-negative"),
    pytest.param("sandbox", "GET", "{base}/x", {"reason": 7}, "reason must be a string", id="reason-int"),
]


@pytest.mark.asyncio
@pytest.mark.parametrize("provider, method, url, kwargs, message", REQUEST_CASES)
async def test_request_validation_sends_nothing(listener, provider, method, url, kwargs, message):
    async with AlterVault(api_key=FAKE_KEY, base_url=listener.url, timeout=2) as vault:
        if isinstance(url, str):
            url = url.replace("{base}", listener.url).replace("{host}", listener.url.removeprefix("http://"))
        kw = {"user": ALICE, **kwargs}
        with pytest.raises(AlterSDKError) as e:
            await vault.request(provider, method, url, **kw)
        assert type(e.value) is AlterSDKError, f"{type(e.value).__name__}: {e.value.message}"
        assert message in e.value.message
    assert listener.connections() == 0


@pytest.mark.asyncio
@pytest.mark.parametrize("kwargs, message", [
    ({"extra_headers": {"x-api-key": FAKE_KEY}}, "must not set 'x-api-key'"),
    ({"extra_headers": {"X-Alter-Url": "https://evil.example.com"}}, "must not set 'X-Alter-Url'"),
    ({"reason": "line one\nline two"}, "reason holds a control character"),
    ({"run_id": "r\t1"}, "run_id holds a control character"),
])
async def test_proxy_only_validation_sends_nothing(listener, kwargs, message):
    async with AlterVault(api_key=FAKE_KEY, base_url=listener.url, timeout=2) as vault:
        with pytest.raises(AlterSDKError) as e:
            await vault.proxy_request("sandbox", "GET", listener.url + "/x", user=ALICE, **kwargs)
        assert type(e.value) is AlterSDKError
        assert message in e.value.message
    assert listener.connections() == 0


# ---- errors from real calls ----

@pytest.mark.asyncio
async def test_policy_violation(dev_vault):
    async with AlterVault(api_key=dev_vault.api_key, base_url=dev_vault.url) as vault:
        with pytest.raises(PolicyViolationError) as e:
            await vault.request("sandbox", HttpMethod.GET,
                                dev_vault.sandbox("/calendar/v3/calendars/private/events"), user=ALICE)
    err = e.value
    assert err.policy_error == "denied_by_rule"
    assert err.status == 403
    assert err.error_code == "denied_by_rule"
    assert err.details.get("rule_id") == "private-calendar-off-limits"
    assert err.message
    rid = err.details.get("request_id")
    assert rid
    rows = dev_vault.audit("--request-id", rid)
    assert [r["decision"] for r in rows] == ["denied"]
    assert rows[0]["rule_id"] == "private-calendar-off-limits"


@pytest.mark.asyncio
async def test_exfiltration_guard_is_a_policy_violation(dev_vault):
    # The sandbox's token for another host: the vault's URL guard refuses it.
    async with AlterVault(api_key=dev_vault.api_key, base_url=dev_vault.url) as vault:
        with pytest.raises(PolicyViolationError) as e:
            await vault.request("sandbox", HttpMethod.GET,
                                "https://www.googleapis.com/calendar/v3/calendars/primary/events", user=ALICE)
    assert e.value.policy_error == "url_not_allowed"


@pytest.mark.asyncio
async def test_connection_not_found(dev_vault):
    async with AlterVault(api_key=dev_vault.api_key, base_url=dev_vault.url) as vault:
        with pytest.raises(ConnectionNotFoundError) as e:
            await vault.request("sandbox", HttpMethod.GET,
                                dev_vault.sandbox("/calendar/v3/calendars/primary/events"), user={"user_id": "bob"})
    assert e.value.status == 404
    assert e.value.error_code == "connection_not_found"
    assert isinstance(e.value, TokenRetrievalError)


@pytest.mark.asyncio
async def test_invalid_api_key_is_token_retrieval_error(dev_vault):
    async with AlterVault(api_key="alter_key_" + "0" * 43, base_url=dev_vault.url) as vault:
        with pytest.raises(TokenRetrievalError) as e:
            await vault.request("sandbox", HttpMethod.GET, dev_vault.sandbox("/userinfo"), user=ALICE)
    assert type(e.value) is TokenRetrievalError
    assert e.value.status == 401
    assert e.value.error_code == "invalid_api_key"


@pytest.mark.asyncio
async def test_token_expired(dev_vault, expired_connection):
    user, connection_id = expired_connection
    async with AlterVault(api_key=dev_vault.api_key, base_url=dev_vault.url) as vault:
        with pytest.raises(TokenExpiredError) as e:
            await vault.request("sandbox", HttpMethod.GET,
                                dev_vault.sandbox("/calendar/v3/calendars/primary/events"), user=user)
    assert e.value.connection_id == connection_id
    assert e.value.status == 400
    assert e.value.error_code == "token_expired"


@pytest.mark.asyncio
@pytest.mark.parametrize("method, path, status", [
    ("DELETE", "/calendar/v3/calendars/primary/events/nope", 404),
    ("PATCH", "/calendar/v3/calendars/primary/events", 405),
])
async def test_provider_api_error(dev_vault, method, path, status):
    async with AlterVault(api_key=dev_vault.api_key, base_url=dev_vault.url) as vault:
        with pytest.raises(ProviderAPIError) as e:
            await vault.request("sandbox", method, dev_vault.sandbox(path), user=ALICE)
    err = e.value
    assert err.status_code == status
    assert isinstance(err.response_body, str)
    body = json.loads(err.response_body)
    assert body["error"] == {404: "not_found", 405: "method_not_allowed"}[status], body
    assert str(status) in err.message
    assert err.details["url"] == dev_vault.sandbox(path)
    rid = err.details["request_id"]
    # The call is audited, with the provider's status.
    calls = [r for r in dev_vault.audit("--request-id", rid) if r["kind"] == "api_call"]
    assert [c["response_status"] for c in calls] == [status]


@pytest.mark.asyncio
async def test_vault_unreachable_is_network_error(dev_vault):
    async with AlterVault(api_key=dev_vault.api_key, base_url=closed_url()) as vault:
        with pytest.raises(NetworkError) as e:
            await vault.request("sandbox", HttpMethod.GET, dev_vault.sandbox("/userinfo"), user=ALICE)
    assert type(e.value) is NetworkError
    assert "cannot reach the vault" in e.value.message


@pytest.mark.asyncio
async def test_vault_silent_is_timeout_error(dev_vault, listener):
    async with AlterVault(api_key=dev_vault.api_key, base_url=listener.url, timeout=0.3) as vault:
        started = time.monotonic()
        with pytest.raises(TimeoutError) as e:
            await vault.request("sandbox", HttpMethod.GET, dev_vault.sandbox("/userinfo"), user=ALICE)
        took = time.monotonic() - started
    assert isinstance(e.value, NetworkError)
    assert "did not answer in time" in e.value.message
    assert 0.25 <= took < 5
    assert listener.connections() >= 1  # it did reach the socket


@pytest.mark.asyncio
async def test_provider_unreachable_through_proxy_is_network_error(dev_vault):
    async with AlterVault(api_key=dev_vault.api_key, base_url=dev_vault.url) as vault:
        with pytest.raises(NetworkError) as e:
            await vault.request("sandbox", HttpMethod.GET, closed_url() + "/x", user=ALICE)
    assert type(e.value) is NetworkError
    assert e.value.details.get("error") == "provider_unreachable"


@pytest.mark.asyncio
async def test_provider_silent_through_proxy_is_timeout_error(dev_vault, listener):
    async with AlterVault(api_key=dev_vault.api_key, base_url=dev_vault.url) as vault:
        with pytest.raises(TimeoutError) as e:
            await vault.request("sandbox", HttpMethod.GET, listener.url + "/x", user=ALICE, timeout=0.3)
    assert e.value.details.get("error") == "provider_timeout"


@pytest.mark.asyncio
async def test_approval_required(dev_vault):
    marker = f"approval-test-{uuid.uuid4().hex}"
    async with AlterVault(api_key=dev_vault.api_key, base_url=dev_vault.url) as vault:
        with pytest.raises(ApprovalRequiredError) as e:
            await vault.request("sandbox", HttpMethod.POST, dev_vault.sandbox("/echo/needs-approval"), user=ALICE,
                                json={"send": marker}, reason=marker)
    err = e.value
    assert err.approval_id.startswith("ap_")
    assert err.approval_url == f"{dev_vault.url}/approvals/{err.approval_id}"
    assert err.status == 403 and err.error_code == "approval_required"
    assert isinstance(err, TokenRetrievalError) and not isinstance(err, PolicyViolationError)
    shown = dev_vault.cli_json("approvals", "show", err.approval_id)
    approval = shown.get("approval", shown)
    assert approval["status"] == "pending"
    assert approval["request"]["reason"] == marker


def _approve_when_pending(dev_vault, marker: str, deadline: float, result: dict) -> None:
    try:
        while time.monotonic() < deadline:
            for a in dev_vault.cli_json("approvals", "list", "--status", "pending")["approvals"]:
                if a["request"].get("reason") == marker:
                    dev_vault.cli("approvals", "approve", a["id"])
                    result["id"] = a["id"]
                    return
            time.sleep(0.05)  # polling for the SDK's pending approval, under a deadline
        result["error"] = "no pending approval appeared"
    except Exception as e:  # reported by the test
        result["error"] = repr(e)


@pytest.mark.asyncio
async def test_wait_for_approval_approved_in_background(dev_vault):
    marker = f"wait-test-{uuid.uuid4().hex}"
    result: dict = {}
    approver = threading.Thread(target=_approve_when_pending,
                                args=(dev_vault, marker, time.monotonic() + 30, result), daemon=True)
    approver.start()
    try:
        async with AlterVault(api_key=dev_vault.api_key, base_url=dev_vault.url) as vault:
            r = await vault.request("sandbox", HttpMethod.POST, dev_vault.sandbox("/echo/needs-approval"), user=ALICE,
                                    json={"send": marker}, reason=marker, wait_for_approval=20)
    finally:
        approver.join(timeout=30)
    assert "error" not in result, result.get("error")
    assert r.status_code == 200
    received = r.json()["received"]
    assert received["method"] == "POST"
    assert json.loads(received["body"]) == {"send": marker}
    shown = dev_vault.cli_json("approvals", "show", result["id"])
    approval = shown.get("approval", shown)
    assert approval["status"] in ("used", "approved")


@pytest.mark.asyncio
async def test_wait_for_approval_times_out_with_approval_required(dev_vault):
    async with AlterVault(api_key=dev_vault.api_key, base_url=dev_vault.url) as vault:
        started = time.monotonic()
        with pytest.raises(ApprovalRequiredError) as e:
            await vault.request("sandbox", HttpMethod.POST, dev_vault.sandbox("/echo/needs-approval"), user=ALICE,
                                json={"x": uuid.uuid4().hex}, reason="never approved", wait_for_approval=0.4)
        took = time.monotonic() - started
    assert e.value.approval_id
    assert 0.3 <= took < 5


@pytest.mark.asyncio
async def test_provider_enum_and_string_both_accepted(dev_vault):
    # Provider.GOOGLE reaches the vault as "google" (no connection for alice there: 404).
    async with AlterVault(api_key=dev_vault.api_key, base_url=dev_vault.url) as vault:
        with pytest.raises(ConnectionNotFoundError):
            await vault.request(Provider.GOOGLE, HttpMethod.GET,
                                "https://www.googleapis.com/calendar/v3/calendars/primary/events", user=ALICE)


# ---- strings with no UTF-8 form: validation errors, never a raw TypeError (whose message repeats the key) ----

SURROGATE = "\ud800"  # a str that has no UTF-8 form (e.g. from os.fsdecode of undecodable bytes)


@pytest.mark.asyncio
@pytest.mark.parametrize("kwargs", [
    {"user": {"user_id": SURROGATE}},
    {"path_params": {"item_id": SURROGATE}},
    {"query_params": {"q": SURROGATE}},
    {"extra_headers": {"X-A": SURROGATE}},
    {"reason": SURROGATE},
    {"content": SURROGATE},
], ids=["user", "path_params", "query_params", "extra_headers", "reason", "content"])
async def test_unencodable_request_strings_are_validation_errors(listener, kwargs):
    async with AlterVault(api_key=FAKE_KEY, base_url=listener.url, timeout=2) as vault:
        with pytest.raises(AlterSDKError):
            await vault.request("sandbox", "POST", listener.url + "/v1/items/{item_id}",
                                **{"user": ALICE, "path_params": {"item_id": "1"}, **kwargs})
    assert listener.connections() == 0


@pytest.mark.parametrize("field", ["actor_name", "actor_identifier", "base_url", "framework"])
def test_unencodable_constructor_strings_are_validation_errors(field):
    value = "http://" + SURROGATE if field == "base_url" else SURROGATE
    with pytest.raises(AlterSDKError):
        AlterVault(api_key=FAKE_KEY, **({"base_url": "http://127.0.0.1:9"} | {field: value}))


@pytest.mark.parametrize("timeout", [float("inf"), 1e300, float("nan")])
def test_non_finite_or_huge_timeouts_are_refused(timeout):
    # Refused today, but inf and 1e300 only by way of an out-of-range float-to-integer conversion in
    # native.cpp's to_ms (undefined behaviour; "timeout must be positive" on x86-64): see the report.
    with pytest.raises(AlterSDKError):
        AlterVault(api_key=FAKE_KEY, base_url="http://127.0.0.1:9", timeout=timeout)
