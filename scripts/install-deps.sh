#!/usr/bin/env bash
# Installs what governor needs on Debian 12: PostgreSQL 15, etcd 3.4, HAProxy 2.6 (apt) and the
# npm packages (npm ci). Skips apt when everything is already there. Run as root or with sudo.
set -euo pipefail

need=()
[ -x /usr/lib/postgresql/15/bin/postgres ] || need+=(postgresql-15)
command -v etcd >/dev/null 2>&1 || need+=(etcd-server)
command -v etcdctl >/dev/null 2>&1 || need+=(etcd-client)
command -v haproxy >/dev/null 2>&1 || need+=(haproxy)
command -v lz4 >/dev/null 2>&1 || need+=(lz4)
command -v zstd >/dev/null 2>&1 || need+=(zstd)
# The TLS tests make their certificates with openssl.
command -v openssl >/dev/null 2>&1 || need+=(openssl)

if [ "${#need[@]}" -gt 0 ] || [ "${FORCE_APT:-}" = 1 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update
  $sudo apt-get install -y postgresql-15 etcd-server etcd-client haproxy lz4 zstd openssl
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
