package dev.knative.demo.scripts;

import static org.assertj.core.api.Assertions.assertThat;

import dev.knative.demo.support.ScriptProcess;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The README's benchmark command, in its few-seconds smoke mode: it starts consumer.java through scripts/jbang,
 * loads it with the JDK-only generator (no wrk, no peers needed) and reports one result line. Benchmarks
 * themselves are not part of the test command; this proves the command still works end to end.
 */
class BenchmarkSmokeTest {

    @Test
    void smokeRunMeasuresConsumerJavaAndReportsOneWellFormedResultLine() throws Exception {
        Path output = Files.createTempFile("benchmark-smoke", ".out");
        Path progress = Files.createTempFile("benchmark-smoke", ".err");
        ProcessBuilder builder = new ProcessBuilder(ScriptProcess.REPO.resolve("scripts/benchmark.sh").toString(), "--smoke")
                .directory(ScriptProcess.REPO.toFile()).redirectOutput(output.toFile()).redirectError(progress.toFile());
        builder.environment().put("PORT", String.valueOf(freePort()));
        Process process = builder.start();
        assertThat(process.waitFor(300, TimeUnit.SECONDS)).as("the smoke run ends within 5 minutes").isTrue();
        String report = Files.readString(output) + "--- progress:\n" + Files.readString(progress);
        assertThat(process.exitValue()).as(report).isZero();

        List<String> results = Files.readAllLines(output).stream().filter(l -> l.startsWith("RESULT ")).toList();
        assertThat(results).as(report).hasSize(1);
        Map<String, String> result = fields(results.get(0));
        assertThat(result).as(report).containsEntry("name", "consumer.java").containsEntry("load", "java")
                .containsEntry("non2xx", "0").containsEntry("sock_err", "0").containsEntry("fixed_dropped", "0")
                .containsKeys("quiet", "other_cores");
        for (String positive : List.of("rps", "fixed_achieved", "fixed_p50_ms", "fixed_p99_ms", "idle_rss_mib",
                "peak_rss_mib", "cpu_us_per_ev", "ready_s")) {
            assertThat(Double.parseDouble(result.get(positive))).as(positive + " in " + results.get(0)).isPositive();
        }
        // every answered event left its JSON line on stdout: saturation + open loop + the start-up lines
        assertThat(Long.parseLong(result.get("loglines"))).as(results.get(0)).isGreaterThan(
                (long) Double.parseDouble(result.get("fixed_achieved")));
        Files.delete(output);
        Files.delete(progress);
    }

    private static Map<String, String> fields(String line) {
        Map<String, String> fields = new LinkedHashMap<>();
        for (String pair : line.substring("RESULT ".length()).split(" ")) {
            String[] kv = pair.split("=", 2);
            assertThat(kv).as("key=value: " + pair).hasSize(2);
            fields.put(kv[0], kv[1]);
        }
        return fields;
    }

    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }
}
