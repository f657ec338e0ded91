package dev.knative.demo.scripts;

import static org.assertj.core.api.Assertions.assertThat;

import dev.knative.demo.support.ScriptProcess;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.function.Predicate;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The README's "run it on your machine" command, scripts/run-local.sh, as a user runs it: the real programs on free
 * ephemeral ports. TMPDIR is a folder of the test's own, so whatever the script leaves behind shows.
 */
class RunLocalScriptTest {

    // Both programs may be compiled on the first start, one after the other, on a busy machine.
    private static final Duration BOTH_RUNNING = ScriptProcess.START_TIMEOUT.multipliedBy(2);
    // A graceful stop is the producer's drain, then the consumer's: seconds, unless the machine is very busy.
    private static final Duration STOPPED = Duration.ofSeconds(60);

    @TempDir
    Path tmp;
    private final int consumerPort = freePort();
    private final int producerPort = freePort();
    private ScriptProcess script;

    @AfterEach
    void stopTheScript() {
        if (script != null) script.close();
    }

    @Test
    void runLocalShowsEventsOfEveryTypeFlowingFromProducerToConsumerAndStopsCleanly() throws IOException {
        script = runLocal(Map.of("RATE", "5"), "--duration", "6");

        assertThat(script.awaitExit(BOTH_RUNNING.plus(STOPPED))).as(script.describe()).isZero();

        List<JsonObject> consumed = printedBy("consumer", l -> "processed".equals(l.getString("outcome")));
        assertThat(consumed).extracting(l -> l.getString("type")).contains("demo.event", "user.created", "order.placed");
        JsonObject books = printedBy("producer", l -> "stopped".equals(l.getString("msg"))).get(0);
        assertThat(books.getLong("undelivered")).isZero();
        assertThat(books.getLong("sent")).isEqualTo(consumed.size()).isEqualTo(books.getLong("generated"));
        assertThat(leftInTmp()).isEmpty();
    }

    @Test
    void whenTheConsumersPortIsTakenItStopsAtOnceNamingTheConsumerItsExitCodeAndTheReasonAndLeavesNoTemporaryFolder()
            throws IOException {
        try (ServerSocket taken = new ServerSocket(consumerPort)) {
            script = runLocal(Map.of("START_TIMEOUT", "600"));

            // Well within the script's own START_TIMEOUT: it ended because the consumer did, not on the deadline.
            assertThat(script.awaitExit(ScriptProcess.START_TIMEOUT)).as(script.describe()).isEqualTo(1);
        }
        assertThat(script.stderr())
                .contains("consumer exited with code 1 during start-up, before it logged \"msg\":\"listening\"")
                .contains("Address already in use")
                .contains("port " + consumerPort + " is taken")
                .doesNotContain("did not log");
        assertThat(script.logs(textStartingWith("[producer]"))).as("the producer never starts").isEmpty();
        assertThat(leftInTmp()).isEmpty();
    }

    /** A terminal sends Ctrl-C's SIGINT to every process of the foreground group; `kill -INT` to the script alone. */
    enum Interrupt {
        TERMINAL_CTRL_C(ScriptProcess::interruptGroup), KILL_INT_TO_THE_SCRIPT(ScriptProcess::interrupt);

        final Consumer<ScriptProcess> send;

        Interrupt(Consumer<ScriptProcess> send) {
            this.send = send;
        }
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(Interrupt.class)
    void ctrlCStopsTheProducerFirstThenTheConsumerGracefullyAndLeavesNoProcessOrTemporaryFolder(Interrupt interrupt)
            throws IOException {
        script = runLocal(Map.of("RATE", "20"));
        awaitBothRunning();
        script.awaitLog(printed("consumer", l -> "processed".equals(l.getString("outcome"))), BOTH_RUNNING);
        List<ProcessHandle> children = script.handle().descendants().toList();
        assertThat(children).as("the two JVMs, among the script's helpers")
                .filteredOn(p -> p.info().command().orElse("").endsWith("/java")).hasSize(2);

        interrupt.send.accept(script);

        assertThat(script.awaitExit(STOPPED)).as(script.describe()).isEqualTo(130);
        assertThat(children).as("nothing the script started outlives it").noneMatch(ProcessHandle::isAlive);
        JsonObject books = printedBy("producer", l -> "stopped".equals(l.getString("msg"))).get(0);
        assertThat(books.getLong("undelivered")).isZero();
        assertThat(books.getLong("sent")).isEqualTo(books.getLong("generated")).isPositive();
        assertThat(printedBy("consumer", l -> "stopped".equals(l.getString("msg")))).hasSize(1);
        List<String> text = text();
        assertThat(indexOf(text, "[producer] {", "\"msg\":\"stopped\""))
                .as("the producer has delivered what it held and stopped before the consumer drains")
                .isLessThan(indexOf(text, "[consumer] {", "\"msg\":\"draining\""));
        assertThat(text).contains("run-local: producer stopped (exit 0)", "run-local: consumer stopped (exit 0)");
        assertThat(leftInTmp()).isEmpty();
    }

    @Test
    void onceBothRunItPrintsWhereToLookAndItsCurlLineSendsAnEventTheConsumerProcesses() throws Exception {
        script = runLocal(Map.of());
        awaitBothRunning();
        String consumer = "http://localhost:" + consumerPort;
        List<String> text = text();
        assertThat(text).contains("  live page         " + consumer + "/",
                "  consumer metrics  " + consumer + "/metrics",
                "  producer metrics  http://localhost:" + producerPort + "/metrics",
                "  PORT=8082 scripts/jbang consumer.java --dead-letter");
        HttpClient http = HttpClient.newHttpClient();
        assertThat(get(http, consumer + "/").headers().firstValue("content-type")).hasValueSatisfying(
                type -> assertThat(type).startsWith("text/html"));
        // Gauges, there from the start (a counter of events appears with the first event).
        assertThat(get(http, consumer + "/metrics").body()).contains("consumer_in_flight");
        assertThat(get(http, "http://localhost:" + producerPort + "/metrics").body()).contains("producer_buffered_events");

        String curl = text.stream().filter(l -> l.startsWith("  curl ")).findFirst().orElseThrow().strip();
        Process pasted = new ProcessBuilder("bash", "-c", curl).redirectErrorStream(true).start();
        assertThat(pasted.waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThat(new String(pasted.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip()).isEqualTo("202");

        JsonObject event = json("consumer", script.awaitLog(printed("consumer", l -> "hello-1".equals(l.getString("id"))),
                STOPPED));
        assertThat(event.getString("type")).isEqualTo("demo.event");
        assertThat(event.getString("outcome")).isEqualTo("processed");
        assertThat(event.getInteger("status")).isEqualTo(202);
    }

    private ScriptProcess runLocal(Map<String, String> settings, String... args) {
        Map<String, String> env = new HashMap<>(settings);
        env.put("CONSUMER_PORT", String.valueOf(consumerPort));
        env.put("PRODUCER_PORT", String.valueOf(producerPort));
        env.put("TMPDIR", tmp.toString());
        // In a session of its own the script leads its process group, as a terminal's foreground job does. A shell
        // cannot trap a SIGINT that was ignored when it started (a background job of a shell without job control,
        // say): a terminal's shell does not start it so, and neither does this test.
        List<String> command = new ArrayList<>(List.of("setsid", "env", "--default-signal=INT",
                ScriptProcess.REPO.resolve("scripts/run-local.sh").toString()));
        command.addAll(List.of(args));
        return ScriptProcess.run("run-local.sh", command, env);
    }

    private void awaitBothRunning() {
        script.awaitLog(textStartingWith("run-local: Ctrl-C stops both"), BOTH_RUNNING);
    }

    private List<String> text() {
        return script.logs(l -> true).stream().map(l -> l.getString("text", "")).toList();
    }

    /** The JSON lines a program printed through the script ("[consumer] {...}") that match. */
    private List<JsonObject> printedBy(String program, Predicate<JsonObject> match) {
        return script.logs(printed(program, match)).stream().map(l -> json(program, l)).toList();
    }

    private static Predicate<JsonObject> printed(String program, Predicate<JsonObject> match) {
        return line -> {
            JsonObject json = json(program, line);
            return json != null && match.test(json);
        };
    }

    /** The JSON of a line the program printed through the script, or null for any other line. */
    private static JsonObject json(String program, JsonObject line) {
        String text = line.getString("text", "");
        String prefix = "[" + program + "] {";
        return text.startsWith(prefix) ? new JsonObject(text.substring(prefix.length() - 1)) : null;
    }

    private static Predicate<JsonObject> textStartingWith(String prefix) {
        return l -> l.getString("text", "").startsWith(prefix);
    }

    private static int indexOf(List<String> lines, String prefix, String part) {
        for (int i = 0; i < lines.size(); i++) if (lines.get(i).startsWith(prefix) && lines.get(i).contains(part)) return i;
        throw new AssertionError("no line " + prefix + "…" + part);
    }

    private List<Path> leftInTmp() throws IOException {
        try (var files = Files.list(tmp)) {
            return files.toList();
        }
    }

    private static HttpResponse<String> get(HttpClient http, String url) throws Exception {
        HttpResponse<String> response = http.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(30)).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(response.statusCode()).as(url).isEqualTo(200);
        return response;
    }

    private static int freePort() {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
