#!/usr/bin/env bash
# Installs the container runtime that the end-to-end test plays the rendered
# Deployments in: podman with runc, netavark, and debootstrap for the local image.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../debian-packages.sh
source "${here}/../debian-packages.sh"

# Debian 12 (bookworm) packages, listed in tests/debian-packages.sh. Versions are
# whatever bookworm ships (podman 4.3.x); pin one with
# PACKAGES="podman=4.3.1+ds1-8+deb12u1+b3 runc ...".
PACKAGES=${PACKAGES:-${PODMAN_PACKAGES}}

usage() {
  cat <<EOF
Usage: $(basename "$0") [-h]

Makes sure these Debian 12 packages are installed: ${PACKAGES}
As root, installs the missing ones with apt-get; as anyone else, stops naming
the command to run. Then prints the versions. scripts/test.sh installs the same
packages with the others the tests need.

Environment:
  PACKAGES   apt package list, name or name=version  (default: as above)
EOF
}

log() { printf '[install-podman] %s\n' "$*"; }

main() {
  if [[ ${1:-} == -h || ${1:-} == --help ]]; then usage; exit 0; fi
  if [[ $# -gt 0 ]]; then usage >&2; exit 2; fi

  # shellcheck disable=SC2086 # the list is meant to split into words
  ensure_packages "[install-podman] packages:" ${PACKAGES}

  log "podman      $(podman --version)"
  log "runc        $(runc --version | head -n 1)"
  log "conmon      $(conmon --version | head -n 1)"
  log "netavark    $(/usr/lib/podman/netavark --version)"
  log "debootstrap $(dpkg-query -W -f='${Version}' debootstrap)"
}

main "$@"
