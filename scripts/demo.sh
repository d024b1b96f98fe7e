#!/usr/bin/env bash
# The README's first command. On a fresh Debian 12 machine it installs what it needs, builds the
# vault and the SDK, starts `alter-vault dev` (embedded SQLite, sandbox OAuth provider, loopback),
# connects user alice to the sandbox, runs examples/quickstart (C++) and examples/python/quickstart.py
# (the Python SDK, pip-installed into build/demo/venv) through the vault, then shows a
# policy denial, a human approval, and the audit trail of those calls.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export CCACHE_BASEDIR=$root CCACHE_NOHASHDIR=1
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "Installing dependencies (Debian packages)"
scripts/install-deps.sh build python

say "Building alter-vault and the SDK (Release)"
# A tree the test command configured (build/release) is reused as it is; else build/demo, with the
# release preset's flags but without the tests (no test dependencies needed).
build=build/release
if [ ! -f build/release/CMakeCache.txt ]; then
  build=build/demo/tree
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DALTER_BUILD_TESTS=OFF -DALTER_WERROR=ON \
    -DCMAKE_CXX_COMPILER_LAUNCHER=ccache >/dev/null
fi
cmake --build "$build" --target alter-vault alter_sdk
cmake --install "$build" --prefix "$root/build/demo/install" >/dev/null
cmake -S examples -B build/demo-examples -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$root/build/demo/install" -DCMAKE_CXX_COMPILER_LAUNCHER=ccache >/dev/null
cmake --build build/demo-examples
export PATH="$root/build/demo/install/bin:$PATH"
examples=$root/build/demo-examples

say "Starting the dev vault: alter-vault dev --auto-consent"
data=$root/build/demo/alter-dev
log=$root/build/demo/dev.log
alter-vault --data-dir "$data" dev --reset --listen 127.0.0.1:0 --auto-consent >"$log" 2>&1 &
dev_pid=$!
trap 'kill $dev_pid 2>/dev/null; wait $dev_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do
  grep -q "Stop with Ctrl-C" "$log" 2>/dev/null && break
  kill -0 $dev_pid 2>/dev/null || { cat "$log"; exit 1; }
  sleep 0.1
done
sed -n '1,/Stop with/p' "$log"
# shellcheck disable=SC1091
. "$data/dev.env"

say "Connecting alice to the sandbox (the dev-only --auto-consent switch stands in for the consent click)"
connect_url=$(alter-vault connect sandbox --user user_id=alice)
echo "connect URL: $connect_url"
curl -fsSL "$connect_url" | grep -o '<h1 id="title">[^<]*' | sed 's/.*>//'
alter-vault connections list

say "examples/quickstart: the seed's quick start, through the vault (the token never reaches it)"
"$examples/quickstart"

say "examples/python/quickstart.py: the same quick start with the Python SDK (pip install ./python)"
venv=$root/build/demo/venv
[ -x "$venv/bin/python" ] || /usr/bin/python3 -m venv "$venv"
PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_CONSTRAINT="$root/python/build-constraints.txt" \
  CMAKE_ARGS="-DCMAKE_CXX_COMPILER_LAUNCHER=ccache" \
  "$venv/bin/pip" install -q --config-settings=build-dir="$root/build/demo/python" ./python
"$venv/bin/python" examples/python/quickstart.py

say "A policy denial: the agent tries to read the private calendar"
set +e
"$examples/calendar_agent" read private
status=$?
set -e
[ $status -eq 3 ] || { echo "expected a policy denial (exit 3), got $status"; exit 1; }

say "An approval: the agent creates an event; the policy sends writes to a person"
"$examples/calendar_agent" create primary "Lunch with Bob" --wait 60 &
agent_pid=$!
approval=""
for _ in $(seq 1 300); do
  approval=$(alter-vault approvals list --status pending --json | grep -o '"id": *"ap_[^"]*"' | head -1 | sed 's/.*"\(ap_[^"]*\)"/\1/' || true)
  [ -n "$approval" ] && break
  sleep 0.1
done
[ -n "$approval" ] || { echo "no approval appeared"; exit 1; }
alter-vault approvals list --status pending
echo "approving $approval (a person would use the CLI or the page at its approval_url)"
alter-vault approvals approve "$approval"
wait $agent_pid

say "The web console: the same vault in a browser"
echo "Served by the vault itself at $ALTER_VAULT_URL/console/ (sign in with the admin credential above;"
echo "this demo's vault stops with the script: the end says how to keep one running)."
curl -fsS -o /dev/null -w 'GET /console/ -> %{http_code}\n' "$ALTER_VAULT_URL/console/"

say "The audit trail: who called what, for whom, and whether it was allowed"
alter-vault audit list --since 10m --limit 50
alter-vault audit verify

say "Done"
echo "The dev vault stops with this script. Keep one running with:"
echo "  $root/build/demo/install/bin/alter-vault dev       (docs/dev-mode.md: what it sets up, step by step)"
echo "and open the web console it prints, http://127.0.0.1:8787/console/, signing in with the admin"
echo "credential it prints too: connections, approvals, the audit trail, policies and keys (docs/console.md)."
echo "Then follow docs/quickstart.md (from here to a real Google Calendar call)."
