package dev.knative.demo.scripts;

import static org.assertj.core.api.Assertions.assertThat;

import dev.knative.demo.support.CloudEventsHttp;
import dev.knative.demo.support.FakeKubectl;
import dev.knative.demo.support.FakeKubectl.Result;
import dev.knative.demo.support.Kustomize;
import dev.knative.demo.support.Manifests;
import dev.knative.demo.support.ScriptProcess;
import dev.knative.demo.support.TestSink;
import dev.knative.demo.support.TestSink.Answer;
import io.cloudevents.CloudEvent;
import io.cloudevents.core.builder.CloudEventBuilder;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * scripts/find-event.sh on logs recorded from the real programs: a producer whose first send gets 503 and its
 * retry 202, two consumer replicas (the event processed, redelivered to the same one, redelivered to the other,
 * replayed) and the dead-letter display, each a real process, their stdout kept as files named after their pods.
 */
class FindEventScriptTest {

    private static final String SCRIPT = "scripts/find-event.sh";
    private static final Duration WAIT = Duration.ofSeconds(60);

    @TempDir
    static Path logs;
    @TempDir
    Path fake;

    static CloudEvent stored;
    static CloudEvent other;
    static final List<ScriptProcess> PROCESSES = new ArrayList<>();

    @BeforeAll
    static void recordTheLogsOfOneEventsWholeStory() throws IOException {
        try (TestSink broker = TestSink.start().answering((event, attempt) -> Answer.of(attempt == 1 ? 503 : 202));
             ScriptProcess producer = ScriptProcess.start("producer.java", Map.of("K_SINK", broker.url(),
                     "RETRY_INITIAL_MS", "20", "POD_NAME", "producer-7d9f-x2x9z", "POD_NAMESPACE", "knative-demo"),
                     "--once", "demo.event")) {
            assertThat(producer.awaitExit(ScriptProcess.START_TIMEOUT)).isZero();
            stored = broker.received().get(broker.received().size() - 1).event();
            Files.copy(producer.stdoutFile(), logs.resolve("producer-7d9f-x2x9z.log"));
        }
        ScriptProcess consumerA = started("consumer.java", "consumer-5b7c-aaaaa");
        ScriptProcess consumerB = started("consumer.java", "consumer-5b7c-bbbbb");
        ScriptProcess deadLetter = started("consumer.java", "dead-letter-6c8d-ccccc", "--dead-letter");
        other = CloudEventsHttp.event("demo.event", CloudEventsHttp.validData("demo.event"));
        deliver(consumerA, other, 1);
        deliver(consumerA, stored, 1);
        deliver(consumerA, stored, 2);
        deliver(consumerB, stored, 1);
        deliver(consumerA, CloudEventBuilder.v1(stored).withExtension("replay", "r1").build(), 3);
        deliver(deadLetter, CloudEventBuilder.v1(stored).withExtension("knativeerrorcode", "503")
                .withExtension("knativeerrordest", "http://consumer.knative-demo.svc.cluster.local")
                .withExtension("knativeerrordata", Base64.getEncoder().encodeToString("simulated transient failure"
                        .getBytes(StandardCharsets.UTF_8))).build(), 2);
        // Pods named by the line's own "pod" field, as the files of a log store would be named by anything.
        Files.copy(consumerA.stdoutFile(), logs.resolve("0.log"));
        Files.copy(consumerB.stdoutFile(), logs.resolve("1.log"));
        Files.copy(deadLetter.stdoutFile(), logs.resolve("2.log"));
    }

    @AfterAll
    static void stop() {
        PROCESSES.forEach(ScriptProcess::close);
    }

    @Test
    void byIdItTellsTheEventsWholeStoryFromEveryProgramsRecordedLogSortedByTimeWithPods() {
        Result result = FakeKubectl.runWith(fake.resolve("no-kubectl"), SCRIPT, Map.of(), stored.getId(), "--logs", logs.toString());

        assertThat(result.exitCode()).as(result.output()).isZero();
        assertThat(steps(result.output())).containsExactly(
                "producer-7d9f-x2x9z created (demo.event)",
                "producer-7d9f-x2x9z retried: attempt 1 got 503: scripted 503",
                "producer-7d9f-x2x9z sent: the broker answered 202 (attempt 2)",
                "consumer-5b7c-aaaaa processed: 202",
                "consumer-5b7c-aaaaa duplicate: 202",
                "consumer-5b7c-bbbbb processed: 202",
                "consumer-5b7c-aaaaa processed (replay r1): 202",
                "dead-letter-6c8d-ccccc dead letter: code 503 from http://consumer.knative-demo.svc.cluster.local: simulated transient failure",
                "dead-letter-6c8d-ccccc dead-lettered: received by the dead-letter display");
        assertThat(result.output()).doesNotContain(other.getId());
    }

    @Test
    void byTraceIdItFindsTheSameStory() {
        String traceId = String.valueOf(stored.getExtension("traceparent")).substring(3, 35);

        Result byTrace = FakeKubectl.runWith(fake.resolve("no-kubectl"), SCRIPT, Map.of(), "--trace", traceId, "--logs", logs.toString());
        Result byId = FakeKubectl.runWith(fake.resolve("no-kubectl"), SCRIPT, Map.of(), stored.getId(), "--logs", logs.toString());

        assertThat(byTrace.exitCode()).as(byTrace.output()).isZero();
        assertThat(steps(byTrace.output())).hasSize(9).isEqualTo(steps(byId.output()));
    }

    @Test
    void withoutRecordedLogsItReadsEveryPodsLogThroughKubectlWithTheirPrefixes() throws IOException {
        String prefixed = Files.readAllLines(logs.resolve("producer-7d9f-x2x9z.log")).stream()
                .map(line -> "[pod/producer-7d9f-x2x9z/producer] " + line).collect(Collectors.joining("\n"));
        for (String file : List.of("0.log", "1.log", "2.log"))
            prefixed += "\n" + Files.readAllLines(logs.resolve(file)).stream().map(line -> "[pod/ignored/app] " + line)
                    .collect(Collectors.joining("\n"));
        FakeKubectl kubectl = new FakeKubectl(fake).withLogs(prefixed + "\n");

        Result result = kubectl.run(SCRIPT, Map.of(), stored.getId(), "-n", "demo");

        assertThat(result.exitCode()).as(result.output()).isZero();
        assertThat(steps(result.output())).hasSize(9).first().isEqualTo("producer-7d9f-x2x9z created (demo.event)");
        assertThat(kubectl.calls()).singleElement().satisfies(call -> assertThat(call)
                .containsSequence("logs", "--namespace", "demo", "--prefix", "--tail", "-1"));
        // Every Deployment that runs a program, the priority consumer of priority-routing included.
        String selector = kubectl.calls().get(0).get(kubectl.calls().get(0).indexOf("--selector") + 1);
        Matcher components = Pattern.compile("^app\\.kubernetes\\.io/name=knative-eventing-demo,app\\.kubernetes\\.io/component in \\((.*)\\)$").matcher(selector);
        assertThat(components.matches()).as(selector).isTrue();
        assertThat(List.of(components.group(1).split(","))).containsExactlyInAnyOrderElementsOf(
                Kustomize.renderWithComponent(fake.resolve("render"), "priority-routing").all(Deployment.class).stream()
                        .map(deployment -> Manifests.podLabels(deployment).get("app.kubernetes.io/component")).toList());
    }

    @Test
    void anIdNoLineMentionsIsSaidAndExitsOne() {
        Result result = FakeKubectl.runWith(fake.resolve("no-kubectl"), SCRIPT, Map.of(), "no-such-id", "--logs", logs.toString());

        assertThat(result.exitCode()).isEqualTo(1);
        assertThat(result.output()).contains("No log line mentions event no-such-id");
    }

    private static ScriptProcess started(String script, String pod, String... args) {
        ScriptProcess process = ScriptProcess.startListening(script, Map.of("POD_NAME", pod, "PROCESSING_TIME_MS", "1"), args);
        PROCESSES.add(process);
        return process;
    }

    /** Sends the event and waits for its line: each step is logged before the next one starts, so times order them. */
    private static void deliver(ScriptProcess to, CloudEvent event, int linesOfItsId) {
        try (CloudEventsHttp http = new CloudEventsHttp(to.port())) {
            assertThat(http.binary(event).statusCode()).isEqualTo(202);
        }
        to.awaitLogs(line -> event.getId().equals(line.getString("id")), linesOfItsId, WAIT);
    }

    /** The story's lines as "pod step", without the times and the numbers that vary from run to run. */
    private static List<String> steps(String output) {
        return output.lines().filter(line -> line.matches("^\\d{4}-.*")).map(line -> {
            String[] columns = line.trim().split("\\s+", 3);
            return columns[1] + " " + columns[2].replaceAll(", next in \\d+ ms$", "").replaceAll(" in [0-9.]+ ms$", "");
        }).toList();
    }
}
