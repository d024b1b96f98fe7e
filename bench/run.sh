#!/usr/bin/env bash
# The vault's cost, measured side by side with what a user would compare it to (docs/performance.md).
#   bench/run.sh [--quick] [--output FILE] [--hold]
# --hold stops after the setup and keeps nginx and the vault running (for perf or callgrind), with the
# commands to drive them printed.
# Builds Release, then on loopback: nginx (its own config, a free port) serving a static JSON file,
# and standing in for a provider (API and token endpoint); the vault (SQLite) with a 100-rule policy
# and 10,000 connections. Measures in one run:
#   a. POST /oauth/token with wrk (keep-alive) against nginx's static JSON: req/s, p50, p99, and the
#      vault's CPU time per token decision over that run (utime + stime from /proc, per answer)
#   e. the same requests paced (wrk delay()) at half the rate a saturated: p50, p99
#   b. the SDK's request() through the vault vs a direct libcurl call with the token known, with 8
#      threads (mean) and one request at a time (median)
#   c. 1,000 concurrent SDK requests on one expired token: refreshes at the provider, slowest latency
#   d. vault RSS before, during and after a sustained load; SDK RSS after 100,000 requests
#   f. 10,000 POST /oauth/token in flight at once, each on its own keep-alive connection and each due
#      a refresh, against a provider that holds every token answer 500 ms: how long until all are
#      answered, the vault's threads and RSS while they are in flight
#   g. 10,000 proxied calls (GET /v1/proxy) in flight at once against a provider API that holds every
#      answer 500 ms: the same figures; and in b, the SDK's proxy_request() one at a time
# ALTER_BENCH_ONLY_INFLIGHT=1 runs the setup and phase f only; ALTER_BENCH_SKIP_INFLIGHT=1 skips f;
# ALTER_BENCH_ONLY_PROXY=1 runs the setup, phase b one at a time (direct, request(), proxy_request())
# and phase g only;
# ALTER_BENCH_VAULT=PATH measures another build of the vault (the commit before a change).
# --quick shortens every phase (a smoke run; the figures in docs/performance.md come from a full run).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
quick=false
hold=false
output=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=true ;;
    --output) output=$2; shift ;;
    --hold) hold=true ;;
    *) echo "usage: bench/run.sh [--quick] [--output FILE]" >&2; exit 2 ;;
  esac
  shift
done
if $quick; then dur=5; load=20; sdk_requests=20000; else dur=20; load=300; sdk_requests=100000; fi
users=10000
conns=64
threads=2
sdk_threads=8
[ -n "$output" ] || output=$root/bench/results/$(date -u +%Y%m%dT%H%M%SZ)-$(git rev-parse --short HEAD 2>/dev/null || echo local).json
mkdir -p "$(dirname "$output")"
export CCACHE_BASEDIR=$root CCACHE_NOHASHDIR=1

scripts/install-deps.sh bench >/dev/null
if [ "${ALTER_BENCH_SKIP_BUILD:-0}" != 1 ]; then
  cmake --preset release >/dev/null
  cmake --build --preset release --target alter-vault alter_bench alter_slow_provider alter_micro_benchmark >/dev/null
fi
vault_bin=${ALTER_BENCH_VAULT:-$root/build/release/cli/alter-vault}
bench_bin=$root/build/release/bench/alter_bench
slow_bin=$root/build/release/bench/alter_slow_provider
only_inflight=${ALTER_BENCH_ONLY_INFLIGHT:-0}
skip_inflight=${ALTER_BENCH_SKIP_INFLIGHT:-0}
only_proxy=${ALTER_BENCH_ONLY_PROXY:-0}
inflight_users=10000

work=$(mktemp -d)
chmod 755 "$work"  # nginx workers run as an unprivileged user when started as root
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
free_port() {
  local p
  for _ in $(seq 1 100); do
    p=$(( 20000 + RANDOM % 12000 ))  # below the ephemeral range (32768-): outgoing connections never hold it
    if ! (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then echo "$p"; return; fi
  done
  echo "no free port" >&2; exit 1
}
wait_http() { for _ in $(seq 1 300); do curl -sf "$1" >/dev/null && return 0; sleep 0.1; done; echo "not up: $1 ($(curl -s -w ' HTTP %{http_code}' "$1" 2>&1 | head -c 300))" >&2; cat "$work"/nginx/logs/error.log "$work"/vault.log 2>/dev/null >&2; exit 1; }
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }  # utime + stime, in clock ticks
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
ms() {  # wrk durations (us, ms, s) in milliseconds
  awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n = n; else if (v ~ /s$/) n *= 1000; printf "%.3f", n }'
}
wrk_run() {  # wrk_run NAME ARGS... -> sets WRK_RPS WRK_P50 WRK_P99
  local name=$1 out
  shift
  out=$(wrk "$@")
  echo "$out" > "$work/wrk-$name.txt"
  WRK_RPS=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  WRK_P50=$(ms "$(awk '$1 == "50%" {print $2}' <<<"$out")")
  WRK_P99=$(ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")
  WRK_NON2XX=$(awk '/Non-2xx/ {print $4}' <<<"$out")
}

echo "== setting up (nginx, vault, $users connections, 100 rules)" >&2
nginx_port=$(free_port)
mkdir -p "$work/nginx/html" "$work/nginx/logs"
events='{"kind":"calendar#events","items":[{"id":"evt-1","summary":"Team standup","start":"2026-12-01T09:30:00Z"},{"id":"evt-2","summary":"Design review","start":"2026-12-01T14:00:00Z"}]}'
printf '%s' "$events" > "$work/nginx/html/static.json"
cat > "$work/nginx/nginx.conf" <<NGINX
worker_processes auto;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path $work/nginx/tmp;
  proxy_temp_path $work/nginx/tmp;
  fastcgi_temp_path $work/nginx/tmp;
  server {
    listen 127.0.0.1:$nginx_port;
    root $work/nginx/html;
    location = /static.json { default_type application/json; }
    location /api/ { default_type application/json; return 200 '$events'; }
    location = /token {
      access_log $work/nginx/logs/token.log;
      default_type application/json;
      return 200 '{"access_token":"refreshed-access-token-0123456789","token_type":"Bearer","expires_in":3600}';
    }
  }
}
NGINX
mkdir -p "$work/nginx/tmp"
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" &
pids+=($!)
wait_http "http://127.0.0.1:$nginx_port/static.json"

vault_port=$(free_port)
export ALTER_VAULT_DEV_MODE=true  # the stand-in provider is plain http on loopback
"$vault_bin" --data-dir "$work/vault" init >/dev/null
# Phase f holds 10,000 connections from one address (the defaults allow half the descriptor budget per
# address); the cap on outgoing connections follows from what these leave (docs/configuration.md).
export ALTER_VAULT_MAX_CONNECTIONS=$(( inflight_users + 100 )) ALTER_VAULT_MAX_CONNECTIONS_PER_IP=$(( inflight_users + 100 ))
"$vault_bin" --data-dir "$work/vault" serve --listen "127.0.0.1:$vault_port" --log-level warn >/dev/null 2>"$work/vault.log" &
vault_pid=$!
pids+=($vault_pid)
vault=http://127.0.0.1:$vault_port
wait_http "$vault/readyz"
export ALTER_VAULT_URL=$vault ALTER_VAULT_DATA_DIR=$work/vault
admin_token=$(cat "$work/vault/admin.token")
cat > "$work/provider.json" <<JSON
{"id":"bench","display_name":"Bench provider","docs_url":"https://example.invalid","authorization_url":"http://127.0.0.1:$nginx_port/authorize",
 "token_url":"http://127.0.0.1:$nginx_port/token","default_scopes":["read"],"scope_separator":" ","pkce":true,"client_auth":"body",
 "token_request_format":"form","api_hosts":["127.0.0.1"],"refresh":"refreshes"}
JSON
"$vault_bin" providers add --file "$work/provider.json" >/dev/null
printf 'bench-secret' > "$work/secret"
"$vault_bin" providers set bench --client-id bench-client --client-secret-file "$work/secret" >/dev/null
api_key=$("$vault_bin" keys create --name bench 2>/dev/null)
# The token phases measure the handout (POST /oauth/token), off for a new app since the proxy.
"$vault_bin" apps update default --token-handout on >/dev/null
{
  echo "version = 1"
  for i in $(seq 1 99); do
    printf '\n[[rules]]\nid = "other-%d"\neffect = "allow"\nproviders = ["provider-%d"]\nmethods = ["GET"]\npaths = ["/v%d/**"]\n' "$i" "$i" "$i"
  done
  printf '\n[[rules]]\nid = "bench-read"\neffect = "allow"\nproviders = ["bench"]\nmethods = ["GET"]\nhosts = ["127.0.0.1"]\npaths = ["/api/**"]\n'
} > "$work/policy.toml"
"$vault_bin" policies apply "$work/policy.toml" >/dev/null
"$bench_bin" import --vault "$vault" --admin-token "$admin_token" --provider bench --users "$users" --threads 8 >/dev/null
api_url="http://127.0.0.1:$nginx_port/api/events"
rss_before=$(rss_kib $vault_pid)

# add_slow_provider ID PORT: the bench provider with its token endpoint on alter_slow_provider at
# PORT, registered as ID with a client and a rule allowing GET /api/** on it.
add_slow_provider() {
  sed -e "s/\"id\":\"bench\"/\"id\":\"$1\"/" -e "s/\"Bench provider\"/\"Slow provider $1\"/" \
    -e "s#127.0.0.1:$nginx_port/token#127.0.0.1:$2/token#" "$work/provider.json" > "$work/$1.json"
  "$vault_bin" providers add --file "$work/$1.json" >/dev/null
  "$vault_bin" providers set "$1" --client-id slow-client --client-secret-file "$work/secret" >/dev/null
  printf '\n[[rules]]\nid = "%s-read"\neffect = "allow"\nproviders = ["%s"]\nmethods = ["GET"]\nhosts = ["127.0.0.1"]\npaths = ["/api/**"]\n' "$1" "$1" >> "$work/policy.toml"
  "$vault_bin" policies apply "$work/policy.toml" >/dev/null
}

inflight_phase() {  # sets INFLIGHT (JSON)
  echo "== f. $inflight_users POST /oauth/token in flight, each due a refresh, provider holding 500 ms" >&2
  local slow_port sampler
  slow_port=$(free_port)
  "$slow_bin" --port "$slow_port" --hold-ms 500 &
  pids+=($!)
  wait_http "http://127.0.0.1:$slow_port/stats"
  add_slow_provider slow "$slow_port"
  "$bench_bin" import --vault "$vault" --admin-token "$admin_token" --provider slow --users "$inflight_users" --prefix inflight- \
    --expires-in -10 --threads 8 >/dev/null
  local threads_before rss_before_f
  threads_before=$(awk '/^Threads/ {print $2}' "/proc/$vault_pid/status")
  rss_before_f=$(rss_kib $vault_pid)
  : > "$work/inflight-samples"
  (while kill -0 $vault_pid 2>/dev/null; do
     awk '/^Threads/ {t = $2} /^VmRSS/ {r = $2} END {print t, r}' "/proc/$vault_pid/status" >> "$work/inflight-samples"
     sleep 0.05
   done) &
  sampler=$!
  local result rc=0 ticks_f
  ticks_f=$(cpu_ticks $vault_pid)
  result=$("$bench_bin" inflight --vault "$vault" --api-key "$api_key" --provider slow --url "$api_url" \
    --users "$inflight_users" --prefix inflight-) || rc=$?
  local cpu_s
  cpu_s=$(awk -v t=$(( $(cpu_ticks $vault_pid) - ticks_f )) -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz }')
  kill $sampler 2>/dev/null; wait $sampler 2>/dev/null || true
  local stats threads_max rss_max
  stats=$(curl -s "http://127.0.0.1:$slow_port/stats")
  threads_max=$(awk '$1 > m {m = $1} END {print m + 0}' "$work/inflight-samples")
  rss_max=$(awk '$2 > m {m = $2} END {print m + 0}' "$work/inflight-samples")
  # When the provider saw the first and the last refresh, counted from the moment all were sent:
  # the part of the total spent before the provider call, and (total - last - hold) after it.
  INFLIGHT=$(python3 -c '
import json, sys
r, p = json.loads(sys.argv[1]), json.loads(sys.argv[2])
fired = r.get("fired_unix_ms", 0)
all_cpu = float(sys.argv[7]) + r.get("driver_cpu_seconds", 0) + p.get("cpu_seconds", 0)
print(json.dumps({"result": r, "provider": p,
  "provider_first_after_ms": p.get("first_request_unix_ms", 0) - fired,
  "provider_last_after_ms": p.get("last_request_unix_ms", 0) - fired,
  "vault_cpu_seconds": float(sys.argv[7]),
  # The three processes share the cores: their CPU over the cores is a floor for the total time.
  "all_cpu_seconds": round(all_cpu, 2), "cpu_floor_seconds": round(all_cpu / int(sys.argv[8]), 2),
  "vault_threads_before": int(sys.argv[3]), "vault_threads_max": int(sys.argv[4]),
  "vault_rss_kib_before": int(sys.argv[5]), "vault_rss_kib_max": int(sys.argv[6])}))' \
    "$result" "$stats" "$threads_before" "$threads_max" "$rss_before_f" "$rss_max" "$cpu_s" "$(nproc)")
  [ $rc = 0 ] || echo "phase f: not every request was answered 200: $result" >&2
}
proxy_inflight_phase() {  # sets PROXY_INFLIGHT (JSON)
  echo "== g. $inflight_users proxied calls in flight, provider API holding each answer 500 ms" >&2
  local slow_port sampler
  slow_port=$(free_port)
  "$slow_bin" --port "$slow_port" --hold-ms 500 &
  pids+=($!)
  wait_http "http://127.0.0.1:$slow_port/stats"
  add_slow_provider slowapi "$slow_port"
  "$bench_bin" import --vault "$vault" --admin-token "$admin_token" --provider slowapi --users "$inflight_users" --prefix proxied- \
    --expires-in 3600 --threads 8 >/dev/null
  local threads_before
  threads_before=$(awk '/^Threads/ {print $2}' "/proc/$vault_pid/status")
  : > "$work/proxy-samples"
  (while kill -0 $vault_pid 2>/dev/null; do
     awk '/^Threads/ {t = $2} /^VmRSS/ {r = $2} END {print t, r}' "/proc/$vault_pid/status" >> "$work/proxy-samples"
     sleep 0.05
   done) &
  sampler=$!
  local result rc=0 ticks_g cpu_s
  ticks_g=$(cpu_ticks $vault_pid)
  result=$("$bench_bin" inflight --proxy 1 --vault "$vault" --api-key "$api_key" --provider slowapi \
    --url "http://127.0.0.1:$slow_port/api/hold" --users "$inflight_users" --prefix proxied-) || rc=$?
  cpu_s=$(awk -v t=$(( $(cpu_ticks $vault_pid) - ticks_g )) -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz }')
  kill $sampler 2>/dev/null; wait $sampler 2>/dev/null || true
  local stats
  stats=$(curl -s "http://127.0.0.1:$slow_port/stats")
  PROXY_INFLIGHT=$(python3 -c '
import json, sys
r, p = json.loads(sys.argv[1]), json.loads(sys.argv[2])
samples = [l.split() for l in open(sys.argv[4]) if l.strip()]
print(json.dumps({"result": r, "provider": p, "vault_cpu_seconds": float(sys.argv[5]),
  "vault_threads_before": int(sys.argv[3]), "vault_threads_max": max([int(t) for t, _ in samples] or [0]),
  "vault_rss_kib_max": max([int(m) for _, m in samples] or [0])}))' \
    "$result" "$stats" "$threads_before" "$work/proxy-samples" "$cpu_s")
  [ $rc = 0 ] || echo "phase g: not every proxied call was answered 200: $result" >&2
}
if [ "$only_proxy" = 1 ]; then
  echo "== b. one at a time: direct libcurl, SDK request() (token handout), SDK proxy_request()" >&2
  direct1=$("$bench_bin" direct --url "$api_url" --token bench-token-0 --threads 1 --seconds $dur)
  sdk1=$("$bench_bin" sdk --vault "$vault" --api-key "$api_key" --provider bench --url "$api_url" --users "$users" --threads 1 --seconds $dur)
  sdkp1=$("$bench_bin" sdk --proxy 1 --vault "$vault" --api-key "$api_key" --provider bench --url "$api_url" --users "$users" --threads 1 --seconds $dur)
  proxy_inflight_phase
  python3 -c '
import json, sys
d, s, p, g = (json.loads(a) for a in sys.argv[3:7])
print(json.dumps({"commit": sys.argv[1], "vault": sys.argv[2], "direct_one_at_a_time": d, "sdk_one_at_a_time": s,
  "sdk_proxy_one_at_a_time": p, "sdk_vs_direct_p50": round(s["p50_ms"] / d["p50_ms"], 3),
  "proxy_vs_direct_p50": round(p["p50_ms"] / d["p50_ms"], 3), "proxy_inflight": g}, indent=2))' \
    "$(git rev-parse HEAD 2>/dev/null || echo unknown)" "$vault_bin" "$direct1" "$sdk1" "$sdkp1" "$PROXY_INFLIGHT" > "$output"
  python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
g = r["proxy_inflight"]
print("one at a time, median ms: direct %.3f  request() %.3f (%.2fx)  proxy_request() %.3f (%.2fx)" % (
  r["direct_one_at_a_time"]["p50_ms"], r["sdk_one_at_a_time"]["p50_ms"], r["sdk_vs_direct_p50"],
  r["sdk_proxy_one_at_a_time"]["p50_ms"], r["proxy_vs_direct_p50"]))
print("%d proxied in flight: %d ok, all answered in %.2f s, vault threads %d -> %d, provider max in flight %d" % (
  g["result"]["requests"], g["result"]["ok"], g["result"]["total_seconds"], g["vault_threads_before"],
  g["vault_threads_max"], g["provider"]["max_in_flight"]))' "$output"
  echo "results: $output"
  exit 0
fi
if [ "$only_inflight" = 1 ]; then
  inflight_phase
  python3 -c "import json,sys; print(json.dumps({'commit': sys.argv[1], 'vault': sys.argv[2], 'inflight': json.loads(sys.argv[3])}, indent=2))" \
    "$(git rev-parse HEAD 2>/dev/null || echo unknown)" "$vault_bin" "$INFLIGHT" > "$output"
  cat "$output"
  echo "results: $output"
  exit 0
fi

echo "== a. POST /oauth/token vs nginx static JSON (wrk -t$threads -c$conns -d${dur}s)" >&2
cat > "$work/token.lua" <<LUA
wrk.method = "POST"
wrk.headers["x-api-key"] = "$api_key"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["x-alter-actor-type"] = "ai_agent"
wrk.headers["x-alter-actor-id"] = "wrk"
local n = 0
request = function()
  n = n + 1
  local body = '{"provider_id":"bench","attributes":{"user_id":"user-' .. ((n * 7919) % $users) .. '"},"method":"GET","url":"$api_url"}'
  return wrk.format(nil, nil, nil, body)
end
LUA
if $hold; then
  echo "vault pid $vault_pid at $vault; nginx on $nginx_port; API key in $work/api_key"
  echo "$api_key" > "$work/api_key"
  echo "drive it:  wrk -t$threads -c$conns -d${dur}s --latency -s $work/token.lua $vault/oauth/token"
  echo "profile:   perf record -e cpu-clock -g -p $vault_pid -- sleep 10"
  echo "Ctrl-C to stop (the setup stays up even if the vault is restarted by hand)."
  sleep infinity
fi
# Every user asked once first: phase a measures decisions on warm caches (a cold lookup reads the
# store on a worker; how many did is reported below).
wrk -t$threads -c$conns -d6s -s "$work/token.lua" "$vault/oauth/token" >/dev/null
wrk_run nginx -t$threads -c$conns -d${dur}s --latency "http://127.0.0.1:$nginx_port/static.json"
nginx_rps=$WRK_RPS nginx_p50=$WRK_P50 nginx_p99=$WRK_P99
# The vault's own counters over phase a: where decisions were made, what the group commit cost.
metric() { curl -s "$vault/metrics" | awk -v m="$1" '$1 == m { v = $2 } END { print (v == "" ? 0 : v) }'; }
counters() { for m in 'alter_token_decision_path_total{path="inline"}' 'alter_token_decision_path_total{path="worker"}' \
  alter_audit_commit_seconds_sum alter_audit_commit_seconds_count alter_audit_rows_total; do metric "$m"; done; }
mapfile -t counters_before < <(counters)
ticks_before=$(cpu_ticks $vault_pid)
wrk_run token -t$threads -c$conns -d${dur}s --latency -s "$work/token.lua" "$vault/oauth/token"
token_rps=$WRK_RPS token_p50=$WRK_P50 token_p99=$WRK_P99 token_errors=${WRK_NON2XX:-0}
# c. CPU per token decision: the vault's user + system time over that run, per request answered.
token_requests=$(awk '/requests in/ {print $1}' "$work/wrk-token.txt")
cpu_us=$(awk -v t=$(( $(cpu_ticks $vault_pid) - ticks_before )) -v hz="$(getconf CLK_TCK)" -v n="$token_requests" \
  'BEGIN { printf "%.1f", (n > 0 ? t / hz * 1e6 / n : 0) }')
mapfile -t counters_after < <(counters)
delta() { awk -v a="${counters_after[$1]}" -v b="${counters_before[$1]}" 'BEGIN { printf "%.6f", a - b }'; }
inline_decisions=$(delta 0 | cut -d. -f1) worker_decisions=$(delta 1 | cut -d. -f1)
commits=$(delta 3 | cut -d. -f1)
commit_ms=$(awk -v s="$(delta 2)" -v n="$commits" 'BEGIN { printf "%.3f", (n > 0 ? s * 1000 / n : 0) }')
rows_per_commit=$(awk -v r="$(delta 4)" -v n="$commits" 'BEGIN { printf "%.1f", (n > 0 ? r / n : 0) }')

echo "== e. p99 of POST /oauth/token at half the rate it saturated at" >&2
# wrk's delay() paces each connection; latency is counted from when a request is written.
half_rate=$(awk -v r="$token_rps" 'BEGIN { printf "%d", r / 2 }')
pace_ms=$(awk -v c=$conns -v r="$half_rate" 'BEGIN { d = (r > 0 ? c * 1000 / r : 1000); printf "%d", (d < 1 ? 1 : d) }')
sed "s/^request = function()/delay = function() return $pace_ms end\nrequest = function()/" "$work/token.lua" > "$work/token-paced.lua"
wrk_run token-half -t$threads -c$conns -d${dur}s --latency -s "$work/token-paced.lua" "$vault/oauth/token"
half_rps=$WRK_RPS half_p50=$WRK_P50 half_p99=$WRK_P99

echo "== b. SDK request() through the vault vs direct libcurl ($sdk_threads threads, ${dur}s)" >&2
sdk=$("$bench_bin" sdk --vault "$vault" --api-key "$api_key" --provider bench --url "$api_url" --users "$users" --threads $sdk_threads --seconds $dur)
direct=$("$bench_bin" direct --url "$api_url" --token bench-token-0 --threads $sdk_threads --seconds $dur)
echo "== b. the same, one request at a time" >&2
sdk1=$("$bench_bin" sdk --vault "$vault" --api-key "$api_key" --provider bench --url "$api_url" --users "$users" --threads 1 --seconds $dur)
direct1=$("$bench_bin" direct --url "$api_url" --token bench-token-0 --threads 1 --seconds $dur)
echo "== b. SDK proxy_request() one at a time (the vault makes the call)" >&2
sdkp1=$("$bench_bin" sdk --proxy 1 --vault "$vault" --api-key "$api_key" --provider bench --url "$api_url" --users "$users" --threads 1 --seconds $dur)

echo "== c. 1,000 concurrent SDK requests on one expired token" >&2
"$bench_bin" import --vault "$vault" --admin-token "$admin_token" --provider bench --users 1 --user stampede --expires-in -10 --threads 1 >/dev/null
refreshes_before=$(wc -l < "$work/nginx/logs/token.log" 2>/dev/null || echo 0)
stampede=$("$bench_bin" stampede --vault "$vault" --api-key "$api_key" --provider bench --url "$api_url" --user stampede --requests 1000)
refreshes=$(( $(wc -l < "$work/nginx/logs/token.log") - refreshes_before ))

echo "== d. memory: vault RSS under ${load}s of load; SDK RSS after $sdk_requests requests" >&2
samples=()
wrk -t$threads -c$conns -d${load}s -s "$work/token.lua" "$vault/oauth/token" > "$work/wrk-load.txt" &
load_pid=$!
for _ in $(seq 1 $(( load / 10 ))); do sleep 10; samples+=("$(rss_kib $vault_pid)"); done
wait $load_pid
sleep 5
rss_after=$(rss_kib $vault_pid)
sdk_mem=$("$bench_bin" sdk-memory --vault "$vault" --api-key "$api_key" --provider bench --url "$api_url" --users "$users" --requests $sdk_requests)
verify=$("$vault_bin" audit verify)
INFLIGHT=null
[ "$skip_inflight" = 1 ] || inflight_phase
PROXY_INFLIGHT=null
[ "$skip_inflight" = 1 ] || proxy_inflight_phase

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }'; }
j() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }
token_vs_nginx=$(ratio "$token_rps" "$nginx_rps")
sdk_vs_direct=$(ratio "$(j "$sdk" mean_ms)" "$(j "$direct" mean_ms)")
sdk_vs_direct_1=$(ratio "$(j "$sdk1" p50_ms)" "$(j "$direct1" p50_ms)")
proxy_vs_direct_1=$(ratio "$(j "$sdkp1" p50_ms)" "$(j "$direct1" p50_ms)")
rss_peak=$(printf '%s\n' "${samples[@]}" | sort -n | tail -1)

cat > "$output" <<JSON
{
  "commit": "$(git rev-parse HEAD 2>/dev/null || echo unknown)",
  "date": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "machine": {"cpus": $(nproc), "model": "$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)", "kernel": "$(uname -r)"},
  "quick": $quick,
  "setup": {"connections": $users, "policy_rules": 100, "wrk_threads": $threads, "wrk_connections": $conns, "seconds": $dur, "sdk_threads": $sdk_threads},
  "token_endpoint": {"rps": $token_rps, "p50_ms": $token_p50, "p99_ms": $token_p99, "non_2xx": ${token_errors:-0}},
  "nginx_static": {"rps": $nginx_rps, "p50_ms": $nginx_p50, "p99_ms": $nginx_p99},
  "token_vs_nginx_rps": $token_vs_nginx,
  "sdk_through_vault": $sdk,
  "direct_libcurl": $direct,
  "sdk_vs_direct_latency": $sdk_vs_direct,
  "sdk_one_at_a_time": $sdk1,
  "direct_one_at_a_time": $direct1,
  "sdk_vs_direct_p50_one_at_a_time": $sdk_vs_direct_1,
  "cpu_us_per_token_decision": $cpu_us,
  "token_decisions": {"inline": ${inline_decisions:-0}, "worker": ${worker_decisions:-0}},
  "audit_group_commit": {"commits": ${commits:-0}, "mean_ms": $commit_ms, "rows_per_commit": $rows_per_commit},
  "token_at_half_rate": {"target_rps": $half_rate, "rps": $half_rps, "p50_ms": $half_p50, "p99_ms": $half_p99},
  "stampede": {"result": $stampede, "refreshes_at_provider": $refreshes},
  "memory": {"vault_rss_kib_before": $rss_before, "vault_rss_kib_during": [$(IFS=,; echo "${samples[*]}")], "vault_rss_kib_after": $rss_after, "sdk": $sdk_mem},
  "inflight": $INFLIGHT,
  "sdk_proxy_one_at_a_time": $sdkp1,
  "proxy_vs_direct_p50_one_at_a_time": $proxy_vs_direct_1,
  "proxy_inflight": $PROXY_INFLIGHT
}
JSON

printf '\n%-48s %14s %14s %10s\n' "measurement" "vault" "baseline" "ratio"
printf '%-48s %14s %14s %10s\n' "POST /oauth/token req/s (vs nginx static JSON)" "$token_rps" "$nginx_rps" "$token_vs_nginx"
printf '%-48s %14s %14s\n' "  p50 / p99 ms" "$token_p50 / $token_p99" "$nginx_p50 / $nginx_p99"
printf '%-48s %14s %14s %10s\n' "SDK request() mean ms (vs direct libcurl)" "$(j "$sdk" mean_ms)" "$(j "$direct" mean_ms)" "$sdk_vs_direct"
printf '%-48s %14s %14s\n' "  throughput req/s" "$(j "$sdk" rps)" "$(j "$direct" rps)"
printf '%-48s %14s %14s %10s\n' "  one at a time: median ms" "$(j "$sdk1" p50_ms)" "$(j "$direct1" p50_ms)" "$sdk_vs_direct_1"
printf '%-48s %14s %14s %10s\n' "SDK proxy_request() one at a time: median ms" "$(j "$sdkp1" p50_ms)" "$(j "$direct1" p50_ms)" "$proxy_vs_direct_1"
printf '%-48s %14s\n' "CPU per token decision, us" "$cpu_us"
printf '%-48s %14s\n' "  decided inline / on a worker" "$inline_decisions / $worker_decisions"
printf '%-48s %14s\n' "  audit group commit: mean ms / rows per commit" "$commit_ms / $rows_per_commit"
printf '%-48s %14s\n' "token p99 ms at half that rate ($half_rps req/s)" "$half_p99"
printf '%-48s %14s\n' "refreshes for 1,000 requests on an expired token" "$refreshes"
printf '%-48s %14s\n' "  slowest of those requests, ms" "$(j "$stampede" slowest_ms)"
printf '%-48s %14s\n' "vault RSS KiB before / peak during / after" "$rss_before / $rss_peak / $rss_after"
printf '%-48s %14s\n' "SDK RSS KiB after 10k / after all requests" "$(j "$sdk_mem" rss_kib_after_10k) / $(j "$sdk_mem" rss_kib_after_all)"
printf '%-48s %s\n' "audit chain after the run" "$verify"
if [ "$INFLIGHT" != null ]; then
  jf() { python3 -c "import json,sys; d=json.loads(sys.argv[1]); print(eval(sys.argv[2], {}, d))" "$INFLIGHT" "$1"; }
  printf '%-48s %14s\n' "$inflight_users refreshes in flight: all answered, s" "$(jf 'result["total_seconds"]')"
  printf '%-48s %14s\n' "  ok / provider max in flight" "$(jf 'result["ok"]') / $(jf 'provider["max_in_flight"]')"
  printf '%-48s %14s\n' "  provider saw the first / last refresh at, ms" "$(jf 'provider_first_after_ms') / $(jf 'provider_last_after_ms')"
  printf '%-48s %14s\n' "  CPU s: vault / vault + driver + provider" "$(jf 'vault_cpu_seconds') / $(jf 'all_cpu_seconds')"
  printf '%-48s %14s\n' "  vault threads before / max, RSS KiB max" "$(jf 'vault_threads_before') / $(jf 'vault_threads_max'), $(jf 'vault_rss_kib_max')"
fi
if [ "$PROXY_INFLIGHT" != null ]; then
  pf() { python3 -c "import json,sys; d=json.loads(sys.argv[1]); print(eval(sys.argv[2], {}, d))" "$PROXY_INFLIGHT" "$1"; }
  printf '%-48s %14s\n' "$inflight_users proxied calls in flight: all answered, s" "$(pf 'result["total_seconds"]')"
  printf '%-48s %14s\n' "  ok / provider max in flight" "$(pf 'result["ok"]') / $(pf 'provider["max_in_flight"]')"
  printf '%-48s %14s\n' "  vault threads before / max" "$(pf 'vault_threads_before') / $(pf 'vault_threads_max')"
fi
printf '\ntargets: token/nginx >= 0.5 (%s), SDK/direct one at a time < 2.0 (%s; 8 threads %s), CPU per decision <= 50 us (%s), p99 at half rate < 5 ms (%s), refreshes == 1 (%s)\n' \
  "$token_vs_nginx" "$sdk_vs_direct_1" "$sdk_vs_direct" "$cpu_us" "$half_p99" "$refreshes"
echo "results: $output"
