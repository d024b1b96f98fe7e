"""No token and no API key in Python: after real calls in both modes, nothing reachable from the
AlterVault, its Responses and its exceptions (attributes, slots, containers, reprs, exception args,
details, tracebacks' alter_sdk frames, response headers and bodies) and no log record of the
`alter_sdk` logger holds the API key or a sandbox token.

Which tokens: the connection's current one (asked of POST /oauth/token with token handout on, as
docs/protocol.md describes), the one each call really carried (a recording server of this test,
called as a provider, sees it), and any string shaped like a sandbox token (`sbx_at.` / `sbx_rt.`).
Assertion messages never show a secret.
"""
from __future__ import annotations

import asyncio
import datetime
import gc
import json
import logging
import os
import re
import secrets
import threading
import time
import types
import urllib.request
import weakref
from collections.abc import Mapping

import pytest

import alter_sdk
from alter_sdk import AlterVault, HttpMethod, Response
from alter_sdk.exceptions import AlterSDKError, ProviderAPIError
from witnesses import Recorder, Reply, closed_url, headers_of

ALICE = {"user_id": "alice"}
PKG_DIR = os.path.dirname(os.path.abspath(alter_sdk.__file__))
TOKEN_SHAPE = re.compile(r"sbx_(?:at|rt)\.")
KEY_SHAPE = re.compile(r"alter_key_[A-Za-z0-9_-]{20,}")


# ---- what is reachable ----

def _in_package(obj) -> bool:
    return type(obj).__module__.startswith("alter_sdk")


def reachable_strings(*roots) -> list[tuple[str, str]]:
    """(where, text) for every string reachable from roots, and the repr and str of every object."""
    seen: dict[int, object] = {}
    out: list[tuple[str, str]] = []
    stack: list[tuple[object, str]] = [(r, f"root[{i}]") for i, r in enumerate(roots)]

    def push(obj, where):
        stack.append((obj, where))

    while stack:
        obj, where = stack.pop()
        if id(obj) in seen:
            continue
        seen[id(obj)] = obj  # kept alive, so ids stay unique
        if isinstance(obj, str):
            out.append((where, obj))
            continue
        if isinstance(obj, (bytes, bytearray, memoryview)):
            out.append((where, bytes(obj).decode("latin-1")))
            continue
        if obj is None or isinstance(obj, (bool, int, float, complex, datetime.timedelta)):
            continue
        if isinstance(obj, (types.ModuleType, type, asyncio.AbstractEventLoop, threading.Thread)):
            continue
        try:
            out.append((where + " (repr)", repr(obj)))
            out.append((where + " (str)", str(obj)))
        except Exception as e:  # a repr that fails is reported, not hidden
            out.append((where + " (repr failed)", type(e).__name__))
        if isinstance(obj, dict):
            for k, v in list(obj.items()):
                push(k, f"{where} key")
                push(v, f"{where}[{k!r}]")
        elif isinstance(obj, (list, tuple, set, frozenset, weakref.WeakSet)):
            for i, v in enumerate(list(obj)):
                push(v, f"{where}[{i}]")
        elif isinstance(obj, Mapping):
            push(list(obj.items()), f"{where}.items()")
        if hasattr(obj, "multi_items"):
            push(obj.multi_items(), f"{where}.multi_items()")
        if isinstance(obj, BaseException):
            push(obj.args, f"{where}.args")
            push(obj.__cause__, f"{where}.__cause__")
            push(obj.__context__, f"{where}.__context__")
            push(obj.__traceback__, f"{where}.__traceback__")
            push(getattr(obj, "__notes__", None), f"{where}.__notes__")
        if isinstance(obj, types.TracebackType):
            push(obj.tb_frame, f"{where}.tb_frame")
            push(obj.tb_next, f"{where}.tb_next")
            continue
        if isinstance(obj, types.FrameType):
            # The package's own frames only: the test's frames hold the key on purpose.
            if os.path.abspath(obj.f_code.co_filename).startswith(PKG_DIR):
                push(dict(obj.f_locals), f"{where}<{obj.f_code.co_name} locals>")
            continue
        if isinstance(obj, types.MethodType):
            push(obj.__self__, f"{where}.__self__")
            continue
        if isinstance(obj, types.FunctionType):
            if obj.__module__ and obj.__module__.startswith("alter_sdk"):
                for i, cell in enumerate(obj.__closure__ or ()):
                    push(cell, f"{where}.__closure__[{i}]")
                push(obj.__defaults__, f"{where}.__defaults__")
                push(obj.__kwdefaults__, f"{where}.__kwdefaults__")
            continue
        if isinstance(obj, types.CellType):
            try:
                push(obj.cell_contents, f"{where}.cell_contents")
            except ValueError:
                pass
            continue
        if isinstance(obj, asyncio.Future):
            if obj.done() and not obj.cancelled():
                push(obj.exception() or obj.result(), f"{where}.result")
            continue
        if hasattr(obj, "__dict__"):
            push(dict(vars(obj)), f"{where}.__dict__")
        for cls in type(obj).__mro__:
            for slot in getattr(cls, "__slots__", ()):
                if hasattr(obj, slot):
                    push(getattr(obj, slot), f"{where}.{slot}")
        if _in_package(obj):
            # Properties too (Response.text, .encoding; the native Vault's base_url, ...).
            for name in dir(obj):
                if name.startswith("__"):
                    continue
                try:
                    value = getattr(obj, name)
                except Exception:
                    continue
                if not callable(value):
                    push(value, f"{where}.{name}")
        if isinstance(obj, Response):
            try:
                push(obj.json(), f"{where}.json()")
            except ValueError:
                pass
    return out


def package_roots() -> list:
    """The package's module globals (bar modules, classes and builtins) and every live object of
    an alter_sdk type."""
    roots: list = []
    for module in (alter_sdk, alter_sdk._vault, alter_sdk._response, alter_sdk.exceptions, alter_sdk._enums,
                   alter_sdk._native):
        roots.append({k: v for k, v in vars(module).items() if k != "__builtins__"})
    gc.collect()
    roots.extend(o for o in gc.get_objects() if _in_package(o) and not isinstance(o, type))
    return roots


def _blank(where: str, secrets_: dict[str, str]) -> str:
    for secret in secrets_.values():
        where = where.replace(secret, "<secret>")
    return KEY_SHAPE.sub("<key>", re.sub(r"sbx_(?:at|rt)\.\S*", "<token>", where))[:300]


def assert_no_secret(texts: list[tuple[str, str]], secrets_: dict[str, str]) -> None:
    """Each check is a bool of its own: a failing assert shows neither the secret nor the text."""
    assert texts, "nothing was collected"
    for where, text in texts:
        for label, secret in secrets_.items():
            found = secret in text
            assert not found, f"{label} found in {_blank(where, secrets_)}"
        token_shaped = TOKEN_SHAPE.search(text) is not None
        assert not token_shaped, f"a string shaped like a sandbox token in {_blank(where, secrets_)}"
        key_shaped = KEY_SHAPE.search(text) is not None
        assert not key_shaped, f"a string shaped like an API key in {_blank(where, secrets_)}"


def log_texts(caplog) -> list[tuple[str, str]]:
    out = [("caplog.text", caplog.text)]
    for i, r in enumerate(caplog.records):
        out.append((f"log record {i} message", r.getMessage()))
        out.append((f"log record {i} msg", str(r.msg)))
        out.extend((f"log record {i} arg", str(a)) for a in (r.args or ()))
        if r.exc_text:
            out.append((f"log record {i} exc_text", r.exc_text))
    return out


def test_the_walk_finds_a_planted_secret():
    # The search is not vacuous: a secret in each kind of place is found.
    planted = "planted-secret-" + secrets.token_hex(8)
    e = ProviderAPIError("x", 500, "body", {"nested": [{"deep": ("tuple", planted)}]})
    r = Response(200, alter_sdk.Headers([("X-Secret", planted)]), b"{}", "https://h/")
    r2 = Response(200, alter_sdk.Headers(), planted.encode(), "https://h/")
    for root in (e, r, r2, AlterSDKError(planted), {"k": [planted]}):
        texts = reachable_strings(root)
        assert any(planted in t for _, t in texts), f"not found from {type(root).__name__}"
    with pytest.raises(AssertionError):
        assert_no_secret(reachable_strings(r), {"planted": planted})


# ---- the witnesses ----

def _ok(req) -> Reply:
    return 200, {"Content-Type": "application/json"}, json.dumps({"ok": True, "path": req["target"]}).encode()


def _handout(dev_vault, on: bool) -> None:
    dev_vault.cli("apps", "update", "default", "--token-handout", "on" if on else "off")


def fetch_sandbox_token(dev_vault) -> str:
    """The connection's current access token, as a 0.1 client would be handed it (handout on)."""
    body = json.dumps({"provider_id": "sandbox", "attributes": ALICE, "method": "GET",
                       "url": dev_vault.sandbox("/calendar/v3/calendars/primary/events")}).encode()
    req = urllib.request.Request(dev_vault.url + "/oauth/token", data=body, method="POST",
                                 headers={"x-api-key": dev_vault.api_key, "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as answer:
        token = json.load(answer)["access_token"]
    shaped = token.startswith("sbx_at.") and len(token) > 40
    assert shaped, "not a sandbox access token"
    return token


async def _battery(vault: AlterVault, dev_vault, provider_url: str, silent_url: str):
    """Real calls that succeed and calls that fail each way; returns (responses, exceptions)."""
    responses: list[Response] = []
    errors: list[AlterSDKError] = []
    ok_calls = [
        ("GET", dev_vault.sandbox("/calendar/v3/calendars/primary/events"), {"query_params": {"maxResults": "2"}}),
        ("POST", dev_vault.sandbox("/v1/items"), {"json": {"name": "n", "price": 1}, "reason": "no secrets"}),
        ("PATCH", dev_vault.sandbox("/v1/items/{item_id}"), {"path_params": {"item_id": "x"}, "json": {"a": 1}}),
        ("GET", dev_vault.sandbox("/echo/secrets"), {"extra_headers": {"X-Note": "hi"}, "run_id": "r"}),
        ("GET", dev_vault.sandbox("/gmail/v1/users/me/messages"), {}),
        ("GET", dev_vault.sandbox("/userinfo"), {}),
        ("GET", provider_url + "/as-provider", {}),
    ]
    for method, url, kw in ok_calls:
        responses.append(await vault.request("sandbox", method, url, user=ALICE, **kw))
    failing = [
        ("GET", dev_vault.sandbox("/calendar/v3/calendars/private/events"), ALICE, {}),  # PolicyViolationError
        ("GET", dev_vault.sandbox("/userinfo"), {"user_id": "bob"}, {}),  # ConnectionNotFoundError
        ("DELETE", dev_vault.sandbox("/calendar/v3/calendars/primary/events/nope"), ALICE, {}),  # ProviderAPIError
        ("POST", dev_vault.sandbox("/echo/needs-approval"), ALICE, {"json": {"s": secrets.token_hex(4)}}),  # approval
        ("GET", closed_url() + "/x", ALICE, {}),  # NetworkError
        ("GET", silent_url + "/x", ALICE, {"timeout": 0.3}),  # TimeoutError
        ("GET", dev_vault.sandbox("/v1/items/{item_id}"), ALICE, {}),  # AlterSDKError (validation)
        ("GET", "https://www.googleapis.com/calendar/v3/calendars/primary/events", ALICE, {}),  # url_not_allowed
    ]
    for method, url, user, kw in failing:
        try:
            await vault.request("sandbox", method, url, user=user, **kw)
        except AlterSDKError as e:
            errors.append(e)
    assert len(errors) == len(failing), [repr(e) for e in errors]
    assert {type(e).__name__ for e in errors} == {
        "PolicyViolationError", "ConnectionNotFoundError", "ProviderAPIError", "ApprovalRequiredError",
        "NetworkError", "TimeoutError", "AlterSDKError"}
    return responses, errors


@pytest.mark.asyncio
async def test_no_token_or_key_in_python_after_real_calls(dev_vault, mode, caplog, silent_url):
    caplog.set_level(logging.DEBUG, logger="alter_sdk")
    provider = Recorder(_ok)
    try:
        vault = AlterVault(api_key=dev_vault.api_key, base_url=dev_vault.url, actor_type="ai_agent",
                           actor_identifier="no-secrets", actor_name="No Secrets")
        responses, errors = await _battery(vault, dev_vault, provider.url, silent_url)
        assert await vault.flush()
        stats = vault.audit_stats()
        open_texts = reachable_strings(vault, responses, errors, stats, *package_roots())
        await vault.close()
        closed_texts = reachable_strings(vault, responses, errors, *package_roots())
    finally:
        provider.close()
    # The mode under test is the one the calls took.
    rows = dev_vault.audit("--request-id", responses[0].request_id, "--kind", "token")
    assert [r.get("via") for r in rows] == (["proxy"] if mode == "proxy" else [None])
    # The token each call carried (the recorder saw it unredacted), and the connection's current one.
    carried = {headers_of(r)["authorization"].removeprefix("Bearer ") for r in provider.requests}
    one_sandbox_token = len(carried) == 1 and all(t.startswith("sbx_at.") for t in carried)
    assert one_sandbox_token, "not exactly one sandbox token carried"
    if mode == "proxy":
        _handout(dev_vault, True)
    try:
        current = fetch_sandbox_token(dev_vault)
    finally:
        if mode == "proxy":
            _handout(dev_vault, False)
    found = {"the API key": dev_vault.api_key, "the connection's access token": current}
    found.update({f"the token call {i} carried": t for i, t in enumerate(carried)})
    # The walk did reach the places a secret could hide.
    assert any("<_call locals>" in w for w, _ in open_texts), "the walk never reached request()'s frames"
    for seen_text in ("Bearer [redacted]", "no such event", "denied_by_rule", "ap_", "url_not_allowed",
                      "did not answer in time", "application/json", dev_vault.url):
        assert any(seen_text in t for _, t in open_texts), f"the walk never reached {seen_text!r}"
    assert_no_secret(open_texts, found)
    assert_no_secret(closed_texts, found)
    assert_no_secret(log_texts(caplog), found)
    # And the provider's answers themselves (the sandbox redacts what it received).
    for r in responses:
        assert_no_secret([("response body", r.text)], found)


FAKE_KEY = "alter_key_" + secrets.token_urlsafe(32)


@pytest.mark.asyncio
async def test_no_token_in_python_with_a_known_token_and_sdk_logs(caplog):
    # A stand-in vault that hands out a token this test made (so it is known exactly), serves as the
    # provider too, and refuses the SDK's audit batches: the SDK then logs to "alter_sdk".
    token = "sbx_at." + secrets.token_urlsafe(24) + "." + secrets.token_urlsafe(16)
    caplog.set_level(logging.DEBUG, logger="alter_sdk")

    def reply(req) -> Reply:
        if req["target"] == "/oauth/token":
            asked = json.loads(req["body"])
            return 200, {"Content-Type": "application/json"}, json.dumps({
                "access_token": token, "token_type": "Bearer", "expires_in": 3600, "connection_id": "conn-1",
                "request_id": "req-1", "url": asked["url"], "audit_capture": "bodies", "scopes": ["s"]}).encode()
        if req["target"].startswith("/oauth/audit/"):
            return 400, {"Content-Type": "application/json"}, b'{"error":"invalid_request","message":"no"}'
        if "fail" in req["target"]:
            return 500, {"Content-Type": "application/json"}, b'{"error":"boom"}'
        return _ok(req)

    fake = Recorder(reply)
    try:
        vault = AlterVault(api_key=FAKE_KEY, base_url=fake.url, actor_type="ai_agent", actor_identifier="fake")
        ok = await vault.request("sandbox", HttpMethod.POST, fake.url + "/provider/ok", user=ALICE,
                                 json={"a": 1}, extra_headers={"X-Note": "n"})
        with pytest.raises(ProviderAPIError) as e:
            await vault.request("sandbox", HttpMethod.GET, fake.url + "/provider/fail", user=ALICE)
        await vault.flush()
        deadline = time.monotonic() + 10
        while not caplog.records and time.monotonic() < deadline:
            await vault.flush(0.2)
        stats = vault.audit_stats()
        texts = reachable_strings(vault, ok, e.value, stats, *package_roots())
        await vault.close()
        texts += reachable_strings(vault, ok, e.value, *package_roots())
    finally:
        fake.close()
    assert ok.status_code == 200 and e.value.status_code == 500
    # The token did go to the provider, and only there.
    provider_calls = [r for r in fake.requests if r["target"].startswith("/provider/")]
    assert len(provider_calls) == 2
    injected = all(headers_of(r)["authorization"] == "Bearer " + token for r in provider_calls)
    assert injected, "the token was not injected"
    assert all("x-api-key" not in headers_of(r) for r in provider_calls)
    audit_batches = [r for r in fake.requests if r["target"].startswith("/oauth/audit/")]
    assert audit_batches, "the SDK sent no audit batch"
    for batch in audit_batches:
        token_sent = token.encode() in batch["body"]
        key_sent = FAKE_KEY.encode() in batch["body"]
        assert not token_sent, "the token in an audit batch"
        assert not key_sent, "the API key in an audit batch"
    assert json.loads(audit_batches[0]["body"])["events"][0]["request_headers"]["x-note"] == "n"
    assert stats["dropped_rejected"] >= 1
    # The SDK logged, and said nothing secret.
    assert [r for r in caplog.records if r.name == "alter_sdk" and "rejected" in r.getMessage()], \
        [r.getMessage() for r in caplog.records]
    found = {"the token": token, "the API key": FAKE_KEY}
    assert_no_secret(texts, found)
    assert_no_secret(log_texts(caplog), found)


def test_vault_object_keeps_no_key():
    key = "alter_key_" + secrets.token_urlsafe(32)
    vault = AlterVault(api_key=key, base_url="http://127.0.0.1:9", actor_identifier="k")
    try:
        assert_no_secret(reachable_strings(vault, vars(vault)), {"the API key": key})
    finally:
        asyncio.run(vault.close())


def test_constructor_error_never_shows_the_key():
    key = "alter_key_" + secrets.token_urlsafe(32)
    with pytest.raises(Exception) as e:
        AlterVault(api_key=key, base_url="http://127.0.0.1:9", actor_name="\ud800")
    texts = [("str", str(e.value)), ("repr", repr(e.value))] + [(f"args[{i}]", str(a)) for i, a in
                                                                  enumerate(e.value.args)]
    assert_no_secret(texts, {"the API key": key})


@pytest.mark.parametrize("bad", [{"actor_type": "robot"}, {"timeout": 0}, {"base_url": "ftp://vault"},
                                 {"max_concurrency": 0}])
def test_constructor_validation_error_holds_no_key(bad):
    key = "alter_key_" + secrets.token_urlsafe(32)
    with pytest.raises(AlterSDKError) as e:
        AlterVault(api_key=key, **({"base_url": "http://127.0.0.1:9"} | bad))
    # The message alone is clean; the traceback's package frames are walked too.
    clean_message = key not in str(e.value) and key not in repr(e.value)
    assert clean_message, "the API key in the message"
    assert_no_secret(reachable_strings(e.value), {"the API key": key})
