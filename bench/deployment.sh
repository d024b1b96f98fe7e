#!/usr/bin/env bash
# One vault on SQLite vs two vaults on one PostgreSQL behind nginx (round robin), same load
# (docs/deployment.md). Loopback, free ports, everything stopped afterwards.
#   bench/deployment.sh [--seconds N] [--connections N]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
dur=20
conns=64
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) dur=$2; shift ;;
    --connections) conns=$2; shift ;;
    *) echo "usage: bench/deployment.sh [--seconds N] [--connections N]" >&2; exit 2 ;;
  esac
  shift
done
users=1000
export CCACHE_BASEDIR=$root CCACHE_NOHASHDIR=1
scripts/install-deps.sh bench test >/dev/null
if [ "${ALTER_BENCH_SKIP_BUILD:-0}" != 1 ]; then
  cmake --preset release >/dev/null
  cmake --build --preset release --target alter-vault alter_bench >/dev/null
fi
vault_bin=$root/build/release/cli/alter-vault
bench_bin=$root/build/release/bench/alter_bench
pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)

work=$(mktemp -d)
chmod 755 "$work"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$work/pg/postmaster.pid" ] && as_pg "$pg_bin/pg_ctl" -D "$work/pg" -m immediate stop >/dev/null 2>&1 || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
free_port() {
  local p
  for _ in $(seq 1 100); do
    p=$(( 20000 + RANDOM % 30000 ))
    if ! (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then echo "$p"; return; fi
  done
  exit 1
}
wait_http() { for _ in $(seq 1 300); do curl -sf "$1" >/dev/null && return 0; sleep 0.1; done; echo "not up: $1" >&2; exit 1; }
master_key=$(head -c 32 /dev/urandom | base64)
export ALTER_VAULT_DEV_MODE=true

# The setup shared by both layouts: a provider, its credentials, a key, a policy, connections.
configure() {  # configure URL -> prints the API key
  local url=$1
  "$vault_bin" --url "$url" providers add --file "$work/provider.json" >/dev/null
  "$vault_bin" --url "$url" providers set bench --client-id c --client-secret-file "$work/secret" >/dev/null
  "$vault_bin" --url "$url" policies apply "$work/policy.toml" >/dev/null
  "$bench_bin" import --vault "$url" --admin-token "$ALTER_VAULT_ADMIN_TOKEN" --provider bench --users $users --threads 8 >/dev/null
  "$vault_bin" --url "$url" keys create --name bench 2>/dev/null
}
cat > "$work/provider.json" <<JSON
{"id":"bench","display_name":"Bench","docs_url":"https://example.invalid","authorization_url":"http://127.0.0.1:1/authorize",
 "token_url":"http://127.0.0.1:1/token","default_scopes":["read"],"scope_separator":" ","pkce":true,"client_auth":"body",
 "token_request_format":"form","api_hosts":["127.0.0.1"],"refresh":"refreshes"}
JSON
printf 'secret' > "$work/secret"
printf 'version = 1\n[[rules]]\nid = "read"\neffect = "allow"\nproviders = ["bench"]\nmethods = ["GET"]\n' > "$work/policy.toml"
lua() {  # lua KEY -> the wrk script
  cat > "$work/token.lua" <<LUA
wrk.method = "POST"
wrk.headers["x-api-key"] = "$1"
wrk.headers["Content-Type"] = "application/json"
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil, '{"provider_id":"bench","attributes":{"user_id":"user-' .. (n % $users) .. '"},"method":"GET","url":"http://127.0.0.1:9/api"}')
end
LUA
}
measure() {  # measure URL -> "rps p50 p99"
  local out
  out=$(wrk -t2 -c$conns -d${dur}s --latency -s "$work/token.lua" "$1/oauth/token")
  echo "$(awk '/Requests\/sec/ {print $2}' <<<"$out") $(awk '$1 == "50%" {print $2}' <<<"$out") $(awk '$1 == "99%" {print $2}' <<<"$out")"
}

echo "== one instance, SQLite" >&2
port=$(free_port)
ALTER_VAULT_MASTER_KEY=$master_key "$vault_bin" --data-dir "$work/single" init >/dev/null
ALTER_VAULT_MASTER_KEY=$master_key "$vault_bin" --data-dir "$work/single" serve --listen 127.0.0.1:$port --log-level warn >/dev/null 2>"$work/single.log" &
single_pid=$!
pids+=($single_pid)
wait_http "http://127.0.0.1:$port/readyz"
export ALTER_VAULT_ADMIN_TOKEN=$(cat "$work/single/admin.token")
lua "$(configure "http://127.0.0.1:$port")"
read -r s_rps s_p50 s_p99 <<<"$(measure "http://127.0.0.1:$port")"
kill $single_pid; wait $single_pid 2>/dev/null || true

echo "== two instances on PostgreSQL behind nginx" >&2
pg_port=$(free_port)
mkdir -p "$work/pg" "$work/pgsock"
[ "$(id -u)" = 0 ] && chown postgres "$work/pg" "$work/pgsock"
as_pg "$pg_bin/initdb" -D "$work/pg" -U postgres -A trust >/dev/null
as_pg "$pg_bin/pg_ctl" -D "$work/pg" -l "$work/pgsock/log" -o "-h 127.0.0.1 -p $pg_port -k $work/pgsock -c max_connections=200" -w start >/dev/null
db=postgres://postgres@127.0.0.1:$pg_port/postgres
ports=()
for i in 1 2; do
  p=$(free_port)
  ports+=($p)
  [ $i = 1 ] && ALTER_VAULT_MASTER_KEY=$master_key ALTER_VAULT_DATABASE=$db "$vault_bin" --data-dir "$work/i$i" init >/dev/null
  ALTER_VAULT_MASTER_KEY=$master_key ALTER_VAULT_DATABASE=$db "$vault_bin" --data-dir "$work/i$i" serve \
    --listen 127.0.0.1:$p --log-level warn >/dev/null 2>"$work/i$i.log" &
  pids+=($!)
  wait_http "http://127.0.0.1:$p/readyz"
done
export ALTER_VAULT_ADMIN_TOKEN=$(cat "$work/i1/admin.token")
lb=$(free_port)
mkdir -p "$work/nginx/logs" "$work/nginx/tmp"
cat > "$work/nginx/nginx.conf" <<NGINX
worker_processes auto;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/nginx/tmp;
  proxy_temp_path $work/nginx/tmp;
  fastcgi_temp_path $work/nginx/tmp;
  upstream vaults { server 127.0.0.1:${ports[0]}; server 127.0.0.1:${ports[1]}; keepalive 64; }
  server {
    listen 127.0.0.1:$lb;
    location / { proxy_pass http://vaults; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
NGINX
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" &
pids+=($!)
wait_http "http://127.0.0.1:$lb/readyz"
lua "$(configure "http://127.0.0.1:$lb")"
read -r p_rps p_p50 p_p99 <<<"$(measure "http://127.0.0.1:$lb")"
verify=$("$vault_bin" --url "http://127.0.0.1:${ports[1]}" audit verify)

printf '\n%-44s %12s %10s %10s\n' "layout ($(nproc) cores, wrk -t2 -c$conns ${dur}s)" "req/s" "p50" "p99"
printf '%-44s %12s %10s %10s\n' "1 instance, SQLite" "$s_rps" "$s_p50" "$s_p99"
printf '%-44s %12s %10s %10s\n' "2 instances, PostgreSQL 15, nginx in front" "$p_rps" "$p_p50" "$p_p99"
echo "audit chain (PostgreSQL): $verify"
