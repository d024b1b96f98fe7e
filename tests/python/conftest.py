"""Fixtures of the Python SDK's tests: a real `alter-vault dev` (embedded SQLite, the sandbox
provider) on a free loopback port, alice connected to the sandbox, and the seed's provider URLs
pointed at the sandbox.

Environment: ALTER_VAULT_BIN (default: `alter-vault` on PATH).
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from witnesses import SEED_HOSTS, Recorder

HERE = Path(__file__).resolve().parent


@dataclass
class DevVault:
    url: str
    api_key: str
    admin_token: str
    data_dir: Path
    binary: str
    env: dict[str, str]

    def cli(self, *args: str, check: bool = True) -> str:
        """Runs an alter-vault admin command against this vault; returns its stdout."""
        p = subprocess.run([self.binary, *args], env=self.env, capture_output=True, text=True, timeout=60)
        if check and p.returncode != 0:
            raise AssertionError(f"alter-vault {' '.join(args)} failed ({p.returncode}): {p.stderr}")
        return p.stdout

    def cli_json(self, *args: str):
        return json.loads(self.cli(*args, "--json"))

    def sandbox(self, path: str) -> str:
        """A URL of the sandbox's API: what replaces a provider's host in the seed's examples."""
        return f"{self.url}/sandbox/api{path}"

    def seed_url(self, url: str) -> str:
        """The seed's provider URL with its host replaced by the sandbox's (the one change)."""
        for host in SEED_HOSTS:
            if url.startswith(host):
                return self.sandbox(url[len(host):])
        raise AssertionError(f"no sandbox for {url}")

    def audit(self, *filters: str) -> list[dict]:
        """Audit events of the last hour, oldest first; filters as `alter-vault audit list` takes
        them, e.g. ("--request-id", response.request_id) or ("--actor", "ai_agent:my-agent")."""
        return self.cli_json("audit", "list", "--since", "1h", "--limit", "1000", *filters)["events"]


def _binary() -> str:
    b = os.environ.get("ALTER_VAULT_BIN") or shutil.which("alter-vault")
    if not b:
        pytest.exit("alter-vault not found: set ALTER_VAULT_BIN or put it on PATH", returncode=2)
    return b


@pytest.fixture(scope="session")
def dev_vault():
    binary = _binary()
    work = Path(tempfile.mkdtemp(prefix="alter-pytest-"))
    data = work / "dev"
    log = open(work / "dev.log", "w")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(work)}
    proc = subprocess.Popen([binary, "dev", "--data-dir", str(data), "--listen", "127.0.0.1:0", "--auto-consent"],
                            stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        values: dict[str, str] = {}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError("alter-vault dev exited: " + (work / "dev.log").read_text())
            if (data / "dev.env").exists():
                for line in (data / "dev.env").read_text().splitlines():
                    key, _, value = line.removeprefix("export ").partition("=")
                    values[key] = value
                try:
                    urllib.request.urlopen(values["ALTER_VAULT_URL"] + "/readyz", timeout=2).read()
                    break
                except (OSError, KeyError):
                    pass
            time.sleep(0.05)
        else:
            raise AssertionError("alter-vault dev did not start: " + (work / "dev.log").read_text())
        env.update({k: values[k] for k in ("ALTER_VAULT_URL", "ALTER_API_KEY", "ALTER_VAULT_ADMIN_TOKEN")})
        vault = DevVault(values["ALTER_VAULT_URL"], values["ALTER_API_KEY"], values["ALTER_VAULT_ADMIN_TOKEN"], data,
                         binary, env)
        connect = vault.cli("connect", "sandbox", "--user", "user_id=alice").strip().splitlines()[-1]
        urllib.request.urlopen(connect, timeout=10).read()  # auto-consent: the flow completes at once
        vault.cli("policies", "apply", str(HERE / "policy.toml"))
        yield vault
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture
def vault_env(dev_vault, monkeypatch):
    """The dev vault's address and key in the environment, as `. alter-dev/dev.env` leaves them."""
    monkeypatch.setenv("ALTER_VAULT_URL", dev_vault.url)
    monkeypatch.setenv("ALTER_API_KEY", dev_vault.api_key)
    return dev_vault


@pytest.fixture
def recorder():
    """A loopback HTTP server answering 200 {"target": <raw target>}, keeping every request."""
    r = Recorder()
    yield r
    r.close()


@pytest.fixture(params=["proxy", "direct"])
def mode(request, dev_vault):
    """proxy: the app's default (token handout off). direct: token handout on, restored after."""
    if request.param == "direct":
        dev_vault.cli("apps", "update", "default", "--token-handout", "on")
    try:
        yield request.param
    finally:
        if request.param == "direct":
            dev_vault.cli("apps", "update", "default", "--token-handout", "off")


@pytest.fixture
def silent_url():
    """An http URL on loopback that accepts connections (the kernel does) and never answers."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    yield f"http://127.0.0.1:{s.getsockname()[1]}"
    s.close()


@pytest.fixture
def expired_connection(dev_vault, tmp_path):
    """({"user_id": ...}, connection_id) of a sandbox connection whose access token has expired and
    whose refresh token the sandbox refuses."""
    user = f"expired-{uuid.uuid4().hex[:8]}"
    (tmp_path / "at").write_text("sbx_at.not-a-real-token.x")
    (tmp_path / "rt").write_text("sbx_rt.not-a-real-token.x")
    out = dev_vault.cli("connections", "import", "--provider", "sandbox", "--user", f"user_id={user}",
                        "--access-token-file", str(tmp_path / "at"), "--refresh-token-file", str(tmp_path / "rt"),
                        "--expires-at", "2020-01-01T00:00:00Z", "--scope", "calendar.read")
    return {"user_id": user}, out.strip().split()[-1]
