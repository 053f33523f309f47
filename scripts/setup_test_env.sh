#!/usr/bin/env bash
# System packages the tests need (Debian, as root): every scripts/system_deps/*.sh is
# sourced in turn; each installs one concern's packages and starts its services.
# Idempotent: a second run installs nothing new.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ] && ! command -v sudo >/dev/null; then
  echo "setup_test_env: needs root (or sudo) to install Debian packages" >&2
  exit 2
fi
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
export SUDO DEBIAN_FRONTEND=noninteractive
apt_install() {
  # Install only what is missing: apt-get update is the slow part.
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    if [ -z "${_APT_UPDATED:-}" ]; then $SUDO apt-get update -qq; _APT_UPDATED=1; fi
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}
export -f apt_install
for part in scripts/system_deps/*.sh; do
  [ -e "$part" ] || continue
  # shellcheck disable=SC1090
  source "$part"
done
