package dev.knative.demo.observability;

import static org.assertj.core.api.Assertions.assertThat;

import dev.knative.demo.support.FakeKubectl;
import dev.knative.demo.support.Kustomize;
import dev.knative.demo.support.MonitoringQueries;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * The alerts of k8s/components/monitoring on synthetic series, evaluated by Prometheus's own
 * promtool ({@code promtool test rules}; Debian package prometheus, which scripts/test.sh installs).
 * Annotations are left out of the evaluated rules: their wording is not behaviour, and
 * {@code promtool check rules} still checks their templates.
 * Every series is in namespace "demo" and carries the job and component the PodMonitor sets.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class MonitoringAlertRulesTest {

    private static final String JOB = namespace("demo");
    private static final String PRODUCER_UP = "up{" + JOB + ", component=\"producer\", pod=\"producer-1\"}";

    private Path work;
    private MonitoringQueries queries;

    @BeforeAll
    void renderTheRules(@TempDir Path temp) throws IOException {
        assertThat(FakeKubectl.onPath("promtool")).as("promtool is not installed (Debian package prometheus; scripts/test.sh installs it)").isTrue();
        work = temp;
        queries = MonitoringQueries.render(temp.resolve("render"));
        JsonNode groups = Kustomize.YAML.valueToTree(queries.rules().getSpec()).path("groups");
        write("rules-full.yaml", Kustomize.YAML.createObjectNode().set("groups", groups.deepCopy()));
        groups.forEach(group -> group.path("rules").forEach(rule -> ((ObjectNode) rule).remove("annotations")));
        write("rules.yaml", Kustomize.YAML.createObjectNode().set("groups", groups));
    }

    @Test
    void theRulesAndTheirAnnotationTemplatesPassPromtoolCheck() {
        assertThat(promtool("check", "rules", "rules-full.yaml")).contains("SUCCESS: 8 rules found");
    }

    @Test
    void everyDashboardQueryIsValidPromql() {
        ArrayNode rules = Kustomize.YAML.createArrayNode();
        for (String expression : queries.panelExpressions())
            rules.addObject().put("record", "dashboard:query").put("expr", expression.replace("$__rate_interval", "1m"));
        ObjectNode group = Kustomize.YAML.createObjectNode().put("name", "dashboard").set("rules", rules);
        write("dashboard.yaml", Kustomize.YAML.createObjectNode().set("groups", Kustomize.YAML.createArrayNode().add(group)));

        assertThat(promtool("check", "rules", "--lint=none", "dashboard.yaml")).contains("SUCCESS");
    }

    @Test
    void noEventsProcessedFiresAfterTenMinutesOfSilenceWhileTheProducerIsUp() {
        evaluate("""
                input_series:
                  - {series: '%s', values: '1x40'}
                  - {series: 'consumer_events_total{%s, pod="consumer-1", type="demo.event", outcome="processed"}', values: '0+60x10 600x30'}
                alert_rule_test:
                  - {eval_time: 9m, alertname: KnativeDemoNoEventsProcessed, exp_alerts: []}
                  - {eval_time: 20m, alertname: KnativeDemoNoEventsProcessed, exp_alerts: []}
                  - eval_time: 30m
                    alertname: KnativeDemoNoEventsProcessed
                    exp_alerts: [{exp_labels: {severity: critical, namespace: demo}}]
                """.formatted(PRODUCER_UP, JOB));
    }

    @Test
    void noEventsProcessedAlsoFiresForAConsumerThatNeverProcessedAnything() {
        evaluate("""
                input_series:
                  - {series: '%s', values: '1x20'}
                alert_rule_test:
                  - eval_time: 15m
                    alertname: KnativeDemoNoEventsProcessed
                    exp_alerts: [{exp_labels: {severity: critical, namespace: demo}}]
                """.formatted(PRODUCER_UP));
    }

    @Test
    void noEventsProcessedStaysQuietWhileTheProducerIsDown() {
        evaluate("""
                input_series:
                  - {series: '%s', values: '0x30'}
                alert_rule_test:
                  - {eval_time: 25m, alertname: KnativeDemoNoEventsProcessed, exp_alerts: []}
                """.formatted(PRODUCER_UP));
    }

    @Test
    void highErrorRatioFiresAboveFivePercentOfDeliveriesForTenMinutesCountingNoDeadLetters() {
        evaluate("""
                input_series:
                  - {series: 'consumer_events_total{%1$s, pod="c", type="demo.event", outcome="processed"}', values: '0+60x20'}
                  - {series: 'consumer_events_total{%1$s, pod="c", type="demo.event", outcome="rejected"}', values: '0+6x20'}
                  - {series: 'consumer_events_total{%2$s, pod="c", type="demo.event", outcome="processed"}', values: '0+60x20'}
                  - {series: 'consumer_events_total{%2$s, pod="c", type="demo.event", outcome="failed"}', values: '0+2x20'}
                  - {series: 'consumer_events_total{%3$s, pod="c", type="demo.event", outcome="processed"}', values: '0+50x20'}
                  - {series: 'consumer_events_total{%3$s, pod="c", type="demo.event", outcome="rejected"}', values: '0+4x20'}
                  - {series: 'consumer_events_total{%3$s, pod="d", type="demo.event", outcome="dead-letter"}', values: '0+60x20'}
                alert_rule_test:
                  - {eval_time: 8m, alertname: KnativeDemoHighErrorRatio, exp_alerts: []}
                  - eval_time: 15m
                    alertname: KnativeDemoHighErrorRatio
                    exp_alerts:
                      - {exp_labels: {severity: warning, namespace: demo}}
                      - {exp_labels: {severity: warning, namespace: with-dead-letters}}
                """.formatted(JOB, namespace("below-threshold"), namespace("with-dead-letters")));
    }

    @Test
    void throttlingFiresAboveTenPercentOfAnswersForFifteenMinutesAndNeitherCountsNorDilutesErrors() {
        // A minute's answers. demo: 15 of 75 are 429s (20 %); calm: 5 of 105; diluted: 40 of 104, and 4 rejected of
        // the 64 deliveries left (6 %): with the 429s counted as deliveries the error ratio would be under 4 %.
        evaluate("""
                input_series:
                  - {series: 'consumer_events_total{%1$s, pod="c", type="demo.event", outcome="processed"}', values: '0+60x40'}
                  - {series: 'consumer_events_total{%1$s, pod="c", type="demo.event", outcome="throttled"}', values: '0+15x40'}
                  - {series: 'consumer_events_total{%2$s, pod="c", type="demo.event", outcome="processed"}', values: '0+100x40'}
                  - {series: 'consumer_events_total{%2$s, pod="c", type="demo.event", outcome="throttled"}', values: '0+5x40'}
                  - {series: 'consumer_events_total{%3$s, pod="c", type="demo.event", outcome="processed"}', values: '0+60x40'}
                  - {series: 'consumer_events_total{%3$s, pod="c", type="demo.event", outcome="rejected"}', values: '0+4x40'}
                  - {series: 'consumer_events_total{%3$s, pod="c", type="demo.event", outcome="throttled"}', values: '0+40x40'}
                alert_rule_test:
                  - {eval_time: 12m, alertname: KnativeDemoConsumerThrottling, exp_alerts: []}
                  - eval_time: 25m
                    alertname: KnativeDemoConsumerThrottling
                    exp_alerts:
                      - {exp_labels: {severity: warning, namespace: demo}}
                      - {exp_labels: {severity: warning, namespace: diluted}}
                  - eval_time: 25m
                    alertname: KnativeDemoHighErrorRatio
                    exp_alerts: [{exp_labels: {severity: warning, namespace: diluted}}]
                """.formatted(JOB, namespace("calm"), namespace("diluted")));
    }

    @Test
    void deadLettersFireFromTheFirstOneOfAFreshPodAndCalmDownFiveMinutesLater() {
        evaluate("""
                input_series:
                  - {series: 'consumer_dead_letters_total{%s, pod="dead-letter-1", type="order.placed", code="503"}', values: '_x10 1x30'}
                alert_rule_test:
                  - {eval_time: 9m, alertname: KnativeDemoDeadLetters, exp_alerts: []}
                  - eval_time: 11m
                    alertname: KnativeDemoDeadLetters
                    exp_alerts: [{exp_labels: {severity: warning, namespace: demo, type: order.placed, code: "503"}}]
                  - {eval_time: 25m, alertname: KnativeDemoDeadLetters, exp_alerts: []}
                """.formatted(JOB));
    }

    @Test
    void bufferFillingFiresAboveEightyPercentOfMaxBufferedForFiveMinutes() {
        evaluate("""
                input_series:
                  - {series: 'producer_buffered_events{%s, pod="producer-1"}', values: '700x10 900x20'}
                alert_rule_test:
                  - {eval_time: 10m, alertname: KnativeDemoProducerBufferFilling, exp_alerts: []}
                  - eval_time: 16m
                    alertname: KnativeDemoProducerBufferFilling
                    exp_alerts: [{exp_labels: {severity: warning, namespace: demo}}]
                """.formatted(JOB));
    }

    @Test
    void skippingFiresWhileTheProducerSkipsTicks() {
        evaluate("""
                input_series:
                  - {series: 'producer_events_skipped_total{%s, pod="producer-1", type="demo.event"}', values: '0x10 1+5x10 51x20'}
                alert_rule_test:
                  - {eval_time: 9m, alertname: KnativeDemoProducerSkippingEvents, exp_alerts: []}
                  - eval_time: 15m
                    alertname: KnativeDemoProducerSkippingEvents
                    exp_alerts: [{exp_labels: {severity: warning, namespace: demo}}]
                  - {eval_time: 30m, alertname: KnativeDemoProducerSkippingEvents, exp_alerts: []}
                """.formatted(JOB));
    }

    private static String namespace(String name) {
        return "job=\"knative-eventing-demo\", namespace=\"" + name + "\"";
    }

    /** Runs one promtool unit test (input series and expected alerts, one per minute) against the rules. */
    private void evaluate(String test) {
        String indented = test.lines().map(line -> "    " + line).reduce((a, b) -> a + "\n" + b).orElseThrow();
        write("test.yaml", "rule_files: [rules.yaml]\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n" + indented + "\n");
        assertThat(promtool("test", "rules", "test.yaml")).contains("SUCCESS");
    }

    private String promtool(String... args) {
        List<String> command = new ArrayList<>(List.of("promtool"));
        command.addAll(List.of(args));
        try {
            Process process = new ProcessBuilder(command).directory(work.toFile()).redirectErrorStream(true).start();
            process.getOutputStream().close();
            String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertThat(process.waitFor(60, TimeUnit.SECONDS)).as("promtool finished").isTrue();
            assertThat(process.exitValue()).as(output).isZero();
            return output;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    private void write(String name, Object content) {
        try {
            Kustomize.write(work.resolve(name), content instanceof String text ? text : Kustomize.YAML.writeValueAsString(content));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
