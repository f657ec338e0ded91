package dev.knative.demo.support;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.knative.demo.scripts.ReadmeTest;
import java.io.IOException;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/** The programs under test see only the settings their test gives them: every one the README documents is cleared. */
public class ScriptProcessTest {

    @Test
    public void theClearedSettingsAreEverySettingTheProgramsReadFromTheEnvironment() throws IOException {
        Set<String> read = new TreeSet<>(ReadmeTest.settingsReadBy("consumer.java"));
        read.addAll(ReadmeTest.settingsReadBy("producer.java"));

        assertThat(ScriptProcess.DOCUMENTED_SETTINGS).containsAll(read)
                .contains("K_SINK", "BROKER_URL", "K_CE_OVERRIDES", "PORT", "POD_NAME", "POD_NAMESPACE", "DEDUPE_WINDOW",
                        "MAX_BODY_BYTES", "DRAIN_DELAY_MS", "SEND_TIMEOUT_MS", "RETRY_INITIAL_MS", "RETRY_MAX_MS")
                .as("the boot path's settings pass through").doesNotContain("JAVA_HOME", "MAVEN_REPO_URL", "JBANG_REPO");
    }

    @Test
    public void noDocumentedSettingOfTheCallersEnvironmentReachesAStartedProgram() {
        Map<String, String> environment = new HashMap<>(Map.of("PATH", "/usr/bin", "MAVEN_REPO_URL", "http://mirror/maven2"));
        ScriptProcess.DOCUMENTED_SETTINGS.forEach(name -> environment.put(name, "999"));

        ScriptProcess.isolate(environment, Map.of("RATE", "5"));

        assertThat(environment).containsExactlyInAnyOrderEntriesOf(
                Map.of("PATH", "/usr/bin", "MAVEN_REPO_URL", "http://mirror/maven2", "RATE", "5"));
    }

    @Test
    public void theSettingsAreTheFirstColumnOfBothProgramTablesWhereverTheReadmeMovesThem() {
        String readme = """
                # Demo
                ## Configuration
                ```sh
                # not a heading
                ```
                ### producer.java
                | setting | default | unit | meaning |
                |---|---|---|---|
                | `K_SINK`, else `--sink URL`, else `BROKER_URL` | `http://localhost:8080` | URL | `NOT_A_SETTING` here |
                | `--once TYPE` | — | | |
                ### `consumer.java`
                | setting | meaning |
                |---|---|
                | `DEDUPE_WINDOW` | remembered (`source`, `id`) pairs |
                ### scripts/jbang (the boot path)
                | `MAVEN_REPO_URL` | mirror |
                ## Observability
                | `LATER_TABLE` | |
                """;

        assertThat(Readme.programSettings(readme))
                .containsExactlyInAnyOrder("K_SINK", "BROKER_URL", "DEDUPE_WINDOW", "POD_NAME", "POD_NAMESPACE");
        assertThatThrownBy(() -> Readme.programSettings(readme.replace("### producer.java", "### the producer")))
                .hasMessageContaining("producer.java");
    }
}
