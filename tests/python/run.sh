#!/usr/bin/env bash
# The Python SDK's tests, as a Python user would run them:
#   1. `pip install ./python` into a fresh venv (build tools pinned in python/pyproject.toml and
#      python/build-constraints.txt, test tools in tests/python/requirements.txt, all from PyPI),
#   2. pytest over the installed package against a real `alter-vault dev`,
#   3. `python -m build` (an sdist, then a wheel built from that sdist alone), the wheel installed
#      into a second fresh venv and examples/python run with it, then the sdist pip-installed into a
#      third and the quick start run with it.
#   tests/python/run.sh SOURCE_DIR ALTER_VAULT_BINARY [pytest args...]
set -euo pipefail
src=$(cd "$1" && pwd)
binary=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
shift 2
build=$(dirname "$binary")/python-sdk
mkdir -p "$build"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
py=/usr/bin/python3
[ -x "$py" ] || py=python3
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_CONSTRAINT="$src/python/build-constraints.txt"
# ccache across rebuilds (the CMake tree in $build/cmake is kept, so a rerun rebuilds what changed).
if command -v ccache >/dev/null; then
  export CMAKE_ARGS="${CMAKE_ARGS:-} -DCMAKE_CXX_COMPILER_LAUNCHER=ccache"
  export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$src} CCACHE_NOHASHDIR=1
fi

echo "--- pip install ./python (fresh venv)"
"$py" -m venv "$work/venv"
"$work/venv/bin/pip" install -q --no-deps -r "$src/tests/python/requirements.txt"
(cd "$src" && "$work/venv/bin/pip" install -q --config-settings=build-dir="$build/cmake" ./python)

echo "--- pytest"
(cd "$src/tests/python" && ALTER_VAULT_BIN="$binary" "$work/venv/bin/python" -m pytest -q -p no:cacheprovider "$@")

echo "--- python -m build: sdist, then a wheel from the sdist; the wheel in a second fresh venv"
"$work/venv/bin/python" -m build --outdir "$work/dist" "$src/python" > "$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
ls "$work/dist"
sdist=$(ls "$work/dist"/alter_sdk-*.tar.gz)
wheel=$(ls "$work/dist"/alter_sdk-*.whl)
# The sdist carries the C++ sources it builds from, and no test or build leftovers.
tar -tzf "$sdist" > "$work/sdist.txt"
for f in src/native.cpp src/alter_sdk/py.typed cpp/sdk/src/vault.cpp cpp/sdk/include/alter/vault.hpp cpp/common/CMakeLists.txt cpp/CMakeLists.txt; do
  grep -q "/$f\$" "$work/sdist.txt" || { echo "the sdist lacks $f"; exit 1; }
done
! grep -E "_test\.cpp$|/build/|__pycache__" "$work/sdist.txt" || { echo "the sdist carries tests or build output"; exit 1; }
"$py" -m venv "$work/venv2"
"$work/venv2/bin/pip" install -q --no-deps -r "$src/tests/python/requirements.txt"
"$work/venv2/bin/pip" install -q --no-deps "$wheel"
(cd "$src/tests/python" && ALTER_VAULT_BIN="$binary" "$work/venv2/bin/python" -m pytest -q -p no:cacheprovider \
  examples_test.py)

echo "--- the sdist itself, pip-installed into a third fresh venv (it builds from its own copy of the sources)"
"$py" -m venv "$work/venv3"
"$work/venv3/bin/pip" install -q --no-deps -r "$src/tests/python/requirements.txt"
"$work/venv3/bin/pip" install -q "$sdist"
(cd "$src/tests/python" && ALTER_VAULT_BIN="$binary" "$work/venv3/bin/python" -m pytest -q -p no:cacheprovider \
  examples_test.py -k quickstart)
echo "python: all passed"
