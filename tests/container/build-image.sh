#!/usr/bin/env bash
# Builds, without any container registry, the local stand-in for the stock
# eclipse-temurin JDK image that the end-to-end test plays the Deployments in.
# Does nothing but check the image when it already exists with the same inputs.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=podman-env.sh
source "${here}/podman-env.sh"

DEBIAN_SUITE=${DEBIAN_SUITE:-bookworm}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-}
ROOTFS_PACKAGES=${ROOTFS_PACKAGES:-ca-certificates,p11-kit}
JDK_HOME=${JDK_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}
CACHE_DIR=${CACHE_DIR:-${XDG_CACHE_HOME:-${HOME}/.cache}/knative-demo}
DEBOOTSTRAP_TIMEOUT=${DEBOOTSTRAP_TIMEOUT:-600}
RUN_TIMEOUT=${RUN_TIMEOUT:-120}

# The image carries the hash of everything it is made from under this label.
INPUTS_LABEL=dev.knative.demo.standin.inputs-sha256

usage() {
  cat <<EOF
Usage: $(basename "$0") [-h]

Builds ${STANDIN_IMAGE} into the test's own podman storage
(tests/container/storage.conf): a debootstrap --variant=minbase Debian root
filesystem plus the host's Temurin JDK at /opt/java/openjdk, with the stock
image's JAVA_HOME, PATH, entrypoint /__cacert_entrypoint.sh and no curl or wget.
The root filesystem is cached as a tarball; the image is rebuilt only when an
input changes. Then checks it: no curl or wget, and java -version as UID 10001
on a read-only root filesystem. Run as root.

Environment (default):
  DEBIAN_SUITE         ${DEBIAN_SUITE}
  DEBIAN_MIRROR        the mirror apt on this machine uses for that suite
  ROOTFS_PACKAGES      ${ROOTFS_PACKAGES}   (debootstrap --include)
  JDK_HOME             ${JDK_HOME}
  STANDIN_JDK_VERSION  ${STANDIN_JDK_VERSION}   (must match JDK_HOME/release)
  STANDIN_IMAGE        ${STANDIN_IMAGE}
  CACHE_DIR            ${CACHE_DIR}
  DEBOOTSTRAP_TIMEOUT  ${DEBOOTSTRAP_TIMEOUT} s,  RUN_TIMEOUT ${RUN_TIMEOUT} s
EOF
}

log() { printf '[build-image] %s\n' "$*"; }
fail() { printf '[build-image] ERROR: %s\n' "$*" >&2; exit 1; }

scratch_dirs=()
cleanup() {
  local dir target
  for dir in "${scratch_dirs[@]}"; do
    # A debootstrap that was cut short can leave /proc or /sys mounted inside.
    while read -r target; do
      umount --lazy "${target}"
    done < <(findmnt --list --noheadings --output TARGET | grep -F "${dir}/" | sort -r)
    rm -rf --one-file-system "${dir}"
  done
}
trap cleanup EXIT

# Makes a directory under CACHE_DIR, removed on exit, and leaves its path in scratch_dir.
new_scratch_dir() {
  scratch_dir=$(mktemp -d "${CACHE_DIR}/$1.XXXXXX")
  scratch_dirs+=("${scratch_dir}")
}

preflight() {
  [[ $(id -u) -eq 0 ]] || fail "must run as root (debootstrap, podman storage under /var/lib)"
  local cmd
  for cmd in podman debootstrap tar sha256sum findmnt; do
    command -v "${cmd}" >/dev/null || fail "${cmd} not found: run tests/container/install-podman.sh"
  done
  grep -qx "JAVA_RUNTIME_VERSION=\"${STANDIN_JDK_VERSION}-LTS\"" "${JDK_HOME}/release" \
    || fail "${JDK_HOME} is not Temurin ${STANDIN_JDK_VERSION}: set JDK_HOME or STANDIN_JDK_VERSION"
  if [[ -z ${DEBIAN_MIRROR} ]]; then
    # shellcheck disable=SC2016 # $(REPO_URI) is apt's field syntax, not the shell's
    DEBIAN_MIRROR=$(apt-get indextargets --format '$(REPO_URI)' \
      "Codename: ${DEBIAN_SUITE}" 'Label: Debian' 'Created-By: Packages' | awk 'NR == 1')
    [[ -n ${DEBIAN_MIRROR} ]] || fail "apt knows no mirror for ${DEBIAN_SUITE}: set DEBIAN_MIRROR"
  fi
  mkdir -p "${CACHE_DIR}"
}

# Cache path of the root filesystem tarball: one per suite, mirror, packages and debootstrap.
rootfs_tarball() {
  local key
  key=$(printf '%s\n' "${DEBIAN_SUITE}" "${DEBIAN_MIRROR}" "${ROOTFS_PACKAGES}" \
    "$(dpkg-query -W -f='${Version}' debootstrap)" | sha256sum | cut -c1-12)
  printf '%s\n' "${CACHE_DIR}/rootfs-${DEBIAN_SUITE}-minbase-${key}.tar"
}

build_rootfs() {
  local tarball=$1 dir root binary
  if [[ -s ${tarball} && -s ${tarball}.sha256 ]]; then
    log "root filesystem cached: ${tarball}"
    return
  fi

  new_scratch_dir rootfs
  dir=${scratch_dir}
  root="${dir}/root"
  log "debootstrap --variant=minbase ${DEBIAN_SUITE} from ${DEBIAN_MIRROR} (log: ${dir}/debootstrap.log)"
  if ! timeout "${DEBOOTSTRAP_TIMEOUT}" debootstrap --variant=minbase --include="${ROOTFS_PACKAGES}" \
      "${DEBIAN_SUITE}" "${root}" "${DEBIAN_MIRROR}" >"${dir}/debootstrap.log" 2>&1; then
    tail -n 20 "${dir}/debootstrap.log" >&2
    fail "debootstrap failed"
  fi

  # minbase has no HTTP client; the image must prove the boot path needs none.
  for binary in curl wget; do
    [[ ! -e ${root}/usr/bin/${binary} ]] || fail "${binary} is in the root filesystem: drop what pulls it in from ROOTFS_PACKAGES"
  done
  # Package caches and host-specific files; podman provides hostname and resolv.conf.
  rm -rf "${root}"/var/cache/apt/archives/*.deb "${root}"/var/cache/apt/*.bin \
    "${root}"/var/lib/apt/lists/* "${root}/etc/hostname"
  : >"${root}/etc/resolv.conf"

  # Packed beside the root, then moved into the cache: a cut-short run leaves no half tarball.
  tar --numeric-owner --xattrs --exclude='./dev/*' -C "${root}" -cf "${dir}/rootfs.tar" .
  sha256sum "${dir}/rootfs.tar" | cut -c1-64 >"${tarball}.sha256"
  mv "${dir}/rootfs.tar" "${tarball}"
  log "root filesystem cached: ${tarball} ($(du -h "${tarball}" | cut -f1))"
}

# Hash of every input: root filesystem, JDK file list, Containerfile, entrypoint.
inputs_hash() {
  local tarball=$1
  {
    cat "${tarball}.sha256"
    printf '%s\n' "${STANDIN_JDK_VERSION}"
    (cd "${JDK_HOME}" && find . -printf '%p %s %m %T@\n' | LC_ALL=C sort)
    find "${JDK_HOME}" -type l -lname '/*' -exec sha256sum -b {} +
    cat "${here}/Containerfile" "${here}/__cacert_entrypoint.sh"
  } | sha256sum | cut -c1-64
}

build_image() {
  local tarball=$1 hash=$2 context link old_id new_id
  new_scratch_dir context
  context=${scratch_dir}
  ln "${tarball}" "${context}/rootfs.tar"
  cp -a "${JDK_HOME}" "${context}/openjdk"
  # Debian's packaging links lib/security/cacerts to the host's /etc/ssl/certs/java:
  # the image gets the file itself, as the JDK tarball in the real image has it.
  while IFS= read -r -d '' link; do
    cp --remove-destination "$(readlink -f "${link}")" "${link}"
  done < <(find "${context}/openjdk" -type l -lname '/*' -print0)
  cp "${here}/__cacert_entrypoint.sh" "${context}/"

  old_id=
  if podman image exists "${STANDIN_IMAGE}"; then
    old_id=$(podman image inspect --format '{{.Id}}' "${STANDIN_IMAGE}")
  fi
  log "building ${STANDIN_IMAGE}"
  podman build --quiet --pull=never --layers=false \
    --file "${here}/Containerfile" \
    --build-arg "JAVA_VERSION=jdk-${STANDIN_JDK_VERSION}" \
    --label "${INPUTS_LABEL}=${hash}" \
    --label "org.opencontainers.image.description=Local stand-in for eclipse-temurin:${STANDIN_JDK_VERSION/+/_}-jdk-noble" \
    --tag "${STANDIN_IMAGE}" "${context}" >/dev/null
  new_id=$(podman image inspect --format '{{.Id}}' "${STANDIN_IMAGE}")
  if [[ -n ${old_id} && ${old_id} != "${new_id}" ]]; then
    if podman rmi "${old_id}" >/dev/null 2>&1; then
      log "removed the previous build ${old_id:0:12}"
    else
      log "kept the previous build ${old_id:0:12}: a container still uses it"
    fi
  fi
}

check_image() {
  log "checking: layout, no curl or wget"
  # shellcheck disable=SC2016 # expanded by the shell inside the container
  timeout "${RUN_TIMEOUT}" podman run --rm --network none "${STANDIN_IMAGE}" bash -euc '
    [[ ${JAVA_HOME} == /opt/java/openjdk && $(command -v java) == /opt/java/openjdk/bin/java ]] \
      || { echo "JAVA_HOME or PATH wrong: ${JAVA_HOME} $(command -v java)"; exit 1; }
    for binary in curl wget; do
      if command -v "${binary}"; then echo "${binary} found"; exit 1; fi
    done
    [[ -s /etc/ssl/certs/ca-certificates.crt && -s ${JAVA_HOME}/lib/security/cacerts ]] \
      || { echo "CA certificates missing"; exit 1; }' \
    || fail "${STANDIN_IMAGE} does not have the expected layout"
  log "checking: java -version as UID 10001 on a read-only root filesystem"
  timeout "${RUN_TIMEOUT}" podman run --rm --network none --user 10001:10001 --read-only \
    "${STANDIN_IMAGE}" java -version 2>&1 | sed 's/^/[build-image]   /'
}

main() {
  if [[ ${1:-} == -h || ${1:-} == --help ]]; then usage; exit 0; fi
  if [[ $# -gt 0 ]]; then usage >&2; exit 2; fi
  preflight

  local tarball hash
  tarball=$(rootfs_tarball)
  build_rootfs "${tarball}"
  hash=$(inputs_hash "${tarball}")
  if podman image exists "${STANDIN_IMAGE}" \
      && [[ $(podman image inspect --format "{{index .Labels \"${INPUTS_LABEL}\"}}" "${STANDIN_IMAGE}") == "${hash}" ]]; then
    log "${STANDIN_IMAGE} is up to date (inputs ${hash:0:12})"
  else
    build_image "${tarball}" "${hash}"
    log "built ${STANDIN_IMAGE} (inputs ${hash:0:12})"
  fi
  check_image
  log "ready: ${STANDIN_IMAGE}"
}

main "$@"
