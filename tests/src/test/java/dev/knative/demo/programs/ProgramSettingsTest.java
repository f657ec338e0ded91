package dev.knative.demo.programs;

import static org.assertj.core.api.Assertions.assertThat;

import dev.knative.demo.support.Readme;
import dev.knative.demo.support.ScriptProcess;
import dev.knative.demo.support.TestSink;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Both programs read their settings from one table each: every bad value stops the program at start with one
 * line naming the setting, the value and what is allowed (exit 2); --help and the README list the same table.
 */
public class ProgramSettingsTest {

    static final Duration WAIT = Duration.ofSeconds(180);

    /** program, environment, arguments, the setting and value the error line must name. */
    static Stream<Arguments> badSettings() {
        return Stream.of(
                bad("consumer.java", Map.of("PORT", "abc"), List.of(), "PORT='abc'"),
                bad("consumer.java", Map.of("PORT", "99999"), List.of(), "PORT='99999'"),
                bad("consumer.java", Map.of("EVENT_LOOPS", "0"), List.of(), "EVENT_LOOPS='0'"),
                bad("consumer.java", Map.of("MAX_BODY_BYTES", "abc"), List.of(), "MAX_BODY_BYTES='abc'"),
                bad("consumer.java", Map.of("FAILURE_RATE", "2"), List.of(), "FAILURE_RATE='2'"),
                bad("consumer.java", Map.of("CONSUMER_MODE", "nope"), List.of(), "CONSUMER_MODE='nope'"),
                bad("consumer.java", Map.of("DEDUPE_WINDOW", "0"), List.of(), "DEDUPE_WINDOW='0'"),
                bad("consumer.java", Map.of("PROCESSING_TIME_MS", "-1"), List.of(), "PROCESSING_TIME_MS='-1'"),
                bad("consumer.java", Map.of(), List.of("--port", "abc"), "--port='abc'"),
                bad("consumer.java", Map.of(), List.of("--drain-delay-ms=soon"), "--drain-delay-ms='soon'"),
                bad("consumer.java", Map.of(), List.of("--bogus"), "unknown flag --bogus"),
                bad("consumer.java", Map.of(), List.of("stray"), "unexpected argument 'stray'"),
                bad("consumer.java", Map.of(), List.of("--dead-letter=yes"), "--dead-letter takes no value"),
                bad("consumer.java", Map.of("EVENT_SCHEMAS", "no/such/dir"), List.of(), "EVENT_SCHEMAS='no/such/dir'"),
                bad("consumer.java", Map.of(), List.of("--event-schemas", "k8s"), "--event-schemas='k8s'"),
                bad("producer.java", Map.of(), List.of("--once", "demo.event", "--data", "notjson"), "--data='notjson'"),
                bad("producer.java", Map.of(), List.of("--once", "demo.event", "--data", "[1]"), "--data='[1]'"),
                bad("producer.java", Map.of(), List.of("--once", "nope"), "--once='nope'"),
                bad("producer.java", Map.of("RATE", "abc"), List.of(), "RATE='abc'"),
                bad("producer.java", Map.of("RATE", "0"), List.of(), "RATE='0'"),
                bad("producer.java", Map.of("INTERVAL_MS", "0"), List.of(), "INTERVAL_MS='0'"),
                bad("producer.java", Map.of("PORT", "99999"), List.of(), "PORT='99999'"),
                bad("producer.java", Map.of("K_CE_OVERRIDES", "nope"), List.of(), "K_CE_OVERRIDES='nope'"),
                bad("producer.java", Map.of("K_SINK", "ftp://broker"), List.of(), "K_SINK='ftp://broker'"),
                bad("producer.java", Map.of("BROKER_URL", "broker"), List.of(), "BROKER_URL='broker'"),
                bad("producer.java", Map.of("EVENT_MIX", "demo.event=x"), List.of(), "EVENT_MIX='demo.event=x'"),
                bad("producer.java", Map.of("EVENT_MIX", "unknown.type=1"), List.of(), "EVENT_MIX='unknown.type=1'"),
                bad("producer.java", Map.of("EVENT_MIX", "demo.event=0"), List.of(), "EVENT_MIX='demo.event=0'"),
                bad("producer.java", Map.of("MAX_IN_FLIGHT", "0"), List.of(), "MAX_IN_FLIGHT='0'"),
                bad("producer.java", Map.of("CE_MODE", "xml"), List.of(), "CE_MODE='xml'"),
                bad("producer.java", Map.of(), List.of("--rate"), "--rate needs a value"),
                bad("producer.java", Map.of(), List.of("--unknown", "value"), "unknown flag --unknown"),
                bad("producer.java", Map.of(), List.of("--structured=yes"), "--structured takes no value"));
    }

    static Arguments bad(String program, Map<String, String> env, List<String> args, String names) {
        return Arguments.of(program, env, args, names);
    }

    @ParameterizedTest(name = "{0} {1} {2}")
    @MethodSource("badSettings")
    void aBadSettingStopsTheProgramAtStartWithOneLineNamingIt(String program, Map<String, String> env,
                                                             List<String> args, String names) {
        try (ScriptProcess run = ScriptProcess.start(program, env, args.toArray(String[]::new))) {
            assertThat(run.awaitExit(WAIT)).as(run.describe()).isEqualTo(2);
            List<String> errors = programLines(run.stderr());
            assertThat(errors).as(run.describe()).singleElement().satisfies(line -> {
                assertThat(line).startsWith(program.replace(".java", "") + ": ").contains(names);
                if (line.contains("is not valid")) assertThat(line).contains("expected ");
            });
            assertThat(run.logs(line -> true)).as("nothing started").isEmpty();
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"consumer.java", "producer.java"})
    void helpPrintsTheSettingsTableAndExitsZero(String program) {
        List<Row> rows = help(program);
        assertThat(rows).extracting(Row::env).contains("PORT", "SHUTDOWN_GRACE_MS");
        assertThat(rows).allSatisfy(row -> assertThat(row.env() != null || row.flag() != null).isTrue());
    }

    @ParameterizedTest
    @ValueSource(strings = {"consumer.java", "producer.java"})
    void theReadmeDocumentsExactlyTheSettingsTheProgramDeclares(String program) throws IOException {
        assertThat(readmeSettings(program)).containsExactlyInAnyOrderElementsOf(help(program));
    }

    @Test
    void knativeContractVariablesWinOverTheirFlags() throws IOException {
        try (ServerSocket taken = new ServerSocket(0);
             ScriptProcess consumer = ScriptProcess.start("consumer.java", Map.of("PORT", "0"),
                     "--port", Integer.toString(taken.getLocalPort()))) {
            JsonObject listening = consumer.awaitMessage("listening", WAIT);
            assertThat(listening.getInteger("port")).isPositive().isNotEqualTo(taken.getLocalPort());
        }
        try (TestSink sink = TestSink.start();
             ScriptProcess producer = ScriptProcess.start("producer.java",
                     Map.of("PORT", "0", "K_SINK", sink.url()), "--sink", "http://localhost:1")) {
            JsonObject started = producer.awaitMessage("started", WAIT);
            assertThat(started.getString("sink")).isEqualTo(sink.url());
            assertThat(started.getString("sink_from")).isEqualTo("K_SINK");
        }
    }

    @Test
    void aFlagWinsOverEveryOtherVariableInEitherGrammar() {
        try (ScriptProcess producer = ScriptProcess.start("producer.java",
                Map.of("PORT", "0", "RATE", "3", "BROKER_URL", "http://localhost:1"),
                "--rate=7", "--sink", "http://localhost:2")) {
            JsonObject started = producer.awaitMessage("started", WAIT);
            assertThat(started.getDouble("rate")).isEqualTo(7.0);
            assertThat(started.getString("sink")).isEqualTo("http://localhost:2");
            assertThat(started.getString("sink_from")).isEqualTo("--sink");
            // Lines are logged in order, so none of the warning can come after "started".
            assertThat(producer.messages("no sink set (K_SINK, --sink, BROKER_URL)")).isEmpty();
        }
        try (ScriptProcess consumer = ScriptProcess.start("consumer.java", Map.of(), "--port", "0",
                "--event-loops=2")) {
            JsonObject listening = consumer.awaitMessage("listening", WAIT);
            assertThat(listening.getInteger("port")).isPositive();
            assertThat(listening.getInteger("event_loops")).isEqualTo(2);
        }
    }

    @Test
    void aProducerWithoutAnySinkSaysSoBeforeItStarts() {
        try (ScriptProcess producer = ScriptProcess.start("producer.java", Map.of("PORT", "0"))) {
            JsonObject started = producer.awaitMessage("started", WAIT);
            assertThat(started.getString("sink_from")).isEqualTo("default");
            assertThat(producer.messages("no sink set (K_SINK, --sink, BROKER_URL)")).singleElement()
                    .satisfies(line -> assertThat(line.getString("using")).isEqualTo("http://localhost:8080"));
        }
    }

    @Test
    void bothProgramsCarryTheSameSettingsCode() throws IOException {
        assertThat(settingsCode("producer.java")).isEqualTo(settingsCode("consumer.java"));
    }

    /** JDK 17 reads source files in the locale's charset; a minimal environment has no UTF-8 locale. */
    @ParameterizedTest
    @ValueSource(strings = {"consumer.java", "producer.java"})
    void compilesOnJdk17WithoutAUtf8Locale(String program, @TempDir Path cache) throws IOException {
        Map<String, String> env = new HashMap<>(Map.of("JAVA_HOME", jdk17().toString(),
                "JBANG_CACHE_DIR", cache.toString(), "LANG", "", "LC_ALL", "", "LC_CTYPE", ""));
        try (ScriptProcess run = ScriptProcess.start(program, env, "--help")) {
            assertThat(run.awaitExit(WAIT)).as(run.describe()).isZero();
            assertThat(run.stderr()).doesNotContain("unmappable character").contains("Building jar");
        }
    }

    public record Row(String env, String flag, String fallback) {}

    static List<Row> help(String program) {
        try (ScriptProcess run = ScriptProcess.start(program, Map.of(), "--help")) {
            assertThat(run.awaitExit(WAIT)).as(run.describe()).isZero();
            List<Row> rows = new ArrayList<>();
            Pattern row = Pattern.compile("^  (?<env>[A-Z][A-Z0-9_]*)?(?:, )?(?<flag>--[a-z-]+)?(?: VALUE)?(?:  \\[(?<fallback>[^]]*)])?$");
            for (JsonObject line : run.logs(line -> true)) {
                Matcher m = row.matcher(line.getString("text", ""));
                if (m.matches()) rows.add(new Row(m.group("env"), m.group("flag"), m.group("fallback")));
            }
            assertThat(rows).as(run.describe()).isNotEmpty();
            return rows;
        }
    }

    /** Rows of the README table under "### program" in "## Configuration": `ENV` | `--flag` | `default` | meaning. */
    public static List<Row> readmeSettings(String program) {
        return Readme.tableRows(Readme.programTable(Readme.text(), program)).stream()
                .map(cells -> new Row(code(cells.get(0)), code(cells.get(1)), code(cells.get(2)))).toList();
    }

    private static String code(String cell) {
        String text = cell.trim();
        return text.equals("—") ? null : text.replaceAll("^`|`$", "");
    }

    private static String settingsCode(String program) throws IOException {
        String source = Files.readString(ScriptProcess.REPO.resolve(program));
        int start = source.indexOf("    // ---- Settings:");
        assertThat(start).as(program + " has the settings code").isPositive();
        return source.substring(start, source.lastIndexOf('}'));
    }

    // The lines the program wrote itself, without the launcher's "[jbang] Building jar" notes.
    private static List<String> programLines(String stderr) {
        return stderr.lines().filter(line -> !line.startsWith("[jbang]")).toList();
    }

    private static Path jdk17() throws IOException {
        try (Stream<Path> jdks = Files.list(Path.of("/usr/lib/jvm"))) {
            Set<Path> found = new TreeSet<>(jdks.filter(p -> p.getFileName().toString().matches(".*-17-.*|.*17\\..*|openjdk-17"))
                    .filter(p -> Files.isExecutable(p.resolve("bin/javac"))).toList());
            assertThat(found).as("a JDK 17 under /usr/lib/jvm (the oldest JDK the programs support)").isNotEmpty();
            return found.iterator().next();
        }
    }
}
