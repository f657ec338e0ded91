package dev.knative.demo.reliability;

import static org.assertj.core.api.Assertions.assertThat;

import dev.knative.demo.support.CloudEventsHttp;
import dev.knative.demo.support.ScriptProcess;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientResponse;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.json.JsonObject;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * Backpressure that loses nothing. One consumer replica of a fixed capacity (MAX_IN_FLIGHT events at a time, each
 * taking PROCESSING_TIME_MS) gets events from the producer, a retrying sender that honours Retry-After and holds at
 * most MAX_BUFFERED events, at twice that capacity for a minute by the producer's own clock. The consumer answers
 * what it cannot take 429 before reading it; every event is still processed exactly once, and the 429s the sender saw
 * are the 429s the consumer logged, counted in its metrics and streamed to its live page.
 */
class ReliabilityBackpressureTest {

    static final int MAX_IN_FLIGHT = 4;
    static final int PROCESSING_TIME_MS = 100;
    /** Events a second one replica takes at most: MAX_IN_FLIGHT at a time, each PROCESSING_TIME_MS long. */
    static final int CAPACITY = MAX_IN_FLIGHT * 1000 / PROCESSING_TIME_MS;
    static final int RATE = 2 * CAPACITY;
    /**
     * A minute of overload: the consumer's Retry-After is a second (PROCESSING_TIME_MS rounded up), so every event
     * held by the producer is refused and retried dozens of times, with the buffer full and ticks skipped for most of
     * the run. The producer holds only MAX_BUFFERED, five seconds of capacity, so draining it after the minute is
     * short, and the test takes a minute and a few seconds, about a sixth of the suite.
     */
    static final int LOAD_SECONDS = 60;
    static final int MAX_BUFFERED = 5 * CAPACITY;
    static final Duration WAIT = Duration.ofSeconds(LOAD_SECONDS + 180);
    static final List<String> TYPES = List.of("demo.event", "user.created", "order.placed");

    @Test
    void aRetryingSenderAtTwiceOneReplicasCapacityForAMinuteGetsEveryEventProcessedExactlyOnceAndEvery429Counted() {
        try (ScriptProcess consumer = ScriptProcess.startListening("consumer.java", Map.of("POD_NAME", "consumer-1",
                "MAX_IN_FLIGHT", String.valueOf(MAX_IN_FLIGHT), "PROCESSING_TIME_MS", String.valueOf(PROCESSING_TIME_MS)));
             CloudEventsHttp http = new CloudEventsHttp(consumer.port())) {
            List<JsonObject> livePage = follow(http, consumer.port());
            // COUNT ends the ticks after a minute at RATE; SEND_TIMEOUT_MS far above any answer time keeps every
            // non-2xx answer a 429 (no timeout turns a processed event into a retry), so the books can be exact.
            ScriptProcess producer = ScriptProcess.startListening("producer.java", Map.of(
                    "K_SINK", "http://127.0.0.1:" + consumer.port() + "/", "RATE", String.valueOf(RATE),
                    "COUNT", String.valueOf(RATE * LOAD_SECONDS), "MAX_BUFFERED", String.valueOf(MAX_BUFFERED),
                    "MAX_IN_FLIGHT", "16", "SEND_TIMEOUT_MS", "60000", "RETRY_INITIAL_MS", "100", "RETRY_MAX_MS", "2000",
                    "RETRY_AFTER_MAX_MS", "5000"));
            try (producer) {
                assertThat(producer.awaitExit(WAIT)).as("the producer settled every event it generated").isZero();
            }

            JsonObject books = producer.awaitMessage("stopped", WAIT);
            long generated = books.getLong("generated");
            long skipped = books.getLong("skipped");
            assertThat(books.getLong("ticks")).isEqualTo(RATE * LOAD_SECONDS).isEqualTo(generated + skipped);
            assertThat(books.getLong("sent")).isEqualTo(generated);
            assertThat(books.getLong("failed")).isZero();
            assertThat(books.getLong("undelivered")).isZero();
            // The replica took no more than its capacity while the ticks ran: whatever the producer could not hand
            // over or hold, it skipped. A slower machine only skips more.
            assertThat(skipped).isGreaterThanOrEqualTo((long) RATE * LOAD_SECONDS - (long) CAPACITY * (LOAD_SECONDS + 1) - MAX_BUFFERED);

            // Every event processed exactly once: the consumer's processed ids are the producer's sent ids, each once.
            Set<String> sent = producer.messages("sent").stream().map(l -> l.getString("id")).collect(Collectors.toSet());
            List<String> processed = consumer.awaitLogs(l -> "processed".equals(l.getString("outcome")), (int) generated, WAIT)
                    .stream().map(l -> l.getString("id")).toList();
            assertThat(sent).hasSize((int) generated);
            assertThat(processed).hasSize((int) generated).doesNotHaveDuplicates().containsExactlyInAnyOrderElementsOf(sent);
            assertThat(consumer.messages("event")).extracting(l -> l.getString("outcome")).containsOnly("processed", "throttled");

            // The books of the 429s: each one the sender retried after its Retry-After (a second) is one the consumer
            // logged, for the same event, and counted.
            List<JsonObject> retries = producer.messages("retry");
            assertThat(retries).isNotEmpty().allSatisfy(retry -> {
                assertThat(retry.getInteger("status")).isEqualTo(429);
                assertThat(retry.getString("reason")).contains("MAX_IN_FLIGHT=" + MAX_IN_FLIGHT);
                assertThat(retry.getLong("delay_ms")).isGreaterThanOrEqualTo(1000);
            });
            List<JsonObject> throttled = consumer.logs(l -> "throttled".equals(l.getString("outcome")));
            assertThat(sortedIds(throttled)).isEqualTo(sortedIds(retries));
            assertThat(sum(http, "throttled")).isEqualTo(retries.size());
            assertThat(sum(http, "processed")).isEqualTo(generated);
            assertThat(http.metric("consumer_in_flight")).isZero();

            // The live page's stream carried the 429s as they happened (best effort by design, so not every one).
            assertThat(livePage).anySatisfy(line -> {
                assertThat(line.getString("outcome")).isEqualTo("throttled");
                assertThat(line.getInteger("status")).isEqualTo(429);
                assertThat(line.getString("reason")).contains("retry after 1 s");
            });
            System.out.printf("backpressure, capacity %d ev/s, %d ev/s for %d s: books %s; %d answered 429 and retried,"
                            + " %d processed, most attempts for one event %d%n", CAPACITY, RATE, LOAD_SECONDS, books.encode(),
                    retries.size(), processed.size(), retries.stream().mapToInt(l -> l.getInteger("attempt")).max().orElse(0) + 1);
        }
    }

    /** The live page's data endpoint (GET /live, server-sent events), followed; its event lines collect in the list. */
    private static List<JsonObject> follow(CloudEventsHttp http, int port) {
        List<JsonObject> lines = Collections.synchronizedList(new ArrayList<>());
        HttpClient client = http.vertx.createHttpClient();
        HttpClientResponse response = CloudEventsHttp.await(client.request(HttpMethod.GET, port, "127.0.0.1", "/live")
                .compose(request -> request.send()));
        assertThat(response.statusCode()).isEqualTo(200);
        StringBuilder pending = new StringBuilder();
        response.handler((Buffer chunk) -> {
            pending.append(chunk.toString());
            for (int end = pending.indexOf("\n\n"); end >= 0; end = pending.indexOf("\n\n")) {
                String message = pending.substring(0, end);
                pending.delete(0, end + 2);
                if (message.startsWith("data: ")) lines.add(new JsonObject(message.substring("data: ".length())));
            }
        });
        return lines;
    }

    /** The ids of these log lines, sorted: one per request, so an id retried five times is there five times. */
    private static List<String> sortedIds(List<JsonObject> lines) {
        return lines.stream().map(l -> l.getString("id")).sorted().toList();
    }

    /** One outcome's count over every event type, as the consumer's /metrics shows it. */
    private static long sum(CloudEventsHttp http, String outcome) {
        return Math.round(TYPES.stream()
                .mapToDouble(type -> http.metric("consumer_events_total{outcome=\"" + outcome + "\",type=\"" + type + "\"}")).sum());
    }
}
