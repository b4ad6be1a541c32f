#!/usr/bin/env bash
# Installs governor's own files on a machine that has the packages (packages.sh): the binary and
# governorctl, the systemd units and HAProxy drop-in, /etc/governor, sysctl settings, directories
# with their owners; enables governor and the etcd proxy and masks Debian's postgresql.service.
# Installs no secrets: /etc/governor/environment is written at launch, not here.
#
# ROOT=<dir> installs into that tree instead of / (tests do, then inspect it).
# GOVERNOR_BINARY: the single executable (make binary: dist/governor). Required.
set -euo pipefail

ROOT="${ROOT:-/}"
ROOT="${ROOT%/}"
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
FILES="$SRC/ami/files"

fail() {
  echo "install.sh: $*" >&2
  exit 1
}

[ -n "${GOVERNOR_BINARY:-}" ] || fail "GOVERNOR_BINARY: path of the governor executable (make binary: dist/governor) is required"
[ -f "$GOVERNOR_BINARY" ] || fail "GOVERNOR_BINARY: $GOVERNOR_BINARY does not exist"
id postgres >/dev/null 2>&1 || fail "OS user postgres does not exist: install the packages first (packages.sh)"
id haproxy >/dev/null 2>&1 || fail "OS user haproxy does not exist: install the packages first (packages.sh)"

# The executable; governorctl is the same file invoked under another name.
install -D -m 755 -o root -g root "$GOVERNOR_BINARY" "$ROOT/usr/local/bin/governor"
ln -sfn governor "$ROOT/usr/local/bin/governorctl"
version="$("$ROOT/usr/local/bin/governor" --version)" || fail "$ROOT/usr/local/bin/governor --version failed"
echo "install.sh: governor $version"
install -D -m 644 "$SRC/README.md" "$ROOT/usr/local/share/doc/governor/README.md"

# Units. /etc/systemd/system: these are the administrator's units, not a package's.
install -D -m 644 "$SRC/systemd/governor.service" "$ROOT/etc/systemd/system/governor.service"
install -D -m 644 "$SRC/systemd/etcd-proxy.service" "$ROOT/etc/systemd/system/etcd-proxy.service"
install -D -m 644 "$SRC/systemd/haproxy-governor.conf" "$ROOT/etc/systemd/system/haproxy.service.d/governor.conf"

# Configuration: readable by governor (postgres) and by wal-push/wal-fetch, which PostgreSQL runs.
install -d -m 755 -o root -g root "$ROOT/etc/governor"
install -m 640 -o root -g postgres "$FILES/governor.yml" "$ROOT/etc/governor/governor.yml"
install -m 644 -o root -g root "$FILES/environment.example" "$ROOT/etc/governor/environment.example"

install -D -m 644 "$FILES/sysctl-governor.conf" "$ROOT/etc/sysctl.d/60-governor.conf"

# PostgreSQL: governor creates the data directory (0700) under /var/lib/postgresql/15 and writes
# its log, .pgpass, environment file (0600), fence pid file and archive spool beside it, as postgres.
install -d -m 755 -o postgres -g postgres "$ROOT/var/lib/postgresql" "$ROOT/var/lib/postgresql/15"

# HAProxy runs as haproxy (the drop-in) and reads the haproxy.cfg governor (postgres) renames into
# /etc/haproxy/governor, a directory of governor's own. /etc/haproxy stays root:root 0755 as the
# package made it: root (dpkg) writes there, so postgres must not. An older image's statoverride
# that opened /etc/haproxy to postgres is removed.
if dpkg-statoverride --root="${ROOT:-/}" --list /etc/haproxy >/dev/null; then
  dpkg-statoverride --root="${ROOT:-/}" --remove /etc/haproxy
fi
install -d -m 755 -o root -g root "$ROOT/etc/haproxy"
install -d -m 755 -o postgres -g postgres "$ROOT/etc/haproxy/governor"
install -m 644 -o postgres -g postgres "$FILES/haproxy.cfg" "$ROOT/etc/haproxy/governor/haproxy.cfg"

# Debian's postgresql.service would start every cluster in /etc/postgresql; governor starts the
# only one. Masked rather than disabled, so a package upgrade cannot enable it again.
systemctl --root="${ROOT:-/}" mask postgresql.service
systemctl --root="${ROOT:-/}" enable governor.service etcd-proxy.service haproxy.service
