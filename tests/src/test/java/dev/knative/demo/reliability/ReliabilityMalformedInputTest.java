package dev.knative.demo.reliability;

import static dev.knative.demo.support.CloudEventsHttp.event;
import static dev.knative.demo.support.CloudEventsHttp.validData;
import static org.assertj.core.api.Assertions.assertThat;

import dev.knative.demo.support.Await;
import dev.knative.demo.support.CloudEventsHttp;
import dev.knative.demo.support.MalformedCorpus;
import dev.knative.demo.support.RawHttp;
import dev.knative.demo.support.ScriptProcess;
import dev.knative.demo.support.MalformedCorpus.Category;
import dev.knative.demo.support.MalformedCorpus.Delivery;
import dev.knative.demo.support.MalformedCorpus.Expect;
import dev.knative.demo.support.MalformedCorpus.Request;
import dev.knative.demo.support.RawHttp.Outcome;
import io.cloudevents.CloudEvent;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * Over ten thousand malformed requests, over real sockets, to one consumer process: each one is refused with a
 * 4xx and a reason (or, for an upload the client abandons, logged as rejected), none gets a 5xx, the process
 * survives, its heap after a full GC does not grow, and it still handles valid events at the end.
 */
class ReliabilityMalformedInputTest {

    /** Replay a run with -Dcorpus.seed=N; the seed is printed with the summary. */
    static final long SEED = Long.getLong("corpus.seed", 20261126L);
    static final Map<Category, Integer> COUNTS = new EnumMap<>(Map.ofEntries(
            Map.entry(Category.MISSING_ATTRIBUTE, 2000), Map.entry(Category.INVALID_ATTRIBUTE, 2000),
            Map.entry(Category.WRONG_SPECVERSION, 1000), Map.entry(Category.CONTENT_TYPE, 1000),
            Map.entry(Category.INVALID_JSON, 2000), Map.entry(Category.INVALID_UTF8, 1000),
            Map.entry(Category.OVERSIZED_BODY, 300), Map.entry(Category.ABSURD_HEADERS, 300),
            Map.entry(Category.BROKEN_FRAMING, 300), Map.entry(Category.SLOW_UPLOAD, 100),
            Map.entry(Category.TRUNCATED_UPLOAD, 300)));
    /** Requests sent before the first heap measurement, so class loading and warm-up do not count as growth. */
    static final int WARM_UP = 1000;
    /** Retained heap may grow by this much over the measured part of the corpus (which moves ~200 MB). */
    static final long HEAP_GROWTH_BOUND = 8L << 20;
    /**
     * The consumer's memory limit in k8s/jbang-workload.yaml. The JVM is told it has that much memory
     * (-XX:MaxRAM), so it sizes its heap and picks its GC as it does in the pod, and must stay below it.
     */
    static final long POD_MEMORY_LIMIT = 384L << 20;
    static final Duration WAIT = Duration.ofSeconds(60);

    @Test
    void tenThousandMalformedRequestsEachGetA4xxWithAReasonNoneA5xxAndMemoryStaysFlat() throws Exception {
        List<Request> corpus = MalformedCorpus.generate(SEED, COUNTS);
        assertThat(corpus).hasSizeGreaterThanOrEqualTo(10_000);
        try (ScriptProcess consumer = ScriptProcess.startListening("consumer.java",
                Map.of("POD_NAME", "fuzzed", "JDK_JAVA_OPTIONS", "-XX:MaxRAM=" + POD_MEMORY_LIMIT));
             CloudEventsHttp http = new CloudEventsHttp(consumer.port())) {
            Map<Request, Outcome> outcomes = new ConcurrentHashMap<>();
            long started = System.nanoTime();
            send(consumer.port(), corpus.subList(0, WARM_UP), outcomes);
            long heapBefore = heapAfterFullGc(consumer, http);
            long rssBefore = rss(consumer);
            send(consumer.port(), corpus.subList(WARM_UP, corpus.size()), outcomes);
            Duration sending = Duration.ofNanos(System.nanoTime() - started);
            long heapAfter = heapAfterFullGc(consumer, http);
            long rssAfter = rss(consumer);

            List<String> violations = new ArrayList<>();
            for (Request request : corpus) check(request, outcomes.get(request)).ifPresent(violations::add);
            assertThat(violations).as("requests answered otherwise than expected (seed %d)", SEED)
                    .isEmpty();

            // One log line per request the consumer's code saw, with exactly the status it answered.
            Map<Integer, Long> expectedLines = corpus.stream().filter(r -> r.expect() != Expect.REFUSED_BY_PARSER)
                    .collect(Collectors.groupingBy(r -> r.expect() == Expect.ABANDONED ? 400 : r.status(), TreeMap::new,
                            Collectors.counting()));
            long expectedTotal = expectedLines.values().stream().mapToLong(Long::longValue).sum();
            Await.until(expectedTotal + " event log lines", WAIT, () -> consumer.messages("event").size() >= expectedTotal);
            List<JsonObject> lines = consumer.messages("event");
            Map<Integer, Long> loggedLines = lines.stream().collect(Collectors.groupingBy(l -> l.getInteger("status"),
                    TreeMap::new, Collectors.counting()));
            assertThat(loggedLines).isEqualTo(expectedLines);
            assertThat(lines).allSatisfy(l -> {
                assertThat(l.getString("outcome")).isEqualTo("rejected");
                assertThat(l.getString("reason")).isNotBlank();
            });
            assertThat(consumer.logs(l -> "error".equals(l.getString("level")))).isEmpty();
            assertThat(http.metric("consumer_in_flight")).isZero();

            // Still alive and still doing its job.
            for (String type : List.of("demo.event", "user.created", "order.placed")) {
                CloudEvent valid = event(type, validData(type));
                assertThat(http.binary(valid).statusCode()).isEqualTo(202);
                assertThat(consumer.awaitLog(l -> valid.getId().equals(l.getString("id")), WAIT).getString("outcome"))
                        .isEqualTo("processed");
            }

            System.out.printf("malformed corpus: seed %d, %d requests in %d s, categories %s, answers %s, log lines %s,"
                            + " heap after full GC %d -> %d KiB, RSS %d -> %d KiB%n", SEED, corpus.size(),
                    sending.toSeconds(), COUNTS, histogram(outcomes), expectedLines, heapBefore >> 10, heapAfter >> 10,
                    rssBefore >> 10, rssAfter >> 10);
            assertThat(heapAfter - heapBefore).as("retained heap growth").isLessThan(HEAP_GROWTH_BOUND);
            assertThat(rssAfter).as("resident set size").isLessThan(POD_MEMORY_LIMIT);
        }
    }

    /** Fast requests on four kept-alive connections; slow uploads at the same time, twenty at once. */
    private static void send(int port, List<Request> requests, Map<Request, Outcome> outcomes) throws Exception {
        ExecutorService fast = Executors.newFixedThreadPool(4);
        ExecutorService slow = Executors.newFixedThreadPool(20);
        try {
            List<Future<?>> running = new ArrayList<>();
            for (Request request : requests) {
                if (request.delivery() == Delivery.SLOW)
                    running.add(slow.submit(() -> outcomes.put(request, deliver(port, request, null))));
            }
            List<List<Request>> lanes = List.of(new ArrayList<>(), new ArrayList<>(), new ArrayList<>(), new ArrayList<>());
            for (Request request : requests)
                if (request.delivery() != Delivery.SLOW) lanes.get(request.index() % lanes.size()).add(request);
            for (List<Request> lane : lanes) {
                running.add(fast.submit(() -> {
                    try (RawHttp connection = new RawHttp(port)) {
                        for (Request request : lane) outcomes.put(request, deliver(port, request, connection));
                    }
                }));
            }
            for (Future<?> f : running) f.get(5, TimeUnit.MINUTES);
        } finally {
            fast.shutdownNow();
            slow.shutdownNow();
        }
    }

    private static Outcome deliver(int port, Request request, RawHttp keptAlive) {
        return switch (request.delivery()) {
            case KEEP_ALIVE -> keptAlive.exchange(request.bytes());
            case OWN_CONNECTION -> RawHttp.once(port, request.bytes(), 1, 0,
                    request.expect() == Expect.REFUSED_BY_PARSER);
            case SLOW -> RawHttp.once(port, request.bytes(), request.pieces(), request.pauseMs(), false);
            case CUT_WITH_FIN -> RawHttp.abandon(port, request.bytes(), request.sendBytes(), false);
            case CUT_WITH_RST -> RawHttp.abandon(port, request.bytes(), request.sendBytes(), true);
        };
    }

    /** What is wrong with the answer a request got, if anything. */
    private static Optional<String> check(Request request, Outcome outcome) {
        RawHttp.Response response = outcome.response();
        String problem = switch (request.expect()) {
            case REJECTED, TOO_LARGE -> {
                if (response == null) yield "no answer: " + outcome.error();
                if (response.status() != request.status()) yield "status " + response.status() + " " + response.text();
                if (response.text().isBlank()) yield "no reason in the body";
                if (request.expect() == Expect.TOO_LARGE && !response.text().contains(String.valueOf(MalformedCorpus.BODY_LIMIT)))
                    yield "413 without the limit: " + response.text();
                yield null;
            }
            case REFUSED_BY_PARSER -> {
                if (response == null) yield "no answer: " + outcome.error();
                if (response.status() != request.status()) yield "status " + response.status() + " " + response.text();
                if (response.reasonPhrase().isBlank()) yield "no reason phrase";
                if (!outcome.closedByServer()) yield "connection left open after " + response.status();
                yield null;
            }
            case ABANDONED -> response == null ? null : "answered " + response.status() + " " + response.text();
        };
        return Optional.ofNullable(problem).map(p -> request + ": " + p);
    }

    private static Map<String, Long> histogram(Map<Request, Outcome> outcomes) {
        return outcomes.values().stream().collect(Collectors.groupingBy(
                o -> o.response() == null ? "none" : String.valueOf(o.response().status()), TreeMap::new,
                Collectors.counting()));
    }

    /** Forces a full GC in the consumer (jcmd of the JDK it runs on), then sums its heap pools from /metrics. */
    static long heapAfterFullGc(ScriptProcess process, CloudEventsHttp http) throws IOException, InterruptedException {
        Path java = Path.of(ProcessHandle.of(process.pid()).flatMap(h -> h.info().command())
                .orElseThrow(() -> new AssertionError("no command line for pid " + process.pid())));
        Process jcmd = new ProcessBuilder(java.resolveSibling("jcmd").toString(), String.valueOf(process.pid()), "GC.run")
                .redirectErrorStream(true).start();
        String output = new String(jcmd.getInputStream().readAllBytes());
        assertThat(jcmd.waitFor()).as(output).isZero();
        long heap = 0;
        for (String line : http.get("/metrics").bodyAsString().split("\n"))
            if (line.startsWith("jvm_memory_used_bytes{area=\"heap\""))
                heap += (long) Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
        assertThat(heap).isPositive();
        return heap;
    }

    static long rss(ScriptProcess process) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc", String.valueOf(process.pid()), "status")))
            if (line.startsWith("VmRSS:")) return Long.parseLong(line.replaceAll("\\D", "")) << 10;
        throw new AssertionError("no VmRSS for pid " + process.pid());
    }
}
