#!/usr/bin/env bash
# Installs every build and test dependency from Debian 12 packages (non-interactive).
#   scripts/install-deps.sh [build] [test] [bench] [e2e] [python]     (default: build)
# Packages already installed are skipped; when something is missing, apt-get update runs first.
set -euo pipefail

groups=("$@")
[ ${#groups[@]} -eq 0 ] && groups=(build)

build_pkgs=(build-essential cmake ninja-build ccache pkg-config git ca-certificates tzdata curl
  libboost1.81-dev libboost-url1.81-dev libcurl4-openssl-dev libssl-dev nlohmann-json3-dev
  libsqlite3-dev sqlite3 libpq-dev libcli11-dev libtomlplusplus-dev libhowardhinnant-date-dev)
# Tests: GoogleTest, Google Benchmark (benchmarks are built, not run), clang for libFuzzer and the
# sanitizers' runtime, PostgreSQL for the store conformance suite, Node.js and Chromium for the
# end-to-end test against a real OAuth server.
test_pkgs=(libgtest-dev libgmock-dev googletest libbenchmark-dev clang libclang-rt-14-dev lld python3 python3-venv python3-pip
  postgresql postgresql-contrib nghttp2-server openssl)
e2e_pkgs=(chromium)
# The Python package (python/): headers and venv; its Python tools come pinned from PyPI.
python_pkgs=(python3 python3-dev python3-venv python3-pip)
bench_pkgs=(libbenchmark-dev nginx-light wrk valgrind linux-perf procps)

want=()
for g in "${groups[@]}"; do
  case "$g" in
    build) want+=("${build_pkgs[@]}") ;;
    test) want+=("${build_pkgs[@]}" "${test_pkgs[@]}" "${e2e_pkgs[@]}" "${python_pkgs[@]}") ;;
    python) want+=("${build_pkgs[@]}" "${python_pkgs[@]}") ;;
    e2e) want+=("${e2e_pkgs[@]}") ;;
    bench) want+=("${build_pkgs[@]}" "${bench_pkgs[@]}") ;;
    *) echo "install-deps: unknown group '$g' (build, test, bench, e2e, python)" >&2; exit 2 ;;
  esac
done

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: run as root or install sudo" >&2; exit 1; }
  sudo="sudo"
fi

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js and npm: the web console is built with them (esbuild, from console/package-lock.json),
# any Node >= 18 (Debian 12 has 18). The tests want Node 20 (below). `command -v`, not dpkg: a
# Node.js from another repository (NodeSource) brings its own npm, and Debian's npm would clash.
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
# Node.js: the e2e peer (oidc-provider 9) wants Node 20; keep a Node >= 20 that is already there.
need_node=false
if [[ " ${groups[*]} " == *" test "* || " ${groups[*]} " == *" e2e "* ]]; then
  if ! command -v node >/dev/null || [ "$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)" -lt 20 ]; then
    need_node=true
    missing+=(nodejs)
  fi
fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if $need_node; then
  if ! command -v npm >/dev/null; then
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends npm >/dev/null
  fi
  major=$(node -p 'process.versions.node.split(".")[0]')
  if [ "$major" -lt 20 ]; then
    echo "install-deps: Node.js $major was installed; the e2e test needs Node.js 20 (add NodeSource's node_20.x repository)" >&2
    exit 1
  fi
fi
echo "install-deps: ready (${groups[*]})"
