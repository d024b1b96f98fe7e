#!/usr/bin/env bash
# The real alter-sdk 0.1.1 (PyPI, pinned with its dependencies in requirements-alter-sdk-0.1.txt)
# against `alter-vault dev`: alter_sdk_0_1.py checks what docs/protocol.md says a 0.1 client gets.
#   tests/compat/alter_sdk_0_1_test.sh SOURCE_DIR ALTER_VAULT_BINARY
# The venv is kept in the build tree (keyed by the requirements file) so reruns do not reinstall.
set -euo pipefail
src=$(cd "$1" && pwd)
binary=$2
. "$src/tests/docs/lib.sh"
req=$src/tests/compat/requirements-alter-sdk-0.1.txt
venv=$(dirname "$binary")/compat-venv-$(sha256sum "$req" | cut -c1-12)
if [ ! -x "$venv/bin/python" ]; then
  rm -rf "$venv.tmp"
  python3 -m venv "$venv.tmp"
  "$venv.tmp/bin/pip" install -q --disable-pip-version-check --no-deps -r "$req"
  mv "$venv.tmp" "$venv"
fi
mkdir -p "$home/.local/bin"
ln -s "$(cd "$(dirname "$binary")" && pwd)/$(basename "$binary")" "$home/.local/bin/alter-vault"
export PATH="$home/.local/bin:$PATH"
start_dev "$work/dev"
# alter-sdk 0.1 calls providers with the token it is handed: the app must hand tokens out (off for
# new apps since the proxy; docs/protocol.md#compatibility).
alter-vault apps update default --token-handout on > /dev/null
connect_alice
COMPAT_WORK=$work "$venv/bin/python" "$src/tests/compat/alter_sdk_0_1.py"
