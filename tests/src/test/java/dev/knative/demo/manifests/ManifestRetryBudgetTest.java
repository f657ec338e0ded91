package dev.knative.demo.manifests;

import static org.assertj.core.api.Assertions.assertThat;

import dev.knative.demo.support.Kustomize;
import dev.knative.demo.support.Manifests;
import dev.knative.demo.support.Readme;
import io.fabric8.knative.duck.v1.DeliverySpec;
import io.fabric8.knative.eventing.v1.Broker;
import io.fabric8.knative.eventing.v1.Trigger;
import java.math.BigDecimal;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * How long each path retries before an event becomes a dead letter, computed from the rendered Triggers the way
 * each data plane computes its waits, equals what the README's "Retry budget of each path" states, and on the
 * durable paths outlasts the consumer outage the README promises to ride out.
 */
class ManifestRetryBudgetTest {

    /** How a data plane numbers the wait before each retry: the first retry's n. */
    enum DataPlane {
        /** knative/eventing pkg/kncloudevents/retries.go under go-retryablehttp: attempt numbers from 0. */
        GO_DISPATCHER(0),
        /** eventing-kafka-broker WebClientCloudEventSender.computeRetryPolicy, called with retryCounter + 1. */
        KAFKA(1),
        /** eventing-natss CalculateNakDelayForRetryNumber with the JetStream delivery count, from 1. */
        JETSTREAM(1);

        final int first;

        DataPlane(int first) {
            this.first = first;
        }

        /** The waits between attempts, in order. */
        List<Duration> waits(DeliverySpec delivery) {
            Duration delay = Duration.parse(delivery.getBackoffDelay());
            boolean exponential = "exponential".equals(delivery.getBackoffPolicy());
            return IntStream.range(first, first + delivery.getRetry())
                    .mapToObj(n -> exponential ? delay.multipliedBy(1L << n) : delay.multipliedBy(n))
                    .toList();
        }

        Duration budget(DeliverySpec delivery) {
            return waits(delivery).stream().reduce(Duration.ZERO, Duration::plus);
        }
    }

    /** The component of each durable path (the README names it in its row) and its data plane; "" is the base. */
    private static final Map<String, DataPlane> PATHS = Map.of(
            "", DataPlane.GO_DISPATCHER,
            "kafka-channel", DataPlane.KAFKA,
            "kafka-broker", DataPlane.KAFKA,
            "confluent-platform", DataPlane.KAFKA,
            "nats-jetstream-channel", DataPlane.JETSTREAM);

    private static final Pattern OUTAGE = Pattern.compile("rides out a consumer outage of (\\d+)\\s+minutes");
    private static final Pattern COMPONENT = Pattern.compile("`([a-z-]+)`");

    @TempDir
    Path temp;

    @Test
    void eachDataPlanesArithmeticGivesTheWaitsMeasuredOnACluster() {
        DeliverySpec fiveFromHalfASecond = delivery(5, "exponential", "PT0.5S");

        assertThat(DataPlane.GO_DISPATCHER.waits(fiveFromHalfASecond)).extracting(Duration::toMillis)
                .containsExactly(500L, 1000L, 2000L, 4000L, 8000L);
        assertThat(DataPlane.KAFKA.waits(fiveFromHalfASecond)).extracting(Duration::toMillis)
                .as("1, 2, 4, 8, 16 s: 31 s, as measured on eventing-kafka-broker 1.18").containsExactly(1000L, 2000L, 4000L, 8000L, 16000L);
        assertThat(DataPlane.KAFKA.waits(delivery(3, "linear", "PT2S"))).extracting(Duration::toMillis).containsExactly(2000L, 4000L, 6000L);
        assertThat(DataPlane.GO_DISPATCHER.waits(delivery(3, "linear", "PT2S"))).extracting(Duration::toMillis)
                .as("go's linear backoff starts with no wait").containsExactly(0L, 2000L, 4000L);
    }

    @Test
    void eachPathsBudgetFromTheRenderedTriggersIsTheReadmesFigure() {
        List<List<String>> rows = budgetRows();
        List<String> seen = new ArrayList<>();
        for (List<String> row : rows) {
            List<String> components = components(row.get(0));
            for (String component : components.isEmpty() ? List.of("") : components) {
                assertThat(PATHS).as("a path the test knows: %s", row.get(0)).containsKey(component);
                DeliverySpec delivery = render(component).triggerDelivery();
                Duration budget = PATHS.get(component).budget(delivery);

                assertThat(row.get(1)).as(row.get(0)).isEqualTo("%d retries, %s, `%s`",
                        delivery.getRetry(), delivery.getBackoffPolicy(), delivery.getBackoffDelay());
                assertThat(new BigDecimal(row.get(3).replace(" s", ""))).as("budget of %s", row.get(0))
                        .isEqualByComparingTo(BigDecimal.valueOf(budget.toMillis(), 3));
                seen.add(component);
            }
        }
        assertThat(seen).as("every path has a row, once").containsExactlyInAnyOrderElementsOf(PATHS.keySet());
    }

    @Test
    void everyDurablePathRidesOutTheStatedConsumerOutageAndTheBrokerCarriesTheSamePolicy() {
        Matcher stated = OUTAGE.matcher(Readme.text().replaceAll("\\s+", " "));
        assertThat(stated.find()).as("the README states the outage the durable paths ride out").isTrue();
        Duration outage = Duration.ofMinutes(Long.parseLong(stated.group(1)));
        assertThat(outage).as("minutes, not seconds").isGreaterThanOrEqualTo(Duration.ofMinutes(5));

        PATHS.forEach((component, dataPlane) -> {
            if (component.isEmpty()) return;
            Manifests rendered = render(component);
            DeliverySpec delivery = rendered.triggerDelivery();
            assertThat(dataPlane.budget(delivery)).as(component).isGreaterThanOrEqualTo(outage);
            assertThat(rendered.one(Broker.class, "default").getSpec().getDelivery()).as("the Broker of %s", component).isEqualTo(delivery);
            assertThat(delivery.getDeadLetterSink().getRef().getName()).as(component).isEqualTo("dead-letter");
        });
        assertThat(DataPlane.GO_DISPATCHER.budget(Kustomize.repository().triggerDelivery()))
                .as("the in-memory path keeps its short policy: a restart loses what it holds anyway").isLessThan(Duration.ofMinutes(1));
    }

    @Test
    void theDurableTimingHoldsWithTheTlsComponentListedBeforeOrAfterItAndKeepsTheHttpsDeadLetterSink() {
        DeliverySpec durable = render("kafka-broker").triggerDelivery();
        for (List<String> order : List.of(List.of("kafka-broker", "tls"), List.of("tls", "kafka-broker"))) {
            Path copy = Kustomize.copyOfRepository(temp.resolve(String.join("-", order)));
            Path kustomization = copy.resolve("kustomization.yaml");
            String text = Kustomize.read(kustomization).replace("# components:\n", "components:\n" + order.stream()
                    .map(component -> "  - k8s/components/" + component + "\n").reduce("", String::concat));
            Kustomize.write(kustomization, text);

            for (Trigger trigger : Kustomize.render(copy).all(Trigger.class)) {
                DeliverySpec delivery = trigger.getSpec().getDelivery();
                assertThat(List.of(delivery.getRetry(), delivery.getBackoffPolicy(), delivery.getBackoffDelay()))
                        .as("%s with %s", trigger.getMetadata().getName(), order)
                        .containsExactly(durable.getRetry(), durable.getBackoffPolicy(), durable.getBackoffDelay());
                assertThat(delivery.getDeadLetterSink().getRef()).as("no ref beside the https uri").isNull();
                assertThat(delivery.getDeadLetterSink().getUri()).startsWith("https://dead-letter.");
            }
        }
    }

    private Manifests render(String component) {
        return component.isEmpty() ? Kustomize.repository() : Kustomize.renderWithComponent(temp.resolve(component), component);
    }

    /** The rows of the README's budget table: path, delivery, waits, budget. */
    private static List<List<String>> budgetRows() {
        List<String> section = Readme.section(Readme.text().lines().toList(), 3, "Retry budget of each path");
        List<List<String>> rows = Readme.tableRows(section);
        assertThat(rows).as("the budget table").isNotEmpty().allSatisfy(row -> assertThat(row).hasSize(4));
        return rows;
    }

    private static List<String> components(String pathCell) {
        List<String> found = new ArrayList<>();
        Matcher component = COMPONENT.matcher(pathCell);
        while (component.find()) found.add(component.group(1));
        return found;
    }

    private static DeliverySpec delivery(int retry, String policy, String delay) {
        DeliverySpec delivery = new DeliverySpec();
        delivery.setRetry(retry);
        delivery.setBackoffPolicy(policy);
        delivery.setBackoffDelay(delay);
        return delivery;
    }
}
