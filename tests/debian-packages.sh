# shellcheck shell=bash
# Sourced by scripts/test.sh and tests/container/install-podman.sh: the Debian 12 packages the tests
# run, listed once, and the one way they are checked and installed.

# The container runtime the end-to-end test plays the Deployments in, debootstrap and the archive
# keyring for its local image, and curl (tests/container/kube-play-trial.sh reaches the pods with it).
PODMAN_PACKAGES="podman runc conmon netavark aardvark-dns iptables catatonit debootstrap debian-archive-keyring ca-certificates curl"
# Everything the tests run: headless Chromium opens the live page, promtool (package prometheus)
# checks the alert rules, jq reads the log lines for scripts/find-event.sh, curl stands in for the
# send-event pod, and the container runtime above.
TEST_PACKAGES="chromium prometheus jq ${PODMAN_PACKAGES}"

# Makes sure the given packages (name or name=version) are installed and says so in one line that
# starts with $1: all present; or, as root, installing the missing ones (one apt-get update, one
# apt-get install, without recommends); or, as anyone else, the command to run, and status 1.
ensure_packages() {
  local prefix=$1 pkg missing=()
  shift
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "${pkg%%=*}" 2>/dev/null | grep -q 'install ok installed' || missing+=("${pkg}")
  done
  if ((${#missing[@]} == 0)); then
    echo "${prefix} all present"
  elif [[ $(id -u) -ne 0 ]]; then
    echo "${prefix} missing ${missing[*]}; to install them, run: sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    return 1
  else
    echo "${prefix} installing ${missing[*]}"
    apt-get update -qq \
      && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}
