#!/usr/bin/env bash
# Runs the whole test suite (tests/, JUnit Jupiter through Maven) and ends with one line:
# "N passed, M failed, K skipped", summed from the Surefire reports.
set -euo pipefail

usage() {
  cat <<USAGE
usage: scripts/test.sh [maven arguments...]

Runs every test in tests/ (JUnit Jupiter via Maven Surefire) and prints a final
"N passed, M failed, K skipped" line. Extra arguments go to Maven, for example
  scripts/test.sh -Dtest='Consumer*'     # one group of tests
Needs a JDK 17+ and Maven; JBang is fetched by scripts/jbang when a test needs it.
USAGE
}

main() {
  if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then usage; exit 0; fi
  local root reports status=0
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  reports="$root/tests/target/surefire-reports"
  rm -rf "$reports"
  mvn -B -ntp -f "$root/tests/pom.xml" test "$@" || status=$?
  summarize "$reports"
  return "$status"
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
