#!/usr/bin/env bash
# Moves a running demo from its Broker to the durable Broker a component declares (or back) without
# losing an event: the new Broker and its Triggers first, then the producer, then the old Broker once
# nothing it accepted can still be delivered. Every step looks at the cluster first, so a run that
# was interrupted is simply run again.
set -euo pipefail
# A failed kubectl inside $(...) stops the script too: a failed look-up must not read as "nothing there".
shopt -s inherit_errexit

KUBECTL="${KUBECTL:-kubectl}"
TIMEOUT="${TIMEOUT:-300s}"
# How long one delivery attempt may last when a Trigger sets no delivery.timeout; unset, each data
# plane's own bound (below).
ATTEMPT_TIMEOUT="${ATTEMPT_TIMEOUT:-}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
COMPONENT=kafka-broker
ROLLBACK=false
DRY_RUN=false
DECLARE=false
readonly DURABLE_COMPONENTS=(kafka-broker kafka-channel nats-jetstream-channel)
# Set on the old Broker once no producer pod sends to it any more: the retry horizon runs from here,
# and a second run finds it instead of starting the wait again.
readonly DRAINED_AT=knative-eventing-demo/drained-at
# The Kafka data plane bounds an attempt by 600 s when the Trigger sets no timeout (eventing-kafka-broker
# WebClientCloudEventSender.DEFAULT_TIMEOUT_MS). The channel-based Broker's Go dispatcher has no bound
# (knative/eventing pkg/kncloudevents/event_dispatcher.go): 30 s stands for the consumer's longest
# answer, above its 20 s shutdown grace.
readonly KAFKA_ATTEMPT_SECONDS=600
readonly GO_ATTEMPT_SECONDS=30
readonly STEPS=5

usage() {
  cat <<EOF
Usage: $(basename "$0") [--to COMPONENT] [--rollback] [--dry-run] [--declare] [--timeout DURATION]
                         [--attempt-timeout DURATION]

Moves the running demo to the durable Broker that k8s/components/COMPONENT declares (default
kafka-broker; also kafka-channel, nats-jetstream-channel), without losing an event:

  1. creates the new Broker, its config and NetworkPolicies and its Triggers (the same filters,
     delivery and subscribers, rendered from the kustomization with the component) and waits
     until they are Ready;
  2. points the SinkBindings (producer, dead-letter display) at the new Broker and waits until they are Ready;
  3. waits for the producer's rollout and until every producer pod that still sends to the old
     Broker is gone: that is the last event the old Broker accepts;
  4. waits out the old Broker's retry horizon after that moment, so whatever it still holds is
     delivered or dead-lettered;
  5. deletes the old Triggers, their Subscriptions (label eventing.knative.dev/broker=OLD), the
     NetworkPolicies only the old data plane needed, and the old Broker.

The retry horizon is the longest of the old Broker's Triggers (a Trigger without delivery has the
Broker's). For one Trigger with retry r, backoffDelay d, timeout T:
  H = (r + 1) x T + sum of the r backoff waits, doubled when there is a dead-letter sink
  (Knative sends the dead letter with the same retries).
  waits, channel-based Broker (Go dispatcher): d x 2^n (exponential) or d x n (linear), n = 0..r-1,
    each at least retryAfterMax when set (Retry-After honoured up to it);
  waits, Kafka Broker (Kafka data plane): d x 2^n or d x n, n = 1..r.
  T without delivery.timeout: --attempt-timeout if given, else $KAFKA_ATTEMPT_SECONDS s on the Kafka data plane
    (its own bound) and $GO_ATTEMPT_SECONDS s on the Go dispatcher, which has none (the consumer answers
    within its 20 s shutdown grace).
With the demo's Triggers (5 retries, exponential from PT0.5S, a dead-letter sink) and the
default attempt timeout: 2 x (6 x 30 + 0.5 + 1 + 2 + 4 + 8) = 391 s.

Each step checks the cluster first and skips what is done, so an interrupted run is run again.
At the end it names the one line of kustomization.yaml that makes 'kubectl apply -k .' keep the
new Broker (--declare edits it).

  --to COMPONENT             the durable component (default kafka-broker)
  --rollback                 move back from the component's Broker to the one the kustomization
                             declares without it, the same way
  --dry-run                  print the steps and the horizon; change nothing
  --declare                  after the move, edit kustomization.yaml to list (or, with
                             --rollback, no longer list) the component
  --timeout DURATION         how long each wait for Ready, a rollout or a deletion may take
                             (default \$TIMEOUT, else 300s)
  --attempt-timeout DURATION the longest one delivery attempt takes when a Trigger sets no
                             timeout (default \$ATTEMPT_TIMEOUT, else each data plane's, above)
  -h, --help                 show this help

Environment: KUBECTL (kubectl), TIMEOUT (300s), ATTEMPT_TIMEOUT (unset).
EOF
}

fail() {
  echo "error: $*" >&2
  exit 1
}

seconds_of() {
  [[ $1 =~ ^([0-9]+)s?$ ]] || { echo "error: $2 must be whole seconds such as 30s, not '$1'" >&2; exit 2; }
  echo "${BASH_REMATCH[1]}"
}

parse_args() {
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --to | --timeout | --attempt-timeout)
        [[ $# -ge 2 ]] || { echo "error: $1 needs a value" >&2; exit 2; }
        case "$1" in
          --to) COMPONENT="$2" ;;
          --timeout) TIMEOUT="$2" ;;
          *) ATTEMPT_TIMEOUT="$2" ;;
        esac
        shift
        ;;
      --rollback) ROLLBACK=true ;;
      --dry-run) DRY_RUN=true ;;
      --declare) DECLARE=true ;;
      -h | --help) usage; exit 0 ;;
      *) echo "error: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
    shift
  done
  [[ " ${DURABLE_COMPONENTS[*]} " == *" $COMPONENT "* ]] ||
    { echo "error: --to takes one of: ${DURABLE_COMPONENTS[*]}" >&2; exit 2; }
  [[ -z $ATTEMPT_TIMEOUT ]] || ATTEMPT_SECONDS="$(seconds_of "$ATTEMPT_TIMEOUT" --attempt-timeout)"
}

# --- The two states, rendered -------------------------------------------------------------------

# Whether a kustomization.yaml lists the component (uncommented, as the root file lays it out).
lists_component() {
  grep --quiet --line-regexp "  - k8s/components/$COMPONENT" "$1"
}

# Lists (on) or stops listing (off) the component in a kustomization.yaml, the way a user edits it.
set_component() {
  local file="$1" state="$2"
  if [[ $state == on ]]; then
    lists_component "$file" && return
    grep --quiet --line-regexp "#   - k8s/components/$COMPONENT" "$file" ||
      fail "$file has no line '#   - k8s/components/$COMPONENT' to uncomment"
    sed -i.bak -e 's|^# components:$|components:|' -e "s|^#   - k8s/components/$COMPONENT\$|  - k8s/components/$COMPONENT|" "$file"
  else
    sed -i.bak -e "s|^  - k8s/components/$COMPONENT\$|#   - k8s/components/$COMPONENT|" "$file"
    # A components: key with nothing left under it goes back to its commented form.
    grep --quiet '^  - k8s/components/' "$file" || sed -i.bak -e 's|^components:$|# components:|' "$file"
  fi
  rm -f "$file.bak"
}

# Renders the repository with the component on or off into $WORK/<name>/, one file per object
# named Kind.name.yaml, from a copy whose kustomization.yaml is edited the way set_component edits it.
render() {
  local name="$1" state="$2" copy="$WORK/$1-source" entry
  mkdir -p "$copy" "$WORK/$name"
  for entry in "$ROOT"/*; do
    [[ $(basename "$entry") == tests ]] || cp -R "$entry" "$copy/"
  done
  set_component "$copy/kustomization.yaml" "$state"
  "$KUBECTL" kustomize "$copy" >"$WORK/$name.yaml"
  awk -v dir="$WORK/$name" '
    function flush() { if (kind != "") { file = dir "/" kind "." name ".yaml"; printf "%s", doc > file; close(file) }
                       doc = ""; kind = ""; name = ""; meta = 0 }
    /^---$/ { flush(); next }
    { doc = doc $0 "\n" }
    /^kind: / { kind = $2 }
    /^metadata:$/ { meta = 1; next }
    /^[^ ]/ { meta = 0 }
    meta && name == "" && /^  name: / { name = $2 }
    END { flush() }' "$WORK/$name.yaml"
}

# The value at a path of keys in one rendered object (keys given as separate arguments).
value_of() {
  local file="$1"
  shift
  awk -v keys="$*" '
    BEGIN { n = split(keys, key, " "); depth = 1 }
    /^ *$/ { next }
    { match($0, /^ */); indent = RLENGTH; text = substr($0, indent + 1) }
    indent < (depth - 1) * 2 { exit }
    indent == (depth - 1) * 2 && index(text, key[depth] ":") == 1 {
      if (depth == n) { value = substr(text, length(key[depth]) + 2); sub(/^ +/, "", value); gsub(/^"|"$/, "", value); print value; exit }
      depth++
    }' "$file"
}

# Names of the objects of a kind in a rendered state.
rendered_names() {
  local file
  for file in "$WORK/$1/$2".*.yaml; do
    [[ -e $file ]] || continue
    file="$(basename "$file" .yaml)"
    echo "${file#"$2".}"
  done
}

# --- The cluster ----------------------------------------------------------------------------------

get() {
  "$KUBECTL" get "$@" --namespace "$NAMESPACE"
}

# Runs a command that changes the cluster or waits on it; with --dry-run only says it would.
act() {
  if [[ $DRY_RUN == true ]]; then
    echo "    would run: kubectl $*"
  else
    "$KUBECTL" "$@" | sed 's/^/    /'
  fi
}

step() {
  STEP=$((STEP + 1))
  echo "Step $STEP/$STEPS: $*"
}

# The Ready condition of an object that did not get Ready, as "reason: message".
why_not_ready() {
  local reason
  reason="$(get "$1" "$2" --output 'jsonpath={.status.conditions[?(@.type=="Ready")].reason}: {.status.conditions[?(@.type=="Ready")].message}')"
  [[ $reason != ': ' ]] || reason="no Ready condition reported"
  echo "$1/$2 is not Ready after $TIMEOUT, reason $reason. More: kubectl --namespace $NAMESPACE describe $1 $2"
}

wait_ready() {
  local kind="$1"
  shift
  echo "    waiting up to $TIMEOUT for $kind $* to be Ready"
  [[ $DRY_RUN == true ]] && return
  local name
  for name in "$@"; do
    "$KUBECTL" wait "$kind" "$name" --namespace "$NAMESPACE" --for condition=Ready --timeout "$TIMEOUT" >/dev/null ||
      fail "$(why_not_ready "$kind" "$name")"
  done
}

# Whether an object exists (a failed look-up stops the script: it must not be taken for "missing").
exists() {
  local found
  found="$(get "$1" "$2" --ignore-not-found --output 'jsonpath={.metadata.name}')" || fail "could not look up $1/$2"
  [[ -n $found ]]
}

apply_missing() {
  local kind="$1" name="$2"
  if exists "$kind" "$name"; then
    echo "    $kind/$name exists"
  elif [[ $DRY_RUN == true ]]; then
    echo "    would create $kind/$name"
  else
    "$KUBECTL" apply --filename "$WORK/to/$kind.$name.yaml" --namespace "$NAMESPACE" | sed 's/^/    /'
  fi
}

# --- The retry horizon ------------------------------------------------------------------------------

# For each Trigger of the old Broker (a Trigger without delivery gets the Broker's): its horizon in
# seconds and the arithmetic, one line each, longest first.
horizons() {
  local plane=go default_attempt=$GO_ATTEMPT_SECONDS broker_delivery
  if [[ $FROM_CLASS == Kafka ]]; then plane=kafka; default_attempt=$KAFKA_ATTEMPT_SECONDS; fi
  default_attempt="${ATTEMPT_SECONDS:-$default_attempt}"
  broker_delivery="$(get broker "$FROM" --output "jsonpath=$DELIVERY")"
  printf '%s\n' "${FROM_TRIGGERS[@]}" | awk -F '|' -v plane="$plane" -v attempt="$default_attempt" -v broker="$broker_delivery" '
    function seconds(iso,   s, total, inTime, number, unit) {
      if (iso == "") return ""
      s = substr(iso, 2); total = 0; inTime = 0
      while (s != "") {
        if (substr(s, 1, 1) == "T") { inTime = 1; s = substr(s, 2); continue }
        if (!match(s, /^[0-9.]+[WDHMS]/)) return "bad"
        number = substr(s, 1, RLENGTH - 1); unit = substr(s, RLENGTH, 1); s = substr(s, RLENGTH + 1)
        total += number * (unit == "W" ? 604800 : unit == "D" ? 86400 : unit == "H" ? 3600 : unit == "M" ? (inTime ? 60 : 2592000) : 1)
      }
      return total
    }
    {
      name = $1
      if ($3 $4 $5 $6 $7 $8 == "") { split(broker, d, "|"); retry = d[1]; policy = d[2]; delay = d[3]; timeout = d[4]; after = d[5]; dls = d[6] }
      else { retry = $3; policy = $4; delay = $5; timeout = $6; after = $7; dls = $8 }
      retry += 0; wait = seconds(delay); t = seconds(timeout); max = seconds(after)
      if (wait == "bad" || t == "bad" || max == "bad") { print "bad|" name; next }
      if (t == "") { t = attempt; tnote = " (no timeout set)" } else tnote = ""
      if (policy == "" && plane == "kafka") policy = "exponential"
      sum = 0; waits = ""
      for (n = (plane == "go" ? 0 : 1); n < (plane == "go" ? retry : retry + 1); n++) {
        w = (wait == "" || policy == "") ? 0 : policy == "linear" ? wait * n : wait * 2 ^ n
        if (plane == "go" && max != "" && max > w) w = max
        sum += w; waits = waits (waits == "" ? "" : " + ") w
      }
      one = (retry + 1) * t + sum
      text = (retry + 1) " x " t " s" tnote (retry > 0 ? " + " waits : "")
      if (dls != "") { printf "%s|%s|2 x (%s) = %s s\n", one * 2, name, text, one * 2 }
      else printf "%s|%s|%s = %s s\n", one, name, text, one
    }' | sort -t '|' -k1,1gr -k2,2
}

# --- The move ---------------------------------------------------------------------------------------

read_cluster() {
  local broker names=() line listing
  NAMESPACE="$(value_of "$WORK/to/Broker.$TO.yaml" metadata namespace)"
  # Read into a variable first: a failed look-up stops the script instead of reading as "none".
  listing="$(get brokers --output 'jsonpath={range .items[*]}{.metadata.name}{"\n"}{end}')"
  mapfile -t names <<<"$listing"
  FROM=""
  TO_EXISTS=false
  for broker in "${names[@]}"; do
    if [[ -z $broker ]]; then continue
    elif [[ $broker == "$TO" ]]; then TO_EXISTS=true
    elif [[ -z $FROM ]]; then FROM="$broker"
    else fail "more than one Broker besides broker/$TO in $NAMESPACE (${names[*]}): move them one at a time by hand"
    fi
  done
  SINK="$(get sinkbinding "$BINDING" --ignore-not-found --output 'jsonpath={.spec.sink.ref.name}')"
  FROM_TRIGGERS=()
  OTHER_TRIGGERS=()
  listing="$(get triggers --output "jsonpath={range .items[*]}{.metadata.name}|{.spec.broker}|$DELIVERY{\"\\n\"}{end}")"
  while IFS= read -r line; do
    [[ -n $line ]] || continue
    if [[ -n $FROM && $(cut -d '|' -f 2 <<<"$line") == "$FROM" ]]; then FROM_TRIGGERS+=("$line")
    elif [[ $(cut -d '|' -f 2 <<<"$line") != "$TO" ]]; then OTHER_TRIGGERS+=("$(cut -d '|' -f 1 <<<"$line")")
    fi
  done <<<"$listing"
  if [[ -n $FROM ]]; then
    FROM_CLASS="$(get broker "$FROM" --output 'jsonpath={.metadata.annotations.eventing\.knative\.dev/broker\.class}')"
  fi
}

# A new Trigger whose name a Trigger of another Broker holds could only be an update, which Knative
# refuses (a Trigger's broker is immutable): name it before anything changes.
check_names() {
  local trigger line
  for trigger in $(rendered_names to Trigger); do
    for line in "${FROM_TRIGGERS[@]}" "${OTHER_TRIGGERS[@]}"; do
      [[ ${line%%|*} != "$trigger" ]] ||
        fail "Trigger $trigger already exists for another Broker; list k8s/components/$COMPONENT last in kustomization.yaml, after every component that adds a Trigger, so that it names them all"
    done
  done
}

create_new() {
  step "create broker/$TO ($TO_CLASS) and its Triggers $(rendered_names to Trigger | paste -s -d ' ' | sed 's/ /, /g')"
  local config policy trigger
  config="$(value_of "$WORK/to/Broker.$TO.yaml" spec config name)"
  [[ -z $config || ! -e $WORK/to/ConfigMap.$config.yaml ]] || apply_missing ConfigMap "$config"
  for policy in $(rendered_names to NetworkPolicy); do
    apply_missing NetworkPolicy "$policy"
  done
  apply_missing Broker "$TO"
  wait_ready broker "$TO"
  for trigger in $(rendered_names to Trigger); do
    apply_missing Trigger "$trigger"
  done
  # shellcheck disable=SC2046 # one name per word
  wait_ready trigger $(rendered_names to Trigger)
}

repoint() {
  step "point sinkbinding/$(paste -s -d ' ' <<<"$BINDINGS" | sed 's| |, sinkbinding/|g') at broker/$TO"
  local binding
  for binding in $BINDINGS; do
    if [[ $(get sinkbinding "$binding" --ignore-not-found --output 'jsonpath={.spec.sink.ref.name}') == "$TO" ]]; then
      echo "    sinkbinding/$binding already points at broker/$TO"
    elif [[ $DRY_RUN == true ]]; then
      echo "    would apply SinkBinding/$binding with its sink broker/$TO"
    else
      "$KUBECTL" apply --filename "$WORK/to/SinkBinding.$binding.yaml" --namespace "$NAMESPACE" | sed 's/^/    /'
    fi
  done
  # shellcheck disable=SC2086 # one name per word
  wait_ready sinkbinding $BINDINGS
}

# Pods of the producer whose K_SINK is not the new Broker's address: they still send to the old one.
old_producer_pods() {
  local selector url
  selector="$(get deployment "$PRODUCER" --output 'jsonpath={.spec.selector.matchLabels}' | sed -e 's/[{}"]//g' -e 's/:/=/g')"
  url="$(get broker "$TO" --output 'jsonpath={.status.address.url}')"
  get pods --selector "$selector" \
    --output 'jsonpath={range .items[*]}{.metadata.name}|{.spec.containers[*].env[?(@.name=="K_SINK")].value}{"\n"}{end}' |
    awk -F '|' -v url="$url" '$1 != "" && $2 != url { print "pod/" $1 }'
}

drain_producer() {
  step "roll out deployment/$PRODUCER; its pods that send to broker/$FROM finish and stop"
  local listing pods=()
  if [[ -n $DRAINED ]]; then
    echo "    broker/$FROM accepted its last event by $(date -u -d "@$DRAINED" +%FT%TZ 2>/dev/null || echo "$DRAINED") (annotation $DRAINED_AT)"
    return
  fi
  act rollout status "deployment/$PRODUCER" --namespace "$NAMESPACE" --timeout "$TIMEOUT"
  if [[ $DRY_RUN == true ]]; then
    echo "    would wait for the producer pods that send to broker/$FROM to be gone, then annotate it with $DRAINED_AT"
    return
  fi
  listing="$(old_producer_pods)"
  [[ -z $listing ]] || mapfile -t pods <<<"$listing"
  if [[ ${#pods[@]} -gt 0 ]]; then
    echo "    waiting up to $TIMEOUT for ${pods[*]} (still sending to broker/$FROM) to be gone"
    "$KUBECTL" wait "${pods[@]}" --namespace "$NAMESPACE" --for=delete --timeout "$TIMEOUT" >/dev/null ||
      fail "${pods[*]} still running after $TIMEOUT. More: kubectl --namespace $NAMESPACE describe ${pods[*]}"
  fi
  DRAINED="$(date -u +%s)"
  "$KUBECTL" annotate broker "$FROM" "$DRAINED_AT=$DRAINED" --namespace "$NAMESPACE" >/dev/null
  echo "    no producer pod sends to broker/$FROM any more (annotated $DRAINED_AT=$DRAINED)"
}

wait_horizon() {
  local listing lines=() line longest remaining trigger text
  listing="$(horizons)"
  [[ -z $listing ]] || mapfile -t lines <<<"$listing"
  step "wait until broker/$FROM ($FROM_CLASS) holds nothing more: the retry horizon of its Triggers"
  for line in "${lines[@]}"; do
    [[ ${line%%|*} != bad ]] || fail "trigger/${line#bad|} has a delivery duration that is not ISO 8601 (such as PT0.5S)"
    IFS='|' read -r _ trigger text <<<"$line"
    echo "    trigger/$trigger: $text"
  done
  # Whole seconds, rounded up; a Broker without Triggers delivers nothing.
  longest="${lines[0]:-0}"
  longest="${longest%%|*}"
  [[ $longest == *.* ]] && longest=$((${longest%.*} + 1))
  if [[ -z $DRAINED ]]; then
    echo "    would wait $longest s after the last producer pod that sends to broker/$FROM is gone"
    return
  fi
  remaining=$((DRAINED + longest - $(date -u +%s)))
  if ((remaining > 0)); then
    echo "    waiting $remaining s: $longest s after broker/$FROM accepted its last event"
    [[ $DRY_RUN == true ]] || sleep "$remaining"
  else
    echo "    the horizon ($longest s) has passed"
  fi
}

delete_old() {
  step "delete broker/$FROM: its Triggers, their Subscriptions, the NetworkPolicies only it needed, the Broker"
  local triggers=() subscriptions policy line
  for line in "${FROM_TRIGGERS[@]}"; do triggers+=("${line%%|*}"); done
  [[ ${#triggers[@]} -eq 0 ]] || act delete trigger "${triggers[@]}" --namespace "$NAMESPACE" --wait=true --timeout "$TIMEOUT"
  subscriptions="$(get subscriptions.messaging.knative.dev --selector "eventing.knative.dev/broker=$FROM" \
    --output 'jsonpath={range .items[*]}{.metadata.name} {end}')"
  [[ -z $subscriptions ]] ||
    act delete subscriptions.messaging.knative.dev --selector "eventing.knative.dev/broker=$FROM" --namespace "$NAMESPACE" --ignore-not-found
  for policy in $(rendered_names from NetworkPolicy); do
    if [[ ! -e $WORK/to/NetworkPolicy.$policy.yaml ]] && exists NetworkPolicy "$policy"; then
      act delete networkpolicy "$policy" --namespace "$NAMESPACE"
    fi
  done
  act delete broker "$FROM" --namespace "$NAMESPACE" --wait=true --timeout "$TIMEOUT"
}

declare_state() {
  local file="$ROOT/kustomization.yaml" want=on verb="uncomment 'components:' and '- k8s/components/$COMPONENT' (last in the list)"
  local lists="lists"
  if [[ $ROLLBACK == true ]]; then want=off; verb="comment out '- k8s/components/$COMPONENT'"; lists="no longer lists"; fi
  if { lists_component "$file" && [[ $want == on ]]; } || { ! lists_component "$file" && [[ $want == off ]]; }; then
    echo "kustomization.yaml declares broker/$TO: 'kubectl apply -k .' keeps it."
  elif [[ $DECLARE == true && $DRY_RUN == false ]]; then
    set_component "$file" "$want"
    echo "kustomization.yaml now declares broker/$TO (it $lists k8s/components/$COMPONENT): 'kubectl apply -k .' keeps it."
  else
    echo "Declare it, so that 'kubectl apply -k .' keeps broker/$TO and never brings the old Broker back:"
    echo "  in kustomization.yaml, $verb (or run again with --declare)."
  fi
}

main() {
  parse_args "$@"
  WORK="$(mktemp -d)"
  trap 'rm -rf "$WORK"' EXIT
  local to=on from=off
  if [[ $ROLLBACK == true ]]; then to=off; from=on; fi
  render to "$to"
  render from "$from"
  # shellcheck disable=SC2016 # jsonpath, not shell
  DELIVERY='{.spec.delivery.retry}|{.spec.delivery.backoffPolicy}|{.spec.delivery.backoffDelay}|{.spec.delivery.timeout}|{.spec.delivery.retryAfterMax}|{.spec.delivery.deadLetterSink.ref.name}{.spec.delivery.deadLetterSink.uri}'
  TO="$(rendered_names to Broker)"
  [[ $TO != *$'\n'* && -n $TO ]] || fail "the kustomization renders $(wc -w <<<"$TO") Brokers; expected one"
  TO_CLASS="$(value_of "$WORK/to/Broker.$TO.yaml" metadata annotations eventing.knative.dev/broker.class)"
  # Every SinkBinding follows the Broker (the producer's, and the dead-letter display's for redrives);
  # the producer's is the one whose rollout drains the old Broker.
  BINDINGS="$(rendered_names to SinkBinding)"
  BINDING=producer
  grep -qx "$BINDING" <<<"$BINDINGS" || fail "the kustomization renders no SinkBinding named $BINDING"
  PRODUCER="$(value_of "$WORK/to/SinkBinding.$BINDING.yaml" spec subject name)"
  read_cluster
  if [[ -z $FROM ]]; then
    [[ $TO_EXISTS == true && $SINK == "$TO" ]] ||
      fail "no Broker to move from and broker/$TO is not in use in $NAMESPACE: deploy first (scripts/deploy.sh)"
    echo "Nothing to move: the producer sends to broker/$TO and no other Broker is left in $NAMESPACE."
    declare_state
    return
  fi
  check_names
  DRAINED="$(get broker "$FROM" --output "jsonpath={.metadata.annotations.${DRAINED_AT//./\\.}}")"
  echo "Moving $NAMESPACE from broker/$FROM ($FROM_CLASS) to broker/$TO ($TO_CLASS)$([[ $DRY_RUN == true ]] && echo ' (dry run: nothing changes)')"
  STEP=0
  create_new
  repoint
  drain_producer
  wait_horizon
  delete_old
  if [[ $DRY_RUN == true ]]; then
    echo "Dry run: nothing changed."
  else
    echo "Moved: the producer sends to broker/$TO; broker/$FROM and its Triggers are gone."
  fi
  declare_state
}

main "$@"
