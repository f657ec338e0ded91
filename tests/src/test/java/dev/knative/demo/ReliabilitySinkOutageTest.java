package dev.knative.demo;

import static org.assertj.core.api.Assertions.assertThat;

import dev.knative.demo.TestSink.Received;
import io.vertx.core.json.JsonObject;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The sink (the Broker's ingress) goes away for a minute, nothing listening on its port, and comes back: the
 * producer backs off, holds at most MAX_BUFFERED events, skips (and counts) the ticks it cannot buffer, and
 * delivers everything it generated once the sink is back.
 */
class ReliabilitySinkOutageTest {

    static final Duration OUTAGE = Duration.ofSeconds(60);
    static final int RATE = 20;
    static final int MAX_BUFFERED = 200;
    static final long RETRY_INITIAL_MS = 100;
    static final long RETRY_MAX_MS = 2000;
    static final Duration WAIT = Duration.ofSeconds(120);

    @Test
    void minuteLongSinkOutageIsRiddenOutWithinTheBufferBoundAndEveryGeneratedEventIsDeliveredOrCountedAsSkipped()
            throws Exception {
        int port;
        try (ServerSocket probe = new ServerSocket(0)) {
            port = probe.getLocalPort();
        }
        Map<String, String> env = Map.of("K_SINK", "http://127.0.0.1:" + port + "/", "RATE", String.valueOf(RATE),
                "MAX_BUFFERED", String.valueOf(MAX_BUFFERED), "MAX_IN_FLIGHT", "16", "SEND_TIMEOUT_MS", "2000",
                "RETRY_INITIAL_MS", String.valueOf(RETRY_INITIAL_MS), "RETRY_MAX_MS", String.valueOf(RETRY_MAX_MS),
                "POD_NAME", "producer-outage");
        try (TestSink before = TestSink.startOn(port);
             ScriptProcess producer = ScriptProcess.startListening("producer.java", env);
             CloudEventsHttp metrics = new CloudEventsHttp(producer.port())) {
            before.await(2 * RATE, WAIT);
            before.close();
            // From here on nothing listens on the sink's port: every attempt is a refused connection.

            // The outage: sample the buffer gauge through it (sampling, not waiting for anything).
            long end = System.nanoTime() + OUTAGE.toNanos();
            double maxBuffered = 0;
            while (System.nanoTime() < end) {
                maxBuffered = Math.max(maxBuffered, metrics.metric("producer_buffered_events"));
                Thread.sleep(250);
            }
            assertThat(maxBuffered).isEqualTo(MAX_BUFFERED);
            List<JsonObject> retries = producer.messages("retry");
            assertThat(retries).anySatisfy(l -> assertThat(l.getString("reason")).containsIgnoringCase("refused"));
            Set<String> heldThroughTheOutage = retries.stream().map(l -> l.getString("id")).collect(Collectors.toSet());
            assertThat(heldThroughTheOutage).hasSizeGreaterThanOrEqualTo(MAX_BUFFERED);

            // Backing off: no wait beyond RETRY_MAX_MS, never below half of it once the cap is reached, and so
            // at most about one attempt a second per event over the minute.
            assertThat(retries).allSatisfy(l -> assertThat(l.getLong("delay_ms")).isBetween(RETRY_INITIAL_MS / 2, RETRY_MAX_MS));
            assertThat(retries).filteredOn(l -> l.getInteger("attempt") >= 6)
                    .isNotEmpty().allSatisfy(l -> assertThat(l.getLong("delay_ms")).isGreaterThanOrEqualTo(RETRY_MAX_MS / 2));
            int mostAttempts = retries.stream().mapToInt(l -> l.getInteger("attempt")).max().orElseThrow();
            assertThat(mostAttempts).isLessThanOrEqualTo(6 + (int) (OUTAGE.toMillis() / (RETRY_MAX_MS / 2)));

            try (TestSink after = TestSink.startOn(port)) {
                Await.until("every event held through the outage to be delivered", WAIT,
                        () -> delivered(before, after).containsAll(heldThroughTheOutage));
                producer.terminate();
                assertThat(producer.awaitExit(WAIT)).isZero();

                JsonObject books = producer.awaitMessage("stopped", WAIT);
                long generated = books.getLong("generated");
                long skipped = books.getLong("skipped");
                assertThat(books.getLong("ticks")).isEqualTo(generated + skipped);
                assertThat(books.getLong("sent")).isEqualTo(generated);
                assertThat(books.getLong("failed")).isZero();
                assertThat(books.getLong("undelivered")).isZero();
                // Every generated event reached the sink; every tick that was not generated was logged as skipped.
                Set<String> sentIds = producer.messages("sent").stream().map(l -> l.getString("id")).collect(Collectors.toSet());
                assertThat(sentIds).hasSize((int) generated).isEqualTo(delivered(before, after));
                assertThat(producer.messages("buffer full, generation skipped").stream()
                        .mapToLong(l -> l.getLong("skipped")).sum()).isEqualTo(skipped);
                // The buffer filled after MAX_BUFFERED / RATE seconds; from then on until recovery each tick was skipped.
                long fullFor = OUTAGE.toSeconds() - MAX_BUFFERED / RATE;
                assertThat(skipped).isBetween((fullFor - 5) * RATE, OUTAGE.toSeconds() * RATE);
                System.out.printf("sink outage of %d s: books %s, buffer peak %.0f, retries %d, most attempts for one event %d%n",
                        OUTAGE.toSeconds(), books.encode(), maxBuffered, retries.size(), mostAttempts);
            }
        }
    }

    /** Ids the sink accepted, before and after the outage (an event may arrive twice if an answer was cut off). */
    private static Set<String> delivered(TestSink before, TestSink after) {
        return Stream.concat(before.received().stream(), after.received().stream()).filter(r -> r.attemptStatus() == 202)
                .map(Received::event).map(e -> e.getId()).collect(Collectors.toCollection(HashSet::new));
    }
}
