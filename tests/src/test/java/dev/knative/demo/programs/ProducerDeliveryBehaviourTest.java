package dev.knative.demo.programs;

import static org.assertj.core.api.Assertions.assertThat;

import dev.knative.demo.support.Await;
import dev.knative.demo.support.CloudEventsHttp;
import dev.knative.demo.support.ScriptProcess;
import dev.knative.demo.support.TestSink;
import dev.knative.demo.support.TestSink.Answer;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import java.time.Duration;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.LongConsumer;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

/** producer.java against a sink that makes it wait: a Retry-After, and requests left unanswered. */
class ProducerDeliveryBehaviourTest {

    static final Duration RUN = Duration.ofSeconds(180);
    // IMF-fixdate, the form of an HTTP date servers send (RFC 9110), e.g. "Sun, 06 Nov 1994 08:49:37 GMT".
    static final DateTimeFormatter HTTP_DATE = DateTimeFormatter.ofPattern("EEE, dd MMM yyyy HH:mm:ss 'GMT'", Locale.ENGLISH);

    @Test
    void retryAfterLongerThanRetryAfterMaxMsWaitsOnlyThatCap() {
        // A first retry's backoff is at most RETRY_INITIAL_MS (20 ms here), so the capped Retry-After decides.
        retryAfterOneRefusal(Map.of("RETRY_AFTER_MAX_MS", "500"), () -> "3600",
                delayMs -> assertThat(delayMs).isEqualTo(500));
    }

    @Test
    void retryAfterAsAnHttpDateIsHonoured() {
        // The date has whole seconds: 4 to 5 s ahead when the sink answers, less the time the answer takes to arrive.
        retryAfterOneRefusal(Map.of(), () -> HTTP_DATE.format(ZonedDateTime.now(ZoneOffset.UTC).plusSeconds(5)),
                delayMs -> assertThat(delayMs).isBetween(3000L, 5000L));
    }

    @Test
    void maxInFlightBoundsTheRequestsOpenAtTheSink() {
        try (HoldingSink sink = new HoldingSink();
             ScriptProcess producer = ScriptProcess.startListening("producer.java", Map.of("K_SINK", sink.url(),
                     "MAX_IN_FLIGHT", "3", "COUNT", "9", "RATE", "100", "SEND_TIMEOUT_MS", "120000"));
             CloudEventsHttp metrics = new CloudEventsHttp(producer.port())) {
            // All nine are made while the sink holds the first three: six wait for a free slot, and only for that.
            Await.until("nine events buffered", RUN, () -> metrics.metric("producer_buffered_events") == 9);
            Await.until("three requests held at the sink", RUN, () -> sink.open() == 3);
            assertThat(metrics.metric("producer_in_flight")).isEqualTo(3);
            sink.release();
            assertThat(producer.awaitExit(RUN)).isZero();
            assertThat(sink.received()).isEqualTo(9);
            assertThat(sink.mostOpenAtOnce()).isEqualTo(3);
        }
    }

    @Test
    void retriesBackOffExponentiallyWithJitterUpToRetryMaxMsThenGiveUpAfterMaxAttempts() {
        try (TestSink sink = TestSink.start().answering((e, attempt) -> Answer.of(503));
             ScriptProcess producer = ScriptProcess.start("producer.java", Map.of("K_SINK", sink.url(),
                     "RETRY_INITIAL_MS", "100", "RETRY_MAX_MS", "300", "MAX_ATTEMPTS", "6"), "--once", "demo.event")) {
            assertThat(producer.awaitExit(RUN)).as("not delivered").isEqualTo(1);
            assertThat(sink.received()).hasSize(6);
            // Equal jitter: attempt n waits between half and all of min(RETRY_MAX_MS, RETRY_INITIAL_MS * 2^(n-1)).
            List<Long> delays = producer.messages("retry").stream().map(line -> line.getLong("delay_ms")).toList();
            assertThat(delays).hasSize(5);
            for (int attempt = 1; attempt <= delays.size(); attempt++) {
                long ceiling = Math.min(300, 100L << (attempt - 1));
                assertThat(delays.get(attempt - 1)).as("attempt " + attempt).isBetween(ceiling / 2, ceiling);
            }
            assertThat(producer.messages("failed")).singleElement()
                    .satisfies(line -> assertThat(line.getInteger("attempts")).isEqualTo(6));
        }
    }

    /**
     * Sends one event to a sink that answers its first attempt 503 with the given Retry-After; checks the delay the
     * producer logs for the retry (its own decision, not the clock's), then that the retry is delivered.
     */
    private static void retryAfterOneRefusal(Map<String, String> settings, Supplier<String> retryAfter,
                                             LongConsumer checkDelayMs) {
        try (TestSink sink = TestSink.start().answering((e, attempt) ->
                attempt == 1 ? new Answer(503, Map.of("Retry-After", retryAfter.get()), 0) : Answer.of(202))) {
            Map<String, String> env = new HashMap<>(Map.of("K_SINK", sink.url(), "RETRY_INITIAL_MS", "20",
                    "RETRY_MAX_MS", "200"));
            env.putAll(settings);
            try (ScriptProcess producer = ScriptProcess.start("producer.java", env, "--once", "demo.event")) {
                checkDelayMs.accept(producer.awaitMessage("retry", RUN).getLong("delay_ms"));
                assertThat(producer.awaitExit(RUN)).isZero();
                assertThat(sink.received()).hasSize(2);
            }
        }
    }

    /** A sink that leaves every request unanswered until released, and counts how many were open at once. */
    private static final class HoldingSink implements AutoCloseable {
        private final Vertx vertx = Vertx.vertx();
        private final List<HttpServerResponse> held = new ArrayList<>();
        private final HttpServer server =
                CloudEventsHttp.await(vertx.createHttpServer().requestHandler(this::receive).listen(0));
        private boolean holding = true;
        private int open;
        private int mostOpenAtOnce;
        private int received;

        private synchronized void receive(HttpServerRequest request) {
            received++;
            mostOpenAtOnce = Math.max(mostOpenAtOnce, ++open);
            if (holding) held.add(request.response());
            else answer(request.response());
        }

        /** Answers the held requests, and every later one at once. */
        synchronized void release() {
            holding = false;
            held.forEach(this::answer);
            held.clear();
        }

        // Counted closed before the answer leaves: the producer cannot send again before it has the answer.
        private void answer(HttpServerResponse response) {
            open--;
            response.setStatusCode(202).end();
        }

        synchronized int open() {
            return open;
        }

        synchronized int mostOpenAtOnce() {
            return mostOpenAtOnce;
        }

        synchronized int received() {
            return received;
        }

        String url() {
            return "http://127.0.0.1:" + server.actualPort() + "/";
        }

        @Override
        public void close() {
            CloudEventsHttp.await(vertx.close());
        }
    }
}
