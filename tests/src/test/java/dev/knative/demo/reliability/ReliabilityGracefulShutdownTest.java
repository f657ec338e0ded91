package dev.knative.demo.reliability;

import static dev.knative.demo.support.CloudEventsHttp.event;
import static dev.knative.demo.support.CloudEventsHttp.validData;
import static org.assertj.core.api.Assertions.assertThat;

import dev.knative.demo.programs.ProducerTest;
import dev.knative.demo.support.Await;
import dev.knative.demo.support.CloudEventsHttp;
import dev.knative.demo.support.ScriptProcess;
import dev.knative.demo.support.TestSink;
import dev.knative.demo.support.TestSink.Answer;
import io.cloudevents.CloudEvent;
import io.cloudevents.http.vertx.VertxMessageFactory;
import io.vertx.core.Vertx;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.client.WebClient;
import io.vertx.ext.web.client.WebClientOptions;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/** SIGTERM in the middle of real load, for both programs: readiness goes first, in-flight work finishes, nothing is lost. */
class ReliabilityGracefulShutdownTest {

    static final Duration WAIT = Duration.ofSeconds(120);

    /** What one request got: the status and body, or the transport error when no answer came. */
    record Reply(int status, String body, String error, long answeredNanos) {
    }

    @Test
    void consumerUnderLoadFailsReadinessFirstAnswersEveryRequestWith202Or503AndFinishesInFlightWork() {
        // The window in which the readiness probe must see 503 before the first event is refused, and the time an
        // event stays in flight: both long beside what a busy machine can delay one request by.
        long drainDelayMs = 3000;
        // About 200 events in flight at once, over the default MAX_IN_FLIGHT: room for all, so none is answered 429.
        try (ScriptProcess consumer = ScriptProcess.startListening("consumer.java", Map.of("PROCESSING_TIME_MS", "1000",
                "DRAIN_DELAY_MS", String.valueOf(drainDelayMs), "SHUTDOWN_GRACE_MS", "30000", "MAX_IN_FLIGHT", "1000"))) {
            Vertx vertx = Vertx.vertx();
            try {
                WebClient client = WebClient.create(vertx, new WebClientOptions().setKeepAlive(true),
                        new PoolOptions().setHttp1MaxSize(200));
                String url = "http://127.0.0.1:" + consumer.port() + "/";
                Map<String, Reply> answers = new ConcurrentHashMap<>();
                Set<String> sent = ConcurrentHashMap.newKeySet();
                AtomicLong notReadySince = new AtomicLong();
                AtomicBoolean shuttingDown = new AtomicBoolean();
                // The broker's side: 200 events a second until the first "shutting down" answer, which tells it
                // (like the endpoints update in a cluster) to send this replica nothing more.
                long load = vertx.setPeriodic(5, id -> {
                    if (shuttingDown.get()) return;
                    CloudEvent event = event("demo.event", validData("demo.event"));
                    sent.add(event.getId());
                    VertxMessageFactory.createWriter(client.postAbs(url)).writeBinary(event).onComplete(r -> {
                        if (r.succeeded() && r.result().statusCode() == 503) shuttingDown.set(true);
                        answers.put(event.getId(), r.succeeded()
                                ? new Reply(r.result().statusCode(), r.result().bodyAsString(), null, System.nanoTime())
                                : new Reply(0, null, String.valueOf(r.cause()), System.nanoTime()));
                    });
                });
                // The kubelet's probe, on connections of its own: never queued behind the events.
                WebClient kubelet = WebClient.create(vertx);
                long readiness = vertx.setPeriodic(20, id -> kubelet.getAbs(url + "readyz").send().onSuccess(r -> {
                    if (r.statusCode() == 503) notReadySince.compareAndSet(0, System.nanoTime());
                }));
                Await.until("requests in flight on a loaded consumer", WAIT, () -> answers.size() >= 200);

                long sigterm = System.nanoTime();
                consumer.terminate();
                assertThat(consumer.awaitExit(WAIT)).isZero();
                vertx.cancelTimer(load);
                vertx.cancelTimer(readiness);
                Await.until("an answer to every request", WAIT, () -> answers.keySet().containsAll(sent));

                // The order of the consumer's own lines: readiness fails (draining), the listener keeps accepting
                // for DRAIN_DELAY_MS by its own clock, then refuses; the events it held then finish before it stops.
                List<JsonObject> lines = consumer.logs(l -> true);
                JsonObject draining = consumer.awaitMessage("draining", WAIT);
                JsonObject refusing = consumer.awaitMessage("refusing new events", WAIT);
                List<JsonObject> deferred = consumer.logs(l -> "deferred".equals(l.getString("outcome")));
                assertThat(lines.indexOf(draining)).isLessThan(lines.indexOf(refusing));
                assertThat(Duration.between(ScriptProcess.loggedAt(draining), ScriptProcess.loggedAt(refusing)))
                        .isGreaterThanOrEqualTo(Duration.ofMillis(drainDelayMs));
                assertThat(deferred).isNotEmpty();
                assertThat(lines.indexOf(deferred.get(0))).isGreaterThan(lines.indexOf(refusing));
                assertThat(refusing.getInteger("in_flight")).as("events in flight when the listener stopped accepting")
                        .isPositive();
                assertThat(consumer.messages("stopped")).singleElement()
                        .satisfies(l -> assertThat(l.getInteger("in_flight")).isZero());

                // Every request the consumer read got its answer: each one it processed a 202, each one it deferred
                // a 503. A request that came after its listener closed got none, as from any pod that is gone.
                List<Reply> answered = answers.values().stream().filter(a -> a.error() == null).toList();
                assertThat(answered).allSatisfy(a -> {
                    assertThat(a.status()).isIn(202, 503);
                    if (a.status() == 503) assertThat(a.body()).isEqualTo("shutting down");
                });
                Map<Integer, Long> byStatus = answered.stream()
                        .collect(Collectors.groupingBy(Reply::status, Collectors.counting()));
                Set<String> accepted = answers.entrySet().stream().filter(e -> e.getValue().status() == 202)
                        .map(Map.Entry::getKey).collect(Collectors.toSet());
                List<String> processed = consumer.logs(l -> "processed".equals(l.getString("outcome")))
                        .stream().map(l -> l.getString("id")).toList();
                assertThat(byStatus).containsKeys(202, 503);
                assertThat(processed).hasSameSizeAs(accepted).containsExactlyInAnyOrderElementsOf(accepted);
                assertThat(deferred).hasSize(byStatus.get(503).intValue());
                // Readiness is what a cluster acts on: the probe saw it fail before any event was refused.
                long first503 = answered.stream().filter(a -> a.status() == 503).mapToLong(Reply::answeredNanos)
                        .min().orElseThrow();
                assertThat(notReadySince.get()).as("readiness failed before the first 503").isPositive().isLessThan(first503);
                System.out.printf("consumer SIGTERM under load: %d requests, answers %s, %d unanswered (sent after the"
                                + " listener closed), %d in flight at SIGTERM, %d when refusing; readiness failed %d ms"
                                + " after SIGTERM, first 503 after %d ms%n",
                        sent.size(), byStatus, sent.size() - answered.size(), draining.getInteger("in_flight"),
                        refusing.getInteger("in_flight"), (notReadySince.get() - sigterm) / 1_000_000,
                        (first503 - sigterm) / 1_000_000);
            } finally {
                CloudEventsHttp.await(vertx.close());
            }
        }
    }

    @Test
    void producerUnderLoadWithASlowSinkFailsReadinessFirstStopsGeneratingAndDeliversEverythingItHolds() {
        // The sink answers after 200 ms, and from SIGTERM on not at all until the test has seen readiness fail:
        // the producer is draining, with most of what it holds undelivered, for as long as the test needs to look.
        try (TestSink sink = TestSink.start().answering((e, attempt) -> new Answer(202, Map.of(), 200));
             ScriptProcess producer = ScriptProcess.startListening("producer.java", Map.of("K_SINK", sink.url(),
                     "RATE", "500", "MAX_IN_FLIGHT", "32", "MAX_BUFFERED", "1000", "SEND_TIMEOUT_MS",
                     ProducerTest.SEND_TIMEOUT_MS, "SHUTDOWN_GRACE_MS", "60000", "POD_NAME", "producer-loaded"));
             CloudEventsHttp probe = new CloudEventsHttp(producer.port())) {
            producer.awaitMessage("buffer full, generation skipped", WAIT);

            sink.hold();
            producer.terminate();
            Await.until("readiness to fail", WAIT, () -> probe.get("/readyz").statusCode() == 503);
            int deliveredWhenNotReady = sink.received().size();
            sink.release();
            assertThat(producer.awaitExit(WAIT)).isZero();

            JsonObject books = producer.awaitMessage("stopped", WAIT);
            long generated = books.getLong("generated");
            assertThat(books.getLong("ticks")).isEqualTo(generated + books.getLong("skipped"));
            assertThat(books.getLong("sent")).isEqualTo(generated);
            assertThat(books.getLong("failed")).isZero();
            assertThat(books.getLong("undelivered")).isZero();
            // Nothing was generated after SIGTERM: what was sent before it plus what it held then is everything.
            List<JsonObject> lines = producer.logs(l -> true);
            JsonObject draining = producer.awaitMessage("draining", WAIT);
            long sentBeforeDraining = lines.subList(0, lines.indexOf(draining)).stream()
                    .filter(l -> "sent".equals(l.getString("msg"))).count();
            assertThat(sentBeforeDraining + draining.getLong("buffered")).isEqualTo(generated);
            assertThat(draining.getLong("buffered")).isPositive();
            // Every event reached the sink exactly once, many of them after readiness had already failed.
            assertThat(sink.received()).hasSize((int) generated);
            assertThat(sink.received().stream().map(r -> r.event().getId()).distinct()).hasSize((int) generated);
            assertThat(deliveredWhenNotReady).isLessThan((int) generated);
            System.out.printf("producer SIGTERM under load: books %s, held at SIGTERM %d, delivered when readiness"
                    + " failed %d, drained in %d ms by its own clock%n", books.encode(), draining.getLong("buffered"),
                    deliveredWhenNotReady, Duration.between(ScriptProcess.loggedAt(draining), ScriptProcess.loggedAt(books))
                            .toMillis());
        }
    }
}
