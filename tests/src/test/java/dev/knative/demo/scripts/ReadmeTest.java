package dev.knative.demo.scripts;

import static org.assertj.core.api.Assertions.assertThat;

import dev.knative.demo.programs.ProgramSettingsTest;
import dev.knative.demo.support.Readme;
import dev.knative.demo.support.ScriptProcess;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The README is the front door: every setting a program reads is documented there, and its commands exist. */
public class ReadmeTest {

    static final Pattern JAVA_ENV = Pattern.compile("(?:getenv|env\\.get|env\\.getOrDefault|env\\.containsKey)\\(\"([A-Z_]+)\"");
    static final Pattern SHELL_ENV = Pattern.compile("\\$\\{([A-Z_]+):-");

    public static Set<String> settingsReadBy(String file) throws IOException {
        String source = Files.readString(ScriptProcess.REPO.resolve(file));
        Matcher m = (file.endsWith(".java") ? JAVA_ENV : SHELL_ENV).matcher(source);
        Set<String> names = new TreeSet<>();
        while (m.find()) names.add(m.group(1));
        names.removeAll(Set.of("HOME", "TMPDIR"));
        return names;
    }

    // The programs' own settings are checked against the README by ProgramSettingsTest, from their --help.
    @ParameterizedTest
    @ValueSource(strings = {"scripts/jbang"})
    void everySettingAProgramReadsIsInTheReadme(String file) throws IOException {
        Set<String> settings = settingsReadBy(file);
        assertThat(settings).isNotEmpty();
        String readme = Readme.text();
        assertThat(settings).allSatisfy(name -> assertThat(readme).as(name).contains("`" + name + "`"));
    }

    @ParameterizedTest
    @ValueSource(strings = {"scripts/run-local.sh", "scripts/test.sh", "scripts/jbang", "scripts/lock-deps.sh",
            "scripts/prune-configmaps.sh", "scripts/clean-local.sh", "scripts/follow-events.sh", "scripts/send-event.sh", "scripts/benchmark.sh",
            "scripts/install-knative.sh", "scripts/deploy.sh",
            "scripts/replay.sh", "scripts/find-event.sh"})
    void everyScriptTheReadmeNamesExistsIsExecutableAndHasUsage(String script) throws Exception {
        assertThat(Readme.text()).contains(script);
        Path path = ScriptProcess.REPO.resolve(script);
        assertThat(Files.isExecutable(path)).as(script + " is executable").isTrue();
        Process help = new ProcessBuilder(path.toString(), "--help").redirectErrorStream(true).start();
        String text = new String(help.getInputStream().readAllBytes());
        assertThat(help.waitFor()).as(text).isZero();
        assertThat(text.toLowerCase()).contains("usage");
    }
}
