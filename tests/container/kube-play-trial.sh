#!/usr/bin/env bash
# Proves the podman path of the end-to-end test on this machine: plays
# kube-play-trial.yaml as two pods on a bridge network of its own, reaches each
# at its own IP, stops and starts one (a warm start), and removes all it made
# except the stand-in image.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=podman-env.sh
source "${here}/podman-env.sh"

NETWORK=${NETWORK:-knative-demo-trial}
READY_TIMEOUT=${READY_TIMEOUT:-60}
PODS=(a b)
CONFIGMAP_VOLUME=trial-script

usage() {
  cat <<EOF
Usage: $(basename "$0") [-h]

Builds ${STANDIN_IMAGE} if needed (build-image.sh), creates the
podman network ${NETWORK}, plays tests/container/kube-play-trial.yaml once per
pod (${PODS[*]}) with a fixed IP and MAC, checks each pod over HTTP at its IP,
then stops and starts pod a and checks it again. Removes its pods, volumes and
network on exit, and any left by an earlier run on start. Run as root.

Environment (default):
  NETWORK        ${NETWORK}
  READY_TIMEOUT  ${READY_TIMEOUT} s per pod to answer HTTP
EOF
}

log() { printf '[kube-play-trial] %s\n' "$*"; }
fail() { printf '[kube-play-trial] FAILED: %s\n' "$*" >&2; exit 1; }

workdir=
remove_trial_objects() {
  local pod volume
  for pod in "${PODS[@]}"; do
    if podman pod exists "trial-${pod}-pod-0"; then
      podman pod rm --force --time 2 "trial-${pod}-pod-0" >/dev/null
    fi
    # emptyDir volumes go with their pod; one is left only if podman died in between.
    volume="trial-${pod}-tmp"
    if podman volume exists "${volume}"; then podman volume rm --force "${volume}" >/dev/null; fi
  done
  # The ConfigMap volume outlives every pod: podman never removes it by itself.
  if podman volume exists "${CONFIGMAP_VOLUME}"; then
    podman volume rm --force "${CONFIGMAP_VOLUME}" >/dev/null
  fi
  if podman network exists "${NETWORK}"; then podman network rm --force "${NETWORK}" >/dev/null; fi
}
# On failure, what podman saw: container states and the end of each trial container's log.
show_state() {
  local container
  podman ps --all --format '{{.Names}}  {{.Status}}' >&2
  for container in $(podman ps --all --format '{{.Names}}' --filter name='^trial-'); do
    printf -- '--- podman logs %s\n' "${container}" >&2
    podman logs --tail 20 "${container}" >&2
  done
}
cleanup() {
  local status=$?
  if [[ ${status} -ne 0 ]]; then show_state; fi
  log "removing pods, volumes and network ${NETWORK}"
  remove_trial_objects
  if [[ -n ${workdir} ]]; then rm -rf "${workdir}"; fi
}

now() { date +%s.%N; }
since() { awk -v start="$1" -v end="$(now)" 'BEGIN { printf "%.1f s", end - start }'; }

# Polls the pod's facts page until it answers or READY_TIMEOUT passes; prints it.
wait_for_facts() {
  local ip=$1 deadline=$((SECONDS + READY_TIMEOUT)) facts
  # Captured per attempt, so the body of a cut-off attempt never mixes into the answer.
  until facts=$(curl --fail --silent --max-time 2 "http://${ip}:8080/facts.txt"); do
    ((SECONDS < deadline)) || fail "nothing answered at http://${ip}:8080/ within ${READY_TIMEOUT} s"
    sleep 0.2
  done
  printf '%s\n' "${facts}"
}

expect_fact() {
  local facts=$1 pod=$2 fact=$3
  grep -qxF "${fact}" <<<"${facts}" || fail "${pod}: expected '${fact}' in:"$'\n'"${facts}"
}

expect_facts() {
  local pod=$1 ip=$2 boot=$3 facts
  facts=$(wait_for_facts "${ip}")
  expect_fact "${facts}" "${pod}" "pod=${pod}"
  expect_fact "${facts}" "${pod}" "uid=10001"
  expect_fact "${facts}" "${pod}" "args=8080"
  expect_fact "${facts}" "${pod}" "boot=${boot}"
  expect_fact "${facts}" "${pod}" "rootfs=read-only"
  grep -qF "Temurin-${STANDIN_JDK_VERSION}" <<<"${facts}" || fail "${pod}: java -version did not run: ${facts}"
}

address_of() {
  podman inspect --format "{{(index .NetworkSettings.Networks \"${NETWORK}\").$2}}" "$1-app"
}

main() {
  if [[ ${1:-} == -h || ${1:-} == --help ]]; then usage; exit 0; fi
  if [[ $# -gt 0 ]]; then usage >&2; exit 2; fi
  [[ $(id -u) -eq 0 ]] || fail "must run as root"
  command -v curl >/dev/null || fail "curl not found: run tests/container/install-podman.sh"

  "${here}/build-image.sh"
  trap cleanup EXIT
  remove_trial_objects
  workdir=$(mktemp -d)

  podman network create "${NETWORK}" >/dev/null
  local subnet prefix
  subnet=$(podman network inspect --format '{{range .Subnets}}{{.Subnet}}{{end}}' "${NETWORK}")
  [[ ${subnet} == *.0/24 ]] || fail "expected a /24 subnet for ${NETWORK}, got ${subnet}"
  prefix=${subnet%.0/24}
  log "network ${NETWORK}: ${subnet}"

  local index=10 pod copy ip octets mac started
  for pod in "${PODS[@]}"; do
    copy="${workdir}/trial-${pod}.yaml"
    sed -e "s/TRIAL_POD/${pod}/g" -e "s|TRIAL_IMAGE|${STANDIN_IMAGE}|" "${here}/kube-play-trial.yaml" >"${copy}"
    ip="${prefix}.${index}"
    # A fixed MAC too: a restarted pod with a fixed IP but a new MAC is cut off by stale ARP entries.
    IFS=. read -r -a octets <<<"${ip}"
    mac=$(printf '02:00:%02x:%02x:%02x:%02x' "${octets[@]}")
    started=$(now)
    podman kube play --network "${NETWORK}" --ip "${ip}" --mac-address "${mac}" "${copy}" >/dev/null
    expect_facts "trial-${pod}-pod-0" "${ip}" cold
    log "trial-${pod}-pod-0 at ${ip} (${mac}): UID 10001, read-only root, java runs; cold start $(since "${started}")"
    index=$((index + 1))
  done

  [[ $(podman inspect --format '{{.Config.Entrypoint}}' trial-a-pod-0-app) == /__cacert_entrypoint.sh ]] \
    || fail "args did not keep the image entrypoint"
  [[ $(podman exec trial-b-pod-0-app getent hosts trial-a-pod-0) == "${prefix}.10 "* ]] \
    || fail "trial-b-pod-0 does not resolve trial-a-pod-0 to ${prefix}.10"
  log "entrypoint kept with args; pods resolve each other by pod name"

  started=$(now)
  podman pod stop trial-a-pod-0 >/dev/null
  podman pod start trial-a-pod-0 >/dev/null
  [[ $(address_of trial-a-pod-0 IPAddress) == "${prefix}.10" && $(address_of trial-a-pod-0 MacAddress) == 02:00:* ]] \
    || fail "trial-a-pod-0 lost its fixed IP or MAC on restart"
  expect_facts trial-a-pod-0 "${prefix}.10" warm
  log "trial-a-pod-0 stopped and started: same IP and MAC, emptyDir kept; warm start $(since "${started}")"
  log "all checks passed"
}

main "$@"
