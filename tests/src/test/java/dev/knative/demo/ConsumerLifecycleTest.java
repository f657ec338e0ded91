package dev.knative.demo;

import static dev.knative.demo.CloudEventsHttp.event;
import static dev.knative.demo.CloudEventsHttp.validData;
import static org.assertj.core.api.Assertions.assertThat;

import io.cloudevents.CloudEvent;
import io.cloudevents.core.builder.CloudEventBuilder;
import io.vertx.core.Future;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Consumer behaviour that needs a consumer of its own: shutdown, slow processing, transient failure, dead letters. */
class ConsumerLifecycleTest {

    static final Duration WAIT = Duration.ofSeconds(60);

    @Test
    void sigtermFailsReadinessFirstFinishesInFlightEventsThenExitsZero() {
        try (ScriptProcess consumer = ScriptProcess.startListening("consumer.java",
                Map.of("PROCESSING_TIME_MS", "1500", "DRAIN_DELAY_MS", "300"));
             CloudEventsHttp http = new CloudEventsHttp(consumer.port())) {
            CloudEvent slow = event("order.placed", validData("order.placed"));
            Future<Integer> inFlight = http.vertx.executeBlocking(() -> http.binary(slow).statusCode());
            Await.until("the event to be in flight", WAIT, () -> http.metric("consumer_in_flight") == 1);
            consumer.terminate();
            JsonObject draining = consumer.awaitMessage("draining", WAIT);
            assertThat(draining.getInteger("in_flight")).isEqualTo(1);
            assertThat(http.get("/readyz").statusCode()).isEqualTo(503);
            assertThat(http.get("/healthz").statusCode()).isEqualTo(200);
            assertThat(CloudEventsHttp.await(inFlight)).isEqualTo(202);
            assertThat(consumer.awaitExit(WAIT)).isZero();
            assertThat(consumer.messages("event")).singleElement()
                    .satisfies(l -> assertThat(l.getString("outcome")).isEqualTo("processed"));
            assertThat(consumer.messages("stopped")).singleElement()
                    .satisfies(l -> assertThat(l.getInteger("in_flight")).isZero());
        }
    }

    @Test
    void eventArrivingAfterTheDrainDelayGets503SoKnativeRetriesItElsewhere() {
        try (ScriptProcess consumer = ScriptProcess.startListening("consumer.java",
                Map.of("PROCESSING_TIME_MS", "3000", "DRAIN_DELAY_MS", "1"));
             CloudEventsHttp http = new CloudEventsHttp(consumer.port())) {
            Future<Integer> inFlight = http.vertx.executeBlocking(
                    () -> http.binary(event("demo.event", validData("demo.event"))).statusCode());
            Await.until("the event to be in flight", WAIT, () -> http.metric("consumer_in_flight") == 1);
            consumer.terminate();
            consumer.awaitMessage("refusing new events", WAIT);
            assertThat(http.binary(event("demo.event", validData("demo.event"))).statusCode()).isEqualTo(503);
            assertThat(CloudEventsHttp.await(inFlight)).isEqualTo(202);
            assertThat(consumer.awaitExit(WAIT)).isZero();
        }
    }

    @Test
    void simulatedProcessingTimeNeverBlocksTheEventLoop() {
        // One event loop, 500 ms per event: 20 events in parallel finish together only if nothing blocks.
        try (ScriptProcess consumer = ScriptProcess.startListening("consumer.java",
                Map.of("PROCESSING_TIME_MS", "500", "EVENT_LOOPS", "1"));
             CloudEventsHttp http = new CloudEventsHttp(consumer.port())) {
            http.binary(event("demo.event", validData("demo.event")));
            long started = System.nanoTime();
            List<Future<Integer>> all = new ArrayList<>();
            for (int i = 0; i < 20; i++) {
                all.add(http.vertx.executeBlocking(() -> http.binary(event("demo.event", validData("demo.event")))
                        .statusCode(), false));
            }
            all.forEach(f -> assertThat(CloudEventsHttp.await(f)).isEqualTo(202));
            assertThat(Duration.ofNanos(System.nanoTime() - started)).isLessThan(Duration.ofMillis(5000));
        }
    }

    @Test
    void transientProcessingFailureAnswers503AndTheRetryIsProcessedAgain() {
        try (ScriptProcess consumer = ScriptProcess.startListening("consumer.java",
                Map.of("PROCESSING_TIME_MS", "1", "FAILURE_RATE", "1"));
             CloudEventsHttp http = new CloudEventsHttp(consumer.port())) {
            CloudEvent event = event("user.created", validData("user.created"));
            assertThat(http.binary(event).statusCode()).isEqualTo(503);
            assertThat(http.binary(event).statusCode()).isEqualTo(503);
            // The failed first attempt is forgotten, so the retry is processed, not answered as a duplicate.
            consumer.awaitLog(l -> consumer.logs(m -> event.getId().equals(m.getString("id"))).size() == 2, WAIT);
            assertThat(consumer.logs(l -> event.getId().equals(l.getString("id"))))
                    .extracting(l -> l.getString("outcome")).containsExactly("failed", "failed");
        }
    }

    @Test
    void deadLetterModeRecordsTheKnativeErrorAttributesOfAPoisonEvent() {
        try (ScriptProcess deadLetters = ScriptProcess.startListening("consumer.java", Map.of(), "--dead-letter");
             CloudEventsHttp http = new CloudEventsHttp(deadLetters.port())) {
            // Shaped as the broker sends a dead letter: the original event plus ce-knativeerror* attributes.
            String reason = "data.email must be an e-mail address";
            CloudEvent poison = CloudEventBuilder.v1(event("user.created", new JsonObject().put("user_id", "u")))
                    .withExtension("knativeerrordest", "http://consumer.knative-demo.svc.cluster.local")
                    .withExtension("knativeerrorcode", "400")
                    .withExtension("knativeerrordata", Base64.getEncoder()
                            .encodeToString(reason.getBytes(StandardCharsets.UTF_8)))
                    .build();
            assertThat(http.binary(poison).statusCode()).isEqualTo(202);
            JsonObject line = deadLetters.awaitMessage("dead letter", WAIT);
            assertThat(line.getString("id")).isEqualTo(poison.getId());
            assertThat(line.getString("knativeerrorcode")).isEqualTo("400");
            assertThat(line.getString("knativeerrordata")).isEqualTo(reason);
            assertThat(line.getString("knativeerrordest")).contains("consumer.knative-demo");
            JsonArray recorded = new JsonArray(http.get("/dead-letters").bodyAsString());
            assertThat(recorded).hasSize(1);
            assertThat(recorded.getJsonObject(0).getString("knativeerrordata")).isEqualTo(reason);
            assertThat(http.metric("consumer_dead_letters_total{code=\"400\",type=\"user.created\"}")).isEqualTo(1);
        }
    }
}
