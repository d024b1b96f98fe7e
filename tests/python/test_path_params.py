"""Hostile path parameters: each value stays one path segment, whichever way the call goes.

Two witnesses: the sandbox's echo (`received.target` is the raw request target, `id` the decoded
segment), and a recording HTTP server of this test on loopback, which the vault accepts as a
sandbox API host: it shows the raw target even for values the sandbox's router cannot route (an
encoded slash: the router decodes the path before matching, docs/dev-mode.md).
"""
from __future__ import annotations

import urllib.parse

import pytest

from alter_sdk import AlterVault, HttpMethod
from alter_sdk.exceptions import AlterSDKError, ProviderAPIError

ALICE = {"user_id": "alice"}

# value -> the one segment it must become
CASES = [
    ("1/../2 3", "1%2F..%2F2%203"),
    ("?", "%3F"),
    ("#", "%23"),
    ("%2F", "%252F"),
    ("%", "%25"),
    ("a/b", "a%2Fb"),
    ("../admin", "..%2Fadmin"),
    ("a b", "a%20b"),
    ("x;y", "x%3By"),
    ("+&=", "%2B%26%3D"),
    ("@evil.example.com", "%40evil.example.com"),
    ("back\\slash", "back%5Cslash"),
    ("é☃", "%C3%A9%E2%98%83"),
    ("日本", "%E6%97%A5%E6%9C%AC"),
    ("~-._", "~-._"),
    ("...", "..."),
    ("123", "123"),
]
# The sandbox's router decodes %2F before matching routes: these get its 404, the recorder sees them.
SANDBOX_ROUTABLE = [(v, e) for v, e in CASES if "/" not in v]

# "." and ".." are dot segments even percent-encoded: see test_dot_segments_stay_one_segment.
DOT_CASES = [(".", "%2E"), ("..", "%2E%2E")]


def _assert_mode(dev_vault, request_id: str, mode: str) -> None:
    rows = dev_vault.audit("--request-id", request_id, "--kind", "token")
    assert rows, "no decision row"
    assert {r.get("via") for r in rows} == ({"proxy"} if mode == "proxy" else {None}), rows


@pytest.mark.asyncio
async def test_path_params_stay_one_segment_at_the_provider(dev_vault, recorder, mode):
    async with AlterVault(api_key=dev_vault.api_key, base_url=dev_vault.url) as vault:
        for value, encoded in CASES:
            r = await vault.request("sandbox", HttpMethod.GET, recorder.url + "/v1/items/{item_id}/detail",
                                    user=ALICE, path_params={"item_id": value})
            target = r.json()["target"]
            assert target == f"/v1/items/{encoded}/detail", (value, target)
            assert urllib.parse.unquote(target.split("/")[3]) == value
            assert r.url == f"{recorder.url}/v1/items/{encoded}/detail"
        await vault.flush()
    assert len(recorder.requests) == len(CASES)
    _assert_mode(dev_vault, r.request_id, mode)


@pytest.mark.asyncio
async def test_hostile_value_through_the_sandbox(dev_vault, mode):
    # "1/../2 3" stays one segment all the way: the vault decides on it and calls it as such
    # (its audit row), and the sandbox's router, which decodes before matching, finds no route
    # for a segment holding '/': it answers 404 naming the whole value as one decoded segment.
    async with AlterVault(api_key=dev_vault.api_key, base_url=dev_vault.url) as vault:
        with pytest.raises(ProviderAPIError) as e:
            await vault.request("sandbox", HttpMethod.GET, dev_vault.sandbox("/v1/items/{item_id}"), user=ALICE,
                                path_params={"item_id": "1/../2 3"})
        await vault.flush()
    assert e.value.status_code == 404
    assert e.value.details["url"] == dev_vault.sandbox("/v1/items/1%2F..%2F2%203")
    assert "/sandbox/api/v1/items/1/../2 3" in e.value.response_body  # not resolved to /v1/2 3
    calls = [r for r in dev_vault.audit("--request-id", e.value.details["request_id"]) if r["kind"] == "api_call"]
    assert [c["url"] for c in calls] == [dev_vault.sandbox("/v1/items/1%2F..%2F2%203")]
    _assert_mode(dev_vault, e.value.details["request_id"], mode)


@pytest.mark.asyncio
@pytest.mark.parametrize("value, encoded", SANDBOX_ROUTABLE, ids=[repr(v) for v, _ in SANDBOX_ROUTABLE])
async def test_sandbox_echo_receives_one_segment(dev_vault, value, encoded):
    async with AlterVault(api_key=dev_vault.api_key, base_url=dev_vault.url) as vault:
        r = await vault.request("sandbox", HttpMethod.GET, dev_vault.sandbox("/v1/items/{item_id}"), user=ALICE,
                                path_params={"item_id": value})
    body = r.json()
    assert body["received"]["target"] == f"/sandbox/api/v1/items/{encoded}"
    assert body["id"] == value
    assert body["received"]["path_params"] == {"item_id": value}


@pytest.mark.asyncio
async def test_path_params_with_other_placeholders_and_query(dev_vault):
    async with AlterVault(api_key=dev_vault.api_key, base_url=dev_vault.url) as vault:
        r = await vault.request("sandbox", HttpMethod.POST, dev_vault.sandbox("/v1/databases/{db_id}/query"),
                                user=ALICE, path_params={"db_id": "a?b=c#d"}, query_params={"x": "1/2?3#4"},
                                json={"page_size": 1})
    body = r.json()
    assert body["database_id"] == "a?b=c#d"
    # '/' and '?' may stay as they are in a query (RFC 3986); '#', '&' and '=' may not.
    assert body["received"]["target"] == "/sandbox/api/v1/databases/a%3Fb%3Dc%23d/query?x=1/2?3%234"
    assert body["received"]["query"] == {"x": "1/2?3#4"}


@pytest.mark.asyncio
@pytest.mark.parametrize("value, encoded", DOT_CASES)
async def test_dot_segments_stay_one_segment(dev_vault, recorder, value, encoded):
    async with AlterVault(api_key=dev_vault.api_key, base_url=dev_vault.url) as vault:
        try:
            r = await vault.request("sandbox", HttpMethod.GET, recorder.url + "/v1/items/{item_id}/detail",
                                    user=ALICE, path_params={"item_id": value})
        except AlterSDKError as e:
            # Refusing the value before anything is sent is a fix too.
            assert type(e) is AlterSDKError and not recorder.requests
            return
    # Else it must arrive as a segment of its own, never as a change of the path.
    assert r.json()["target"] == f"/v1/items/{encoded}/detail"


@pytest.mark.asyncio
async def test_plus_in_query_params_survives(dev_vault):
    values = {"q": "a+b", "t": "2026-01-01T00:00:00+01:00"}
    async with AlterVault(api_key=dev_vault.api_key, base_url=dev_vault.url) as vault:
        r = await vault.request("sandbox", HttpMethod.GET, dev_vault.sandbox("/echo/plus"), user=ALICE,
                                query_params=values)
    assert r.json()["received"]["query"] == values


@pytest.mark.asyncio
async def test_reserved_characters_in_query_params_survive(dev_vault):
    values = {"e": "x=y&z", "h": "#frag", "s": "a b", "u": "é/?", "p": "100%"}
    async with AlterVault(api_key=dev_vault.api_key, base_url=dev_vault.url) as vault:
        r = await vault.request("sandbox", HttpMethod.GET, dev_vault.sandbox("/echo/query?keep=1"), user=ALICE,
                                query_params=values)
    assert r.json()["received"]["query"] == {"keep": "1", **values}
