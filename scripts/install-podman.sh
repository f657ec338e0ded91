#!/usr/bin/env bash
# Installs the container runtime that the end-to-end test plays the rendered
# Deployments in: podman with runc, netavark, and debootstrap for the local image.
set -euo pipefail

# Debian 12 (bookworm) packages. Versions are whatever bookworm ships (podman
# 4.3.x); pin one with PACKAGES="podman=4.3.1+ds1-8+deb12u1+b3 runc ...".
PACKAGES=${PACKAGES:-"podman runc conmon netavark aardvark-dns iptables catatonit debootstrap debian-archive-keyring ca-certificates curl"}

usage() {
  cat <<EOF
Usage: $(basename "$0") [-h]

Installs with apt-get, as root, on Debian 12: ${PACKAGES}
Does nothing but print versions when every package is already installed.

Environment:
  PACKAGES   apt package list, name or name=version  (default: as above)
EOF
}

log() { printf '[install-podman] %s\n' "$*"; }

missing_packages() {
  local pkg name
  for pkg in ${PACKAGES}; do
    name=${pkg%%=*}
    if ! dpkg-query -W -f='${Status}' "${name}" 2>/dev/null | grep -q 'install ok installed'; then
      printf '%s ' "${pkg}"
    fi
  done
}

main() {
  if [[ ${1:-} == -h || ${1:-} == --help ]]; then usage; exit 0; fi
  if [[ $# -gt 0 ]]; then usage >&2; exit 2; fi
  if [[ $(id -u) -ne 0 ]]; then
    log "must run as root (apt-get install)"; exit 1
  fi

  local missing
  missing=$(missing_packages)
  if [[ -n ${missing} ]]; then
    log "installing: ${missing}"
    apt-get update -qq
    # shellcheck disable=SC2086 # the list is meant to split into words
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ${missing}
  else
    log "all packages already installed"
  fi

  log "podman      $(podman --version)"
  log "runc        $(runc --version | head -n 1)"
  log "conmon      $(conmon --version | head -n 1)"
  log "netavark    $(/usr/lib/podman/netavark --version)"
  log "debootstrap $(dpkg-query -W -f='${Version}' debootstrap)"
}

main "$@"
