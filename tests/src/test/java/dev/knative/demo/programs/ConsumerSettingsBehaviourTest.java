package dev.knative.demo.programs;

import static dev.knative.demo.support.CloudEventsHttp.event;
import static dev.knative.demo.support.CloudEventsHttp.validData;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.tuple;

import dev.knative.demo.support.Await;
import dev.knative.demo.support.CloudEventsHttp;
import dev.knative.demo.support.RawHttp;
import dev.knative.demo.support.ScriptProcess;
import io.cloudevents.CloudEvent;
import io.vertx.core.Future;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.client.HttpResponse;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** consumer.java with settings other than the defaults, each doing what the README's Configuration table says. */
class ConsumerSettingsBehaviourTest {

    static final Duration WAIT = Duration.ofSeconds(120);

    @Test
    void dedupeWindowForgetsTheOldestEventOnceItIsFull() {
        try (ScriptProcess consumer = ScriptProcess.startListening("consumer.java",
                Map.of("PROCESSING_TIME_MS", "1", "DEDUPE_WINDOW", "3"));
             CloudEventsHttp http = new CloudEventsHttp(consumer.port())) {
            List<CloudEvent> events = Stream.generate(() -> event("demo.event", validData("demo.event"))).limit(4).toList();
            CloudEvent oldest = events.get(0);
            CloudEvent newest = events.get(3);
            // A, B, C, D fill a window of three and push A out; A again is new, so it pushes B out, not D.
            Stream.concat(events.stream(), Stream.of(oldest, newest))
                    .forEach(e -> assertThat(http.binary(e).statusCode()).isEqualTo(202));
            assertThat(outcomesOf(consumer, oldest)).containsExactly("processed", "processed");
            assertThat(outcomesOf(consumer, newest)).containsExactly("processed", "duplicate");
        }
    }

    @Test
    void maxBodyBytesIsTheLargestBodyAccepted() {
        try (ScriptProcess consumer = ScriptProcess.startListening("consumer.java",
                Map.of("PROCESSING_TIME_MS", "1", "MAX_BODY_BYTES", "1024"));
             CloudEventsHttp http = new CloudEventsHttp(consumer.port())) {
            assertThat(http.raw(binaryHeaders("at-the-limit"), demoEventBody(1024)).statusCode()).isEqualTo(202);
            HttpResponse<Buffer> over = http.raw(binaryHeaders("over-the-limit"), demoEventBody(2000));
            assertThat(over.statusCode()).isEqualTo(413);
            assertThat(over.bodyAsString()).contains("1024").contains("MAX_BODY_BYTES");
        }
    }

    @Test
    void maxInFlightIsTheMostEventsHandledAtOnceOneMoreIsAnswered429WithRetryAfterBeforeItsBodyIsRead() throws IOException {
        // Processing outlasts the test, so the two events admitted first hold both places until the consumer stops.
        try (ScriptProcess consumer = ScriptProcess.startListening("consumer.java",
                Map.of("PROCESSING_TIME_MS", "600000", "MAX_IN_FLIGHT", "2"));
             CloudEventsHttp http = new CloudEventsHttp(consumer.port());
             Socket socket = new Socket("127.0.0.1", consumer.port())) {
            for (int held = 1; held <= 2; held++) {
                http.send(event("demo.event", validData("demo.event")));
                int inFlight = held;
                Await.until(held + " in flight", WAIT, () -> http.metric("consumer_in_flight") == inFlight);
            }
            socket.setSoTimeout((int) WAIT.toMillis());
            Buffer body = demoEventBody(100);
            String headers = "POST / HTTP/1.1\r\nhost: consumer\r\ncontent-length: " + body.length() + "\r\n"
                    + binaryHeaders("over-the-limit").entrySet().stream().map(h -> h.getKey() + ": " + h.getValue() + "\r\n")
                    .collect(Collectors.joining()) + "\r\n";
            InputStream in = new BufferedInputStream(socket.getInputStream());

            // The third request's headers alone get the answer: its body has not been sent yet.
            socket.getOutputStream().write(headers.getBytes(StandardCharsets.UTF_8));
            RawHttp.Response throttled = RawHttp.read(in);
            assertThat(throttled.status()).isEqualTo(429);
            assertThat(throttled.headers()).containsEntry("retry-after", "600");
            assertThat(throttled.text()).contains("MAX_IN_FLIGHT=2", "retry after 600 s");
            // The body that follows is passed over, and the connection serves the next request, throttled too.
            socket.getOutputStream().write(Buffer.buffer().appendBuffer(body)
                    .appendString(headers.replace("over-the-limit", "still-over")).appendBuffer(body).getBytes());
            assertThat(RawHttp.read(in).status()).isEqualTo(429);

            assertThat(consumer.awaitLogs(l -> "throttled".equals(l.getString("outcome")), 2, WAIT))
                    .extracting(l -> l.getString("id"), l -> l.getString("type"), l -> l.getInteger("status"))
                    .containsExactly(tuple("over-the-limit", "demo.event", 429), tuple("still-over", "demo.event", 429));
            assertThat(http.metric("consumer_events_total{outcome=\"throttled\",type=\"demo.event\"}")).isEqualTo(2);
            assertThat(http.metric("consumer_in_flight")).isEqualTo(2);
        }
    }

    @Test
    void eventStillInFlightWhenTheShutdownGraceEndsIsLeftUnansweredAndTheExitCodeIsOne() {
        try (ScriptProcess consumer = ScriptProcess.startListening("consumer.java",
                Map.of("PROCESSING_TIME_MS", "600000", "DRAIN_DELAY_MS", "1", "SHUTDOWN_GRACE_MS", "300"));
             CloudEventsHttp http = new CloudEventsHttp(consumer.port())) {
            CloudEvent slow = event("order.placed", validData("order.placed"));
            Future<Integer> inFlight = http.vertx.executeBlocking(() -> http.binary(slow).statusCode(), false);
            Await.until("the event to be in flight", WAIT, () -> http.metric("consumer_in_flight") == 1);
            consumer.terminate();
            assertThat(consumer.awaitExit(WAIT)).isEqualTo(1);
            assertThat(consumer.messages("stopped")).singleElement().satisfies(l -> {
                assertThat(l.getString("level")).isEqualTo("warn");
                assertThat(l.getInteger("in_flight")).isEqualTo(1);
            });
            // Never answered, so never acknowledged: Knative retries it on another replica.
            assertThat(inFlight.toCompletionStage().toCompletableFuture()).failsWithin(WAIT)
                    .withThrowableOfType(ExecutionException.class);
            assertThat(consumer.messages("event")).isEmpty();
        }
    }

    private static List<String> outcomesOf(ScriptProcess consumer, CloudEvent event) {
        return consumer.awaitLogs(l -> event.getId().equals(l.getString("id")), 2, WAIT).stream()
                .map(l -> l.getString("outcome")).toList();
    }

    private static Map<String, String> binaryHeaders(String id) {
        return Map.of("ce-specversion", "1.0", "ce-id", id, "ce-source", "/tests/limits", "ce-type", "demo.event",
                "content-type", "application/json");
    }

    /** Valid demo.event data of exactly `bytes` bytes. */
    private static Buffer demoEventBody(int bytes) {
        String empty = new JsonObject().put("message", "").encode();
        Buffer body = Buffer.buffer(new JsonObject().put("message", "x".repeat(bytes - empty.length())).encode());
        assertThat(body.length()).isEqualTo(bytes);
        return body;
    }
}
