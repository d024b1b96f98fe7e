#!/usr/bin/env bash
# README.md, run as printed: the demo command, the install block, the CMake and pkg-config uses of
# the SDK, the SDK quick start (as printed, and against the sandbox with the one change the README
# names, under ASan), the Python SDK's install block and quick start, and "Run a vault". Every fenced block must be one of these: a new block
# fails this test until it is run here.
#   tests/docs/readme_test.sh SOURCE_DIR
set -euo pipefail
src=$(cd "$1" && pwd)
. "$src/tests/docs/lib.sh"
doc=$src/README.md

# Every block is accounted for.
while IFS=$'\t' read -r index lang marker; do
  case "$lang:$marker" in
    cpp:fragment|sh:the-two-commands|sh:install|cmake:cmake|sh:pkg-config|cpp:agent.cpp|sh:run-a-vault|sh:proxy-curl|sh:python-install|python:python-quickstart) ;;
    *) fail "README.md block $index ($lang, marker '${marker}') is not run by tests/docs/readme_test.sh" ;;
  esac
done < <(blocks "$doc" list)

echo "--- the two commands: .ci/run is the test command; the demo runs"
two=$(blocks "$doc" marked the-two-commands)
grep -qE '^\./scripts/demo\.sh( |$)' <<<"$two" || fail "the first command is not ./scripts/demo.sh"
grep -qE '^\./scripts/test\.sh( |$)' <<<"$two" || fail "the second command is not ./scripts/test.sh"
grep -qx 'exec scripts/test.sh' "$src/.ci/run" || fail ".ci/run does not run scripts/test.sh"
(cd "$src" && clean_env ./scripts/demo.sh) > "$work/demo.log" 2>&1 || { tail -50 "$work/demo.log"; fail "./scripts/demo.sh failed"; }
expect_in "Team standup" "$work/demo.log"
expect_in "approving ap_" "$work/demo.log"
expect_in "OK: " "$work/demo.log"

echo "--- Install, as printed, from the checkout"
(cd "$src" && clean_env bash -euo pipefail -c "$(blocks "$doc" marked install)") > "$work/install.log" 2>&1 ||
  { cat "$work/install.log"; fail "the install block failed"; }
expect_in "alter-vault 0." "$work/install.log"
[ -x "$home/.local/bin/alter-vault" ] || fail "alter-vault is not in \$HOME/.local/bin"
export PATH="$home/.local/bin:$PATH" PKG_CONFIG_PATH="$home/.local/lib/pkgconfig"

echo "--- the SDK from pkg-config and from CMake"
mkdir -p "$work/agent" && cd "$work/agent"
blocks "$doc" marked agent.cpp > agent.cpp
clean_env bash -euo pipefail -c "$(blocks "$doc" marked pkg-config)"
[ -x agent ] || fail "the pkg-config line built nothing"
{
  echo 'cmake_minimum_required(VERSION 3.25)'
  echo 'project(my_agent LANGUAGES CXX)'
  echo 'add_executable(my_agent agent.cpp)'
  echo 'target_compile_features(my_agent PRIVATE cxx_std_20)'
  blocks "$doc" marked cmake
} > CMakeLists.txt
clean_env cmake -S . -B build -G Ninja -DCMAKE_PREFIX_PATH="$home/.local" > cmake.log 2>&1 || { cat cmake.log; fail "the CMake lines do not configure"; }
cmake --build build > cmake.log 2>&1 || { cat cmake.log; fail "the CMake lines do not build"; }
c++ $asan_flags agent.cpp $(pkg-config --cflags --libs alter-sdk) -o agent-asan
# The opening fragment is a statement of such a program.
{ echo '#include <alter/alter.hpp>'; echo 'int main() {'; echo '  alter::Vault vault({});'; blocks "$doc" marked fragment; echo '  (void)r;'; echo '}'; } > fragment.cpp
c++ -std=c++20 -fsyntax-only fragment.cpp $(pkg-config --cflags alter-sdk) || fail "the README's opening fragment does not compile"

echo "--- the SDK quick start against alter-vault dev"
start_dev "$work/dev"
connect_alice
./agent > as-printed.txt 2>&1 || { cat as-printed.txt; fail "the quick start as printed did not exit 0"; }
expect_in "No OAuth connection" as-printed.txt   # no Google connection in the dev vault
./agent-asan > as-printed-asan.txt 2>&1 || { cat as-printed-asan.txt; fail "the quick start failed under ASan"; }
to_sandbox agent.cpp agent-sandbox.cpp
c++ $asan_flags agent-sandbox.cpp $(pkg-config --cflags --libs alter-sdk) -o agent-sandbox
./agent-sandbox > sandbox.txt 2>&1 || { cat sandbox.txt; fail "the quick start against the sandbox failed"; }
expect_in '"summary": "Team standup"' sandbox.txt

echo "--- the proxy's curl line, as printed, against the same dev vault"
clean_env ALTER_VAULT_URL="$ALTER_VAULT_URL" ALTER_API_KEY="$ALTER_API_KEY" bash -euo pipefail -c "$(blocks "$doc" marked proxy-curl)" > proxy-curl.txt 2>&1 ||
  { cat proxy-curl.txt; fail "the proxy's curl line failed"; }
expect_in "Team standup" proxy-curl.txt

echo "--- the Python SDK: installed as printed (from the checkout, into its .venv), its quick start"
rm -rf "$src/.venv"
(cd "$src" && clean_env bash -euo pipefail -c "$(blocks "$doc" marked python-install)") > python-install.log 2>&1 ||
  { cat python-install.log; rm -rf "$src/.venv"; fail "the Python install block failed"; }
blocks "$doc" marked python-quickstart > quickstart.py
"$src/.venv/bin/python" quickstart.py > py-as-printed.txt 2>&1 && fail "the Python quick start as printed succeeded with a placeholder key"
expect_in "alter_sdk.exceptions.TokenRetrievalError: " py-as-printed.txt   # the dev vault refuses "alter_key_..."
# Against the sandbox: the one change, and the key from dev.env.
sed -e 's|Provider.GOOGLE|"sandbox"|' -e "s|https://www.googleapis.com|$dev_url/sandbox/api|" \
  -e "s|\"alter_key_...\"|\"$ALTER_API_KEY\"|" quickstart.py > quickstart-sandbox.py
clean_env ALTER_VAULT_URL="$ALTER_VAULT_URL" "$src/.venv/bin/python" quickstart-sandbox.py > py-sandbox.txt 2>&1 || { cat py-sandbox.txt; rm -rf "$src/.venv"; fail "the Python quick start against the sandbox failed"; }
expect_in "'summary': 'Team standup'" py-sandbox.txt
rm -rf "$src/.venv" quickstart-sandbox.py

echo "--- the examples under ASan, against the sandbox"
for example in quickstart calendar_agent; do
  c++ $asan_flags -I"$src/examples" "$src/examples/$example.cpp" $(pkg-config --cflags --libs alter-sdk) -o "$example"
done
./quickstart > quickstart.txt 2>&1 || { cat quickstart.txt; fail "examples/quickstart failed"; }
expect_in "Team standup" quickstart.txt
./calendar_agent read > calendar.txt 2>&1 || { cat calendar.txt; fail "examples/calendar_agent read failed"; }
expect_in "Team standup" calendar.txt
expect_in "1:1 with Bob" calendar.txt

echo "--- Run a vault, as printed (data dir, port and Google's client are the reader's)"
mkdir -p "$work/run" && cd "$work/run" && ln -s "$src/examples" examples
port=$(free_port)
clean_env ALTER_VAULT_DATA_DIR="$work/run/vault-data" VAULT_PORT="$port" \
  GOOGLE_CLIENT_ID=stand-in.apps.googleusercontent.com GOOGLE_CLIENT_SECRET=stand-in-secret \
  bash -euo pipefail -c "$(blocks "$doc" marked run-a-vault)" > run.log 2>&1 || { cat run.log vault.log; fail "Run a vault failed"; }
expect_in "Initialized" run.log
expect_in "Set google for app default" run.log
expect_in "Applied policy version 1" run.log
expect_in "/connect/" run.log
grep -q '^alter_key_' api-key.txt || fail "no API key"
echo "readme: every block ran as printed"
