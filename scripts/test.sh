#!/usr/bin/env bash
# Sets up everything and runs all the tests (the README's second command; .ci/run calls it):
#   1. dependencies from Debian packages (scripts/install-deps.sh)
#   2. Release build with -Werror (libraries, server, CLI, tests, benchmarks) and every ctest label
#      (unit, integration, e2e, docs, compat: the real alter-sdk 0.1.1 from PyPI, python: the Python
#      SDK pip-installed into a fresh venv and its pytest suite)
#   3. the SDK installed to a prefix, and examples/ built against it as a separate CMake project,
#      plus a pkg-config build of one example
#   4. the asan-ubsan build and its tests
#   5. the libFuzzer targets (clang), each run for a bounded time
# Environment: ALTER_TEST_JOBS (default: cores), ALTER_FUZZ_SECONDS (default 20),
#              ALTER_SKIP_ASAN=1 / ALTER_SKIP_FUZZ=1 to skip those stages locally.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
jobs=${ALTER_TEST_JOBS:-$(nproc)}
fuzz_seconds=${ALTER_FUZZ_SECONDS:-20}
# ccache hits across build directories (paths are rewritten relative to the checkout).
export CCACHE_BASEDIR=$root
export CCACHE_NOHASHDIR=1

step() { printf '\n=== %s ===\n' "$*"; }

step "dependencies"
scripts/install-deps.sh build test

step "release build"
cmake --preset release
cmake --build --preset release -j "$jobs"

step "release tests"
ctest --preset release -j "$jobs"

step "installed SDK: examples/ as a separate project"
rm -rf build/release/install build/examples
cmake --install build/release --prefix build/release/install >/dev/null
cmake -S examples -B build/examples -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$root/build/release/install" -DCMAKE_CXX_COMPILER_LAUNCHER=ccache
cmake --build build/examples -j "$jobs"
PKG_CONFIG_PATH="$root/build/release/install/lib/pkgconfig" \
  sh -c 'c++ -std=c++20 -Iexamples examples/simple_get.cpp $(pkg-config --cflags --libs alter-sdk) -o build/examples/simple_get_pkgconfig'
echo "examples built against the installed package (CMake and pkg-config)"

if [ "${ALTER_SKIP_ASAN:-0}" != 1 ]; then
  step "asan-ubsan build and tests"
  cmake --preset asan-ubsan
  cmake --build --preset asan-ubsan -j "$jobs"
  ctest --preset asan-ubsan -j "$jobs" -LE "docs|compat|python"
fi

if [ "${ALTER_SKIP_FUZZ:-0}" != 1 ]; then
  step "fuzzers (${fuzz_seconds}s each)"
  cmake --preset fuzz
  cmake --build --preset fuzz -j "$jobs"
  while read -r fuzzer; do
    corpus_src=$(sed -n 's/^corpus=//p' "$fuzzer.corpus" 2>/dev/null || true)
    work=$(mktemp -d)
    [ -n "$corpus_src" ] && [ -d "$corpus_src" ] && cp -r "$corpus_src"/. "$work"/
    # Every parser also starts from inputs nested 100,000 levels deep (generated, ~200 KB each).
    python3 scripts/fuzz_seeds.py "$(basename "$fuzzer")" "$work"
    echo "--- $(basename "$fuzzer")"
    "$fuzzer" -max_total_time="$fuzz_seconds" -print_final_stats=1 "$work" 2>&1 | tail -4
    rm -rf "$work"
  done < <(find build/fuzz -type f -name '*_fuzz' -perm -u+x | sort)
fi

step "all tests passed"
