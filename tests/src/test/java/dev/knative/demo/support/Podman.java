package dev.knative.demo.support;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * podman with the test's own configuration and storage (tests/container/containers.conf and storage.conf),
 * never the host's. Every call fails the test with podman's message unless it is allowed to fail.
 */
public final class Podman {

    public static final Path CONTAINER_DIR = ScriptProcess.REPO.resolve("tests/container");

    private Podman() {
    }

    /** The settings podman-env.sh exports, read from it so the scripts and the test cannot disagree. */
    public static Map<String, String> environment() {
        String out = bash("source tests/container/podman-env.sh && printf '%s\\n%s\\n%s\\n' "
                + "\"$CONTAINERS_CONF\" \"$CONTAINERS_STORAGE_CONF\" \"$STANDIN_IMAGE\"");
        String[] lines = out.split("\n");
        return Map.of("CONTAINERS_CONF", lines[0], "CONTAINERS_STORAGE_CONF", lines[1], "STANDIN_IMAGE", lines[2]);
    }

    public static String run(String... args) {
        Result result = tryRun(args);
        if (result.status != 0)
            throw new AssertionError("podman " + String.join(" ", args) + " failed (" + result.status + "):\n"
                    + result.stderr + result.stdout);
        return result.stdout;
    }

    public record Result(int status, String stdout, String stderr) {
    }

    public static Result tryRun(String... args) {
        List<String> command = new ArrayList<>(List.of("podman"));
        command.addAll(List.of(args));
        return exec(command, 300);
    }

    public static String bash(String script) {
        Result result = exec(List.of("bash", "-c", script), 900);
        if (result.status != 0)
            throw new AssertionError("bash -c '" + script + "' failed (" + result.status + "):\n" + result.stdout
                    + result.stderr);
        return result.stdout;
    }

    private static Result exec(List<String> command, long timeoutSeconds) {
        try {
            Path out = Files.createTempFile("podman", ".out");
            Path err = Files.createTempFile("podman", ".err");
            try {
                ProcessBuilder builder = new ProcessBuilder(command).directory(ScriptProcess.REPO.toFile())
                        .redirectOutput(out.toFile()).redirectError(err.toFile());
                builder.environment().put("CONTAINERS_CONF", CONTAINER_DIR.resolve("containers.conf").toString());
                builder.environment().put("CONTAINERS_STORAGE_CONF", CONTAINER_DIR.resolve("storage.conf").toString());
                Process process = builder.start();
                process.getOutputStream().close();
                if (!process.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
                    process.destroyForcibly();
                    throw new AssertionError(command + " did not finish within " + timeoutSeconds + " s");
                }
                return new Result(process.exitValue(), Files.readString(out, StandardCharsets.UTF_8),
                        Files.readString(err, StandardCharsets.UTF_8));
            } finally {
                Files.deleteIfExists(out);
                Files.deleteIfExists(err);
            }
        } catch (IOException e) {
            throw new AssertionError("cannot run " + command + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted: " + command, e);
        }
    }
}
