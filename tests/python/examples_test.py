"""examples/python/, run as a user runs them (`python examples/python/X.py`) against
`alter-vault dev`, with only the provider and its URL's host changed to the sandbox (the seed's
Google, Salesforce and Notion calls go to provider "sandbox" at <vault>/sandbox/api)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from witnesses import SEED_HOSTS

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "python"


def run(dev_vault, tmp_path: Path, name: str, *args: str, to_sandbox: bool = True,
        env: dict[str, str] | None = None) -> str:
    text = (EXAMPLES / name).read_text()
    if to_sandbox:
        before = text
        for provider in ("Provider.GOOGLE,", "Provider.SALESFORCE,", '"notion",'):
            text = text.replace(provider, '"sandbox",')
        for host in SEED_HOSTS:
            text = text.replace(host, dev_vault.url + "/sandbox/api")
        assert text != before, f"{name}: nothing to point at the sandbox"
    script = tmp_path / name
    script.write_text(text)
    run_env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "ALTER_VAULT_URL": dev_vault.url,
               "ALTER_API_KEY": dev_vault.api_key, **(env or {})}
    p = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, timeout=60, env=run_env)
    assert p.returncode == 0, f"{name} exited {p.returncode}: {p.stderr}"
    assert "Traceback" not in p.stderr, p.stderr
    leaked = dev_vault.api_key in p.stdout + p.stderr
    assert not leaked, f"{name} printed the API key"
    return p.stdout


@pytest.mark.parametrize("name, expected", [
    ("simple_get.py", "200 "),
    ("post_json.py", "201 {"),
    ("url_templating.py", "'id': '123'"),
    ("query_params_and_headers.py", "'database_id': 'abc123'"),
    ("context_manager.py", "after close: the AlterVault is closed"),
    ("actor_tracking.py", "200 audit record: "),
    ("multi_agent.py", "email agent: 200 calendar agent: 200"),
])
def test_example_runs_against_the_sandbox(dev_vault, tmp_path, name, expected):
    assert expected in run(dev_vault, tmp_path, name)


def test_quickstart_runs_with_dev_env_alone(dev_vault, tmp_path):
    # As printed by `alter-vault dev`: the sandbox through ALTER_PROVIDER / ALTER_CALENDAR_URL.
    out = run(dev_vault, tmp_path, "quickstart.py", to_sandbox=False, env={
        "ALTER_PROVIDER": "sandbox",
        "ALTER_CALENDAR_URL": dev_vault.sandbox("/calendar/v3/calendars/primary/events")})
    assert "'kind': 'sandbox#events'" in out and "'owner': 'alice'" in out


@pytest.mark.parametrize("args, expected", [
    (("primary", "alice"), "ok 200"),
    (("private", "alice"), "Policy error: denied_by_rule"),
    (("primary", "nobody-connected"), "No OAuth connection - user needs to authenticate"),
])
def test_error_handling_example(dev_vault, tmp_path, args, expected):
    assert expected in run(dev_vault, tmp_path, "error_handling.py", *args)


def test_supported_providers_example(dev_vault, tmp_path):
    out = run(dev_vault, tmp_path, "supported_providers.py", "sandbox",
              dev_vault.sandbox("/calendar/v3/calendars/primary/events"), to_sandbox=False)
    assert out.splitlines()[0] == "google github slack microsoft salesforce sentry"
    assert "sandbox 200" in out
