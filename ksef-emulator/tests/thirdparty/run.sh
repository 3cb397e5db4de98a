#!/usr/bin/env bash
# Third-party proof: the PyPI package ksef-client (unmodified) runs a full flow against the
# emulator's `serve` example. Needs python3 with venv, network access to PyPI (or wheels in
# PIP_FIND_LINKS) and a loopback alias for the storage host (KSEF_STORAGE_HOST, default
# ksef-storage.test) in /etc/hosts.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
storage_host="${KSEF_STORAGE_HOST:-ksef-storage.test}"
venv="${KSEF_THIRDPARTY_VENV:-${CARGO_TARGET_DIR:-$root/target}/thirdparty-venv}"
template="${KSEF_INVOICE_TEMPLATE:-$root/../shared/fixtures/invoices/invoice-template-fa-3.xml}"

if ! getent hosts "$storage_host" | grep -Eq '^(127\.|::1)'; then
  echo "$storage_host does not resolve to loopback; add '127.0.0.1 $storage_host' to /etc/hosts" >&2
  exit 1
fi
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q --disable-pip-version-check "ksef-client[xml]==0.20.0" cryptography

cd "$root"
cargo build -q -p ksef-emulator --example serve
target="${CARGO_TARGET_DIR:-$root/target}"
out="$(mktemp)"
"$target/debug/examples/serve" --storage-host "$storage_host" >"$out" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; rm -f "$out"' EXIT
base=""
for _ in $(seq 1 100); do
  base="$(sed -n 's/^KSEF_EMULATOR_BASE_URL=//p' "$out")"
  [ -n "$base" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$out" >&2; exit 1; }
  sleep 0.1
done
[ -n "$base" ] || { echo "emulator did not start" >&2; cat "$out" >&2; exit 1; }
echo "emulator at $base (storage host $storage_host); ksef-client $("$venv/bin/pip" show ksef-client | sed -n 's/^Version: //p')"
timeout 300 "$venv/bin/python" "$here/flow.py" "$base" "$storage_host" "$template"
