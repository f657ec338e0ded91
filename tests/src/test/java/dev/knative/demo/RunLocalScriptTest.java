package dev.knative.demo;

import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The README's "run it locally" command, exactly as a user types it (plus a duration so it ends by itself). */
class RunLocalScriptTest {

    @Test
    void runLocalShowsEventsOfEveryTypeFlowingFromProducerToConsumerAndStopsCleanly() throws Exception {
        Path output = Files.createTempFile("run-local", ".log");
        ProcessBuilder builder = new ProcessBuilder(ScriptProcess.REPO.resolve("scripts/run-local.sh").toString(),
                "--duration", "6").directory(ScriptProcess.REPO.toFile()).redirectErrorStream(true)
                .redirectOutput(output.toFile());
        // run-local.sh passes every setting of the programs through: none may come from the caller's shell.
        ScriptProcess.isolate(builder.environment(), Map.of("CONSUMER_PORT", String.valueOf(freePort()),
                "PRODUCER_PORT", String.valueOf(freePort()), "RATE", "5"));
        Process process = builder.start();
        assertThat(process.waitFor(300, TimeUnit.SECONDS)).as("run-local.sh ends after its duration").isTrue();
        List<String> lines = Files.readAllLines(output);
        assertThat(process.exitValue()).as(String.join("\n", lines)).isZero();

        List<JsonObject> consumed = json(lines, "[consumer] ").stream()
                .filter(l -> "processed".equals(l.getString("outcome"))).toList();
        assertThat(consumed).extracting(l -> l.getString("type"))
                .contains("demo.event", "user.created", "order.placed");
        JsonObject books = json(lines, "[producer] ").stream().filter(l -> "stopped".equals(l.getString("msg")))
                .findFirst().orElseThrow();
        assertThat(books.getLong("undelivered")).isZero();
        assertThat(books.getLong("sent")).isEqualTo(consumed.size()).isEqualTo(books.getLong("generated"));
        Files.delete(output);
    }

    private static List<JsonObject> json(List<String> lines, String prefix) {
        return lines.stream().filter(l -> l.startsWith(prefix + "{")).map(l -> new JsonObject(l.substring(prefix.length())))
                .toList();
    }

    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }
}
