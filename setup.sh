#!/usr/bin/env bash
# One-command set-up of a fresh machine: everything the tests and the main job need.
# Debian packages (with apt-get, as root or through sudo), the Python requirements, the edge
# router's npm packages. Safe to run again: it installs only what is missing. `.ci/run` calls it.
set -euo pipefail
cd "$(dirname "$0")"

# eSpeak NG is the offline TTS voice (and what the voice tests speak with); cloud-init's own
# `cloud-init schema` validates the GPU nodes' rendered user data; Graphviz's `dot` draws /api/media diagrams.
missing=()
command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)
command -v cloud-init >/dev/null 2>&1 || missing+=(cloud-init)
command -v dot >/dev/null 2>&1 || missing+=(graphviz)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

python3 -m pip install -q --disable-pip-version-check -r requirements.txt -r runtime/requirements.txt -r runtime/requirements-media.txt -r requirements-dev.txt

# npm packages of the edge router's Workers-runtime tests.
if [ -f components/edge_worker/package.json ]; then
  command -v npm >/dev/null 2>&1 || { echo "setup.sh: npm is missing; install Node.js 20+ (https://nodejs.org/)" >&2; exit 2; }
  (cd components/edge_worker && npm ci --no-audit --no-fund --loglevel=error)
fi

echo "set-up complete. The tests also need PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379 (README \"Tests\")."
