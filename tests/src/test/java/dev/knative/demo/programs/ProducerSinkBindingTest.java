package dev.knative.demo.programs;

import static org.assertj.core.api.Assertions.assertThat;

import dev.knative.demo.support.CloudEventsHttp;
import dev.knative.demo.support.ScriptProcess;
import dev.knative.demo.support.TestSink;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * producer.java with what a SinkBinding gives it, or has not given it yet: no K_SINK in a pod that started before
 * the Broker had an address, and the OIDC token Knative mounts when its authentication-oidc feature is on.
 */
class ProducerSinkBindingTest {

    private static final Duration RUN = ProducerTest.RUN;

    @TempDir
    Path dir;

    private static Map<String, String> env(String... pairs) {
        Map<String, String> env = new HashMap<>(Map.of("RETRY_INITIAL_MS", "20", "RETRY_MAX_MS", "200",
                "SEND_TIMEOUT_MS", ProducerTest.SEND_TIMEOUT_MS, "POD_NAME", "producer-abc", "POD_NAMESPACE", "demo"));
        for (int i = 0; i < pairs.length; i += 2) env.put(pairs[i], pairs[i + 1]);
        return env;
    }

    @Test
    void inAPodWithoutASinkItCreatesNoEventsIsNotReadyStaysHealthyAndSaysItWaitsForTheSinkBinding() {
        try (ScriptProcess producer = ScriptProcess.startListening("producer.java",
                env("KUBERNETES_SERVICE_HOST", "10.96.0.1", "RATE", "100"));
             CloudEventsHttp probe = new CloudEventsHttp(producer.port())) {
            producer.awaitMessage("waiting for the SinkBinding to inject K_SINK", RUN);

            assertThat(probe.get("/readyz").statusCode()).isEqualTo(503);
            assertThat(probe.get("/healthz").statusCode()).isEqualTo(200);
            assertThat(producer.messages("started")).singleElement()
                    .satisfies(line -> assertThat(line.getString("sink_from")).isEqualTo("none"));
            assertThat(producer.messages("no sink set (K_SINK, --sink, BROKER_URL)")).as("no localhost fallback").isEmpty();

            producer.terminate();
            assertThat(producer.awaitExit(RUN)).isZero();
            JsonObject books = producer.awaitMessage("stopped", RUN);
            assertThat(books.getLong("ticks")).isZero();
            assertThat(books.getLong("generated")).isZero();
            List<JsonObject> waiting = producer.messages("waiting for the SinkBinding to inject K_SINK");
            for (int i = 1; i < waiting.size(); i++)
                assertThat(Duration.between(ScriptProcess.loggedAt(waiting.get(i - 1)), ScriptProcess.loggedAt(waiting.get(i))))
                        .as("at most one waiting line every 30 s").isGreaterThanOrEqualTo(Duration.ofMillis(29_900));
        }
    }

    @ParameterizedTest(name = "{0}={1} with the producer's port")
    @CsvSource({
        "K_SINK,     http://localhost:%d/",
        "BROKER_URL, http://127.0.0.1:%d",
        "--sink,     http://[::1]:%d/"})
    void aSinkThatIsTheProducersOwnAddressIsRefusedAtStartNamingTheSetting(String setting, String url) throws IOException {
        int port;
        try (ServerSocket free = new ServerSocket(0)) {
            port = free.getLocalPort();
        }
        String sink = url.formatted(port);
        Map<String, String> env = env("PORT", Integer.toString(port));
        if (!setting.startsWith("--")) env.put(setting, sink);
        String[] args = setting.startsWith("--") ? new String[] {setting, sink} : new String[0];

        try (ScriptProcess producer = ScriptProcess.start("producer.java", env, args)) {
            assertThat(producer.awaitExit(RUN)).as(producer.describe()).isEqualTo(2);
            assertThat(producer.stderr()).contains("producer: " + setting + "='", "own address (port " + port + ")");
            assertThat(producer.messages("started")).isEmpty();
        }
    }

    @Test
    void withoutATokenFileNoAuthorizationHeaderIsSent() {
        try (TestSink sink = TestSink.start();
             ScriptProcess producer = ScriptProcess.start("producer.java",
                     env("K_SINK", sink.url(), "OIDC_TOKEN_FILE", dir.resolve("absent").toString()),
                     "--rate", "100", "--count", "3", "--port", "0")) {
            assertThat(producer.awaitExit(RUN)).isZero();
            assertThat(sink.received()).hasSize(3).allSatisfy(r -> assertThat(r.headers()).doesNotContainKey("authorization"));
        }
    }

    @Test
    void theTokenFileIsSentAsABearerTokenWithEveryEvent() {
        Path token = write("token-one\n");
        try (TestSink sink = TestSink.start();
             ScriptProcess producer = ScriptProcess.start("producer.java",
                     env("K_SINK", sink.url(), "OIDC_TOKEN_FILE", token.toString()),
                     "--rate", "100", "--count", "3", "--port", "0")) {
            assertThat(producer.awaitExit(RUN)).isZero();
            assertThat(sink.received()).hasSize(3)
                    .allSatisfy(r -> assertThat(r.headers()).containsEntry("authorization", "Bearer token-one"));
        }
    }

    @Test
    void aRotatedTokenIsSentFromTheNextLookAtTheFile() {
        Path token = write("token-one");
        // One request at a time: every event sent after the rotation arrives after the last one sent before it.
        try (TestSink sink = TestSink.start();
             ScriptProcess producer = ScriptProcess.startListening("producer.java",
                     env("K_SINK", sink.url(), "OIDC_TOKEN_FILE", token.toString(), "MAX_IN_FLIGHT", "1"), "--rate", "50")) {
            sink.await(1, r -> "Bearer token-one".equals(r.headers().get("authorization")), RUN);
            // As the kubelet updates a mounted Secret: the new file is swapped in whole.
            write("token-two");
            sink.await(3, r -> "Bearer token-two".equals(r.headers().get("authorization")), RUN);
            producer.terminate();
            assertThat(producer.awaitExit(RUN)).isZero();

            List<String> sent = sink.received().stream().map(r -> r.headers().get("authorization")).toList();
            int rotated = sent.indexOf("Bearer token-two");
            assertThat(sent.subList(0, rotated)).containsOnly("Bearer token-one");
            assertThat(sent.subList(rotated, sent.size())).containsOnly("Bearer token-two");
        }
    }

    private Path write(String token) {
        Path file = dir.resolve("token");
        try {
            Path next = Files.writeString(dir.resolve("token.next"), token);
            return Files.move(next, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
