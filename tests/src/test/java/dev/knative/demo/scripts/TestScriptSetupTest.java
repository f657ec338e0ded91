package dev.knative.demo.scripts;

import static org.assertj.core.api.Assertions.assertThat;

import dev.knative.demo.support.FakeKubectl;
import dev.knative.demo.support.Kustomize;
import dev.knative.demo.support.ScriptProcess;
import dev.knative.demo.support.FakeKubectl.Result;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The setup of scripts/test.sh, the README's test command, against stand-ins for every command it asks
 * (id, dpkg-query, apt-get, java, javac, mvn, kubectl, podman): what it installs as root, what it tells
 * anyone else, and that Maven starts only after it. A copy of the script runs, so its Maven stand-in and
 * its reports directory are its own.
 */
class TestScriptSetupTest {

    /** One stand-in for all the commands, told apart by the name it is called by; each call is logged. */
    private static final String STAND_IN = """
            #!/usr/bin/env bash
            set -euo pipefail
            dir="$(dirname "$0")"
            name="$(basename "$0")"
            echo "$name $*" >>"$dir/calls"
            case "$name $*" in
              'id -u') cat "$dir/uid" ;;
              dpkg-query\\ *)
                grep -qx "${*: -1}" "$dir/installed" || { echo "dpkg-query: no packages found matching ${*: -1}" >&2; exit 1; }
                printf 'install ok installed' ;;
              'apt-get update -qq') ;;
              apt-get\\ install\\ *)
                [[ ${DEBIAN_FRONTEND:-} == noninteractive ]] || { echo "apt-get stand-in: would ask questions" >&2; exit 1; }
                for arg in "${@:2}"; do [[ $arg == -* ]] || echo "$arg" >>"$dir/installed"; done ;;
              'java -version') echo "openjdk version \\"$(cat "$dir/java-version")\\" 2025-04-15" >&2 ;;
              'javac -version') echo "javac $(cat "$dir/java-version")" ;;
              'mvn -B -v') echo 'Apache Maven 3.9.9' ;;
              mvn\\ *) pgrep -fc "test.sh-busy-$PPID" >>"$dir/busy" || : ;;
              'kubectl version --client') cat "$dir/kubectl-version" ;;
              'podman --version') echo 'podman version 4.3.1' ;;
              *) echo "stand-in: unexpected: $name $*" >&2; exit 1 ;;
            esac
            """;
    private static final List<String> COMMANDS = List.of("id", "dpkg-query", "apt-get", "java", "javac", "mvn", "kubectl", "podman");
    private static final String KUBECTL = "Client Version: v1.34.1\nKustomize Version: v5.7.1\n";

    @TempDir
    Path temp;
    Path bin;
    Path repo;

    @BeforeEach
    void standInsForAMachineWithEverythingInstalled() throws IOException {
        bin = Files.createDirectories(temp.resolve("bin"));
        Path standIn = bin.resolve("stand-in");
        Kustomize.write(standIn, STAND_IN);
        Files.setPosixFilePermissions(standIn, PosixFilePermissions.fromString("rwxr-xr-x"));
        for (String command : COMMANDS) Files.createSymbolicLink(bin.resolve(command), standIn.getFileName());
        repo = temp.resolve("repo");
        for (String file : List.of("scripts/test.sh", "tests/debian-packages.sh")) {
            Files.createDirectories(repo.resolve(file).getParent());
            Files.copy(ScriptProcess.REPO.resolve(file), repo.resolve(file));
        }
        // The list as the script reads it, so that the test and the script cannot disagree.
        List<String> packages = Arrays.asList(run(Map.of(), "bash", "-c", "source tests/debian-packages.sh && echo $TEST_PACKAGES")
                .output().trim().split(" "));
        assertThat(packages).contains("chromium", "prometheus", "curl", "podman");
        Kustomize.write(bin.resolve("installed"), String.join("\n", packages) + "\n");
        Kustomize.write(bin.resolve("uid"), "0\n");
        Kustomize.write(bin.resolve("java-version"), "17.0.15\n");
        Kustomize.write(bin.resolve("kubectl-version"), KUBECTL);
    }

    @Test
    void asNonRootWithPackagesMissingItStopsBeforeMavenAndNamesTheExactInstallCommand() throws IOException {
        Kustomize.write(bin.resolve("uid"), "1000\n");
        uninstall("chromium", "prometheus");

        Result result = testSh("-Dtest=Consumer*");

        assertThat(result.exitCode()).as(result.output()).isEqualTo(1);
        assertThat(result.output()).contains("missing chromium prometheus; to install them, run: "
                + "sudo apt-get update && sudo apt-get install -y --no-install-recommends chromium prometheus");
        assertThat(calls("apt-get")).isEmpty();
        assertThat(calls("mvn")).isEmpty();
        assertThat(result.output()).doesNotContain("passed");
    }

    @Test
    void asRootItUpdatesOnceInstallsExactlyTheMissingPackagesThenRunsMaven() throws IOException {
        uninstall("chromium", "prometheus");

        Result result = testSh("-Dtest=Consumer*");

        assertThat(result.exitCode()).as(result.output()).isZero();
        assertThat(calls("apt-get")).containsExactly(
                "apt-get update -qq",
                "apt-get install -y -qq --no-install-recommends chromium prometheus");
        List<String> calls = calls("");
        assertThat(calls.indexOf("apt-get install -y -qq --no-install-recommends chromium prometheus"))
                .isLessThan(calls.indexOf("mvn -B -ntp -f " + repo.resolve("tests/pom.xml") + " test -Dtest=Consumer*"));
        assertThat(result.output().lines().toList()).contains("test.sh: [2/3] Debian packages: installing chromium prometheus")
                .endsWith("0 passed, 0 failed, 0 skipped");
    }

    @Test
    void withEverythingPresentItInstallsNothingAndSaysSoInOneLinePerStep() {
        Result result = testSh("--setup-only");

        assertThat(result.exitCode()).as(result.output()).isZero();
        assertThat(result.output().lines().toList()).containsExactly(
                "test.sh: [1/3] kubectl with kustomize: v5.7.1",
                "test.sh: [2/3] Debian packages: all present",
                "test.sh: [3/3] versions: java 17.0.15, mvn 3.9.9, kubectl v1.34.1, podman 4.3.1");
        assertThat(calls("apt-get")).isEmpty();
        assertThat(calls("mvn")).containsExactly("mvn -B -v");
    }

    @Test
    void aSecondRunAfterInstallingInstallsNothing() throws IOException {
        uninstall("podman", "runc");
        assertThat(testSh("--setup-only").exitCode()).isZero();
        Files.delete(bin.resolve("calls"));

        Result again = testSh("--setup-only");

        assertThat(again.exitCode()).as(again.output()).isZero();
        assertThat(again.output().lines().toList()).contains("test.sh: [2/3] Debian packages: all present");
        assertThat(calls("apt-get")).isEmpty();
    }

    @Test
    void withoutAJdk17OrNewerOpenjdk17IsOneOfThePackagesToInstall() {
        Kustomize.write(bin.resolve("uid"), "1000\n");
        Kustomize.write(bin.resolve("java-version"), "11.0.22\n");

        Result result = testSh("--setup-only");

        assertThat(result.exitCode()).isEqualTo(1);
        assertThat(result.output()).contains("sudo apt-get install -y --no-install-recommends openjdk-17-jdk-headless");
    }

    @Test
    void kubectlWithoutKustomizeStopsTheSetupBeforeAnythingIsInstalled() throws IOException {
        Kustomize.write(bin.resolve("kubectl-version"), "Client Version: v1.23.0\n");
        uninstall("chromium");

        Result result = testSh("--setup-only");

        assertThat(result.exitCode()).isEqualTo(1);
        assertThat(result.output()).contains("no kustomize built in").contains("https://kubernetes.io/docs/tasks/tools/");
        assertThat(calls("apt-get")).isEmpty();
        assertThat(calls("dpkg-query")).isEmpty();
    }

    @Test
    void testSetupSkipStartsMavenWithoutCheckingOrInstallingAnything() throws IOException {
        Kustomize.write(bin.resolve("uid"), "1000\n");
        uninstall("chromium");

        Result result = testSh(Map.of("TEST_SETUP", "skip"), "-Dtest=Consumer*");

        assertThat(result.exitCode()).as(result.output()).isZero();
        assertThat(calls("")).containsExactly("mvn -B -ntp -f " + repo.resolve("tests/pom.xml") + " test -Dtest=Consumer*");
        assertThat(result.output().lines().toList()).first().isEqualTo("test.sh: setup skipped (TEST_SETUP=skip)");
    }

    @Test
    void busyKeepsThatManyCpuBoundProcessesRunningBesideMavenAndStopsThemAfterwards() {
        Result result = testSh("--busy", "2", "-Dtest=Consumer*");

        assertThat(result.exitCode()).as(result.output()).isZero();
        assertThat(Kustomize.read(bin.resolve("busy")).trim()).as("busy processes while Maven ran").isEqualTo("2");
        String marker = result.output().lines().filter(line -> line.contains("CPU-bound processes")).findFirst()
                .map(line -> line.replaceAll(".*\\((test\\.sh-busy-[0-9]+)\\).*", "$1")).orElseThrow();
        assertThat(ProcessHandle.allProcesses().filter(p -> p.info().commandLine().orElse("").contains(marker)))
                .as("busy processes left after the run").isEmpty();
        assertThat(testSh("--busy", "many").exitCode()).isEqualTo(2);
    }

    private void uninstall(String... names) throws IOException {
        List<String> installed = new ArrayList<>(Files.readAllLines(bin.resolve("installed")));
        installed.removeAll(List.of(names));
        Files.write(bin.resolve("installed"), installed);
    }

    /** The calls to the stand-ins whose log line starts with the given command name ("" for all), in order. */
    private List<String> calls(String command) {
        Path log = bin.resolve("calls");
        if (!Files.exists(log)) return List.of();
        return Kustomize.read(log).lines().filter(call -> call.startsWith(command)).toList();
    }

    private Result testSh(String... args) {
        return testSh(Map.of(), args);
    }

    private Result testSh(Map<String, String> env, String... args) {
        List<String> command = new ArrayList<>(List.of("bash", "scripts/test.sh"));
        command.addAll(List.of(args));
        return run(env, command.toArray(String[]::new));
    }

    /** Runs a command in the copy of the repository with the stand-ins first on the PATH. */
    private Result run(Map<String, String> env, String... command) {
        ProcessBuilder builder = new ProcessBuilder(command).directory(repo.toFile());
        builder.environment().remove("TEST_SETUP");
        builder.environment().putAll(env);
        builder.environment().put("PATH", bin + ":" + System.getenv("PATH"));
        return FakeKubectl.runToEnd(builder);
    }
}
