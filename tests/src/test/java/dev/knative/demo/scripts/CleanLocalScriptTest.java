package dev.knative.demo.scripts;

import static org.assertj.core.api.Assertions.assertThat;

import dev.knative.demo.support.FakeKubectl;
import dev.knative.demo.support.Kustomize;
import dev.knative.demo.support.ScriptProcess;
import dev.knative.demo.support.FakeKubectl.Result;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** scripts/clean-local.sh removes exactly what local runs keep: JBang's folder and the locked files, nothing else. */
class CleanLocalScriptTest {

    @TempDir
    Path home;
    Path jbangDir;
    Path repo;
    List<Path> locked;
    Path otherArtifact;

    @BeforeEach
    void aMachineThatRanTheProgramsAndHasOtherMavenArtifacts() throws IOException {
        jbangDir = Files.createDirectories(home.resolve(".jbang/cache/launch"));
        repo = home.resolve(".m2/repository");
        locked = Files.readAllLines(ScriptProcess.REPO.resolve("scripts/deps.lock")).stream()
                .filter(line -> !line.startsWith("#") && !line.isBlank())
                .map(line -> repo.resolve(line.split("\\s+")[1])).limit(3).toList();
        for (Path file : locked) Kustomize.write(file, "jar");
        Kustomize.write(repo.resolve(".verified-locks"), "locks");
        Kustomize.write(repo.resolve(".fetch.lock"), "");
        otherArtifact = repo.resolve("org/example/other/1.0/other-1.0.jar");
        Kustomize.write(otherArtifact, "not ours");
    }

    @Test
    void removesJbangsFolderAndTheLockedFilesButNoOtherArtifact() {
        Result result = clean();

        assertThat(result.exitCode()).as(result.output()).isZero();
        assertThat(home.resolve(".jbang")).doesNotExist();
        assertThat(locked).allSatisfy(file -> assertThat(file).doesNotExist());
        assertThat(repo.resolve("com")).as("folders left empty are removed").doesNotExist();
        assertThat(otherArtifact).hasContent("not ours");
        assertThat(repo.resolve(".verified-locks")).as("the launcher's stamp").doesNotExist();
        assertThat(repo.resolve(".fetch.lock")).as("the launcher's lock file").doesNotExist();
        assertThat(result.output()).contains("3 locked files under " + repo + " removed");
    }

    @Test
    void dryRunNamesWhatItWouldRemoveAndRemovesNothing() {
        Result result = clean("--dry-run");

        assertThat(result.exitCode()).as(result.output()).isZero();
        assertThat(jbangDir).exists();
        assertThat(locked).allSatisfy(file -> {
            assertThat(file).exists();
            assertThat(result.output()).contains(file.toString());
        });
        assertThat(result.output()).contains("3 locked files under " + repo + " would be removed");
    }

    private Result clean(String... args) {
        List<String> command = new ArrayList<>(List.of(ScriptProcess.REPO.resolve("scripts/clean-local.sh").toString()));
        command.addAll(List.of(args));
        ProcessBuilder builder = new ProcessBuilder(command);
        builder.environment().put("HOME", home.toString());
        builder.environment().remove("JBANG_DIR");
        builder.environment().remove("JBANG_REPO");
        return FakeKubectl.runToEnd(builder);
    }
}
