#!/usr/bin/env bash
# docs/dev-mode.md, run as printed: the `alter-vault dev` block in the background, every other shell
# block in order in one shell, in a scratch HOME with the SDK installed. The agent it builds is also
# built and run under ASan/UBSan.
#   tests/docs/dev_mode_test.sh SOURCE_DIR
set -euo pipefail
src=$(cd "$1" && pwd)
. "$src/tests/docs/lib.sh"
doc=$src/docs/dev-mode.md

while IFS=$'\t' read -r index lang marker; do
  case "$lang:$marker" in
    sh:|sh:background) ;;
    *) fail "docs/dev-mode.md block $index ($lang, marker '${marker}') is not run by this test" ;;
  esac
done < <(blocks "$doc" list)
install_sdk
script=$work/dev-mode.sh
{
  blocks "$doc" marked background | sed -e '/^$/d' -e 's/$/ > dev.log 2>\&1 \&/'
  blocks "$doc" script --skip background
} > "$script"
port=$(free_port)
mkdir -p "$work/run"
(cd "$work/run" && clean_env VAULT_PORT="$port" bash -euo pipefail "$script") > "$work/out.txt" 2>&1 ||
  { cat "$work/out.txt" "$work/run/dev.log"; fail "a dev-mode step failed"; }
for text in "Decision: allow by rule sandbox-read" "Team standup" "Design review: Alter Vault" "1:1 with Bob" "api_call" \
            "[sandbox-read] v1" "{\"user_id\":\"alice\"}"; do
  expect_in "$text" "$work/out.txt"
done
expect_in "Connected to" "$work/run/connected.html"
expect_in "alter-vault listening on http://127.0.0.1:$port" "$work/run/dev.log"

echo "--- the agent under ASan, against a fresh dev vault"
export PATH="$home/.local/bin:$PATH" PKG_CONFIG_PATH="$home/.local/lib/pkgconfig"
start_dev "$work/dev2"
connect_alice
cd "$work/run"
c++ $asan_flags dev-agent.cpp $(pkg-config --cflags --libs alter-sdk) -o dev-agent-asan
./dev-agent-asan > "$work/asan.txt" 2>&1 || { cat "$work/asan.txt"; fail "dev-agent failed under ASan"; }
expect_in "Team standup" "$work/asan.txt"
echo "dev-mode: every command ran as written"
