package dev.knative.demo;

import static org.assertj.core.api.Assertions.assertThat;

import dev.knative.demo.RoundRobinProxy.Forwarded;
import io.vertx.core.json.JsonObject;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * Producer → round-robin "Service" → two consumer replicas, and one replica is SIGKILLed in the middle of the
 * stream. The producer's retries carry every event to the surviving replica; no event is lost, and no replica
 * processes an event twice.
 */
class ReliabilityReplicaLossTest {

    static final int EVENTS = 1500;
    static final int RATE = 100;
    static final int KILL_AFTER = 300;
    static final Duration WAIT = Duration.ofSeconds(120);

    @Test
    void killingOneOfTwoReplicasMidStreamLosesNoEventAndNoReplicaProcessesOneTwice() {
        try (ScriptProcess a = ScriptProcess.startListening("consumer.java",
                Map.of("POD_NAME", "replica-a", "PROCESSING_TIME_MS", "20"));
             ScriptProcess b = ScriptProcess.startListening("consumer.java",
                     Map.of("POD_NAME", "replica-b", "PROCESSING_TIME_MS", "20"));
             RoundRobinProxy service = RoundRobinProxy.start(List.of(a.port(), b.port()));
             ScriptProcess producer = ScriptProcess.start("producer.java", Map.of("K_SINK", service.url(),
                     "RETRY_INITIAL_MS", "20", "RETRY_MAX_MS", "500", "SEND_TIMEOUT_MS", "30000"),
                     "--rate", String.valueOf(RATE), "--count", String.valueOf(EVENTS), "--port", "0")) {
            Await.until(KILL_AFTER + " events answered by replica b", WAIT, () -> service.forwarded().stream()
                    .filter(f -> f.upstream() == 1 && f.status() == 202).count() >= KILL_AFTER);
            b.close();
            assertThat(b.awaitExit(WAIT)).as("killed by SIGKILL").isEqualTo(137);
            assertThat(producer.awaitExit(WAIT)).isZero();
            a.terminate();
            assertThat(a.awaitExit(WAIT)).isZero();

            JsonObject books = producer.awaitMessage("stopped", WAIT);
            assertThat(books.getLong("generated")).isEqualTo(EVENTS);
            assertThat(books.getLong("sent")).isEqualTo(EVENTS);
            assertThat(books.getLong("failed")).isZero();
            assertThat(books.getLong("undelivered")).isZero();
            Set<String> events = producer.messages("sent").stream().map(l -> l.getString("id")).collect(Collectors.toSet());
            assertThat(events).hasSize(EVENTS);

            // The "Service" relayed exactly one success per event; every failure it relayed became one retry.
            List<Forwarded> forwarded = service.forwarded();
            Map<String, List<Forwarded>> successes = forwarded.stream().filter(f -> f.status() == 202)
                    .collect(Collectors.groupingBy(Forwarded::id));
            assertThat(successes.keySet()).isEqualTo(events);
            assertThat(successes.values()).allSatisfy(s -> assertThat(s).hasSize(1));
            List<Forwarded> failures = forwarded.stream().filter(f -> f.status() != 202).toList();
            assertThat(failures).isNotEmpty().allSatisfy(f -> {
                assertThat(f.status()).isEqualTo(502);
                assertThat(f.upstream()).isEqualTo(1);
            });
            assertThat(producer.messages("retry")).hasSize(failures.size());

            // Exactly once per replica that processed an event, and together at least once for every event.
            Set<String> processedByA = processedOnce(a);
            Set<String> processedByB = processedOnce(b);
            Set<String> answeredByB = successes.values().stream().map(s -> s.get(0)).filter(f -> f.upstream() == 1)
                    .map(Forwarded::id).collect(Collectors.toSet());
            assertThat(processedByA).isEqualTo(successes.values().stream().map(s -> s.get(0))
                    .filter(f -> f.upstream() == 0).map(Forwarded::id).collect(Collectors.toSet()));
            assertThat(answeredByB).containsAll(processedByB);
            // SIGKILL can land between b's answer and its log line: at most that one answer has no line.
            assertThat(difference(answeredByB, processedByB)).hasSizeLessThanOrEqualTo(1);
            assertThat(processedByA).doesNotContainAnyElementsOf(answeredByB);
            assertThat(processedByA.size() + answeredByB.size()).isEqualTo(EVENTS);
            assertThat(a.logs(l -> "duplicate".equals(l.getString("outcome")))).isEmpty();
            System.out.printf("replica loss: %d events, %d processed by a, %d answered by b before SIGKILL"
                            + " (%d logged), %d requests answered 502 and retried%n", EVENTS, processedByA.size(),
                    answeredByB.size(), processedByB.size(), failures.size());
        }
    }

    /** Ids a replica logged as processed, after checking that none was processed twice there. */
    private static Set<String> processedOnce(ScriptProcess replica) {
        List<String> processed = replica.logs(l -> "processed".equals(l.getString("outcome")))
                .stream().map(l -> l.getString("id")).toList();
        Set<String> distinct = new HashSet<>(processed);
        assertThat(processed).as("events processed twice by one replica").hasSameSizeAs(distinct);
        return distinct;
    }

    private static Set<String> difference(Set<String> left, Set<String> right) {
        Set<String> result = new HashSet<>(left);
        result.removeAll(right);
        return result;
    }
}
