"""The package's public surface: imports, enums, Response, version, defaults, shipped type files."""
from __future__ import annotations

import datetime
import importlib.metadata
import json
import re
from pathlib import Path

import pytest

import alter_sdk
from alter_sdk import AlterVault, HttpMethod, Provider
from alter_sdk._response import Headers, Response

REPO = Path(__file__).resolve().parents[2]
EXCEPTION_NAMES = ["AlterSDKError", "TokenRetrievalError", "PolicyViolationError", "ConnectionNotFoundError",
                   "TokenExpiredError", "ApprovalRequiredError", "NetworkError", "TimeoutError", "ProviderAPIError"]


def test_seed_imports():
    from alter_sdk import AlterVault as A, HttpMethod as H, Provider as P  # noqa: F401
    from alter_sdk.exceptions import (  # noqa: F401
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
    import alter_sdk.exceptions as exc
    assert sorted(exc.__all__) == sorted(EXCEPTION_NAMES)
    for name in EXCEPTION_NAMES:
        cls = getattr(exc, name)
        assert isinstance(cls, type) and issubclass(cls, Exception)
        # Re-exported at the top level, the same class.
        assert getattr(alter_sdk, name) is cls
    # The SDK's TimeoutError is its own class (the seed's name), not the builtin.
    import builtins
    assert exc.TimeoutError is not builtins.TimeoutError
    assert exc.TimeoutError.__module__ == "alter_sdk.exceptions"


def test_everything_in_all_exists():
    for name in alter_sdk.__all__:
        assert hasattr(alter_sdk, name), name


@pytest.mark.parametrize("member, value", [
    (Provider.GOOGLE, "google"), (Provider.GITHUB, "github"), (Provider.SLACK, "slack"),
    (Provider.MICROSOFT, "microsoft"), (Provider.SALESFORCE, "salesforce"), (Provider.SENTRY, "sentry"),
])
def test_seed_providers_are_strings(member, value):
    # The seed's "Supported Providers" block.
    assert member == value
    assert isinstance(member, str)
    assert str(member) == value
    assert f"{member}" == value
    assert Provider(value) is member


def test_provider_values_are_the_native_catalog():
    assert tuple(p.value for p in Provider) == tuple(alter_sdk._native.provider_ids)
    assert len(set(alter_sdk._native.provider_ids)) == len(alter_sdk._native.provider_ids)


@pytest.mark.parametrize("name", ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
def test_http_method_strings(name):
    member = getattr(HttpMethod, name)
    assert member == name
    assert str(member) == name
    assert HttpMethod(name) is member
    assert isinstance(member, str)


def test_http_method_members():
    assert [m.value for m in HttpMethod] == ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def test_version_matches_metadata_and_cmake():
    text = (REPO / "CMakeLists.txt").read_text()
    m = re.search(r"project\(\s*AlterVault\s+VERSION\s+(\d+\.\d+\.\d+)", text)
    assert m, "no project(AlterVault VERSION x.y.z) in CMakeLists.txt"
    assert alter_sdk.__version__ == m.group(1)
    assert alter_sdk.__version__ == importlib.metadata.version("alter-sdk")
    assert alter_sdk.__version__ == alter_sdk._native.version
    assert isinstance(alter_sdk._native.protocol_version, int) and alter_sdk._native.protocol_version >= 1


def test_type_files_are_shipped():
    pkg = Path(alter_sdk.__file__).resolve().parent
    assert (pkg / "py.typed").is_file()
    stub = pkg / "_native.pyi"
    assert stub.is_file()
    text = stub.read_text()
    for name in ("class Vault", "def request", "provider_ids", "version", "class AsyncRequest"):
        assert name in text
    # Listed in the installed distribution's RECORD, not just lying in a source tree.
    files = {str(f).replace("\\", "/") for f in importlib.metadata.files("alter-sdk") or []}
    assert "alter_sdk/py.typed" in files
    assert "alter_sdk/_native.pyi" in files


def test_native_module_has_the_stubbed_names():
    native = alter_sdk._native
    for name in ("version", "protocol_version", "provider_ids", "Error", "AsyncRequest", "Vault"):
        assert hasattr(native, name), name
    for name in ("request", "close", "closed", "flush", "audit_stats", "base_url"):
        assert hasattr(native.Vault, name), name


def _response(headers, body=b'{"a": [1, 2]}', status=200):
    return Response(status, Headers(headers), body, "https://example.test/x", "rid",
                    datetime.timedelta(milliseconds=5), "HTTP/1.1")


def test_response_shape():
    r = _response([("Content-Type", "application/json; charset=utf-8"), ("X-Thing", "1"), ("x-thing", "2")])
    assert r.status_code == 200
    assert r.content == b'{"a": [1, 2]}'
    assert isinstance(r.content, bytes)
    assert r.text == '{"a": [1, 2]}'
    assert r.json() == {"a": [1, 2]}
    assert r.is_success
    assert r.request_id == "rid"
    assert r.url == "https://example.test/x"
    assert repr(r) == "<Response [200]>"
    # Headers: case-insensitive, repeated values joined, get_list keeps them apart.
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    assert r.headers["CONTENT-TYPE"] == r.headers["Content-Type"]
    assert "content-TYPE" in r.headers
    assert "nope" not in r.headers
    assert r.headers.get("NOPE") is None
    assert r.headers["x-thing"] == "1, 2"
    assert r.headers.get_list("X-THING") == ["1", "2"]
    assert sorted(r.headers) == ["content-type", "x-thing"]
    assert len(r.headers) == 2
    assert r.headers == {"Content-Type": "application/json; charset=utf-8", "X-Thing": "1, 2"}
    with pytest.raises(KeyError):
        r.headers["missing"]


def test_response_text_uses_charset_and_json_raises_on_garbage():
    r = _response([("Content-Type", "text/plain; charset=latin-1")], body="café".encode("latin-1"))
    assert r.encoding == "latin-1"
    assert r.text == "café"
    garbage = _response([("Content-Type", "application/json")], body=b"not json {")
    with pytest.raises(json.JSONDecodeError):
        garbage.json()
    unknown = _response([("Content-Type", "text/plain; charset=no-such-charset")], body="é".encode())
    assert unknown.text == "é"


def test_close_is_idempotent_and_request_after_close_raises(dev_vault):
    import asyncio

    async def go():
        vault = AlterVault(api_key=dev_vault.api_key, base_url=dev_vault.url)
        assert not vault.closed
        await vault.close()
        assert vault.closed
        await vault.close()
        await vault.close()
        assert vault.closed
        with pytest.raises(alter_sdk.AlterSDKError) as e:
            await vault.request("sandbox", HttpMethod.GET, dev_vault.sandbox("/userinfo"), user={"user_id": "alice"})
        assert type(e.value) is alter_sdk.AlterSDKError
        assert "closed" in e.value.message
        # flush and audit_stats after close do not raise either.
        assert await vault.flush() is True
        assert vault.audit_stats() == {}

    asyncio.run(go())


def test_base_url_defaults(monkeypatch):
    monkeypatch.delenv("ALTER_VAULT_URL", raising=False)
    key = "alter_key_" + "x" * 43
    assert AlterVault(api_key=key).base_url == "http://127.0.0.1:8787"
    monkeypatch.setenv("ALTER_VAULT_URL", "http://127.0.0.1:9/")
    assert AlterVault(api_key=key).base_url == "http://127.0.0.1:9"
    # An explicit base_url wins over the environment.
    assert AlterVault(api_key=key, base_url="https://vault.example.com").base_url == "https://vault.example.com"
    monkeypatch.setenv("ALTER_VAULT_URL", "")
    assert AlterVault(api_key=key).base_url == "http://127.0.0.1:8787"


def test_api_key_defaults_to_environment(monkeypatch):
    monkeypatch.setenv("ALTER_API_KEY", "alter_key_" + "y" * 43)
    AlterVault(base_url="http://127.0.0.1:9")  # no error: the key came from the environment
    monkeypatch.delenv("ALTER_API_KEY")
    with pytest.raises(alter_sdk.AlterSDKError, match="api_key"):
        AlterVault(base_url="http://127.0.0.1:9")


def test_repr_of_vault_names_no_key():
    key = "alter_key_" + "z" * 43
    v = AlterVault(api_key=key, base_url="http://127.0.0.1:9", actor_identifier="agent-x")
    text = repr(v)
    assert "agent-x" in text and "http://127.0.0.1:9" in text and "closed=False" in text
    assert key not in text


@pytest.mark.asyncio
async def test_request_against_dev_vault_returns_a_response(dev_vault):
    async with AlterVault(api_key=dev_vault.api_key, base_url=dev_vault.url) as vault:
        # A plain string provider and a lower-case method string both work.
        r = await vault.request("sandbox", "get",
                                dev_vault.sandbox("/userinfo"), user={"user_id": "alice"})
    assert isinstance(r, Response)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.json()["sub"] == "alice"
    assert r.text == r.content.decode()
    assert r.url == dev_vault.sandbox("/userinfo")
    assert r.request_id
    assert r.http_version in ("HTTP/1.1", "HTTP/2")
    assert r.elapsed >= datetime.timedelta(0)
