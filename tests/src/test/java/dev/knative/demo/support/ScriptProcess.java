package dev.knative.demo.support;

import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Predicate;

/**
 * One of the root scripts running as a real process, started the way users and containers start it
 * (scripts/jbang). Its stdout JSON lines are collected so tests can wait for what the program says.
 */
public final class ScriptProcess implements AutoCloseable {

    public static final Path REPO = Path.of(System.getProperty("repo.root", "..")).toAbsolutePath().normalize();
    // The first start compiles the script and may fetch JBang and dependencies: allow for a cold start.
    public static final Duration START_TIMEOUT = Duration.ofSeconds(180);
    /** Every setting of consumer.java and producer.java, read from the one place that lists them: README.md. */
    public static final Set<String> DOCUMENTED_SETTINGS = Readme.programSettings(Readme.text());
    private static final AtomicInteger SEQUENCE = new AtomicInteger();

    private final Process process;
    private final List<JsonObject> lines = new ArrayList<>();
    private final Path stdout;
    private final Path stderr;
    private boolean ended;

    private ScriptProcess(Process process, Path stdout, Path stderr) {
        this.process = process;
        this.stdout = stdout;
        this.stderr = stderr;
        Thread reader = new Thread(this::followStdout, "stdout-" + process.pid());
        reader.setDaemon(true);
        reader.start();
    }

    public static ScriptProcess start(String script, Map<String, String> env, String... args) {
        List<String> command = new ArrayList<>(List.of(System.getProperty("launcher", REPO.resolve("scripts/jbang").toString()),
                REPO.resolve(script).toString()));
        command.addAll(List.of(args));
        return run(Path.of(script).getFileName().toString(), command, env);
    }

    /** Any command (a script of scripts/, say), run like the programs: from the repository root, output collected. */
    public static ScriptProcess run(String name, List<String> command, Map<String, String> env) {
        ProcessBuilder builder = new ProcessBuilder(command).directory(REPO.toFile());
        isolate(builder.environment(), env);
        try {
            Path logs = Files.createDirectories(REPO.resolve("tests/target/process-logs"));
            String file = name + "-" + SEQUENCE.incrementAndGet();
            Path stdout = logs.resolve(file + ".stdout");
            Path stderr = logs.resolve(file + ".stderr");
            builder.redirectOutput(stdout.toFile()).redirectError(stderr.toFile());
            return new ScriptProcess(builder.start(), stdout, stderr);
        } catch (IOException e) {
            throw new IllegalStateException("cannot start " + command, e);
        }
    }

    /**
     * Tests decide every setting themselves: the caller's environment stays (PATH, JAVA_HOME, the boot path's
     * MAVEN_REPO_URL and JBANG_*), except every documented setting of the programs, then the test's own are set.
     */
    public static void isolate(Map<String, String> environment, Map<String, String> settings) {
        environment.keySet().removeAll(DOCUMENTED_SETTINGS);
        environment.putAll(settings);
    }

    /** Starts a script that listens on an ephemeral port and waits until it says which one. */
    public static ScriptProcess startListening(String script, Map<String, String> env, String... args) {
        Map<String, String> withPort = new HashMap<>(env);
        withPort.putIfAbsent("PORT", "0");
        ScriptProcess started = start(script, withPort, args);
        started.awaitLog(line -> line.containsKey("port") && line.getInteger("port", -1) > 0, START_TIMEOUT);
        return started;
    }

    // stdout goes to a file that this thread follows: reading the pipe directly races with the JDK
    // closing it when the process exits, and the last lines (the shutdown report) would be lost.
    private void followStdout() {
        java.io.ByteArrayOutputStream line = new java.io.ByteArrayOutputStream();
        byte[] chunk = new byte[8192];
        try (java.io.InputStream in = Files.newInputStream(stdout)) {
            while (true) {
                boolean exited = !process.isAlive();
                int n = in.read(chunk);
                if (n < 0) {
                    if (exited) break;
                    Thread.sleep(5);
                    continue;
                }
                for (int i = 0; i < n; i++) {
                    if (chunk[i] != '\n') {
                        line.write(chunk[i]);
                        continue;
                    }
                    add(line.toString(StandardCharsets.UTF_8));
                    line.reset();
                }
            }
        } catch (IOException e) {
            add("{\"msg\":\"stdout read failed\",\"error\":" + io.vertx.core.json.Json.encode(e.getMessage()) + "}");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            synchronized (lines) {
                ended = true;
                lines.notifyAll();
            }
        }
    }

    private void add(String text) {
        JsonObject json;
        try {
            json = new JsonObject(text);
        } catch (DecodeException notJson) {
            json = new JsonObject().put("msg", "non-json output").put("text", text);
        }
        synchronized (lines) {
            lines.add(json);
            lines.notifyAll();
        }
    }

    /** Waits for the first stdout line that matches; fails with the program's output when none comes. */
    public JsonObject awaitLog(Predicate<JsonObject> match, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        synchronized (lines) {
            int seen = 0;
            while (true) {
                for (; seen < lines.size(); seen++) if (match.test(lines.get(seen))) return lines.get(seen);
                long left = deadline - System.nanoTime();
                if (ended || left <= 0) throw new AssertionError("no matching log line" + (ended ? " before exit" : "")
                        + "; output so far:\n" + describe());
                try {
                    TimeUnit.NANOSECONDS.timedWait(lines, left);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new AssertionError("interrupted", e);
                }
            }
        }
    }

    public JsonObject awaitMessage(String msg, Duration timeout) {
        return awaitLog(line -> msg.equals(line.getString("msg")), timeout);
    }

    public List<JsonObject> logs(Predicate<JsonObject> match) {
        synchronized (lines) {
            return lines.stream().filter(match).toList();
        }
    }

    public List<JsonObject> messages(String msg) {
        return logs(line -> msg.equals(line.getString("msg")));
    }

    /** Waits until `count` stdout lines match and returns them in the order the program wrote them. */
    public List<JsonObject> awaitLogs(Predicate<JsonObject> match, int count, Duration timeout) {
        awaitLog(line -> match.test(line) && logs(match).size() >= count, timeout);
        return logs(match);
    }

    /** When the program wrote the line, by its own clock: durations between its lines do not depend on the test's pace. */
    public static Instant loggedAt(JsonObject line) {
        return Instant.parse(line.getString("ts"));
    }

    public int port() {
        return awaitLog(line -> line.getInteger("port", -1) > 0, START_TIMEOUT).getInteger("port");
    }

    public long pid() {
        return process.pid();
    }

    public ProcessHandle handle() {
        return process.toHandle();
    }

    /** SIGTERM, as the kubelet sends it. */
    public void terminate() {
        process.destroy();
    }

    /** SIGINT to the process alone, as `kill -INT PID` sends it. */
    public void interrupt() {
        kill("-INT", String.valueOf(process.pid()));
    }

    /** SIGINT to the process group the process leads (started through setsid), as Ctrl-C in a terminal sends it. */
    public void interruptGroup() {
        kill("-INT", "--", "-" + process.pid());
    }

    private static void kill(String... args) {
        List<String> command = new ArrayList<>(List.of("kill"));
        command.addAll(List.of(args));
        try {
            Process kill = new ProcessBuilder(command).inheritIO().start();
            if (kill.waitFor() != 0) throw new AssertionError(String.join(" ", command) + " failed");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted", e);
        }
    }

    /** The file the program's stdout goes to, as it wrote it: its recorded log. */
    public Path stdoutFile() {
        return stdout;
    }

    /** Everything the program wrote to stderr so far. */
    public String stderr() {
        try {
            return Files.readString(stderr);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public int awaitExit(Duration timeout) {
        try {
            if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS))
                throw new AssertionError("process did not exit within " + timeout + "; output:\n" + describe());
            // The last lines (the shutdown report) are there once the follower has read stdout to its end.
            long deadline = System.nanoTime() + timeout.toNanos();
            synchronized (lines) {
                while (!ended) {
                    long left = deadline - System.nanoTime();
                    if (left <= 0) throw new AssertionError("stdout not read to its end within " + timeout);
                    TimeUnit.NANOSECONDS.timedWait(lines, left);
                }
            }
            return process.exitValue();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted", e);
        }
    }

    public String describe() {
        StringBuilder text = new StringBuilder();
        synchronized (lines) {
            lines.stream().skip(Math.max(0, lines.size() - 40)).forEach(l -> text.append(l.encode()).append('\n'));
        }
        try {
            List<String> err = Files.readAllLines(stderr);
            text.append("--- stderr (").append(stderr).append(", last lines):\n");
            err.stream().skip(Math.max(0, err.size() - 20)).forEach(l -> text.append(l).append('\n'));
        } catch (IOException e) {
            text.append("--- stderr unreadable: ").append(e.getMessage());
        }
        return text.toString();
    }

    @Override
    public void close() {
        // A launcher still compiling, or a script's own programs, must not outlive a test that failed half-way.
        process.descendants().forEach(ProcessHandle::destroyForcibly);
        if (process.isAlive()) {
            process.destroyForcibly();
            try {
                process.waitFor(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
