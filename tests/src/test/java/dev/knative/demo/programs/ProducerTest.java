package dev.knative.demo.programs;

import static org.assertj.core.api.Assertions.assertThat;

import dev.knative.demo.support.CloudEventsHttp;
import dev.knative.demo.support.ScriptProcess;
import dev.knative.demo.support.TestSink;
import dev.knative.demo.support.TestSink.Answer;
import dev.knative.demo.support.TestSink.Received;
import io.vertx.core.json.JsonObject;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** producer.java against a scripted sink: what it emits, how it retries, and that it never drops an event silently. */
public class ProducerTest {

    static final Duration RUN = Duration.ofSeconds(120);
    /**
     * The send timeout wherever a test counts attempts: a loaded machine can keep a JVM that has just started
     * from reading an answer for seconds, and a timeout there would be an extra attempt the test did not ask for.
     */
    public static final String SEND_TIMEOUT_MS = "120000";

    private static Map<String, String> env(TestSink sink, String... pairs) {
        Map<String, String> env = new HashMap<>(Map.of("K_SINK", sink.url(), "RETRY_INITIAL_MS", "20",
                "RETRY_MAX_MS", "200", "SEND_TIMEOUT_MS", SEND_TIMEOUT_MS, "POD_NAME", "producer-abc",
                "POD_NAMESPACE", "demo"));
        for (int i = 0; i < pairs.length; i += 2) env.put(pairs[i], pairs[i + 1]);
        return env;
    }

    @Test
    void emitsTheMixOfAllThreeTypesInBinaryModeWithIdentityTimeAndJsonData() {
        try (TestSink sink = TestSink.start();
             ScriptProcess producer = ScriptProcess.start("producer.java", env(sink), "--rate", "100", "--count", "9",
                     "--port", "0")) {
            assertThat(producer.awaitExit(RUN)).isZero();
            List<Received> all = sink.received();
            assertThat(all).hasSize(9);
            assertThat(all.stream().collect(Collectors.groupingBy(r -> r.event().getType(), Collectors.counting())))
                    .containsExactlyInAnyOrderEntriesOf(Map.of("demo.event", 3L, "user.created", 3L, "order.placed", 3L));
            assertThat(all.stream().map(r -> r.event().getId()).collect(Collectors.toSet())).hasSize(9);
            for (Received r : all) {
                assertThat(r.structured()).isFalse();
                assertThat(r.headers()).containsKey("ce-id");
                assertThat(r.event().getSource().toString()).isEqualTo("/apis/v1/namespaces/demo/pods/producer-abc");
                assertThat(r.event().getTime()).isNotNull();
                assertThat(r.event().getDataContentType()).isEqualTo("application/json");
                assertThat(new JsonObject(io.vertx.core.buffer.Buffer.buffer(r.event().getData().toBytes())))
                        .isNotEmpty();
            }
            assertThat(producer.messages("sent")).hasSize(9);
        }
    }

    @Test
    void structuredModeOnRequest() {
        try (TestSink sink = TestSink.start();
             ScriptProcess producer = ScriptProcess.start("producer.java", env(sink, "CE_MODE", "structured"),
                     "--once", "order.placed")) {
            assertThat(producer.awaitExit(RUN)).isZero();
            assertThat(sink.received()).singleElement().satisfies(r -> {
                assertThat(r.structured()).isTrue();
                assertThat(r.event().getType()).isEqualTo("order.placed");
            });
        }
    }

    @Test
    void kSinkWinsOverBrokerUrlAndKCeOverridesAddExtensions() {
        try (TestSink sink = TestSink.start(); TestSink other = TestSink.start();
             ScriptProcess producer = ScriptProcess.start("producer.java", env(sink, "BROKER_URL", other.url(),
                     "K_CE_OVERRIDES", "{\"extensions\":{\"cluster\":\"test-east\"}}"), "--once", "demo.event")) {
            assertThat(producer.awaitExit(RUN)).isZero();
            assertThat(other.received()).isEmpty();
            assertThat(sink.received()).singleElement()
                    .satisfies(r -> assertThat(r.event().getExtension("cluster")).isEqualTo("test-east"));
        }
    }

    @Test
    void binaryModeHeaderValuesArePercentEncodedAsTheHttpBindingRequires() {
        // http-protocol-binding 3.1.3.2: space, '"', '%' and all outside printable ASCII, as UTF-8, hex in upper case.
        // The value comes as a JSON escape, so the test does not depend on the locale of the producer's environment.
        try (TestSink sink = TestSink.start();
             ScriptProcess producer = ScriptProcess.start("producer.java", env(sink,
                     "K_CE_OVERRIDES", "{\"extensions\":{\"note\":\"caf\\u00e9 100% \\\"x\\\" \\ud83d\\ude00\"}}"),
                     "--once", "demo.event")) {
            assertThat(producer.awaitExit(RUN)).isZero();
            assertThat(sink.received()).singleElement().satisfies(r -> {
                assertThat(r.headers()).containsEntry("ce-note", "caf%C3%A9%20100%25%20%22x%22%20%F0%9F%98%80");
                assertThat(r.headers()).containsEntry("ce-type", "demo.event").containsEntry("content-type", "application/json");
            });
        }
    }

    @Test
    void brokerUrlIsUsedWhenKSinkIsMissing() {
        try (TestSink sink = TestSink.start()) {
            Map<String, String> env = env(sink, "BROKER_URL", sink.url());
            env.remove("K_SINK");
            try (ScriptProcess producer = ScriptProcess.start("producer.java", env, "--once", "user.created")) {
                assertThat(producer.awaitExit(RUN)).isZero();
                assertThat(sink.received()).hasSize(1);
                assertThat(producer.messages("no sink set (K_SINK, --sink, BROKER_URL)")).isEmpty();
            }
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {503, 500, 404, 408, 409, 429})
    void retryableStatusIsRetriedWithTheSameId(int status) {
        try (TestSink sink = TestSink.start().answering((e, attempt) -> Answer.of(attempt < 3 ? status : 202));
             ScriptProcess producer = ScriptProcess.start("producer.java", env(sink), "--once", "demo.event")) {
            assertThat(producer.awaitExit(RUN)).isZero();
            List<Received> attempts = sink.received();
            assertThat(attempts).hasSize(3);
            assertThat(attempts.stream().map(r -> r.event().getId()).distinct()).hasSize(1);
            assertThat(producer.messages("retry")).hasSize(2)
                    .allSatisfy(l -> assertThat(l.getInteger("status")).isEqualTo(status));
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {400, 401, 403, 413, 415, 422})
    void otherClientErrorsAreNeverRetriedAndAreReportedWithTheReason(int status) {
        try (TestSink sink = TestSink.start().answering((e, attempt) -> Answer.of(status));
             ScriptProcess producer = ScriptProcess.start("producer.java", env(sink), "--once", "demo.event")) {
            assertThat(producer.awaitExit(RUN)).isEqualTo(1);
            assertThat(sink.received()).hasSize(1);
            assertThat(producer.messages("failed")).singleElement().satisfies(l -> {
                assertThat(l.getInteger("status")).isEqualTo(status);
                assertThat(l.getString("reason")).isEqualTo("scripted " + status);
            });
        }
    }

    @Test
    void refusedConnectionIsRetriedUntilTheSinkComesUp() throws Exception {
        int port;
        try (ServerSocket probe = new ServerSocket(0)) {
            port = probe.getLocalPort();
        }
        Map<String, String> env = new HashMap<>(Map.of("K_SINK", "http://127.0.0.1:" + port + "/",
                "RETRY_INITIAL_MS", "50", "RETRY_MAX_MS", "200", "MAX_ATTEMPTS", "0", "SEND_TIMEOUT_MS", SEND_TIMEOUT_MS));
        try (ScriptProcess producer = ScriptProcess.start("producer.java", env, "--once", "user.created")) {
            JsonObject refused = producer.awaitMessage("retry", RUN);
            assertThat(refused.getInteger("status")).isZero();
            assertThat(refused.getString("reason")).containsIgnoringCase("refused");
            try (TestSink sink = TestSink.startOn(port)) {
                assertThat(producer.awaitExit(RUN)).isZero();
                assertThat(sink.received()).singleElement()
                        .satisfies(r -> assertThat(r.event().getId()).isEqualTo(refused.getString("id")));
            }
        }
    }

    @Test
    void retryAfterIsHonoured() {
        try (TestSink sink = TestSink.start().answering((e, attempt) ->
                attempt == 1 ? new Answer(429, Map.of("Retry-After", "1"), 0) : Answer.of(202));
             ScriptProcess producer = ScriptProcess.start("producer.java", env(sink), "--once", "demo.event")) {
            assertThat(producer.awaitExit(RUN)).isZero();
            List<Received> attempts = sink.received();
            assertThat(attempts).hasSize(2);
            assertThat(producer.messages("retry")).singleElement()
                    .satisfies(l -> assertThat(l.getLong("delay_ms")).isEqualTo(1000));
            // RETRY_INITIAL_MS is 20 ms here, so only Retry-After explains a gap of a second. A lower bound: a busy
            // machine only makes the gap longer.
            assertThat(Duration.ofNanos(attempts.get(1).arrivedNanos() - attempts.get(0).arrivedNanos()))
                    .isGreaterThanOrEqualTo(Duration.ofMillis(950));
        }
    }

    @Test
    void requestTimeoutTurnsAHangingSinkIntoARetry() {
        // The first attempt never gets an answer; the later ones are answered at once. A busy machine may let a
        // later one time out too: that is one more retry of the same event, never a lost one (no MAX_ATTEMPTS).
        try (TestSink sink = TestSink.start().answering((e, attempt) ->
                attempt == 1 ? new Answer(202, Map.of(), 600_000) : Answer.of(202));
             ScriptProcess producer = ScriptProcess.start("producer.java", env(sink, "SEND_TIMEOUT_MS", "2000",
                     "MAX_ATTEMPTS", "0"), "--once", "demo.event")) {
            assertThat(producer.awaitExit(RUN)).isZero();
            assertThat(producer.messages("retry")).first()
                    .satisfies(l -> assertThat(l.getString("reason")).containsIgnoringCase("timeout"));
            String id = producer.messages("sent").get(0).getString("id");
            assertThat(sink.received()).hasSizeGreaterThanOrEqualTo(2)
                    .allSatisfy(r -> assertThat(r.event().getId()).isEqualTo(id));
        }
    }

    @Test
    void slowSinkDoesNotStallTheSchedule() {
        // The sink answers nothing until all 30 events have arrived: a producer that waited for an answer before
        // sending on would never get there.
        try (TestSink sink = TestSink.start().hold();
             ScriptProcess producer = ScriptProcess.start("producer.java", env(sink, "MAX_IN_FLIGHT", "64"),
                     "--rate", "20", "--count", "30", "--port", "0")) {
            assertThat(sink.await(30, RUN).stream().map(r -> r.event().getId()).distinct()).hasSize(30);
            sink.release();
            assertThat(producer.awaitExit(RUN)).isZero();
            assertThat(producer.messages("sent")).hasSize(30);
        }
    }

    @Test
    void fullBufferStopsGenerationCountsSkipsAndDeliversEverythingBufferedLater() {
        try (TestSink sink = TestSink.start().answering((e, attempt) -> Answer.of(503));
             ScriptProcess producer = ScriptProcess.startListening("producer.java",
                     env(sink, "MAX_BUFFERED", "5", "MAX_IN_FLIGHT", "2"), "--rate", "50");
             CloudEventsHttp metrics = new CloudEventsHttp(producer.port())) {
            producer.awaitMessage("buffer full, generation skipped", RUN);
            assertThat(metrics.metric("producer_buffered_events")).isEqualTo(5);
            sink.answering((e, attempt) -> Answer.of(202));
            producer.awaitLog(l -> "sent".equals(l.getString("msg")), RUN);
            producer.terminate();
            assertThat(producer.awaitExit(RUN)).isZero();
            JsonObject books = producer.awaitMessage("stopped", RUN);
            long generated = books.getLong("generated");
            assertThat(books.getLong("skipped")).isPositive();
            assertThat(books.getLong("generated") + books.getLong("skipped")).isEqualTo(books.getLong("ticks"));
            assertThat(books.getLong("sent")).isEqualTo(generated);
            assertThat(books.getLong("undelivered")).isZero();
            Set<String> delivered = sink.received().stream().filter(r -> r.attemptStatus() == 202)
                    .map(r -> r.event().getId()).collect(Collectors.toSet());
            assertThat(delivered).hasSize((int) generated);
            assertThat(producer.messages("buffer full, generation skipped").stream()
                    .mapToLong(l -> l.getLong("skipped")).sum()).isEqualTo(books.getLong("skipped"));
        }
    }

    @Test
    void sigtermDeliversWhatIsInFlightThenExitsZero() {
        // The sink holds its answers until the producer has said it is draining: the events are in flight then.
        try (TestSink sink = TestSink.start().hold();
             ScriptProcess producer = ScriptProcess.startListening("producer.java", env(sink), "--rate", "10")) {
            sink.await(3, RUN);
            producer.terminate();
            assertThat(producer.awaitMessage("draining", RUN).getInteger("in_flight")).isGreaterThanOrEqualTo(3);
            sink.release();
            assertThat(producer.awaitExit(RUN)).isZero();
            List<JsonObject> sent = producer.messages("sent");
            assertThat(sent).hasSizeGreaterThanOrEqualTo(3);
            assertThat(sent.size()).isEqualTo(sink.received().size());
            assertThat(producer.messages("stopped")).singleElement()
                    .satisfies(l -> assertThat(l.getInteger("undelivered")).isZero());
        }
    }

    @Test
    void eventsStillUndeliveredWhenTheGracePeriodEndsAreNamedOneByOne() {
        try (TestSink sink = TestSink.start().answering((e, attempt) -> Answer.of(503));
             ScriptProcess producer = ScriptProcess.startListening("producer.java",
                     env(sink, "SHUTDOWN_GRACE_MS", "500"), "--rate", "20")) {
            sink.await(5, RUN);
            producer.terminate();
            assertThat(producer.awaitExit(RUN)).isEqualTo(1);
            List<JsonObject> undelivered = producer.messages("undelivered");
            Set<String> undeliveredIds = undelivered.stream().map(l -> l.getString("id")).collect(Collectors.toSet());
            Set<String> attempted = sink.received().stream().map(r -> r.event().getId()).collect(Collectors.toSet());
            assertThat(undeliveredIds).hasSize(undelivered.size()).containsAll(attempted);
            assertThat(producer.messages("stopped")).singleElement().satisfies(l -> {
                assertThat(l.getInteger("undelivered")).isEqualTo(undelivered.size());
                assertThat(l.getLong("generated")).isEqualTo(undelivered.size());
                assertThat(l.getLong("sent")).isZero();
            });
        }
    }

    /** Netty's epoll transport costs fewer system calls per event than NIO (tests/benchmark/TUNING.md): it must not go unused unnoticed. */
    @Test
    void sendsOverNettysEpollTransportOnLinuxAmd64() {
        // The suite runs where CI runs, Linux on amd64, one of the two platforms whose epoll library is pinned: no skip.
        assertThat(System.getProperty("os.name") + " " + System.getProperty("os.arch")).isIn("Linux amd64", "Linux x86_64");
        try (TestSink sink = TestSink.start();
             ScriptProcess producer = ScriptProcess.start("producer.java", env(sink), "--once", "demo.event")) {
            assertThat(producer.awaitExit(RUN)).isZero();
            assertThat(producer.messages("started")).singleElement()
                    .satisfies(started -> assertThat(started.getString("transport")).isEqualTo("epoll"));
            assertThat(producer.messages("native transport not in use, Java NIO instead")).isEmpty();
            assertThat(sink.received()).hasSize(1);
        }
    }

    @Test
    void withoutTheNativeTransportItSendsOverNioAndSaysWhy() {
        try (TestSink sink = TestSink.start();
             ScriptProcess producer = ScriptProcess.start("producer.java",
                     env(sink, "JAVA_TOOL_OPTIONS", "-Dio.netty.transport.noNative=true"), "--once", "demo.event")) {
            assertThat(producer.awaitExit(RUN)).isZero();
            assertThat(producer.messages("started")).singleElement()
                    .satisfies(started -> assertThat(started.getString("transport")).isEqualTo("nio"));
            assertThat(producer.messages("native transport not in use, Java NIO instead")).singleElement()
                    .satisfies(line -> assertThat(line.getString("reason")).contains("io.netty.transport.noNative"));
            assertThat(sink.received()).hasSize(1);
        }
    }
}
