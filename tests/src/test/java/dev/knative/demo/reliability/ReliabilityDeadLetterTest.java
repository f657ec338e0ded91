package dev.knative.demo.reliability;

import static dev.knative.demo.support.CloudEventsHttp.event;
import static dev.knative.demo.support.CloudEventsHttp.validData;
import static org.assertj.core.api.Assertions.assertThat;

import dev.knative.demo.support.CloudEventsHttp;
import dev.knative.demo.support.Kustomize;
import dev.knative.demo.support.ScriptProcess;
import io.cloudevents.CloudEvent;
import io.cloudevents.core.builder.CloudEventBuilder;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.client.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The way from a consumer's refusal to the dead-letter display, with the test in the broker's place: it delivers
 * as the rendered Triggers do (their delivery.retry, from k8s/trigger-delivery.yaml), retries what Knative retries,
 * and forwards what is left to a consumer in dead-letter mode exactly as the broker does, in binary mode with
 * ce-knativeerror* headers.
 */
class ReliabilityDeadLetterTest {

    /** Deliveries of one event before it is dead-lettered: the first, plus the rendered Triggers' delivery.retry. */
    static final int ATTEMPTS = 1 + Kustomize.repository().triggerDelivery().getRetry();
    static final Duration WAIT = Duration.ofSeconds(60);

    static ScriptProcess consumer;
    static ScriptProcess deadLetters;
    static CloudEventsHttp toConsumer;
    static CloudEventsHttp toDeadLetters;

    @BeforeAll
    static void start() {
        consumer = ScriptProcess.startListening("consumer.java", Map.of("PROCESSING_TIME_MS", "1"));
        deadLetters = ScriptProcess.startListening("consumer.java", Map.of(), "--dead-letter");
        toConsumer = new CloudEventsHttp(consumer.port());
        toDeadLetters = new CloudEventsHttp(deadLetters.port());
    }

    @AfterAll
    static void stop() {
        toConsumer.close();
        toDeadLetters.close();
        consumer.close();
        deadLetters.close();
    }

    static Stream<Arguments> poison() {
        return Stream.of(
                Arguments.of("invalid data", event("user.created", validData("user.created").put("email", "nobody")),
                        "data.email breaks rule 'pattern' of the user.created schema"),
                Arguments.of("unknown type", event("invoice.paid", new JsonObject().put("invoice_id", "i-1")),
                        "unsupported type 'invoice.paid'"),
                Arguments.of("data not JSON", CloudEventBuilder.v1(event("demo.event", new JsonObject()))
                        .withDataContentType("text/plain").withData("hello".getBytes(StandardCharsets.UTF_8)).build(),
                        "datacontenttype must be JSON"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("poison")
    void poisonEventIsRefusedOnceNeverRetriedAndShownByTheDeadLetterDisplayWithTheDecodedReason(
            String name, CloudEvent poison, String reason) {
        List<Integer> attempts = deliverAsTheBrokerDoes(poison, toConsumer, consumer.port());

        assertThat(attempts).containsExactly(400);
        // The line is written at the end of the event loop's turn, just after the answer went out.
        consumer.awaitLog(l -> poison.getId().equals(l.getString("id")), WAIT);
        assertThat(consumer.logs(l -> poison.getId().equals(l.getString("id")))).singleElement().satisfies(line -> {
            assertThat(line.getString("outcome")).isEqualTo("rejected");
            assertThat(line.getString("reason")).contains(reason);
        });
        JsonObject recorded = deadLetter(poison);
        assertThat(recorded.getString("knativeerrorcode")).isEqualTo("400");
        assertThat(recorded.getString("knativeerrordata")).contains(reason);
        assertThat(recorded.getString("knativeerrordest")).isEqualTo("http://127.0.0.1:" + consumer.port() + "/");
        assertThat(recorded.getString("type")).isEqualTo(poison.getType());
        assertThat(recorded.getString("source")).isEqualTo(poison.getSource().toString());
    }

    @Test
    void transientFailureIsRetriedAsOftenAsTheTriggerAllowsThenDeadLetteredWithTheLastAnswer() {
        try (ScriptProcess failing = ScriptProcess.startListening("consumer.java",
                Map.of("PROCESSING_TIME_MS", "1", "FAILURE_RATE", "1"));
             CloudEventsHttp toFailing = new CloudEventsHttp(failing.port())) {
            CloudEvent event = event("order.placed", validData("order.placed"));

            List<Integer> attempts = deliverAsTheBrokerDoes(event, toFailing, failing.port());

            assertThat(attempts).hasSize(ATTEMPTS).containsOnly(503);
            failing.awaitLog(l -> failing.logs(m -> event.getId().equals(m.getString("id"))).size() >= ATTEMPTS, WAIT);
            assertThat(failing.logs(l -> event.getId().equals(l.getString("id"))))
                    .hasSize(ATTEMPTS).allSatisfy(l -> assertThat(l.getString("outcome")).isEqualTo("failed"));
            JsonObject recorded = deadLetter(event);
            assertThat(recorded.getString("knativeerrorcode")).isEqualTo("503");
            assertThat(recorded.getString("knativeerrordata")).isEqualTo("simulated transient failure");
        }
    }

    @Test
    void validEventIsProcessedOnceAndAnswered202SoTheBrokerNeitherRetriesNorDeadLettersIt() {
        CloudEvent event = event("demo.event", validData("demo.event"));
        assertThat(deliverAsTheBrokerDoes(event, toConsumer, consumer.port())).containsExactly(202);
        consumer.awaitLog(l -> event.getId().equals(l.getString("id")), WAIT);
        assertThat(consumer.logs(l -> event.getId().equals(l.getString("id"))))
                .singleElement().satisfies(l -> assertThat(l.getString("outcome")).isEqualTo("processed"));
    }

    /**
     * One Trigger delivery: retried on 404, 408, 409, 429 and 5xx up to the Trigger's delivery.retry times (without
     * its backoff waits, which change nothing here); any other non-2xx, or the last failed retry, goes to the
     * dead-letter sink. Returns the status of every attempt.
     */
    private static List<Integer> deliverAsTheBrokerDoes(CloudEvent event, CloudEventsHttp subscriber, int port) {
        List<Integer> attempts = new ArrayList<>();
        HttpResponse<Buffer> response;
        do {
            response = subscriber.binary(event);
            attempts.add(response.statusCode());
        } while (retryable(response.statusCode()) && attempts.size() < ATTEMPTS);
        if (response.statusCode() / 100 != 2) forwardToDeadLetterSink(event, "http://127.0.0.1:" + port + "/", response);
        return attempts;
    }

    private static boolean retryable(int status) {
        return status == 404 || status == 408 || status == 409 || status == 429 || status >= 500;
    }

    /** The original event in binary mode plus the broker's three knativeerror* attributes, as headers. */
    private static void forwardToDeadLetterSink(CloudEvent event, String subscriber, HttpResponse<Buffer> failed) {
        String body = failed.body() == null ? "" : failed.bodyAsString();
        Map<String, String> headers = new LinkedHashMap<>();
        headers.put("ce-specversion", event.getSpecVersion().toString());
        headers.put("ce-id", event.getId());
        headers.put("ce-source", event.getSource().toString());
        headers.put("ce-type", event.getType());
        headers.put("ce-time", event.getTime().toString());
        headers.put("content-type", event.getDataContentType());
        headers.put("ce-knativeerrordest", subscriber);
        headers.put("ce-knativeerrorcode", String.valueOf(failed.statusCode()));
        headers.put("ce-knativeerrordata", Base64.getEncoder().encodeToString(body.getBytes(StandardCharsets.UTF_8)));
        assertThat(toDeadLetters.raw(headers, Buffer.buffer(event.getData().toBytes())).statusCode()).isEqualTo(202);
    }

    /** The dead-letter display's record of the event: its log line and its entry in GET /dead-letters agree. */
    private static JsonObject deadLetter(CloudEvent event) {
        JsonObject line = deadLetters.awaitLog(l -> "dead letter".equals(l.getString("msg"))
                && event.getId().equals(l.getString("id")), WAIT);
        JsonObject recorded = toDeadLetters.get("/dead-letters").bodyAsJsonObject().getJsonArray("dead_letters").stream()
                .map(JsonObject.class::cast).filter(r -> event.getId().equals(r.getString("id"))).findFirst()
                .orElseThrow(() -> new AssertionError("not in /dead-letters: " + event.getId()));
        for (String attribute : List.of("knativeerrordest", "knativeerrorcode", "knativeerrordata"))
            assertThat(recorded.getString(attribute)).as(attribute).isEqualTo(line.getString(attribute));
        return recorded;
    }
}
