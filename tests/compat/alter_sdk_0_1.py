"""The real alter-sdk 0.1.1 client against this vault (run by alter_sdk_0_1_test.sh).

0.1 sends token requests with only {provider_id, attributes, reason} and call events without a
request_id. What such a client gets, step by step, is what docs/protocol.md says:
  1. by default every token request is refused: 403 url_not_allowed (PolicyViolationError);
  2. with the app setting on, a URL-less request is decided by rules with no host, path or
     method criteria only: the starter policy has none, so 403 no_matching_rule;
  3. with such a rule it is issued, audited with url_less, and the client's call event is matched
     to the connection's latest decision (matched_by: connection);
  4. turning the setting off refuses again.
"""
import asyncio
import os
import subprocess
import sys
import uuid

import httpx
from alter_sdk import AlterVault
from alter_sdk.exceptions import PolicyViolationError

URL = os.environ["ALTER_VAULT_URL"]
KEY = os.environ["ALTER_API_KEY"]
ADMIN = os.environ["ALTER_VAULT_ADMIN_TOKEN"]
CALENDAR = os.environ["ALTER_CALENDAR_URL"]
WORK = os.environ["COMPAT_WORK"]


def cli(*args: str) -> str:
    done = subprocess.run(["alter-vault", *args], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"alter-vault {' '.join(args)} failed: {done.stdout}{done.stderr}")
    return done.stdout


def audit(query: str) -> list:
    r = httpx.get(f"{URL}/v1/admin/audit?{query}", headers={"Authorization": f"Bearer {ADMIN}"})
    r.raise_for_status()
    return r.json()["events"]


async def refused(vault: AlterVault, code: str) -> None:
    try:
        await vault.call_api("sandbox", "GET", CALENDAR, user={"user_id": "alice"}, reason="compat")
    except PolicyViolationError as e:
        assert e.policy_error == code, f"expected {code}, got {e.policy_error}: {e}"
        print(f"refused as documented: {code}")
        return
    sys.exit(f"expected a refusal with {code}, the request went through")


async def main() -> None:
    async with AlterVault(api_key=KEY, app_id=str(uuid.uuid4()), base_url=URL) as vault:
        await refused(vault, "url_not_allowed")

        cli("apps", "update", "default", "--url-less-token-requests", "on")
        await refused(vault, "no_matching_rule")

        policy = os.path.join(WORK, "compat-policy.toml")
        with open(policy, "w") as f:
            f.write('version = 1\n[[rules]]\nid = "alter-sdk-0-1"\neffect = "allow"\nproviders = ["sandbox"]\n'
                    'user = { user_id = "alice" }\n')
        cli("policies", "apply", policy)
        response = await vault.call_api("sandbox", "GET", CALENDAR, user={"user_id": "alice"}, reason="compat")
        assert response.status_code == 200, response.text
        titles = [e["summary"] for e in response.json()["items"]]
        assert "Team standup" in titles, titles
        print("issued: the calendar was read with the 0.1 client")

        tokens = audit("kind=token&decision=issued")
        assert tokens, "no issued decision recorded"
        last = max(tokens, key=lambda e: e["seq"])
        assert last.get("url_less") is True, last
        assert last.get("rule_id") == "alter-sdk-0-1", last
        calls = audit("kind=api_call")
        assert len(calls) == 1, calls
        assert calls[0].get("matched_by") == "connection", calls[0]
        assert calls[0].get("request_id") == last["request_id"], (calls[0], last)
        assert calls[0].get("connection_id") == last["connection_id"], (calls[0], last)
        assert "authorization" not in str(calls[0]).lower(), calls[0]
        print("audited: the decision as url_less, the call matched to it by connection")

        cli("apps", "update", "default", "--url-less-token-requests", "off")
        await refused(vault, "url_not_allowed")
    print("alter-sdk 0.1.1: every step as docs/protocol.md says")


asyncio.run(main())
