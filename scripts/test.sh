#!/usr/bin/env bash
# Sets up what the tests run, then runs the whole test suite (tests/, JUnit Jupiter through Maven)
# and ends with one line: "N passed, M failed, K skipped", summed from the Surefire reports.
set -euo pipefail

KUBECTL_DOCS=https://kubernetes.io/docs/tasks/tools/install-kubectl-linux/

usage() {
  cat <<USAGE
usage: scripts/test.sh [--busy N] [--setup-only | maven arguments...]

Sets up what the tests need, then runs every test in tests/ (JUnit Jupiter via
Maven Surefire) and prints a final "N passed, M failed, K skipped" line. Extra
arguments go to Maven, for example
  scripts/test.sh -Dtest='Consumer*'     # one group of tests

The setup, one line per step, before Maven starts:
  1. kubectl with kustomize built in (not a Debian package: get it from
     $KUBECTL_DOCS)
  2. the Debian 12 packages of tests/debian-packages.sh (chromium, prometheus
     for promtool, curl, podman and its runtime), plus maven when mvn is not on
     the PATH and openjdk-17-jdk-headless when no JDK 17+ is: as root, installs
     the missing ones with apt-get; as anyone else, stops and names the command
  3. the versions of java (17+ needed), mvn, kubectl and podman
JBang is fetched by scripts/jbang when a test needs it.

Options:
  --setup-only     set up, then exit without running the tests
  --busy N         keep N CPU-bound processes running beside the tests, the way to
                   check for flaky tests: CI shares a 2-core machine (--busy 2)
Environment:
  TEST_SETUP=skip  no setup: Maven starts at once (to run a few tests on a machine
                   that lacks what others need; those others then fail)
USAGE
}

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=../tests/debian-packages.sh
source "$root/tests/debian-packages.sh"

main() {
  local setup_only=0 busy=0 reports status=0
  while (($#)); do
    case "$1" in
      -h | --help) usage; exit 0 ;;
      --setup-only) setup_only=1; shift ;;
      --busy)
        [[ ${2:-} =~ ^[0-9]+$ ]] || { echo "test.sh: --busy takes a number of processes, not '${2:-}'" >&2; exit 2; }
        busy=$2; shift 2 ;;
      *) break ;;
    esac
  done
  if ((setup_only && $# > 0)); then usage >&2; exit 2; fi
  case "${TEST_SETUP:-run}" in
    run) setup ;;
    skip) echo "test.sh: setup skipped (TEST_SETUP=skip)" ;;
    *) echo "test.sh: TEST_SETUP is run or skip, not '$TEST_SETUP'" >&2; exit 2 ;;
  esac
  if ((setup_only)); then return 0; fi

  reports="$root/tests/target/surefire-reports"
  rm -rf "$reports"
  keep_busy "$busy"
  echo "test.sh: running the tests: mvn -B -ntp -f tests/pom.xml test${*:+ $*}"
  mvn -B -ntp -f "$root/tests/pom.xml" test "$@" || status=$?
  summarize "$reports"
  return "$status"
}

setup() {
  local kustomize wanted java mvn kubectl podman
  command -v kubectl >/dev/null || stop "kubectl not found. It is not a Debian package: install it (kustomize comes built in) as $KUBECTL_DOCS shows"
  kustomize="$(version 's/^Kustomize Version: //p' kubectl version --client)"
  [[ -n $kustomize ]] || stop "this kubectl has no kustomize built in: install kubectl 1.24+ as $KUBECTL_DOCS shows"
  progress 1 "kubectl with kustomize: $kustomize"

  wanted="$TEST_PACKAGES"
  (($(jdk_release) >= 17)) || wanted+=" openjdk-17-jdk-headless"
  command -v mvn >/dev/null || wanted+=" maven"
  # shellcheck disable=SC2086 # the list is meant to split into words
  ensure_packages "test.sh: [2/3] Debian packages:" $wanted

  (($(jdk_release) >= 17)) || stop "no JDK 17+ comes first on the PATH (java and javac): put one there"
  java="$(version 's/.*version "\([^"]*\)".*/\1/p' java -version)"
  mvn="$(version 's/.*Apache Maven \([^ ]*\).*/\1/p' mvn -B -v)"
  kubectl="$(version 's/^Client Version: //p' kubectl version --client)"
  podman="$(version 's/^podman version //p' podman --version)"
  progress 3 "versions: java $java, mvn $mvn, kubectl $kubectl, podman $podman"
}

progress() { echo "test.sh: [$1/3] $2"; }

# CPU-bound loops, named after this script's PID so they are easy to find, stopped on every exit.
keep_busy() {
  local count=$1 i
  ((count > 0)) || return 0
  trap 'kill $(jobs -p) 2>/dev/null; wait' EXIT
  for ((i = 0; i < count; i++)); do bash -c 'while :; do :; done' "test.sh-busy-$$" & done
  echo "test.sh: $count CPU-bound processes (test.sh-busy-$$) run beside the tests"
}

stop() {
  echo "test.sh: $*" >&2
  exit 1
}

# What a sed pattern picks from the first line it matches in a command's output (stdout and stderr:
# java -version writes to stderr); stops, showing the output, when the command fails.
version() {
  local pattern="$1" output
  shift
  output="$("$@" 2>&1)" || stop "$* failed: $output"
  sed -n "$pattern" <<<"$output" | sed -n 1p
}

# The feature release of the JDK on the PATH (17 for "17.0.15"), or 0 without java and javac.
jdk_release() {
  local release=0
  if command -v java >/dev/null && command -v javac >/dev/null; then
    release="$(version 's/.*version "\([0-9]*\).*/\1/p' java -version)"
  fi
  echo "${release:-0}"
}

# Surefire writes one TEST-*.xml per class; its <testsuite> element carries the counts.
summarize() {
  local reports="$1" tests=0 failures=0 errors=0 skipped=0 file line
  if compgen -G "$reports/TEST-*.xml" >/dev/null; then
    for file in "$reports"/TEST-*.xml; do
      line="$(grep -m1 -o '<testsuite [^>]*>' "$file")"
      tests=$((tests + $(attr tests "$line")))
      failures=$((failures + $(attr failures "$line")))
      errors=$((errors + $(attr errors "$line")))
      skipped=$((skipped + $(attr skipped "$line")))
    done
  fi
  echo "$((tests - failures - errors - skipped)) passed, $((failures + errors)) failed, $skipped skipped"
}

attr() {
  local value
  value="$(sed -n "s/.* $1=\"\([0-9]*\)\".*/\1/p" <<<"$2")"
  echo "${value:-0}"
}

main "$@"
