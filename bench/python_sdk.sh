#!/usr/bin/env bash
# Python request() through the vault vs the C++ request(), in the same run, against the same
# `alter-vault dev` and its sandbox API (on the vault itself, loopback): one at a time and 100
# concurrent, with token handout off (the proxy, the default for new apps) and on (direct calls).
# Each figure is the median of RUNS runs (default 3) of N requests (default 2000), alternating
# C++ and Python; the ratio is Python / C++ per run.
#   bench/python_sdk.sh BUILD_DIR VENV_PYTHON        (e.g. build/release /tmp/venv/bin/python)
# The venv has alter_sdk installed (pip install ./python). Output: one JSON line per measurement,
# then a summary table.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$1" && pwd)
py=$2
vault_bin=$build/cli/alter-vault
bench_bin=$build/bench/alter_bench
runs=${RUNS:-3}
n=${N:-2000}
work=$(mktemp -d)
"$vault_bin" dev --data-dir "$work/dev" --listen 127.0.0.1:0 --auto-consent > "$work/dev.log" 2>&1 &
dev_pid=$!
trap 'kill $dev_pid 2>/dev/null; wait $dev_pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 300); do [ -f "$work/dev/dev.env" ] && break; sleep 0.1; done
. "$work/dev/dev.env"
export ALTER_VAULT_URL ALTER_API_KEY ALTER_VAULT_ADMIN_TOKEN
for _ in $(seq 1 100); do curl -sf "$ALTER_VAULT_URL/readyz" >/dev/null && break; sleep 0.1; done
curl -sfL "$("$vault_bin" connect sandbox --user user_id=alice 2>/dev/null)" > /dev/null
url=$ALTER_CALENDAR_URL
results=$work/results.jsonl
for mode in proxy direct; do
  if [ "$mode" = direct ]; then "$vault_bin" apps update default --token-handout on > /dev/null; fi
  for c in 1 100; do
    for run in $(seq 1 "$runs"); do
      cpp=$("$bench_bin" sdk-rounds --vault "$ALTER_VAULT_URL" --api-key "$ALTER_API_KEY" --provider sandbox --url "$url" \
        --user alice --requests "$n" --concurrency "$c")
      python=$("$py" "$root/bench/python_sdk.py" "$ALTER_VAULT_URL" "$ALTER_API_KEY" sandbox "$url" alice "$n" "$c")
      echo "{\"mode\":\"$mode\",\"run\":$run,\"cpp\":$cpp,\"python\":$python}" | tee -a "$results"
    done
  done
done
python3 - "$results" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print("\n| mode | concurrency | C++ µs/request (median) | Python µs/request (median) | ratio per run | median ratio |")
print("| --- | --- | --- | --- | --- | --- |")
for mode in ("proxy", "direct"):
    for c in (1, 100):
        rs = [r for r in rows if r["mode"] == mode and r["cpp"]["concurrency"] == c]
        cpp = [r["cpp"]["per_request_us"] for r in rs]
        py = [r["python"]["per_request_us"] for r in rs]
        ratios = [p / q for p, q in zip(py, cpp)]
        print(f"| {mode} | {c} | {statistics.median(cpp):.0f} | {statistics.median(py):.0f} | "
              f"{' / '.join(f'{x:.2f}' for x in ratios)} | {statistics.median(ratios):.2f} |")
PY
