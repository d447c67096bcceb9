#!/usr/bin/env bash
# Install Azurite, Microsoft's storage emulator, for the state-backend end-to-end test
# (tests/e2e/test_state_backend.py): the version pinned in toolchain/azurite/package.json, every
# dependency as toolchain/azurite/package-lock.json locks it (`npm ci`), into the tools cache
# outside the repository. Reuses the install while the lock file is unchanged.
#
#   toolchain/azurite.sh          # install if needed; print the directory holding node_modules/
#   toolchain/azurite.sh where    # print that directory, install nothing
#
# 3.35.0: the newest release whose package.json allows Node 20 (`engines.node >=10.0.0`; 3.36.0
# wants >=21, 3.37.0 >=22: `npm view azurite@X engines.node`). It predates the storage API version
# Pulumi's azblob client sends (2026-06-06), so the test starts it with --skipApiVersionCheck.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
bin=$("$here/build.sh" where)
lock_sum=$(sha256sum "$here/azurite/package-lock.json" | cut -c1-16)
version=$(sed -n 's/.*"azurite": "\([0-9.]*\)".*/\1/p' "$here/azurite/package.json" | head -n 1)
dir="$(dirname "$bin")/azurite-$version"
if [[ "${1:-}" == "where" ]]; then
  echo "$dir"
  exit 0
fi
if [[ -x "$dir/node_modules/.bin/azurite-blob" && "$(cat "$dir/.lock-sum" 2>/dev/null)" == "$lock_sum" ]]; then
  echo "$dir"
  exit 0
fi
command -v npm >/dev/null || { echo "azurite: npm is needed (Node 20 or newer)" >&2; exit 1; }
echo "[toolchain $(date +%H:%M:%S)] installing azurite $version into $dir (npm ci, about 30 s)" >&2
rm -rf "$dir.partial"
mkdir -p "$dir.partial"
cp "$here/azurite/package.json" "$here/azurite/package-lock.json" "$dir.partial/"
npm ci --prefix "$dir.partial" --no-audit --no-fund --loglevel=error >&2
echo "$lock_sum" >"$dir.partial/.lock-sum"
rm -rf "$dir"
mv "$dir.partial" "$dir"
echo "$dir"
