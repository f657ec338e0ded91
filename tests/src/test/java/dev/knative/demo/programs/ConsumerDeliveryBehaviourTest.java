package dev.knative.demo.programs;

import static dev.knative.demo.support.CloudEventsHttp.event;
import static dev.knative.demo.support.CloudEventsHttp.validData;
import static org.assertj.core.api.Assertions.assertThat;

import dev.knative.demo.support.Await;
import dev.knative.demo.support.CloudEventsHttp;
import dev.knative.demo.support.ScriptProcess;
import io.cloudevents.CloudEvent;
import io.vertx.core.Future;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonObject;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * consumer.java when one event reaches it twice at once (a redelivery while the first delivery is still being
 * processed), and when the broker's trace context and the producer's both come with an event.
 */
class ConsumerDeliveryBehaviourTest {

    static final Duration WAIT = Duration.ofSeconds(120);
    // Long enough that the second copy surely arrives while the first is still being processed.
    static final int PROCESSING_TIME_MS = 5000;

    @Test
    void duplicateArrivingWhileTheFirstIsProcessedWaitsForItAndGetsItsOutcome() {
        try (ScriptProcess consumer = startSlowConsumer("0");
             CloudEventsHttp http = new CloudEventsHttp(consumer.port())) {
            CloudEvent event = event("user.created", validData("user.created"));
            Overlapping deliveries = sendTwiceOverlapping(http, event);
            assertThat(CloudEventsHttp.await(deliveries.duplicate())).isEqualTo(202);
            // Both answers leave in the same turn of the event loop: once the duplicate has its answer, so has the first.
            assertThat(http.metric("consumer_in_flight")).isZero();
            assertThat(CloudEventsHttp.await(deliveries.first())).isEqualTo(202);
            assertThat(consumer.awaitLogs(l -> event.getId().equals(l.getString("id")), 2, WAIT))
                    .extracting(l -> l.getString("outcome")).containsExactlyInAnyOrder("processed", "duplicate");
        }
    }

    @Test
    void duplicateArrivingWhileTheFirstFailsIsProcessedAgainItself() {
        try (ScriptProcess consumer = startSlowConsumer("1");
             CloudEventsHttp http = new CloudEventsHttp(consumer.port())) {
            CloudEvent event = event("order.placed", validData("order.placed"));
            Overlapping deliveries = sendTwiceOverlapping(http, event);
            assertThat(CloudEventsHttp.await(deliveries.first())).isEqualTo(503);
            // The first attempt's failure is not handed on: the duplicate is still in flight, being processed itself.
            assertThat(http.metric("consumer_in_flight")).isEqualTo(1);
            assertThat(CloudEventsHttp.await(deliveries.duplicate())).isEqualTo(503);
            List<JsonObject> lines = consumer.awaitLogs(l -> event.getId().equals(l.getString("id")), 2, WAIT);
            assertThat(lines).extracting(l -> l.getString("outcome")).containsExactly("failed", "failed");
            assertThat(lines.get(1).getDouble("duration_ms")).isGreaterThanOrEqualTo(PROCESSING_TIME_MS);
        }
    }

    @Test
    void brokerTraceparentHeaderWinsOverTheEventsTraceparentExtension() {
        try (ScriptProcess consumer = ScriptProcess.startListening("consumer.java", Map.of("PROCESSING_TIME_MS", "1"));
             CloudEventsHttp http = new CloudEventsHttp(consumer.port())) {
            String broker = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
            String producer = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
            Map<String, String> headers = Map.of("ce-specversion", "1.0", "ce-id", "traced-twice",
                    "ce-source", "/tests/trace", "ce-type", "demo.event", "content-type", "application/json",
                    "ce-traceparent", producer, "traceparent", broker);
            assertThat(http.raw(headers, Buffer.buffer("{\"message\":\"m\"}")).statusCode()).isEqualTo(202);
            JsonObject line = consumer.awaitLog(l -> "traced-twice".equals(l.getString("id")), WAIT);
            assertThat(line.getString("trace_id")).isEqualTo("0af7651916cd43dd8448eb211c80319c");
            assertThat(line.getString("parent_span_id")).isEqualTo("b7ad6b7169203331");
        }
    }

    private static ScriptProcess startSlowConsumer(String failureRate) {
        return ScriptProcess.startListening("consumer.java", Map.of("PROCESSING_TIME_MS",
                String.valueOf(PROCESSING_TIME_MS), "FAILURE_RATE", failureRate, "EVENT_LOOPS", "1"));
    }

    /** The answers to two deliveries of one event, the second sent while the first was being processed. */
    private record Overlapping(Future<Integer> first, Future<Integer> duplicate) {
    }

    /**
     * Sends the event, and again once the consumer reports it in flight; returns when both are. Read on the
     * consumer's only event loop, an in-flight gauge of 2 proves that the two deliveries overlapped.
     */
    private static Overlapping sendTwiceOverlapping(CloudEventsHttp http, CloudEvent event) {
        Future<Integer> first = sendAndAwaitInFlight(http, event, 1);
        return new Overlapping(first, sendAndAwaitInFlight(http, event, 2));
    }

    private static Future<Integer> sendAndAwaitInFlight(CloudEventsHttp http, CloudEvent event, int inFlight) {
        Future<Integer> status = http.vertx.executeBlocking(() -> http.binary(event).statusCode(), false);
        Await.until(inFlight + " in flight", WAIT, () -> http.metric("consumer_in_flight") == inFlight);
        return status;
    }
}
