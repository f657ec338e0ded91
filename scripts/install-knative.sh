#!/usr/bin/env bash
# Installs Knative Eventing for the demo: the newest release that supports the cluster's Kubernetes,
# in Knative's order (CRDs, core, in-memory channel, multi-tenant channel Broker, optionally the
# Kafka parts a component needs), each file checked against its SHA-256 in scripts/knative.lock
# before it is applied, each step waited on with kubectl wait.
set -euo pipefail

KUBECTL="${KUBECTL:-kubectl}"
TIMEOUT="${TIMEOUT:-300s}"
KNATIVE_VERSION="${KNATIVE_VERSION:-}"
KNATIVE_RELEASE_URL="${KNATIVE_RELEASE_URL:-https://github.com/knative/eventing/releases/download}"
KNATIVE_KAFKA_RELEASE_URL="${KNATIVE_KAFKA_RELEASE_URL:-https://github.com/knative-extensions/eventing-kafka-broker/releases/download}"
KNATIVE_LOCK="${KNATIVE_LOCK:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/knative.lock}"
KUBERNETES_VERSION=""
WITH=()
MODE=install
WORK=""
# Set when the same release is installed already: its files are neither downloaded nor applied again.
SKIP_EVENTING=false

# Which Knative release supports which Kubernetes: the minimum Kubernetes version each Knative
# release refuses to start below is defaultMinimumVersion (DefaultKubernetesMinVersion since 1.22)
# in knative/pkg version/version.go on the release's branch, release-1.12 ... release-1.22.
# The eventing tag is the newest patch of knative/eventing for that minor, the kafka tag the
# newest of knative-extensions/eventing-kafka-broker (their git tags, as of knative-v1.22.2).
# Knative names no maximum; release-1.23 of knative/pkg also asks for v1.34, and eventing has no
# 1.23 release yet. Kubernetes 1.26 is the oldest the demo supports, so the table starts at 1.12.
#   knative  min-kubernetes  eventing          eventing-kafka-broker
readonly MATRIX="
1.22 1.34 knative-v1.22.2 knative-v1.22.3
1.21 1.33 knative-v1.21.4 knative-v1.21.5
1.20 1.32 knative-v1.20.3 knative-v1.20.3
1.19 1.32 knative-v1.19.8 knative-v1.19.11
1.18 1.31 knative-v1.18.4 knative-v1.18.2
1.17 1.30 knative-v1.17.6 knative-v1.17.3
1.16 1.28 knative-v1.16.7 knative-v1.16.3
1.15 1.28 knative-v1.15.5 knative-v1.15.8
1.14 1.28 knative-v1.14.7 knative-v1.14.14
1.13 1.27 knative-v1.13.8 knative-v1.13.11
1.12 1.26 knative-v1.12.6 knative-v1.12.9
"
readonly OLDEST_KUBERNETES=1.26
readonly EVENTING_FILES=(eventing-crds.yaml eventing-core.yaml in-memory-channel.yaml mt-channel-broker.yaml)

usage() {
  cat <<EOF
Usage: $(basename "$0") [--version RELEASE] [--with PART]... [--dry-run] [--kubernetes-version vX.Y.Z]
                         [--update-lock] [--timeout DURATION]

Installs Knative Eventing: CRDs (waits until Established), core, in-memory channel and
multi-tenant channel-based Broker (waits until every Deployment in knative-eventing is
Available). Without --version it picks the newest release that supports the cluster's
Kubernetes (v$OLDEST_KUBERNETES or newer; older clusters are refused). Every file is downloaded
to a temporary folder and checked against its SHA-256 in $(basename "$KNATIVE_LOCK") before anything is
applied; a file without a pinned checksum, or one that does not match, stops the script before
it changes the cluster. Run again on the same release, it says so and changes nothing.

  --version RELEASE          a release instead, e.g. knative-v1.20.3 or 1.20
  --with PART                also a part a component needs, from eventing-kafka-broker: kafka-broker
                             (k8s/components/kafka-broker), kafka-channel (k8s/components/kafka-channel),
                             kafka-sink and kafka-source (k8s/components/kafka-dead-letters; the
                             source also serves scripts/replay.sh); the Kafka cluster is yours to provide
  --dry-run                  print the plan (release, files, checksums) and change nothing
  --kubernetes-version V     plan for this Kubernetes version instead of asking the cluster
                             (with --dry-run or --update-lock no cluster is needed)
  --update-lock              download the release's files and record their SHA-256 in the lock
                             (run it where GitHub is reachable; review the diff; commit it)
  --timeout DURATION         how long each wait may take (default \$TIMEOUT, else 300s)
  -h, --help                 show this help

Environment: KUBECTL (kubectl), TIMEOUT (300s), KNATIVE_VERSION (as --version),
KNATIVE_RELEASE_URL ($KNATIVE_RELEASE_URL),
KNATIVE_KAFKA_RELEASE_URL ($KNATIVE_KAFKA_RELEASE_URL),
KNATIVE_LOCK (scripts/knative.lock).
EOF
}

fail() {
  echo "error: $*" >&2
  exit 1
}

parse_args() {
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --version | --with | --kubernetes-version | --timeout)
        [[ $# -ge 2 ]] || { echo "error: $1 needs a value" >&2; exit 2; }
        case "$1" in
          --version) KNATIVE_VERSION="$2" ;;
          --with)
            case $2 in
              kafka-broker | kafka-channel | kafka-sink | kafka-source) ;;
              *) echo "error: --with takes kafka-broker, kafka-channel, kafka-sink or kafka-source, not '$2'" >&2; exit 2 ;;
            esac
            WITH+=("$2") ;;
          --kubernetes-version) KUBERNETES_VERSION="$2" ;;
          *) TIMEOUT="$2" ;;
        esac
        shift
        ;;
      --dry-run) MODE=dry-run ;;
      --update-lock) MODE=update-lock ;;
      -h | --help) usage; exit 0 ;;
      *) echo "error: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
    shift
  done
}

# major.minor of v1.30.4-gke.1, 1.30 or knative-v1.20.3, as one comparable number.
version_number() {
  local version="${1#knative-}"
  version="${version#v}"
  [[ $version =~ ^([0-9]+)\.([0-9]+) ]] || return 1
  echo $((BASH_REMATCH[1] * 1000 + BASH_REMATCH[2]))
}

cluster_kubernetes_version() {
  local answer
  answer="$("$KUBECTL" get --raw /version)" || fail "the cluster of kubectl's current context is not reachable; to plan without one: --dry-run --kubernetes-version vX.Y.Z"
  sed -n 's/.*"gitVersion": *"\([^"]*\)".*/\1/p' <<<"$answer"
}

# Sets RELEASE (eventing tag), KAFKA_RELEASE and MIN_KUBERNETES from --version, or from the
# Kubernetes version: the newest release whose minimum it meets.
choose_release() {
  local kubernetes="$1" knative minimum eventing kafka
  if [[ -n $kubernetes ]]; then
    version_number "$kubernetes" >/dev/null || fail "'$kubernetes' is not a Kubernetes version such as v1.30.4"
    (($(version_number "$kubernetes") >= $(version_number "$OLDEST_KUBERNETES"))) ||
      fail "Kubernetes $kubernetes is too old: this demo supports v$OLDEST_KUBERNETES and newer (Knative 1.12, the oldest release it is tested against, needs v1.26). Upgrade the cluster."
  fi
  while read -r knative minimum eventing kafka; do
    [[ -n $knative ]] || continue
    if [[ -n $KNATIVE_VERSION ]]; then
      [[ $KNATIVE_VERSION == "$eventing" || $KNATIVE_VERSION == "$knative" || $KNATIVE_VERSION == "${eventing#knative-}" ]] || continue
      if [[ -n $kubernetes ]] && (($(version_number "$kubernetes") < $(version_number "$minimum"))); then
        fail "$eventing needs Kubernetes v$minimum or newer; this one is $kubernetes (without --version the newest release it supports is chosen)"
      fi
    elif (($(version_number "$kubernetes") < $(version_number "$minimum"))); then
      continue
    fi
    RELEASE="$eventing" KAFKA_RELEASE="$kafka" MIN_KUBERNETES="$minimum"
    return
  done <<<"$MATRIX"
  fail "no release $KNATIVE_VERSION in the matrix of $(basename "$0"): one of $(awk 'NF { printf "%s ", $3 }' <<<"$MATRIX")"
}

# The files to install, in order, one "project release file" per line.
plan() {
  local file part
  for file in "${EVENTING_FILES[@]}"; do echo "eventing $RELEASE $file"; done
  ((${#WITH[@]} > 0)) || return 0
  echo "eventing-kafka-broker $KAFKA_RELEASE eventing-kafka-controller.yaml"
  for part in $(printf '%s\n' "${WITH[@]}" | sort -u); do
    echo "eventing-kafka-broker $KAFKA_RELEASE eventing-$part.yaml"
  done
}

# The files this run applies: the plan, without Knative Eventing's own when it is installed already.
steps() {
  if [[ $SKIP_EVENTING == true ]]; then plan | grep -v '^eventing ' || true; else plan; fi
}

url_of() {
  case "$1" in
    eventing) echo "$KNATIVE_RELEASE_URL/$2/$3" ;;
    *) echo "$KNATIVE_KAFKA_RELEASE_URL/$2/$3" ;;
  esac
}

update_lock_command() {
  local part command="scripts/$(basename "$0") --update-lock --version $RELEASE"
  for part in ${WITH[@]+"${WITH[@]}"}; do command+=" --with $part"; done
  echo "$command"
}

pinned_checksum() {
  [[ ! -f $KNATIVE_LOCK ]] || awk -v p="$1" -v r="$2" -v f="$3" '$1 == p && $2 == r && $3 == f { print $4 }' "$KNATIVE_LOCK"
}

download() {
  echo "Downloading $(url_of "$1" "$2" "$3")"
  curl --fail --silent --show-error --location --output "$WORK/$3" "$(url_of "$1" "$2" "$3")"
}

print_plan() {
  local project release file sum
  echo "Plan: Knative Eventing $RELEASE (needs Kubernetes v$MIN_KUBERNETES or newer), in this order:"
  while read -r project release file; do
    sum="$(pinned_checksum "$project" "$release" "$file")"
    echo "  $(url_of "$project" "$release" "$file")"
    echo "      sha256 ${sum:-none pinned: the install refuses it until '$(update_lock_command)' records it}"
  done < <(plan)
  echo "Waits: CRDs Established after eventing-crds.yaml; every Deployment in knative-eventing Available after each other file."
}

update_lock() {
  local project release file sum
  touch "$KNATIVE_LOCK"
  while read -r project release file; do
    download "$project" "$release" "$file"
    sum="$(sha256sum "$WORK/$file" | cut -d' ' -f1)"
    awk -v p="$project" -v r="$release" -v f="$file" '!($1 == p && $2 == r && $3 == f)' "$KNATIVE_LOCK" >"$WORK/lock"
    echo "$project $release $file $sum" >>"$WORK/lock"
    cat "$WORK/lock" >"$KNATIVE_LOCK"
    echo "Recorded $project $release $file $sum"
  done < <(plan)
  echo "Updated $KNATIVE_LOCK: review the diff, then commit it."
}

# Downloads every file of the plan and checks it against the lock; nothing is applied unless all match.
download_and_verify() {
  local project release file sum missing=()
  while read -r project release file; do
    sum="$(pinned_checksum "$project" "$release" "$file")"
    [[ -n $sum ]] || missing+=("$project $release $file")
  done < <(steps)
  if ((${#missing[@]} > 0)); then
    fail "no pinned SHA-256 in $KNATIVE_LOCK for: $(printf '\n  %s' "${missing[@]}")
Nothing was applied. Where GitHub is reachable, record them with
  $(update_lock_command)
check the downloaded files (or the release's checksums.txt) against what it records, and commit the lock."
  fi
  : >"$WORK/SHA256SUMS"
  while read -r project release file; do
    download "$project" "$release" "$file"
    echo "$(pinned_checksum "$project" "$release" "$file")  $file" >>"$WORK/SHA256SUMS"
  done < <(steps)
  (cd "$WORK" && sha256sum --check --strict SHA256SUMS) ||
    fail "a downloaded file does not match its SHA-256 in $KNATIVE_LOCK (above): nothing was applied"
}

apply_in_order() {
  local project release file
  while read -r project release file; do
    echo "Applying $file ($release)"
    "$KUBECTL" apply --filename "$WORK/$file"
    if [[ $file == eventing-crds.yaml ]]; then
      echo "Waiting up to $TIMEOUT for the CRDs to be Established"
      "$KUBECTL" wait --for condition=Established --filename "$WORK/$file" --timeout "$TIMEOUT"
    else
      wait_available
    fi
  done < <(steps)
}

wait_available() {
  echo "Waiting up to $TIMEOUT for every Deployment in knative-eventing to be Available"
  "$KUBECTL" wait deployment --all --namespace knative-eventing --for condition=Available --timeout "$TIMEOUT" ||
    fail "Knative Eventing did not become Available in $TIMEOUT; see: kubectl --namespace knative-eventing get deployments,pods"
}

main() {
  parse_args "$@"
  local kubernetes="$KUBERNETES_VERSION" installed
  if [[ -z $kubernetes && ($MODE == install || -z $KNATIVE_VERSION) ]]; then
    kubernetes="$(cluster_kubernetes_version)"
    echo "Cluster: Kubernetes $kubernetes"
  fi
  choose_release "$kubernetes"
  WORK="$(mktemp -d)"
  trap 'rm -rf "$WORK"' EXIT
  case "$MODE" in
    dry-run) print_plan; return ;;
    update-lock) update_lock; return ;;
  esac

  installed="$("$KUBECTL" get namespace knative-eventing --ignore-not-found --output 'jsonpath={.metadata.labels.app\.kubernetes\.io/version}')"
  # The release label reads 1.22.2; a leading v is tolerated.
  installed="${installed#v}"
  if [[ -n $installed && $installed != "${RELEASE#knative-v}" ]]; then
    fail "Knative Eventing $installed is installed; this would install $RELEASE. Knative upgrades one minor version at a time (https://knative.dev/docs/install/upgrade/): pass --version to choose the next one."
  fi
  if [[ $installed == "${RELEASE#knative-v}" ]]; then
    echo "Knative Eventing $installed is already installed: its files are not applied again"
    SKIP_EVENTING=true
  fi
  if [[ -n $(steps) ]]; then
    download_and_verify
    apply_in_order
  else
    wait_available
  fi
  echo "Knative Eventing $RELEASE is ready. Next: scripts/deploy.sh"
}

main "$@"
