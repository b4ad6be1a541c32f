#!/usr/bin/env bash
# Installs the Debian packages a governor member needs: PostgreSQL 15 without Debian's default
# cluster, etcd (its binary runs the local gRPC proxy; etcdctl for operators), HAProxy, and curl and
# the AWS CLI for the instance's boot script (cloud/lib/boot-script.ts: IMDSv2, Secrets Manager).
#
# ROOT=/ (the default, the image build): installs for real.
# ROOT=<dir> (tests): apt cannot install into an arbitrary directory, so the same package set is
# only resolved (apt-get -s) against this machine's package lists, and the file this step writes
# goes under ROOT.
# SKIP_APT_UPDATE=1 skips `apt-get update` (the lists are fresh already).
set -euo pipefail

ROOT="${ROOT:-/}"
ROOT="${ROOT%/}"
simulate=()
[ -z "$ROOT" ] || simulate=(-s)

export DEBIAN_FRONTEND=noninteractive
apt_get() {
  # Another apt run (unattended-upgrades on a fresh instance) may hold the lock for a while.
  apt-get -o DPkg::Lock::Timeout=300 "$@"
}

[ "${SKIP_APT_UPDATE:-}" = 1 ] || [ -n "$ROOT" ] || apt_get update

# postgresql-common first: its createcluster.conf decides whether installing postgresql-15 runs
# initdb for a "main" cluster (it must not: governor owns the only data directory).
apt_get install -y --no-install-recommends "${simulate[@]}" postgresql-common
conf="$ROOT/etc/postgresql-common/createcluster.conf"
if [ ! -e "$conf" ]; then
  # Only under a test ROOT: postgresql-common's postinst writes it from this template.
  install -D -m 644 /usr/share/postgresql-common/createcluster.conf "$conf"
fi
pg_conftool "$conf" set create_main_cluster false
grep -Eq '^create_main_cluster = (false|off)$' "$conf"

apt_get install -y --no-install-recommends "${simulate[@]}" \
  postgresql-15 postgresql-client-15 etcd-server etcd-client haproxy ca-certificates curl awscli

if [ -z "$ROOT" ] && [ -d /etc/postgresql/15/main ]; then
  # A base image that already had PostgreSQL 15: governor must be the only one using port 5432.
  pg_dropcluster --stop 15 main
fi
