package dev.knative.demo.programs;

import static dev.knative.demo.support.CloudEventsHttp.event;
import static dev.knative.demo.support.CloudEventsHttp.validData;
import static org.assertj.core.api.Assertions.assertThat;

import dev.knative.demo.support.Await;
import dev.knative.demo.support.CloudEventsHttp;
import dev.knative.demo.support.ScriptProcess;
import io.cloudevents.CloudEvent;
import io.cloudevents.core.builder.CloudEventBuilder;
import io.vertx.core.Future;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.client.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Base64;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * Consumer behaviour that needs a consumer of its own: shutdown, slow processing, concurrent duplicates,
 * transient failure, dead letters.
 */
class ConsumerLifecycleTest {

    static final Duration WAIT = Duration.ofSeconds(60);
    /**
     * Processing time of an event a test keeps in flight while it signals the consumer and looks at it: the
     * consumer offers no way to hold an event, so this is the window the test acts in. A loaded machine can take
     * a second between a log line and the test's next request; five leave room for that.
     */
    static final String IN_FLIGHT_MS = "5000";

    @Test
    void sigtermFailsReadinessFirstFinishesInFlightEventsThenExitsZero() {
        try (ScriptProcess consumer = ScriptProcess.startListening("consumer.java",
                Map.of("PROCESSING_TIME_MS", IN_FLIGHT_MS, "DRAIN_DELAY_MS", "300"));
             CloudEventsHttp http = new CloudEventsHttp(consumer.port())) {
            Future<HttpResponse<Buffer>> inFlight = sendUntilInFlight(http, event("order.placed", validData("order.placed")), 1);
            consumer.terminate();
            JsonObject draining = consumer.awaitMessage("draining", WAIT);
            assertThat(draining.getInteger("in_flight")).isEqualTo(1);
            assertThat(http.get("/readyz").statusCode()).isEqualTo(503);
            assertThat(http.get("/healthz").statusCode()).isEqualTo(200);
            assertThat(CloudEventsHttp.await(inFlight).statusCode()).isEqualTo(202);
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
                Map.of("PROCESSING_TIME_MS", IN_FLIGHT_MS, "DRAIN_DELAY_MS", "1"));
             CloudEventsHttp http = new CloudEventsHttp(consumer.port())) {
            Future<HttpResponse<Buffer>> inFlight = sendUntilInFlight(http, event("demo.event", validData("demo.event")), 1);
            consumer.terminate();
            consumer.awaitMessage("refusing new events", WAIT);
            assertThat(http.binary(event("demo.event", validData("demo.event"))).statusCode()).isEqualTo(503);
            assertThat(CloudEventsHttp.await(inFlight).statusCode()).isEqualTo(202);
            assertThat(consumer.awaitExit(WAIT)).isZero();
        }
    }

    @Test
    void simulatedProcessingTimeNeverBlocksTheEventLoop() {
        // One event loop and events that take ten minutes each: one more is in flight after each send, twenty at
        // the end, and the loop still answers /metrics, only if processing waits on a timer; a blocked loop would
        // hold the first event alone and answer nothing else.
        try (ScriptProcess consumer = ScriptProcess.startListening("consumer.java",
                Map.of("PROCESSING_TIME_MS", "600000", "EVENT_LOOPS", "1"));
             CloudEventsHttp http = new CloudEventsHttp(consumer.port())) {
            for (int i = 1; i <= 20; i++) sendUntilInFlight(http, event("demo.event", validData("demo.event")), i);
        }
    }

    @Test
    void duplicateArrivingWhileTheFirstAttemptIsInFlightWaitsForItAndIsProcessedOnce() {
        // Two event loops: the deduplication is shared between them.
        try (ScriptProcess consumer = ScriptProcess.startListening("consumer.java",
                Map.of("PROCESSING_TIME_MS", IN_FLIGHT_MS, "EVENT_LOOPS", "2"));
             CloudEventsHttp http = new CloudEventsHttp(consumer.port())) {
            CloudEvent event = event("user.created", validData("user.created"));
            Future<HttpResponse<Buffer>> first = sendUntilInFlight(http, event, 1);
            Future<HttpResponse<Buffer>> second = sendUntilInFlight(http, event, 2);
            assertThat(CloudEventsHttp.await(first).statusCode()).isEqualTo(202);
            assertThat(CloudEventsHttp.await(second).statusCode()).isEqualTo(202);
            consumer.awaitLog(l -> consumer.logs(m -> event.getId().equals(m.getString("id"))).size() == 2, WAIT);
            assertThat(consumer.logs(l -> event.getId().equals(l.getString("id"))))
                    .extracting(l -> l.getString("outcome")).containsExactlyInAnyOrder("processed", "duplicate");
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
            JsonArray recorded = http.get("/dead-letters").bodyAsJsonObject().getJsonArray("dead_letters");
            assertThat(recorded).hasSize(1);
            assertThat(recorded.getJsonObject(0).getString("knativeerrordata")).isEqualTo(reason);
            assertThat(http.metric("consumer_dead_letters_total{code=\"400\",type=\"user.created\"}")).isEqualTo(1);
        }
    }

    /** Netty's epoll transport costs less CPU per event than NIO (tests/benchmark/TUNING.md): it must not go unused unnoticed. */
    @Test
    void receivesOverNettysEpollTransportOnLinuxAmd64() {
        // The suite runs where CI runs, Linux on amd64, one of the two platforms whose epoll library is pinned: no skip.
        assertThat(System.getProperty("os.name") + " " + System.getProperty("os.arch")).isIn("Linux amd64", "Linux x86_64");
        try (ScriptProcess consumer = ScriptProcess.startListening("consumer.java", Map.of());
             CloudEventsHttp http = new CloudEventsHttp(consumer.port())) {
            assertThat(consumer.messages("listening")).singleElement()
                    .satisfies(listening -> assertThat(listening.getString("transport")).isEqualTo("epoll"));
            assertThat(http.binary(event("demo.event", validData("demo.event"))).statusCode()).isEqualTo(202);
            consumer.awaitMessage("event", WAIT);
            assertThat(consumer.messages("native transport not in use, Java NIO instead")).isEmpty();
        }
    }

    @Test
    void withoutTheNativeTransportItReceivesOverNioAndSaysWhy() {
        try (ScriptProcess consumer = ScriptProcess.startListening("consumer.java",
                Map.of("JAVA_TOOL_OPTIONS", "-Dio.netty.transport.noNative=true"));
             CloudEventsHttp http = new CloudEventsHttp(consumer.port())) {
            assertThat(consumer.messages("listening")).singleElement()
                    .satisfies(listening -> assertThat(listening.getString("transport")).isEqualTo("nio"));
            assertThat(consumer.awaitMessage("native transport not in use, Java NIO instead", WAIT).getString("reason"))
                    .contains("io.netty.transport.noNative");
            assertThat(http.binary(event("demo.event", validData("demo.event"))).statusCode()).isEqualTo(202);
            assertThat(consumer.awaitMessage("event", WAIT).getString("outcome")).isEqualTo("processed");
        }
    }

    /** Sends the event and waits until the consumer reports that many events in flight: the state a test goes on from. */
    private static Future<HttpResponse<Buffer>> sendUntilInFlight(CloudEventsHttp http, CloudEvent event, int inFlight) {
        Future<HttpResponse<Buffer>> answer = http.send(event);
        Await.until(inFlight + " events in flight", WAIT, () -> http.metric("consumer_in_flight") == inFlight);
        return answer;
    }
}
