package dev.knative.demo.observability;

import static org.assertj.core.api.Assertions.assertThat;

import dev.knative.demo.support.CloudEventsHttp;
import dev.knative.demo.support.MonitoringQueries;
import dev.knative.demo.support.ScriptProcess;
import dev.knative.demo.support.TestSink;
import dev.knative.demo.support.MonitoringQueries.Selector;
import dev.knative.demo.support.TestSink.Answer;
import io.cloudevents.CloudEvent;
import io.cloudevents.core.builder.CloudEventBuilder;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * The alerts and the dashboard query only what the programs really export: the producer, a
 * consumer and a dead-letter display run as real processes, are driven until every metric of
 * theirs exists (most appear with their first increment), and their /metrics pages are read.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class MonitoringMetricsTest {

    /** Labels Prometheus adds to every scraped series (target labels and the PodMonitor's relabeling). */
    private static final Set<String> TARGET_LABELS = Set.of("job", "namespace", "pod", "container", "endpoint",
            "instance", "component");
    /** Series Prometheus makes itself for each target. */
    private static final Set<String> PROMETHEUS_SERIES = Set.of("up");
    private static final Pattern SAMPLE = Pattern.compile("^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\\{(.*)})?\\s");
    private static final Pattern LABEL = Pattern.compile("([a-zA-Z_][a-zA-Z0-9_]*)=\"");
    private static final Duration RUN = Duration.ofSeconds(120);

    private TestSink broker;
    private ScriptProcess producer;
    private ScriptProcess consumer;
    private ScriptProcess deadLetter;
    private MonitoringQueries queries;
    /** Metric name to the label names seen on it, over all three programs. */
    private final Map<String, Set<String>> exported = new TreeMap<>();

    @BeforeAll
    void runTheProgramsUntilEveryMetricExists(@TempDir Path temp) {
        queries = MonitoringQueries.render(temp);
        // demo.event is accepted, user.created always refused with 503 (retried, then failed after
        // MAX_ATTEMPTS), order.placed accepted on its second attempt; slow answers fill the buffer.
        broker = TestSink.start().answering((event, attempt) -> new Answer(switch (event.getType()) {
            case "user.created" -> 503;
            case "order.placed" -> attempt < 2 ? 503 : 202;
            default -> 202;
        }, Map.of(), 100));
        producer = ScriptProcess.startListening("producer.java", Map.of("K_SINK", broker.url(), "RATE", "50",
                "MAX_BUFFERED", "5", "MAX_IN_FLIGHT", "2", "MAX_ATTEMPTS", "2", "RETRY_INITIAL_MS", "20",
                "RETRY_MAX_MS", "100"));
        consumer = ScriptProcess.startListening("consumer.java", Map.of());
        deadLetter = ScriptProcess.startListening("consumer.java", Map.of("CONSUMER_MODE", "dead-letter"));

        for (String msg : List.of("sent", "retry", "failed", "buffer full, generation skipped")) producer.awaitMessage(msg, RUN);
        try (CloudEventsHttp toConsumer = new CloudEventsHttp(consumer.port());
             CloudEventsHttp toDeadLetter = new CloudEventsHttp(deadLetter.port());
             CloudEventsHttp toProducer = new CloudEventsHttp(producer.port())) {
            assertThat(toConsumer.binary(CloudEventsHttp.event("demo.event", CloudEventsHttp.validData("demo.event")))
                    .statusCode()).isEqualTo(202);
            CloudEvent exhausted = CloudEventBuilder.v1(CloudEventsHttp.event("order.placed", CloudEventsHttp.validData("order.placed")))
                    .withExtension("knativeerrorcode", "503").build();
            assertThat(toDeadLetter.binary(exhausted).statusCode()).isEqualTo(202);
            for (CloudEventsHttp program : List.of(toConsumer, toDeadLetter, toProducer)) read(program.get("/metrics").bodyAsString());
        }
    }

    @AfterAll
    void stop() {
        for (AutoCloseable running : new AutoCloseable[] {producer, consumer, deadLetter, broker}) {
            try {
                if (running != null) running.close();
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        }
    }

    @Test
    void everyMetricTheRulesAndTheDashboardQueryIsExportedByTheRunningPrograms() {
        Set<String> ownSeries = new TreeSet<>(queries.recordedNames());
        ownSeries.addAll(PROMETHEUS_SERIES);

        assertThat(queries.allSelectors()).isNotEmpty()
                .filteredOn(selector -> !ownSeries.contains(selector.metric()))
                .allSatisfy(selector -> assertThat(exported).as("exported metrics").containsKey(selector.metric()));
    }

    @Test
    void everyLabelTheRulesAndTheDashboardFilterOnExistsOnItsMetric() {
        for (Selector selector : queries.allSelectors()) {
            if (!exported.containsKey(selector.metric())) continue; // recorded or Prometheus's own: checked elsewhere
            Set<String> known = new TreeSet<>(exported.get(selector.metric()));
            known.addAll(TARGET_LABELS);
            assertThat(known).as("labels of %s", selector.metric()).containsAll(selector.matchers().keySet());
        }
    }

    @Test
    void everyMetricOfTheProgramsIsOnTheDashboard() {
        Set<String> onDashboard = queries.panelExpressions().stream().flatMap(e -> MonitoringQueries.selectors(e).stream())
                .map(selector -> family(selector.metric())).collect(Collectors.toCollection(TreeSet::new));
        Set<String> demoFamilies = exported.keySet().stream().filter(name -> name.startsWith("consumer_") || name.startsWith("producer_"))
                .map(MonitoringMetricsTest::family).collect(Collectors.toCollection(TreeSet::new));

        assertThat(demoFamilies).hasSize(12);
        assertThat(onDashboard).containsAll(demoFamilies);
    }

    @Test
    void everyPanelQueriesAMetricOfTheProgramsAndEveryRuleSelectsTheirJob() {
        queries.dashboard().path("panels").forEach(panel -> assertThat(panel.path("targets")).as(panel.path("title").asText())
                .isNotEmpty().allSatisfy(target -> assertThat(MonitoringQueries.selectors(target.path("expr").asText()))
                        .anySatisfy(selector -> assertThat(exported).containsKey(selector.metric()))));
        for (String expression : queries.ruleExpressions())
            assertThat(MonitoringQueries.selectors(expression)).as(expression)
                    .filteredOn(selector -> exported.containsKey(selector.metric()) || selector.metric().equals("up"))
                    .allSatisfy(selector -> assertThat(selector.matchers()).containsEntry("job", MonitoringQueries.JOB));
    }

    @Test
    void theSelectorExtractionFindsEverySeriesAndNothingElse() {
        String expression = "histogram_quantile(0.95, sum by (le, namespace) (rate(a_seconds_bucket{job=\"j\", "
                + "outcome=~\"x|y\"}[$__rate_interval]))) / on (namespace) group_left (pod) b:recorded "
                + "and bool c offset 5m or d{namespace=\"$namespace\"} * 1000";

        assertThat(MonitoringQueries.selectors(expression)).containsExactly(
                new Selector("a_seconds_bucket", Map.of("job", "j", "outcome", "x|y")),
                new Selector("b:recorded", Map.of()),
                new Selector("c", Map.of()),
                new Selector("d", Map.of("namespace", "$namespace")));
    }

    /** Collects metric names and their label names from a Prometheus text page. */
    private void read(String page) {
        for (String line : page.split("\n")) {
            Matcher sample = SAMPLE.matcher(line);
            if (line.startsWith("#") || !sample.find()) continue;
            Set<String> labels = exported.computeIfAbsent(sample.group(1), name -> new TreeSet<>());
            if (sample.group(2) == null) continue;
            Matcher label = LABEL.matcher(sample.group(2));
            while (label.find()) labels.add(label.group(1));
        }
    }

    /** consumer_processing_seconds_bucket and consumer_processing_seconds_count are one family. */
    private static String family(String metric) {
        return metric.replaceFirst("_(bucket|count|sum|max|total)$", "");
    }
}
