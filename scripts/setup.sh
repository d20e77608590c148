#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs the Debian 12 packages smtpcore needs (build, tests, bindings, interop peers).
# Idempotent: installs only what is missing. Needs root (or sudo) the first time.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config clang libclang-rt-14-dev
  libcriterion-dev doxygen gcovr valgrind libssl-dev openssl
  python3-cffi python3-pytest python3-hypothesis python3-aiosmtpd python3-setuptools
  python3-venv python3-dev python3-pip
  luajit2 libluajit2-5.1-dev lua-socket lua-sec lua-busted
  nginx libnginx-mod-http-lua lua-resty-core
  postfix swaks libnet-ssleay-perl gnuplot-nox procps
  haproxy dovecot-core dovecot-lmtpd libnginx-mod-mail python3-uvloop mypy strace
  man-db
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "setup: installing ${missing[*]}" >&2
# Postfix asks debconf questions otherwise; we never use the system-wide instance.
echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The packages may start system services; the tests run their own instances on free
# ports, so stop the system ones to keep the machine quiet (ignore failures: no systemd).
for svc in postfix nginx haproxy dovecot; do
  $SUDO service "$svc" stop >/dev/null 2>&1 || true
done
