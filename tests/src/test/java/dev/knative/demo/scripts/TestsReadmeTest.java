package dev.knative.demo.scripts;

import static org.assertj.core.api.Assertions.assertThat;

import dev.knative.demo.programs.ProgramSettingsTest;
import dev.knative.demo.support.Readme;
import dev.knative.demo.support.ScriptProcess;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * tests/README.md maps every behaviour the README documents to the test that shows it: every test it names
 * exists, and every setting, delivery-contract row and failure-mode row of the README has a row with a test.
 */
class TestsReadmeTest {

    static final Path TESTS = ScriptProcess.REPO.resolve("tests/src/test/java/dev/knative/demo");
    static final Pattern REFERENCE = Pattern.compile("`([A-Z][A-Za-z0-9]*Test)(?:#([a-zA-Z0-9_]+))?`");

    @Test
    void everyTestItNamesExists() throws IOException {
        Matcher reference = REFERENCE.matcher(testsReadme());
        int references = 0;
        while (reference.find()) {
            references++;
            Path source = testSource(reference.group(1));
            if (reference.group(2) != null)
                assertThat(Files.readString(source)).as(reference.group()).containsPattern("void " + reference.group(2) + "\\(");
        }
        assertThat(references).isGreaterThan(50);
    }

    @Test
    void everyRowNamesAtLeastOneTest() throws IOException {
        assertThat(rows(behaviours())).allSatisfy((behaviour, tests) ->
                assertThat(REFERENCE.matcher(tests).find()).as(behaviour).isTrue());
    }

    @Test
    void everySettingOfBothProgramsHasARow() throws IOException {
        Map<String, String> rows = rows(section(testsReadme(), "Settings"));
        for (String program : List.of("consumer.java", "producer.java")) {
            for (ProgramSettingsTest.Row setting : ProgramSettingsTest.readmeSettings(program)) {
                String name = "`" + (setting.env() != null ? setting.env() : setting.flag()) + "`";
                assertThat(rows).as(program + " " + name).containsKey(name);
            }
        }
    }

    @Test
    void everyRowOfTheDeliveryContractAndTheFailureModesHasARowOrIsNamedAsKnativesOwn() throws IOException {
        String tests = behaviours();
        Map<String, String> rows = rows(tests);
        String knativesOwn = section(tests, "Not this project's behaviour");
        List<String> documented = new ArrayList<>(rows(section(Readme.text(), "The delivery contract")).keySet());
        documented.addAll(rows(section(Readme.text(), "Failure modes")).keySet());
        assertThat(documented).hasSizeGreaterThan(20).allSatisfy(row ->
                assertThat(rows.containsKey(row) || knativesOwn.contains("\"" + row + "\"")).as(row).isTrue());
    }

    /** The one source file of a test class, in whichever area's folder it is. */
    private static Path testSource(String testClass) throws IOException {
        try (Stream<Path> files = Files.walk(TESTS)) {
            List<Path> found = files.filter(file -> file.getFileName().toString().equals(testClass + ".java")).toList();
            assertThat(found).as(testClass).hasSize(1);
            return found.get(0);
        }
    }

    /** The tables of behaviours: everything from the first "## " heading on. */
    private static String behaviours() throws IOException {
        String text = testsReadme();
        return text.substring(text.indexOf("\n## "));
    }

    private static String testsReadme() throws IOException {
        return Files.readString(ScriptProcess.REPO.resolve("tests/README.md"));
    }

    /** The text under a "## " heading, up to the next one. */
    private static String section(String markdown, String title) {
        return String.join("\n", Readme.section(markdown.lines().toList(), 2, title));
    }

    /** Table rows as first cell → the rest. */
    private static Map<String, String> rows(String markdown) {
        Map<String, String> rows = new LinkedHashMap<>();
        for (List<String> cells : Readme.tableRows(markdown.lines().toList()))
            rows.put(cells.get(0), String.join(" | ", cells.subList(1, cells.size())));
        return rows;
    }
}
