package dev.knative.demo.programs;

import static org.assertj.core.api.Assertions.assertThat;

import dev.knative.demo.support.CloudEventsHttp;
import dev.knative.demo.support.EventContract;
import dev.knative.demo.support.Kustomize;
import dev.knative.demo.support.ScriptProcess;
import dev.knative.demo.support.TestSink;
import dev.knative.demo.support.TestSink.Received;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.reflect.Method;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import javax.tools.ToolProvider;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every sample event in the repository meets the schema of its type (k8s/schemas): the producer's generated data,
 * scripts/send-event.sh, the load generators, the test helpers, and the examples in the READMEs and scripts. An
 * example the text itself says is refused must break its schema instead.
 */
class EventSamplesTest {

    static final EventContract CONTRACT = EventContract.ofRepository();

    /** One sample: where it is written, its type, its data, and whether the text means it to be accepted. */
    record Sample(String where, String type, String data, boolean meantValid) {
        @Override
        public String toString() {
            return where + " " + type + (meantValid ? "" : " (meant to be refused)");
        }
    }

    @Test
    void theProducersEventsMeetTheirSchemasAndNameThemAsDataschema() {
        int perType = 2;
        int count = perType * CONTRACT.types().size();
        try (TestSink sink = TestSink.start();
             ScriptProcess producer = ScriptProcess.start("producer.java", Map.of("K_SINK", sink.url(), "PORT", "0",
                     "POD_NAME", "producer-under-test"), "--rate", "100", "--count", String.valueOf(count))) {
            List<Received> received = sink.await(count, Duration.ofSeconds(90));

            assertThat(received).extracting(r -> r.event().getType()).containsOnlyElementsOf(CONTRACT.types())
                    .containsAll(CONTRACT.types());
            assertThat(received).allSatisfy(r -> {
                String type = r.event().getType();
                String data = new String(r.event().getData().toBytes(), StandardCharsets.UTF_8);
                assertThat(CONTRACT.violations(type, data)).as("producer's %s data %s", type, data).isEmpty();
                assertThat(r.event().getDataSchema()).as("dataschema of %s", type)
                        .hasToString(CONTRACT.schema(type).path("$id").asText());
            });
            assertThat(producer.awaitExit(Duration.ofSeconds(60))).isZero();
        }
    }

    static Stream<Sample> samples() {
        List<Sample> all = new ArrayList<>();
        all.addAll(sendEventScriptSamples());
        all.addAll(wrkScriptSamples());
        all.addAll(loadGeneratorSamples());
        all.addAll(examplesInTheDocumentationAndScripts());
        for (String type : List.of("demo.event", "user.created", "order.placed"))
            all.add(new Sample("CloudEventsHttp.validData", type, CloudEventsHttp.validData(type).encode(), true));
        return all.stream();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("samples")
    void everySampleInTheRepositoryMeetsItsSchemaUnlessItIsMeantToBeRefused(Sample sample) {
        List<String> violations = CONTRACT.violations(sample.type(), sample.data());
        if (sample.meantValid()) assertThat(violations).as("%s: %s", sample, sample.data()).isEmpty();
        else assertThat(violations).as("%s: %s", sample, sample.data()).isNotEmpty();
    }

    @Test
    void everySourceOfSamplesIsFound() {
        assertThat(sendEventScriptSamples()).extracting(Sample::type).containsExactlyInAnyOrder("demo.event", "user.created", "order.placed");
        assertThat(wrkScriptSamples()).extracting(Sample::type).containsExactlyInAnyOrder("demo.event", "user.created", "order.placed");
        assertThat(loadGeneratorSamples()).hasSize(3);
        assertThat(examplesInTheDocumentationAndScripts()).extracting(Sample::where)
                .contains("README.md", "scripts/run-local.sh", "scripts/send-event.sh", "k8s/components/monitoring/README.md");
    }

    @Test
    void theCheckRefusesTheItemsTheWrkScriptOnceSentAsStrings() {
        String drifted = "{\"order_id\":\"o-1\",\"user_id\":\"u-1\",\"amount\":1.25,\"items\":[\"sku-1\"]}";

        assertThat(CONTRACT.violations("order.placed", drifted)).singleElement().asString().contains("$.items[0]", "object");
    }

    private static final Pattern SEND_EVENT_CASE = Pattern.compile("(?m)^\\s*([\\w.*]+)\\) echo '(\\{.*\\})' ;;");

    /** scripts/send-event.sh's sample_data: one case per type, "*" being its default type, demo.event. */
    static List<Sample> sendEventScriptSamples() {
        Matcher cases = SEND_EVENT_CASE.matcher(Kustomize.read(Kustomize.REPO_ROOT.resolve("scripts/send-event.sh")));
        List<Sample> found = new ArrayList<>();
        while (cases.find()) {
            String type = cases.group(1).equals("*") ? "demo.event" : cases.group(1);
            found.add(new Sample("scripts/send-event.sh sample_data", type, cases.group(2), true));
        }
        return found;
    }

    private static final Pattern WRK_KIND = Pattern.compile("\\{ \"([\\w.]+)\", function\\(i\\)\\s*return string\\.format\\('(\\{.*?\\})'",
            Pattern.DOTALL);

    /** tests/benchmark/events.lua: a string.format template per type, filled with a number. */
    static List<Sample> wrkScriptSamples() {
        Matcher kinds = WRK_KIND.matcher(Kustomize.read(Kustomize.REPO_ROOT.resolve("tests/benchmark/events.lua")));
        List<Sample> found = new ArrayList<>();
        while (kinds.find())
            found.add(new Sample("tests/benchmark/events.lua", kinds.group(1), kinds.group(2).replace("%d", "7"), true));
        return found;
    }

    /** tests/benchmark/LoadGenerator.java, compiled here, asked for the data of each type. */
    static List<Sample> loadGeneratorSamples() {
        try {
            Path classes = Files.createTempDirectory("load-generator");
            int compiled = ToolProvider.getSystemJavaCompiler().run(null, null, null, "-d", classes.toString(),
                    Kustomize.REPO_ROOT.resolve("tests/benchmark/LoadGenerator.java").toString());
            assertThat(compiled).as("javac LoadGenerator.java").isZero();
            try (URLClassLoader loader = new URLClassLoader(new URL[] {classes.toUri().toURL()})) {
                Method data = loader.loadClass("LoadGenerator$Worker").getDeclaredMethod("data", String.class, long.class);
                data.setAccessible(true);
                List<Sample> found = new ArrayList<>();
                for (String type : List.of("demo.event", "user.created", "order.placed"))
                    found.add(new Sample("tests/benchmark/LoadGenerator.java", type, (String) data.invoke(null, type, 7L), true));
                return found;
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (ReflectiveOperationException e) {
            throw new AssertionError("LoadGenerator.Worker.data(String, long)", e);
        }
    }

    private static final Pattern DATA_ARGUMENT = Pattern.compile("(?:--data|-d) '(\\{[^']*\\})'");
    private static final Pattern TYPE_ARGUMENT = Pattern.compile("(?:--once|--type|ce-type:) ([a-z][\\w.]*)");
    // The text around an example that is meant to fail: the consumer refuses it, it ends as a dead letter.
    private static final Pattern MEANT_REFUSED = Pattern.compile("refused|dead.letter|\\b400\\b");

    /**
     * JSON data given on a command line in the READMEs and the scripts (--data '...', curl -d '...'), with its type
     * from the same line (--once, --type, ce-type:), else send-event.sh's default, demo.event.
     */
    static List<Sample> examplesInTheDocumentationAndScripts() {
        List<Path> files = new ArrayList<>(List.of(Kustomize.REPO_ROOT.resolve("README.md"), Kustomize.REPO_ROOT.resolve("k8s/README.md")));
        try (Stream<Path> scripts = Files.list(Kustomize.REPO_ROOT.resolve("scripts"));
             Stream<Path> components = Files.list(Kustomize.COMPONENTS)) {
            scripts.filter(f -> f.toString().endsWith(".sh")).forEach(files::add);
            components.map(c -> c.resolve("README.md")).filter(Files::exists).forEach(files::add);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        List<Sample> found = new ArrayList<>();
        for (Path file : files) {
            for (String line : Kustomize.read(file).split("\n")) {
                Matcher data = DATA_ARGUMENT.matcher(line);
                if (!data.find()) continue;
                Matcher type = TYPE_ARGUMENT.matcher(line);
                found.add(new Sample(Kustomize.REPO_ROOT.relativize(file).toString(), type.find() ? type.group(1) : "demo.event",
                        data.group(1), !MEANT_REFUSED.matcher(line).find()));
            }
        }
        return found;
    }
}
