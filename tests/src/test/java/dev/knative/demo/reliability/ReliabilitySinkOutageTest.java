package dev.knative.demo.reliability;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.knative.demo.support.Await;
import dev.knative.demo.support.CloudEventsHttp;
import dev.knative.demo.support.ScriptProcess;
import dev.knative.demo.support.TestSink;
import dev.knative.demo.support.TestSink.Received;
import io.vertx.core.json.JsonObject;
import java.net.ServerSocket;
import java.time.Duration;
import java.time.Instant;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
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
            // From here on nothing listens on the sink's port: every attempt is a refused connection. The outage
            // lasts a minute from the producer's first refused attempt, by its own clock (until it writes a line
            // stamped a minute later), so what follows is about the producer's minute however late the test looks.
            Instant outageSeen = ScriptProcess.loggedAt(producer.awaitLog(l -> "retry".equals(l.getString("msg"))
                    && l.getString("reason").toLowerCase(Locale.ROOT).contains("refused"), WAIT));
            producer.awaitLog(l -> l.containsKey("ts") && ScriptProcess.loggedAt(l).isAfter(outageSeen.plus(OUTAGE)),
                    OUTAGE.plus(WAIT));
            List<JsonObject> retries = producer.messages("retry");
            List<JsonObject> skips = producer.messages("buffer full, generation skipped");
            Set<String> heldThroughTheOutage = retries.stream().map(l -> l.getString("id")).collect(Collectors.toSet());
            assertThat(heldThroughTheOutage).hasSizeGreaterThanOrEqualTo(MAX_BUFFERED);
            // Never more than MAX_BUFFERED held: the gauge now, and the producer's own count at every skip.
            assertThat(metrics.metric("producer_buffered_events")).isEqualTo(MAX_BUFFERED);
            assertThat(skips).isNotEmpty().allSatisfy(l -> assertThat(l.getInteger("buffered")).isEqualTo(MAX_BUFFERED));
            // While the buffer is full every tick is skipped and counted: RATE a second by the producer's clock,
            // give or take the ticks of one second (the clock is read a moment before each line is written).
            long skippedBetween = skips.stream().skip(1).mapToLong(l -> l.getLong("skipped")).sum();
            double skipSeconds = Duration.between(ScriptProcess.loggedAt(skips.get(0)),
                    ScriptProcess.loggedAt(skips.get(skips.size() - 1))).toMillis() / 1000.0;
            assertThat((double) skippedBetween).isCloseTo(RATE * skipSeconds, within((double) RATE));

            // Backing off: no wait beyond RETRY_MAX_MS, never below half of it once the cap is reached, and each
            // attempt of an event at least the announced delay after the one before, by the producer's clock (less
            // a few milliseconds: its log stamps come from the wall clock, its timers from the monotonic one).
            assertThat(retries).allSatisfy(l -> assertThat(l.getLong("delay_ms")).isBetween(RETRY_INITIAL_MS / 2, RETRY_MAX_MS));
            assertThat(retries).filteredOn(l -> l.getInteger("attempt") >= 6)
                    .isNotEmpty().allSatisfy(l -> assertThat(l.getLong("delay_ms")).isGreaterThanOrEqualTo(RETRY_MAX_MS / 2));
            for (List<JsonObject> event : retries.stream().collect(Collectors.groupingBy(l -> l.getString("id"))).values()) {
                for (int i = 1; i < event.size(); i++) {
                    JsonObject previous = event.get(i - 1);
                    assertThat(Duration.between(ScriptProcess.loggedAt(previous), ScriptProcess.loggedAt(event.get(i))))
                            .as("between attempts %d and %d of %s", i, i + 1, previous.getString("id"))
                            .isGreaterThanOrEqualTo(Duration.ofMillis(previous.getLong("delay_ms") - 10));
                }
            }
            int mostAttempts = retries.stream().mapToInt(l -> l.getInteger("attempt")).max().orElseThrow();

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
                System.out.printf("sink outage of %d s: books %s, retries %d, most attempts for one event %d%n",
                        OUTAGE.toSeconds(), books.encode(), retries.size(), mostAttempts);
            }
        }
    }

    /** Ids the sink accepted, before and after the outage (an event may arrive twice if an answer was cut off). */
    private static Set<String> delivered(TestSink before, TestSink after) {
        return Stream.concat(before.received().stream(), after.received().stream()).filter(r -> r.attemptStatus() == 202)
                .map(Received::event).map(e -> e.getId()).collect(Collectors.toCollection(HashSet::new));
    }
}
