package dev.knative.demo.programs;

import static dev.knative.demo.support.CloudEventsHttp.event;
import static dev.knative.demo.support.CloudEventsHttp.validData;
import static org.assertj.core.api.Assertions.assertThat;

import dev.knative.demo.support.CloudEventsHttp;
import dev.knative.demo.support.ScriptProcess;
import io.cloudevents.CloudEvent;
import io.cloudevents.core.builder.CloudEventBuilder;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.client.HttpResponse;
import java.net.URI;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/** The consumer's delivery contract, against one running consumer.java: 202 when handled, 4xx with a reason when never. */
class ConsumerContractTest {

    static final Duration WAIT = Duration.ofSeconds(60);
    static ScriptProcess consumer;
    static CloudEventsHttp http;

    @BeforeAll
    static void startConsumer() {
        // Two event loops: the contract, and the deduplication shared between them, must hold on every one.
        consumer = ScriptProcess.startListening("consumer.java",
                Map.of("PROCESSING_TIME_MS", "5", "POD_NAME", "consumer-under-test", "EVENT_LOOPS", "2"));
        assertThat(consumer.awaitMessage("listening", ScriptProcess.START_TIMEOUT).getInteger("event_loops")).isEqualTo(2);
        http = new CloudEventsHttp(consumer.port());
    }

    @AfterAll
    static void stopConsumer() {
        http.close();
        consumer.close();
    }

    static Stream<String> types() {
        return Stream.of("demo.event", "user.created", "order.placed");
    }

    @ParameterizedTest
    @MethodSource("types")
    void binaryModeEventIsProcessedAndAnswered202WithEmptyBody(String type) {
        CloudEvent event = event(type, validData(type));
        HttpResponse<Buffer> response = http.binary(event);
        assertThat(response.statusCode()).isEqualTo(202);
        assertThat(response.body() == null ? 0 : response.body().length()).isZero();
        assertThat(logOf(event).getString("outcome")).isEqualTo("processed");
    }

    @ParameterizedTest
    @MethodSource("types")
    void structuredModeEventIsProcessedAndAnswered202(String type) {
        CloudEvent event = event(type, validData(type));
        assertThat(http.structured(event).statusCode()).isEqualTo(202);
        assertThat(logOf(event).getString("outcome")).isEqualTo("processed");
    }

    @Test
    void eachEventGetsOneJsonLogLineWithIdTypeSourceOutcomeDurationAndPod() {
        CloudEvent event = event("demo.event", validData("demo.event"));
        http.binary(event);
        JsonObject line = logOf(event);
        assertThat(line.fieldNames()).contains("ts", "level", "id", "type", "source", "outcome", "duration_ms", "pod");
        assertThat(line.getString("type")).isEqualTo("demo.event");
        assertThat(line.getString("source")).isEqualTo("/tests/consumer");
        assertThat(line.getString("pod")).isEqualTo("consumer-under-test");
        assertThat(line.getDouble("duration_ms")).isGreaterThanOrEqualTo(5.0);
        assertThat(consumer.logs(l -> event.getId().equals(l.getString("id")))).hasSize(1);
    }

    static Stream<Arguments> invalidData() {
        return Stream.of(
                Arguments.of("demo.event", new JsonObject(), "data.message"),
                Arguments.of("demo.event", new JsonObject().put("message", ""), "data.message"),
                Arguments.of("demo.event", new JsonObject().put("message", 42), "data.message"),
                Arguments.of("user.created", validData("user.created").put("user_id", "  "), "data.user_id"),
                Arguments.of("user.created", validData("user.created").putNull("username"), "data.username"),
                Arguments.of("user.created", validData("user.created").put("email", "not-an-address"), "data.email"),
                Arguments.of("user.created", removed(validData("user.created"), "email"), "data.email"),
                Arguments.of("order.placed", removed(validData("order.placed"), "order_id"), "data.order_id"),
                Arguments.of("order.placed", validData("order.placed").put("user_id", 7), "data.user_id"),
                Arguments.of("order.placed", validData("order.placed").put("amount", -1), "data.amount"),
                Arguments.of("order.placed", validData("order.placed").put("amount", "12.50"), "data.amount"),
                Arguments.of("order.placed", validData("order.placed").put("items", new JsonArray()), "data.items"),
                Arguments.of("order.placed", removed(validData("order.placed"), "items"), "data.items"),
                Arguments.of("order.placed", validData("order.placed").put("items", new JsonArray().add("sku-1")), "data.items[0]"),
                Arguments.of("order.placed", validData("order.placed").put("items",
                        new JsonArray().add(new JsonObject().put("sku", "s").put("quantity", 0))), "data.items[0].quantity"));
    }

    @ParameterizedTest
    @MethodSource("invalidData")
    void invalidDataForItsTypeIsRejected400WithTheFieldInTheReason(String type, JsonObject data, String field) {
        CloudEvent event = event(type, data);
        HttpResponse<Buffer> response = http.binary(event);
        assertThat(response.statusCode()).isEqualTo(400);
        // The field, then the rule of the type's schema (k8s/schemas/<type>.json) it breaks.
        assertThat(response.bodyAsString()).startsWith(field + " breaks rule '").contains(" of the " + type + " schema: ");
        assertThat(logOf(event).getString("outcome")).isEqualTo("rejected");
    }

    static Stream<Arguments> notACloudEvent() {
        Map<String, String> valid = Map.of("ce-specversion", "1.0", "ce-id", "x-1", "ce-source", "/tests",
                "ce-type", "demo.event", "content-type", "application/json");
        return Stream.of(
                Arguments.of("missing id", without(valid, "ce-id"), "id"),
                Arguments.of("missing source", without(valid, "ce-source"), "source"),
                Arguments.of("missing type", without(valid, "ce-type"), "type"),
                Arguments.of("empty id", with(valid, "ce-id", ""), "id"),
                Arguments.of("missing specversion", without(valid, "ce-specversion"), "spec version"),
                Arguments.of("specversion 0.3", with(valid, "ce-specversion", "0.3"), "specversion"),
                Arguments.of("specversion 2.0", with(valid, "ce-specversion", "2.0"), "2.0"),
                Arguments.of("invalid time", with(valid, "ce-time", "yesterday"), "time"),
                Arguments.of("non-JSON content type", with(valid, "content-type", "text/plain"), "datacontenttype"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("notACloudEvent")
    void requestThatIsNotAValidCloudEventIsRejected400WithAReason(String name, Map<String, String> headers,
                                                                  String reasonMentions) {
        HttpResponse<Buffer> response = http.raw(headers, Buffer.buffer("{\"message\":\"hi\"}"));
        assertThat(response.statusCode()).isEqualTo(400);
        assertThat(response.bodyAsString()).containsIgnoringCase(reasonMentions);
    }

    @ParameterizedTest
    @ValueSource(strings = {"{\"message\":", "[1,2]", "\"text\"", ""})
    void undecodableOrNonObjectDataIsRejected400(String body) {
        Map<String, String> headers = Map.of("ce-specversion", "1.0", "ce-id", "bad-body-" + body.hashCode(),
                "ce-source", "/tests", "ce-type", "demo.event", "content-type", "application/json");
        HttpResponse<Buffer> response = http.raw(headers, Buffer.buffer(body));
        assertThat(response.statusCode()).isEqualTo(400);
        assertThat(response.bodyAsString()).containsPattern("data (is|must)");
    }

    @Test
    void structuredBodyThatIsNotJsonIsRejected400() {
        HttpResponse<Buffer> response = http.raw(Map.of("content-type", "application/cloudevents+json"),
                Buffer.buffer("{\"specversion\":\"1.0\",\"id\":"));
        assertThat(response.statusCode()).isEqualTo(400);
        assertThat(response.bodyAsString()).startsWith("not a valid CloudEvent");
    }

    @Test
    void unknownTypeIsRejected400SoKnativeDeadLettersItInsteadOfRetrying() {
        String series = "consumer_events_total{outcome=\"rejected\",type=\"other\"}";
        double before = http.metric(series);
        CloudEvent event = event("invoice.paid", new JsonObject().put("message", "x"));
        HttpResponse<Buffer> response = http.binary(event);
        assertThat(response.statusCode()).isEqualTo(400);
        assertThat(response.bodyAsString()).contains("unsupported type 'invoice.paid'");
        assertThat(http.metric(series)).isEqualTo(before + 1);
    }

    @Test
    void logLineCarriesQuotesBackslashesAndNonAsciiTextOfTheEventExactly() {
        // consumer.java writes its log line's JSON itself (LogLine): a line it escaped wrongly would not parse here.
        String type = "weird \"quoted\" \\ t\u00ffp\u00e9 \u2713";
        CloudEvent event = CloudEventBuilder.v1(event("demo.event", validData("demo.event"))).withType(type).build();
        assertThat(http.structured(event).statusCode()).isEqualTo(400);
        JsonObject line = logOf(event);
        assertThat(line.getString("type")).isEqualTo(type);
        assertThat(line.getString("reason")).contains("unsupported type '" + type + "'");
    }

    @Test
    void bodyOverTheLimitIsRejected413WithTheLimitInTheReason() {
        String big = "x".repeat(300 * 1024);
        HttpResponse<Buffer> response = http.raw(Map.of("ce-specversion", "1.0", "ce-id", "big", "ce-source", "/t",
                "ce-type", "demo.event", "content-type", "application/json"),
                Buffer.buffer("{\"message\":\"" + big + "\"}"));
        assertThat(response.statusCode()).isEqualTo(413);
        assertThat(response.bodyAsString()).contains("262144").contains("MAX_BODY_BYTES");
    }

    @Test
    void duplicateSourceAndIdIsAcknowledgedButProcessedOnlyOnce() {
        CloudEvent event = event("order.placed", validData("order.placed"));
        assertThat(http.binary(event).statusCode()).isEqualTo(202);
        assertThat(http.structured(event).statusCode()).isEqualTo(202);
        assertThat(outcomesOf(event)).containsExactly("processed", "duplicate");
    }

    @Test
    void sameIdFromAnotherSourceIsADifferentEvent() {
        CloudEvent first = event("demo.event", validData("demo.event"));
        CloudEvent second = CloudEventBuilder.v1(first).withSource(URI.create("/tests/other-source")).build();
        http.binary(first);
        http.binary(second);
        assertThat(outcomesOf(first)).containsExactly("processed", "processed");
    }

    @Test
    void probesAnswer() {
        assertThat(http.get("/healthz").statusCode()).isEqualTo(200);
        assertThat(http.get("/readyz").statusCode()).isEqualTo(200);
    }

    @Test
    void metricsCountEventsByTypeAndOutcomeInPrometheusFormat() {
        String series = "consumer_events_total{outcome=\"processed\",type=\"user.created\"}";
        double before = http.metric(series);
        http.binary(event("user.created", validData("user.created")));
        http.binary(event("user.created", validData("user.created")));
        assertThat(http.metric(series)).isEqualTo(before + 2);
        HttpResponse<Buffer> metrics = http.get("/metrics");
        assertThat(metrics.getHeader("content-type")).startsWith("text/plain");
        assertThat(metrics.bodyAsString()).contains("# TYPE consumer_events_total counter")
                .contains("consumer_processing_seconds_bucket{type=\"user.created\"")
                .contains("jvm_memory_used_bytes");
    }

    @Test
    void connectionsAreServedByEveryEventLoop() throws Exception {
        Map<String, Long> before = eventLoopCpuTicks(consumer.pid());
        // Eight clients, each with a connection of its own, kept alive over its requests.
        java.util.List<Thread> clients = new java.util.ArrayList<>();
        java.util.concurrent.atomic.AtomicInteger answered = new java.util.concurrent.atomic.AtomicInteger();
        for (int c = 0; c < 8; c++) {
            Thread client = new Thread(() -> {
                java.net.http.HttpClient httpClient = java.net.http.HttpClient.newHttpClient();
                try {
                    java.net.http.HttpRequest probe = java.net.http.HttpRequest.newBuilder(
                            URI.create("http://127.0.0.1:" + consumer.port() + "/healthz")).build();
                    for (int i = 0; i < 1500; i++) {
                        if (httpClient.send(probe, java.net.http.HttpResponse.BodyHandlers.ofString()).statusCode() == 200)
                            answered.incrementAndGet();
                    }
                } catch (java.io.IOException | InterruptedException e) {
                    throw new IllegalStateException(e);
                }
            });
            client.start();
            clients.add(client);
        }
        for (Thread client : clients) client.join();
        assertThat(answered).hasValue(8 * 1500);

        Map<String, Long> after = eventLoopCpuTicks(consumer.pid());
        java.util.List<Long> gained = after.entrySet().stream()
                .map(e -> e.getValue() - before.getOrDefault(e.getKey(), 0L)).sorted(java.util.Comparator.reverseOrder())
                .toList();
        assertThat(gained).as("CPU ticks each event-loop thread spent on the requests").hasSize(2);
        assertThat(gained.get(1)).as("the less busy loop, against the busier (%s)", gained).isGreaterThan(0)
                .isGreaterThanOrEqualTo(gained.get(0) / 4);
    }

    /** utime + stime of each of the JVM's event-loop threads, by thread id, from /proc. */
    private static Map<String, Long> eventLoopCpuTicks(long pid) throws java.io.IOException {
        Map<String, Long> ticks = new HashMap<>();
        try (var tasks = java.nio.file.Files.list(java.nio.file.Path.of("/proc", String.valueOf(pid), "task"))) {
            for (java.nio.file.Path task : tasks.toList()) {
                String stat = java.nio.file.Files.readString(task.resolve("stat"));
                String name = stat.substring(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
                if (!name.startsWith("vert.x-eventloo")) continue; // the kernel keeps 15 characters of a name
                String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
                ticks.put(task.getFileName().toString(), Long.parseLong(fields[11]) + Long.parseLong(fields[12]));
            }
        }
        return ticks;
    }

    private static JsonObject logOf(CloudEvent event) {
        return consumer.awaitLog(l -> "event".equals(l.getString("msg")) && event.getId().equals(l.getString("id")),
                WAIT);
    }

    private static java.util.List<String> outcomesOf(CloudEvent event) {
        consumer.awaitLog(l -> event.getId().equals(l.getString("id")) && l.getString("outcome") != null
                && consumer.logs(m -> event.getId().equals(m.getString("id"))).size() >= 2, WAIT);
        return consumer.logs(l -> event.getId().equals(l.getString("id"))).stream()
                .map(l -> l.getString("outcome")).toList();
    }

    private static JsonObject removed(JsonObject data, String field) {
        data.remove(field);
        return data;
    }

    private static Map<String, String> without(Map<String, String> headers, String name) {
        Map<String, String> copy = new HashMap<>(headers);
        copy.remove(name);
        return copy;
    }

    private static Map<String, String> with(Map<String, String> headers, String name, String value) {
        Map<String, String> copy = new HashMap<>(headers);
        copy.put(name, value);
        return copy;
    }
}
