#!/usr/bin/env bash
# Makes sure the Debian packages (and npm modules) sensord needs are present.
# As root it installs what is missing; otherwise it prints the exact command and fails.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=${1:-build}
build_pkgs=(gcc make pkg-config libc6-dev libmicrohttpd-dev libjansson-dev librdkafka-dev
  libcurl4-openssl-dev libinih-dev libnghttp2-dev libwslay-dev nettle-dev zlib1g-dev nodejs npm g++ libsimdjson-dev libzstd-dev)
test_pkgs=(check kcat curl jq chromium valgrind clang libclang-rt-14-dev python3 procps
  iproute2 wrk)

want=("${build_pkgs[@]}")
[ "$profile" = test ] && want+=("${test_pkgs[@]}")

missing=()
for p in "${want[@]}"; do
  case "$p" in
    # node and npm may come from outside Debian (nodesource, nvm): accept any on PATH.
    nodejs) command -v node >/dev/null 2>&1 && continue ;;
    npm) command -v npm >/dev/null 2>&1 && continue ;;
  esac
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "sensord: installing missing Debian packages: ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  else
    echo "sensord: missing Debian packages. Install them with:" >&2
    echo "  sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

# npm modules (uPlot for the dashboard; playwright-core, ws, ksqldb-client for tests),
# pinned by package-lock.json.
if [ -f package-lock.json ] && { [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; }; then
  echo "sensord: installing npm modules from package-lock.json" >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
fi
