package dev.knative.demo.observability;

import static dev.knative.demo.support.CloudEventsHttp.event;
import static dev.knative.demo.support.CloudEventsHttp.validData;
import static org.assertj.core.api.Assertions.assertThat;

import dev.knative.demo.programs.ProducerTest;
import dev.knative.demo.support.CloudEventsHttp;
import dev.knative.demo.support.ScriptProcess;
import dev.knative.demo.support.TestSink;
import io.cloudevents.CloudEvent;
import io.cloudevents.core.builder.CloudEventBuilder;
import io.vertx.core.json.JsonObject;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** W3C trace context from producer to consumer: the same trace id in the event, the HTTP header and both logs. */
class TracingTest {

    static final Duration WAIT = Duration.ofSeconds(120);
    static final String TRACEPARENT = "^00-[0-9a-f]{32}-[0-9a-f]{16}-01$";

    @Test
    void producerSendsTraceparentAsExtensionAndHeaderAndLogsItsTraceId() {
        try (TestSink sink = TestSink.start().answering((e, attempt) -> TestSink.Answer.of(attempt == 1 ? 503 : 202));
             ScriptProcess producer = ScriptProcess.start("producer.java", Map.of("K_SINK", sink.url(),
                     "RETRY_INITIAL_MS", "10", "SEND_TIMEOUT_MS", ProducerTest.SEND_TIMEOUT_MS), "--once", "order.placed")) {
            assertThat(producer.awaitExit(WAIT)).isZero();
            var attempts = sink.received();
            assertThat(attempts).hasSize(2);
            String traceparent = String.valueOf(attempts.get(0).event().getExtension("traceparent"));
            assertThat(traceparent).matches(TRACEPARENT);
            assertThat(attempts).allSatisfy(r -> {
                assertThat(r.headers().get("traceparent")).isEqualTo(traceparent);
                assertThat(r.event().getExtension("traceparent")).isEqualTo(traceparent);
            });
            assertThat(producer.messages("sent")).singleElement().satisfies(l -> {
                assertThat(l.getString("id")).isEqualTo(attempts.get(0).event().getId());
                assertThat(l.getString("trace_id")).isEqualTo(traceparent.substring(3, 35));
            });
        }
    }

    @Test
    void consumerContinuesTheTraceFromTheHeaderOrTheExtensionOrStartsOne() {
        try (ScriptProcess consumer = ScriptProcess.startListening("consumer.java", Map.of("PROCESSING_TIME_MS", "1"));
             CloudEventsHttp http = new CloudEventsHttp(consumer.port())) {
            String brokerSpan = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
            CloudEvent fromHeader = event("demo.event", validData("demo.event"));
            var headers = new java.util.HashMap<String, String>(Map.of("ce-specversion", "1.0", "ce-id", fromHeader.getId(),
                    "ce-source", "/tests/trace", "ce-type", "demo.event", "content-type", "application/json",
                    "traceparent", brokerSpan));
            assertThat(http.raw(headers, io.vertx.core.buffer.Buffer.buffer("{\"message\":\"m\"}")).statusCode())
                    .isEqualTo(202);
            JsonObject line = consumer.awaitLog(l -> fromHeader.getId().equals(l.getString("id")), WAIT);
            assertThat(line.getString("trace_id")).isEqualTo("0af7651916cd43dd8448eb211c80319c");
            assertThat(line.getString("parent_span_id")).isEqualTo("b7ad6b7169203331");
            assertThat(line.getString("span_id")).matches("[0-9a-f]{16}").isNotEqualTo("b7ad6b7169203331");

            CloudEvent fromExtension = CloudEventBuilder.v1(event("user.created", validData("user.created")))
                    .withExtension("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").build();
            http.structured(fromExtension);
            JsonObject second = consumer.awaitLog(l -> fromExtension.getId().equals(l.getString("id")), WAIT);
            assertThat(second.getString("trace_id")).isEqualTo("4bf92f3577b34da6a3ce929d0e0e4736");
            assertThat(second.getString("parent_span_id")).isEqualTo("00f067aa0ba902b7");

            CloudEvent untraced = event("demo.event", validData("demo.event"));
            http.binary(untraced);
            JsonObject third = consumer.awaitLog(l -> untraced.getId().equals(l.getString("id")), WAIT);
            assertThat(third.getString("trace_id")).matches("[0-9a-f]{32}");
            assertThat(third.containsKey("parent_span_id")).isFalse();
        }
    }

    @Test
    void openMetricsScrapeCarriesTheTraceOfTheCountedEventAsExemplar() throws Exception {
        try (ScriptProcess consumer = ScriptProcess.startListening("consumer.java", Map.of("PROCESSING_TIME_MS", "1"));
             CloudEventsHttp http = new CloudEventsHttp(consumer.port())) {
            CloudEvent event = CloudEventBuilder.v1(event("order.placed", validData("order.placed")))
                    .withExtension("traceparent", "00-5af7651916cd43dd8448eb211c80319d-c7ad6b7169203331-01").build();
            http.binary(event);
            JsonObject line = consumer.awaitLog(l -> event.getId().equals(l.getString("id")), WAIT);
            var response = java.net.http.HttpClient.newHttpClient().send(java.net.http.HttpRequest.newBuilder(
                    java.net.URI.create("http://127.0.0.1:" + consumer.port() + "/metrics"))
                    .header("Accept", "application/openmetrics-text; version=1.0.0").build(),
                    java.net.http.HttpResponse.BodyHandlers.ofString());
            assertThat(response.headers().firstValue("content-type").orElse("")).startsWith("application/openmetrics-text");
            String exemplar = "trace_id=\"" + line.getString("trace_id") + "\"";
            assertThat(response.body().lines().filter(l -> l.contains(exemplar)))
                    .anySatisfy(l -> assertThat(l).startsWith("consumer_processing_seconds_bucket{type=\"order.placed\""))
                    .anySatisfy(l -> assertThat(l).startsWith("consumer_events_total{outcome=\"processed\",type=\"order.placed\"}"));
            assertThat(http.get("/metrics").bodyAsString()).doesNotContain("trace_id=");
        }
    }

    @Test
    void oneTraceIdFollowsAnEventFromProducerToConsumer() {
        try (ScriptProcess consumer = ScriptProcess.startListening("consumer.java", Map.of("PROCESSING_TIME_MS", "1"));
             ScriptProcess producer = ScriptProcess.start("producer.java",
                     Map.of("K_SINK", "http://127.0.0.1:" + consumer.port() + "/"), "--once", "user.created")) {
            assertThat(producer.awaitExit(WAIT)).isZero();
            JsonObject sent = producer.awaitMessage("sent", WAIT);
            JsonObject processed = consumer.awaitLog(l -> sent.getString("id").equals(l.getString("id")), WAIT);
            assertThat(processed.getString("outcome")).isEqualTo("processed");
            assertThat(processed.getString("trace_id")).isEqualTo(sent.getString("trace_id"));
        }
    }
}
