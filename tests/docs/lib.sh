# Shared by the docs tests: a scratch HOME, free ports, a dev vault in the background, and the
# compiler flags that check snippets under AddressSanitizer and UBSan. Sourced, not run.
#   src=<checkout>; . "$src/tests/docs/lib.sh"
set -euo pipefail
work=$(mktemp -d)
home=$work/home
mkdir -p "$home"
pids=()
docs_cleanup() {
  # A function run in the background is a subshell: its children go too, not only the subshell.
  for p in "${pids[@]}"; do pkill -TERM -P "$p" 2>/dev/null || true; kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap docs_cleanup EXIT
blocks() { python3 "$src/tests/docs/blocks.py" "$@"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
expect_in() {  # expect_in TEXT FILE
  grep -qF -- "$1" "$2" || { echo "expected '$1' in $2:" >&2; cat "$2" >&2; exit 1; }
}
free_port() {
  local p
  for _ in $(seq 1 100); do
    p=$(( 20000 + RANDOM % 30000 ))
    if ! (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then echo "$p"; return; fi
  done
  fail "no free port"
}
# A clean environment for what the docs tell a user to type: only PATH, HOME and the build cache.
clean_env() {
  env -i PATH="$home/.local/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" HOME="$home" \
    PKG_CONFIG_PATH="$home/.local/lib/pkgconfig" CCACHE_BASEDIR="$src" CCACHE_NOHASHDIR=1 \
    CCACHE_DIR="${CCACHE_DIR:-${HOME:-/root}/.ccache}" "$@"
}
# Installs the release build (already built by the test command) into $home/.local.
install_sdk() {
  cmake --install "$src/build/release" --prefix "$home/.local" > /dev/null
}
# Snippets and examples are compiled as a user would, plus ASan/UBSan: a read of freed memory fails.
asan_flags="-std=c++20 -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined"
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1
# start_dev DIR: `alter-vault dev` on a free port with auto-consent; sets dev_url, sources dev.env.
start_dev() {
  local dir=$1 port
  port=$(free_port)
  clean_env alter-vault dev --data-dir "$dir" --listen "127.0.0.1:$port" --auto-consent > "$work/dev.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 300); do
    [ -f "$dir/dev.env" ] && curl -sf "http://127.0.0.1:$port/readyz" > /dev/null && break
    sleep 0.1
  done
  [ -f "$dir/dev.env" ] || { cat "$work/dev.log" >&2; fail "alter-vault dev did not start"; }
  # shellcheck disable=SC1091
  . "$dir/dev.env"
  export ALTER_VAULT_URL ALTER_API_KEY ALTER_VAULT_ADMIN_TOKEN ALTER_VAULT_DATA_DIR ALTER_PROVIDER ALTER_CALENDAR_URL
  dev_url=$ALTER_VAULT_URL
}
# Connects alice to the sandbox (auto-consent: the connect URL finishes at once).
connect_alice() {
  local url
  url=$(alter-vault connect sandbox --user user_id=alice)
  curl -sfL "$url" > "$work/connected.html" || fail "the connect URL did not complete"
}
# The sandbox serves Google Calendar's paths under <vault>/sandbox/api: the one change the
# README names to run a Google snippet against `alter-vault dev`.
to_sandbox() {  # to_sandbox IN OUT
  sed -e 's|alter::Provider::Google|"sandbox"|g' -e "s|https://www.googleapis.com|$dev_url/sandbox/api|g" "$1" > "$2"
  grep -q '"sandbox"' "$2" || fail "$1 names no Google provider to replace"
}
