# shellcheck shell=bash
# Sourced by scripts/benchmark.sh: the versions and the RESULTS.md document with its ratios.

versions() {
  local lock="$ROOT/scripts/deps.lock" entry py
  echo "- Java: $(java -version 2>&1 | sed -n 2p) (the cluster's image runs JDK 25)"
  [[ -n "$JDK25_HOME" ]] && echo "- $OURS_JDK25: $("$JDK25_HOME/bin/java" -version 2>&1 | sed -n 2p), as in the image"
  echo "- JBang $(sed -n 's/.*jbang-cli:\([^ ;]*\).*/\1/p' "$ROOT/scripts/jbang.lock" | head -n1)," \
    "Vert.x $(grep -o 'vertx-core/[^/]*' "$lock" | head -n1 | cut -d/ -f2)," \
    "Netty $(grep -o 'netty-common/[^/]*' "$lock" | head -n1 | cut -d/ -f2)," \
    "CloudEvents SDK $(grep -o 'cloudevents-core/[^/]*' "$lock" | head -n1 | cut -d/ -f2)," \
    "Jackson $(grep -o 'jackson-core/2[^/]*' "$lock" | head -n1 | cut -d/ -f2) (from scripts/*.lock)"
  if [[ "$LOAD" == wrk ]]; then
    echo "- load: $(wrk -v 2>&1 | head -n1 | cut -d' ' -f1-2) with tests/benchmark/events.lua; open loop: tests/benchmark/LoadGenerator.java"
  else
    echo "- load: tests/benchmark/LoadGenerator.java, closed and open loop (wrk was not installed)"
  fi
  for entry in "$@"; do
    case "$entry" in
      go\|*) echo "- peer go: standard library only$(command -v go >/dev/null && go version "$PEERS_WORK/.build/ce-consumer-go" | sed 's/.*: */, /')" ;;
      node\|*) echo "- peer node: Node.js $(node --version), cloudevents" \
        "$(node -p "require('$PEERS_WORK/node/node_modules/cloudevents/package.json').version"), express" \
        "$(node -p "require('$PEERS_WORK/node/node_modules/express/package.json').version")" ;;
      python\|*) py=$(head -n1 "$(command -v gunicorn)" | sed 's/^#! *//')
        echo "- peer python: $(gunicorn --version 2>&1 | tr -d '()') (1 worker x 8 threads), Flask" \
          "$($py -c 'import importlib.metadata as m; print(m.version("flask"))'), $($py --version)" ;;
    esac
  done
}

# shellcheck disable=SC2016 # an awk program: its $ are awk's
# The tables: medians (with [min–max]) of the quiet runs per consumer, ratios to the Go peer, start-up,
# producer rate, and the issue's targets.
TABLES_AWK='
  function fmt(x) { return (x >= 100 || x == int(x)) ? sprintf("%.0f", x) : sprintf("%.3g", x) }
  function median(a, n,   i, j, t) {
    for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
    lo = a[1]; hi = a[n]
    return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  function stat(k, c,   i, a, n) {
    n = 0
    for (i = 1; i <= runs[k]; i++) if (quiet[k] == 0 || val[k, i, "quiet"] == "yes") a[++n] = val[k, i, c] + 0
    return n ? median(a, n) : ""
  }
  function cell(k, c,   m) {
    m = stat(k, c)
    return m == "" ? "–" : fmt(m) (lo != hi ? " [" fmt(lo) "–" fmt(hi) "]" : "")
  }
  function targets(k, on,   t) {
    if (hasgo) {
      t = stat(k, "rps") / go_rps
      printf "| saturation throughput ≥ 1.0× Go%s | %.2f× | %s |\n", on, t, (t >= 1.0 ? "yes" : "no")
      t = stat(k, "fixed_p99_ms") / go_p99
      printf "| p99 at %s ev/s ≤ 1.5× Go%s | %.2f× | %s |\n", rate, on, t, (t <= 1.5 ? "yes" : "no")
    }
    t = stat(k, "idle_rss_mib")
    printf "| idle RSS ≤ 64 MiB%s | %s MiB | %s |\n", on, fmt(t), (t <= 64 ? "yes" : "no")
    stat(k, "peak_rss_mib"); t = hi
    printf "| peak RSS under load ≤ 160 MiB%s | %s MiB (highest kept run) | %s |\n", on, fmt(t), (t <= 160 ? "yes" : "no")
    if ((k SUBSEP "warm") in startMedian) {
      t = startMedian[k, "warm"]; printf "| warm start to ready ≤ 0.3 s%s | %s s | %s |\n", on, fmt(t), (t <= 0.3 ? "yes" : "no")
    }
    if ((k SUBSEP "cold") in startMedian) {
      t = startMedian[k, "cold"]; printf "| cold start to ready ≤ 3 s%s | %s s | %s |\n", on, fmt(t), (t <= 3 ? "yes" : "no")
    }
  }
  function ratio(x, y) { return (y > 0 && x != "") ? sprintf("%.2f", x / y) : "–" }
  function fields(line, arr,   i, n, f, p) {
    n = split(line, f, " ")
    for (i = 2; i <= n; i++) { p = index(f[i], "="); arr[substr(f[i], 1, p - 1)] = substr(f[i], p + 1) }
  }
  /^RESULT / {
    delete v; fields($0, v); k = v["name"]
    if (!(k in runs)) order[++nk] = k
    i = ++runs[k]; quiet[k] += (v["quiet"] == "yes")
    for (c in v) val[k, i, c] = v[c]
    val[k, i, "errors"] = v["non2xx"] + v["sock_err"]
  }
  /^START / {
    delete v; fields($0, v); k = v["name"] SUBSEP v["kind"]
    if (!(k in starts)) sorder[++ns] = k
    sval[k, ++starts[k]] = v["ready_s"] + 0; squiet[k] += (v["quiet"] == "yes")
  }
  /^PRODUCER / { producer++; delete v; fields($0, v); for (f in v) prod[producer, f] = v[f] }
  END {
    hasgo = ("go" in runs)
    if (hasgo) { go_rps = stat("go", "rps"); go_p99 = stat("go", "fixed_p99_ms") }
    print "## Consumers\n"
    print "Median of the kept runs, [min–max] when they differ; × Go is the ratio to the Go peer (req/s: higher is"
    print "better, p99: lower is better). Errors: non-2xx answers and socket errors of both tests.\n"
    print "| consumer | runs kept | req/s | × Go | CPU µs/event | p99 ms at " rate " ev/s | × Go | p50 ms at " rate " ev/s | idle RSS MiB | peak RSS MiB | ready s | errors | log lines |"
    print "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
    for (x = 1; x <= nk; x++) {
      k = order[x]
      printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", (k == ours ? "**" k "**" : k),
        (quiet[k] ? quiet[k] "/" runs[k] : "0/" runs[k] ", all shown"), cell(k, "rps"),
        (hasgo ? ratio(stat(k, "rps"), go_rps) : "–"), cell(k, "cpu_us_per_ev"), cell(k, "fixed_p99_ms"),
        (hasgo ? ratio(stat(k, "fixed_p99_ms"), go_p99) : "–"), cell(k, "fixed_p50_ms"), cell(k, "idle_rss_mib"),
        cell(k, "peak_rss_mib"), cell(k, "ready_s"), cell(k, "errors"), cell(k, "loglines")
    }
    if (ns) {
      print "\n## Start-up\n"
      print "From launch to the first 2xx on /readyz, not pinned (the Deployment sets no CPU limit). Warm: JBang cache"
      print "and local Maven repository filled, as for a restarted container. Cold: both empty, as for a new pod:"
      print "JBang and every dependency fetched, verified and the script compiled.\n"
      print "| consumer | start | runs (quiet) | ready s |"
      print "|---|---|--:|--:|"
      for (x = 1; x <= ns; x++) {
        k = sorder[x]; split(k, nameKind, SUBSEP); delete a
        for (i = 1; i <= starts[k]; i++) a[i] = sval[k, i]
        startMedian[k] = median(a, starts[k])
        printf "| %s | %s | %d (%d) | %s%s |\n", nameKind[1], nameKind[2], starts[k], squiet[k], fmt(startMedian[k]),
          (lo != hi ? " [" fmt(lo) "–" fmt(hi) "]" : "")
      }
    }
    if (producer) {
      print "\n## Producer rate\n"
      print "producer.java at each RATE into the " prod[1, "sink"] " consumer, counted on its /metrics"
      print "(producer_events_sent_total) over " prod[1, "seconds"] " s after 5 s of warm-up. CPU µs/event: CPU time of"
      print "its process tree over those seconds per event sent. Books: its own \"stopped\" line, counted from its"
      print "start, so they include the warm-up.\n"
      print "| asked ev/s | achieved ev/s | deviation | CPU µs/event | skipped | failed | retried | books | quiet |"
      print "|--:|--:|--:|--:|--:|--:|--:|---|---|"
      for (x = 1; x <= producer; x++)
        printf "| %s | %s | %s %% | %s | %s | %s | %s | %s | %s |\n", prod[x, "rate"], prod[x, "achieved"],
          prod[x, "deviation_pct"], prod[x, "cpu_us_per_ev"], prod[x, "skipped"], prod[x, "failed"], prod[x, "retried"],
          prod[x, "books"], prod[x, "quiet"]
    }
    if (!(ours in runs)) exit
    print "\n## Targets\n"
    print "| target | measured | met |"
    print "|---|--:|---|"
    targets(ours, "")
    if (ours25 in runs) targets(ours25, " (" ours25 ")")
    for (x = 1; x <= producer; x++) {
      t = prod[x, "deviation_pct"] + 0; t = (t < 0 ? -t : t)
      printf "| producer holds %s ev/s within 1 %% | %s %% | %s |\n", prod[x, "rate"], prod[x, "deviation_pct"],
        (t <= 1 && prod[x, "skipped"] + 0 == 0 ? "yes" : "no")
      # the issue sets the CPU goal at 2,000 ev/s; other rates show their figure in the producer table only
      if (prod[x, "rate"] == 2000)
        printf "| producer CPU per event at %s ev/s ≤ 30 µs | %s µs | %s |\n", prod[x, "rate"], prod[x, "cpu_us_per_ev"],
          (prod[x, "cpu_us_per_ev"] + 0 <= 30 ? "yes" : "no")
    }
  }'

write_results() {
  local pinning="consumer on CPU $SERVER_CPU, load tools on CPU $LOAD_CPU"
  [[ -n "$SERVER_CPU" ]] || pinning="nothing pinned"
  mkdir -p "$(dirname "$RESULTS")"
  {
    cat <<DOC
# Benchmark results

Written by \`scripts/benchmark.sh\` on $(date -u +"%Y-%m-%d %H:%M UTC") in $(((SECONDS + 59) / 60)) min; run it again to
refresh this page. Raw outputs of that run: \`${RUN_DIR#"$ROOT/"}/\` (not in git).

## Machine and versions

- $(lscpu | sed -n 's/^Model name: *//p' | head -n1), $(nproc) cores$(lscpu | sed -n 's/^Hypervisor vendor: *\(.*\)/ (\1 guest)/p'), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM, Linux $(uname -r)$([[ -f /etc/debian_version ]] && echo ", Debian $(cat /etc/debian_version)")
$(versions "$@")

## Method

- Every consumer goes through the same steps, one at a time, interleaved over $RUNS rounds so that slow drift
  of the machine hits all alike; $pinning. Before each run the script waits (up to ${QUIET_WAIT} s) until
  processes outside it use at most $OTHER_MAX cores; a run during which they used more is repeated (up to
  $RETRIES time(s)) and left out of the medians.
- consumer.java starts as users start it, \`scripts/jbang consumer.java\`, with **PROCESSING_TIME_MS=0**: the
  peers do no simulated work, so neither does it. Each event is decoded, validated, deduplicated, answered 202
  and logged as one JSON line; every consumer's stdout goes to a file.
- Saturation: $WARMUP s warm-up, then $DURATION s with $CONNS connections (\`$LOAD\`) posting binary-mode
  CloudEvents with data valid for each of the three types in turn, each with an id of its own. CPU µs/event
  is the consumer's CPU time per event answered: the figure least disturbed by the load tool on the same machine.
- Latency: open loop at $RATE ev/s for $FIXED_DURATION s (the first second left out), measured from each
  request's due time, so queueing shows instead of slowing the sender down.
- Memory: RSS of the consumer's whole process tree, $IDLE_SETTLE s after ready (idle) and the highest 200 ms
  sample under load (peak). Ready: from launch to the first 2xx on /readyz (peers: /healthz).
- Commands (from the repository root; peers from their built copy in \`PEERS_WORK\`):
$(for entry in "$@"; do IFS='|' read -r label _ _ command <<<"$entry"; echo "  - $label: \`$command\`"; done)

DOC
    awk -v ours="$OURS" -v ours25="$OURS_JDK25" -v rate="$RATE" "$TABLES_AWK" "$RUN_DIR/results.log" "$RUN_DIR/starts.log" "$RUN_DIR/producer.log"
    printf '\nWhy a target is missed, and every tuning step with the measurement that decided it: [TUNING.md](TUNING.md).\n'
  } >"$RESULTS.tmp"
  mv -f -- "$RESULTS.tmp" "$RESULTS"
}

