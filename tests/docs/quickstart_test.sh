#!/usr/bin/env bash
# docs/quickstart.md, run as printed: every shell block in order, in one shell, in a scratch HOME
# (Google's client id and secret are stand-ins: the vault stores them without calling Google). The
# one Google-only step (./calendar) runs against the sandbox with the same code and the one change
# the README names, and the agent is also built and run under ASan/UBSan.
#   tests/docs/quickstart_test.sh SOURCE_DIR
set -euo pipefail
src=$(cd "$1" && pwd)
. "$src/tests/docs/lib.sh"
doc=$src/docs/quickstart.md

while IFS=$'\t' read -r index lang marker; do
  case "$lang:$marker" in
    sh:|sh:needs-google) ;;
    *) fail "docs/quickstart.md block $index ($lang, marker '${marker}') is not run by this test" ;;
  esac
done < <(blocks "$doc" list)
script=$work/quickstart.sh
blocks "$doc" script --skip needs-google > "$script"
[ "$(grep -c 'alter-vault' "$script")" -ge 10 ] || { cat "$script"; fail "too few commands extracted from $doc"; }
grep -q '^\./calendar$' "$script" && fail "the Google-only call was not skipped"

port=$(free_port)
# Step 1 runs from the checkout (as the doc says); the doc itself moves on to ~/alter-quickstart.
(cd "$src" && clean_env VAULT_PORT="$port" GOOGLE_CLIENT_ID="stand-in-client-id.apps.googleusercontent.com" \
   GOOGLE_CLIENT_SECRET="stand-in-secret" bash -euo pipefail "$script") > "$work/out.txt" 2>&1 ||
  { cat "$work/out.txt"; pkill -f "alter-vault serve --listen 127.0.0.1:$port" || true; fail "a quick start step failed"; }
pkill -f "alter-vault serve --listen 127.0.0.1:$port" 2>/dev/null || true
for text in "Initialized" "default  Default app" "Set google for app default" "Applied policy version 1" \
            "Decision: allow by rule agents-read-calendars" "Decision: deny (no_matching_rule)" "/connect/" "OK: "; do
  expect_in "$text" "$work/out.txt"
done
qs=$home/alter-quickstart
[ -x "$qs/calendar" ] || fail "the agent did not build"
grep -q "^alter_key_" "$qs/api-key.txt" || fail "no API key"

echo "--- ./calendar: the same code against the sandbox, built as printed and under ASan"
export PATH="$home/.local/bin:$PATH" PKG_CONFIG_PATH="$home/.local/lib/pkgconfig"
start_dev "$work/dev"
connect_alice
cd "$qs"
to_sandbox calendar.cpp calendar-sandbox.cpp
c++ -std=c++20 -O2 calendar-sandbox.cpp $(pkg-config --cflags --libs alter-sdk) -o calendar-sandbox
c++ $asan_flags calendar-sandbox.cpp $(pkg-config --cflags --libs alter-sdk) -o calendar-sandbox-asan
for bin in ./calendar-sandbox ./calendar-sandbox-asan; do
  "$bin" > "$work/calendar.txt" 2>&1 || { cat "$work/calendar.txt"; fail "$bin failed"; }
  for summary in "Team standup" "Design review: Alter Vault" "1:1 with Bob"; do expect_in "$summary" "$work/calendar.txt"; done
done
# The agent as printed, under ASan, against the dev vault: no Google connection there, a clean exit 1.
c++ $asan_flags calendar.cpp $(pkg-config --cflags --libs alter-sdk) -o calendar-asan
set +e
./calendar-asan > "$work/as-printed.txt" 2>&1
status=$?
set -e
[ $status -eq 1 ] || { cat "$work/as-printed.txt"; fail "the agent as printed exited $status (expected 1: not connected)"; }
expect_in "alice has not connected Google yet" "$work/as-printed.txt"
echo "quickstart: every command ran as written; the agent reads the sandbox calendar, also under ASan"
