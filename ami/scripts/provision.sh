#!/usr/bin/env bash
# The AMI's provisioning, run by Packer (ami/governor.pkr.hcl) as root on the build instance:
# packages, then governor's files, then a clean-up so the image carries no build leftovers.
# With ROOT=<dir> the same steps run against a scratch tree (the packaging tests do).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="${ROOT:-/}"

"$HERE/packages.sh"
"$HERE/install.sh"

if [ "$ROOT" = / ]; then
  apt-get clean
  rm -rf /var/lib/apt/lists/*
  # Every instance gets its own machine-id at first boot (systemd fills an empty file; cloud-init
  # regenerates the SSH host keys by itself).
  truncate -s 0 /etc/machine-id
fi
echo "provision.sh: done (root $ROOT)"
