# shellcheck shell=bash
# Sourced by scripts/benchmark.sh: one consumer's run (ready, idle RSS, saturation, latency, peak RSS), the start-ups, the producer phase.

# measure <label> <dir> <health path> <command>: prints one RESULT line and appends it to results.log.
measure() {
  local label="$1" dir="$2" health="$3" command="$4"
  local run url="http://127.0.0.1:$PORT"
  run="$RUN_DIR/$(date +%H%M%S)-$label"
  mkdir -p "$run"
  echo "$command" >"$run/command"
  await_quiet
  say "$label: starting ($command)"
  local t0; t0=$(date +%s%N)
  start_server "$dir" "$command" "$run/stdout.log" "$run/stderr.log" "$PORT" "$SERVER_CPU"
  local pid=$SERVER_PID ready idle
  ready=$(await_ready "$PORT" "$health" "$pid" "$run/stderr.log" "$t0")
  sleep "$IDLE_SETTLE"
  idle=$(snapshot "$pid")
  say "$label: ready after ${ready}s, idle $(mib "$(kv rss_kib "$idle")") MiB"

  start_sampler "$pid" "$run/peak_kib"
  say "$label: warm-up ${WARMUP}s"
  saturate "$WARMUP" "$url/" "$run/warmup.txt" >/dev/null
  local cpu_a m_a sat cpu_b m_b
  cpu_a=$(kv cpu_ticks "$(snapshot "$pid")"); m_a=$(mark)
  say "$label: saturation ${DURATION}s ($LOAD, $CONNS connections)"
  sat=$(saturate "$DURATION" "$url/" "$run/saturation.txt")
  m_b=$(mark); cpu_b=$(kv cpu_ticks "$(snapshot "$pid")")
  kill -0 "$pid" 2>/dev/null || die "$label died under load (see $run)"
  sleep 2
  say "$label: open loop at $RATE ev/s for ${FIXED_DURATION}s"
  local m_c fixed m_d
  m_c=$(mark)
  fixed=$(loadgen fixed --url="$url/" --rate="$RATE" --seconds="$((FIXED_DURATION + 1))" --warmup=1 \
    --connections="$CONNS" | tee "$run/fixed.txt")
  m_d=$(mark)
  stop_sampler
  local peak after
  peak=$(cat "$run/peak_kib" 2>/dev/null || echo 0)
  sleep 1
  after=$(snapshot "$pid")
  stop_server "$pid"

  local lines others_sat others_fixed quiet=yes
  # one log line per event is part of the work measured: count what reached stdout
  lines=$(wc -l <"$run/stdout.log")
  drop_log "$run/stdout.log"
  others_sat=$(cores_between "$m_a" "$m_b")
  others_fixed=$(cores_between "$m_c" "$m_d")
  le "$others_sat" "$OTHER_MAX" && le "$others_fixed" "$OTHER_MAX" || quiet=no
  local requests; requests=$(kv requests "$sat")
  local line
  line=$(awk -v label="$label" -v rps="$(kv rps "$sat")" -v p50="$(kv p50_ms "$sat")" -v p99="$(kv p99_ms "$sat")" \
    -v frate="$RATE" -v fach="$(kv rps "$fixed")" -v fp50="$(kv p50_ms "$fixed")" -v fp99="$(kv p99_ms "$fixed")" \
    -v fmax="$(kv max_ms "$fixed")" -v flate="$(kv late_p99_ms "$fixed")" -v fdrop="$(kv dropped "$fixed")" \
    -v idle="$(kv rss_kib "$idle")" -v peak="$peak" -v after="$(kv rss_kib "$after")" \
    -v non2xx="$(($(kv non2xx "$sat") + $(kv non2xx "$fixed")))" \
    -v sockerr="$(($(kv sock_err "$sat") + $(kv sock_err "$fixed")))" \
    -v cpu="$(((cpu_b - cpu_a) * 1000000 / CLK_TCK))" -v requests="$requests" -v seconds="$DURATION" \
    -v ready="$ready" -v lines="$lines" -v procs="$(kv procs "$idle")" -v load="$LOAD" \
    -v pin="${SERVER_CPU:+cpu$SERVER_CPU}" -v othr="$others_sat" -v ofix="$others_fixed" -v quiet="$quiet" 'BEGIN {
      printf "RESULT name=%s load=%s pin=%s rps=%.0f p50_ms=%.2f p99_ms=%.2f", label, load, (pin == "" ? "none" : pin), rps, p50, p99
      printf " fixed_rate=%s fixed_achieved=%.0f fixed_p50_ms=%.2f fixed_p99_ms=%.2f fixed_max_ms=%.1f fixed_late_p99_ms=%.2f fixed_dropped=%d",
        frate, fach, fp50, fp99, fmax, flate, fdrop
      printf " idle_rss_mib=%.1f peak_rss_mib=%.1f after_rss_mib=%.1f procs=%d", idle / 1024, peak / 1024, after / 1024, procs
      printf " cpu_us_per_ev=%.1f srv_cores=%.2f ready_s=%s non2xx=%d sock_err=%d loglines=%d", \
        (requests > 0 ? cpu / requests : 0), cpu / 1e6 / seconds, ready, non2xx, sockerr, lines
      printf " other_cores=%s/%s quiet=%s\n", othr, ofix, quiet }')
  echo "$line" | tee -a "$RUN_DIR/results.log"
  say "$label: $(kv rps "$line") req/s, p99 $(kv fixed_p99_ms "$line") ms at $RATE ev/s, peak $(kv peak_rss_mib "$line") MiB, quiet=$quiet"
}

mib() { awk -v k="${1:-0}" 'BEGIN { printf "%.1f", k / 1024 }'; }

# A run logs a line per event, hundreds of MB: keep its first lines as a sample unless KEEP_LOGS=1.
drop_log() {
  [[ "$KEEP_LOGS" == 1 ]] && return 0
  head -n 3 "$1" >"$1.head"
  rm -f -- "$1"
}

measure_until_quiet() { # as measure, repeated up to RETRIES times when other processes took CPU
  local attempt line
  for attempt in $(seq 0 "$RETRIES"); do
    line=$(measure "$@")
    echo "$line"
    [[ "$line" == *" quiet=no"* ]] || return 0
    ((attempt < RETRIES)) && say "$1: the machine was busy during that run: again"
  done
  return 0
}

# ------------------------------------------------------------------ start-up and producer

# start_once <label> <warm|cold> <dir> <health> <command>: one start to ready, unpinned (the Deployment sets
# no CPU limit), appended to starts.log.
start_once() {
  local label="$1" kind="$2" dir="$3" health="$4" command="$5" out m t0 ready others quiet=yes
  out="$RUN_DIR/start-$kind-$label-$(date +%H%M%S%N)"
  m=$(mark); t0=$(date +%s%N)
  start_server "$dir" "$command" "$out.stdout" "$out.stderr" "$PORT"
  ready=$(await_ready "$PORT" "$health" "$SERVER_PID" "$out.stderr" "$t0")
  others=$(cores_between "$m" "$(mark)")
  stop_server
  le "$others" "$OTHER_MAX" || quiet=no
  echo "START name=$label kind=$kind ready_s=$ready other_cores=$others quiet=$quiet" | tee -a "$RUN_DIR/starts.log" >&2
}

# Warm starts of consumer.java and the VARIANTS (interleaved), then one cold start of consumer.java with empty
# JBang and Maven caches, as a new pod does it.
measure_starts() {
  local round entry label dir health command
  ((STARTS > 0)) && say "start-up: $STARTS warm starts each"
  for round in $(seq 1 "$STARTS"); do
    for entry in "$@"; do
      IFS='|' read -r label dir health command <<<"$entry"
      [[ "$dir" == "$ROOT" ]] || continue
      await_quiet
      say "start-up $round/$STARTS: $label"
      start_once "$label" warm "$dir" "$health" "$command"
    done
  done
  ((COLD)) || return 0
  local cold="$RUN_DIR/cold-caches"
  say "start-up: one cold start (JBang and every dependency fetched from ${MAVEN_REPO_URL:-Maven Central}, then compiled)"
  await_quiet
  start_once "$OURS" cold "$ROOT" /readyz \
    "JBANG_DIR='$cold/jbang' JBANG_CACHE_DIR='$cold/jbang/cache' JBANG_REPO='$cold/m2' $OURS_COMMAND"
  rm -rf "$cold"
}

scrape_producer() { # scrape_producer <port>: sent/skipped/failed/retried totals from the producer's /metrics
  http_get "$1" /metrics | awk '
    /^producer_events_sent_total/ { s += $NF } /^producer_events_skipped_total/ { k += $NF }
    /^producer_events_failed_total/ { f += $NF } /^producer_events_retried_total/ { r += $NF }
    END { printf "sent=%d skipped=%d failed=%d retried=%d\n", s, k, f, r }'
}

PRODUCER_PID=""
SINK_PID=""
# producer.java at each rate of PRODUCER_RATE for PRODUCER_DURATION seconds (after 5 s of warm-up), counted on its
# /metrics, with the CPU time of its process tree per event sent.
measure_producer() {
  ((PRODUCER_DURATION > 0)) || return 0
  local rate
  for rate in $PRODUCER_RATE; do measure_producer_at "$rate" "$@"; done
}

measure_producer_at() {
  local rate="$1"; shift
  local sink_label="$OURS" sink_dir="$ROOT" sink_health=/readyz sink_command="$OURS_COMMAND" entry
  for entry in "$@"; do
    # the Go peer is the lightest sink, so the producer has the machine to itself as far as possible
    [[ "$entry" == go\|* ]] && IFS='|' read -r sink_label sink_dir sink_health sink_command <<<"$entry"
  done
  local sink_port=$((PORT + 1)) producer_port=$((PORT + 2)) out="$RUN_DIR/producer"
  mkdir -p "$out"
  await_quiet
  say "producer: $rate ev/s for ${PRODUCER_DURATION}s into $sink_label"
  start_server "$sink_dir" "$sink_command" "$out/sink.stdout" "$out/sink.stderr" "$sink_port" "$LOAD_CPU"
  SINK_PID=$SERVER_PID SERVER_PID=""
  await_ready "$sink_port" "$sink_health" "$SINK_PID" "$out/sink.stderr" "$(date +%s%N)" >/dev/null
  start_server "$ROOT" "RATE=$rate K_SINK=http://127.0.0.1:$sink_port POD_NAME=benchmark exec scripts/jbang producer.java" \
    "$out/producer.stdout" "$out/producer.stderr" "$producer_port" "$SERVER_CPU"
  PRODUCER_PID=$SERVER_PID SERVER_PID=""
  await_ready "$producer_port" /readyz "$PRODUCER_PID" "$out/producer.stderr" "$(date +%s%N)" >/dev/null
  sleep 5
  local a b ta tb m_a m_b cpu_a cpu_b
  a=$(scrape_producer "$producer_port"); ta=$(date +%s%N); m_a=$(mark); cpu_a=$(kv cpu_ticks "$(snapshot "$PRODUCER_PID")")
  sleep "$PRODUCER_DURATION"
  cpu_b=$(kv cpu_ticks "$(snapshot "$PRODUCER_PID")")
  b=$(scrape_producer "$producer_port"); tb=$(date +%s%N); m_b=$(mark)
  stop_server "$PRODUCER_PID"; PRODUCER_PID=""
  stop_server "$SINK_PID"; SINK_PID=""
  local books others quiet=yes
  books=$(grep -o '"msg":"stopped",.*' "$out/producer.stdout" | tr -d '"{} ' | sed 's/^msg:stopped,//')
  drop_log "$out/producer.stdout"
  drop_log "$out/sink.stdout"
  others=$(cores_between "$m_a" "$m_b")
  le "$others" "$OTHER_MAX" || quiet=no
  awk -v rate="$rate" -v cpu="$(((cpu_b - cpu_a) * 1000000 / CLK_TCK))" -v sink="$sink_label" -v a="$a" -v b="$b" -v ta="$ta" -v tb="$tb" -v books="$books" \
    -v others="$others" -v quiet="$quiet" '
    function get(line, key,   n, i, kv) { n = split(line, kv, "[ =]"); for (i = 1; i < n; i += 2) if (kv[i] == key) return kv[i + 1]; return 0 }
    BEGIN {
      seconds = (tb - ta) / 1e9; sent = get(b, "sent") - get(a, "sent"); achieved = sent / seconds
      printf "PRODUCER name=producer.java sink=%s rate=%s seconds=%.2f sent=%d achieved=%.1f deviation_pct=%.2f", sink, rate, seconds, sent, achieved, (achieved - rate) * 100 / rate
      printf " cpu_us_per_ev=%.1f", (sent > 0 ? cpu / sent : 0)
      printf " skipped=%d failed=%d retried=%d books=%s other_cores=%s quiet=%s\n", get(b, "skipped") - get(a, "skipped"),
        get(b, "failed") - get(a, "failed"), get(b, "retried") - get(a, "retried"), (books == "" ? "none" : books), others, quiet
    }' | tee -a "$RUN_DIR/producer.log" >&2
}

