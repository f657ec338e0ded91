package dev.knative.demo.scripts;

import static dev.knative.demo.support.CloudEventsHttp.event;
import static dev.knative.demo.support.CloudEventsHttp.validData;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.knative.demo.support.CloudEventsHttp;
import dev.knative.demo.support.FakeCluster;
import dev.knative.demo.support.FakeKubectl;
import dev.knative.demo.support.FakeKubectl.Result;
import dev.knative.demo.support.Kustomize;
import dev.knative.demo.support.Manifests;
import dev.knative.demo.support.ScriptProcess;
import io.cloudevents.CloudEvent;
import io.cloudevents.core.builder.CloudEventBuilder;
import io.fabric8.knative.eventing.v1.Broker;
import io.fabric8.knative.eventing.v1.Trigger;
import io.fabric8.knative.sources.v1.SinkBinding;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * scripts/migrate-broker.sh against a stand-in kubectl that plays the running demo (support/FakeCluster with
 * objects): the order of its steps and waits, the retry horizon it computes and waits out, what it leaves
 * behind, and that an interrupted run, run again, ends where an uninterrupted one does.
 */
class MigrateBrokerScriptTest {

    private static final String SCRIPT = "scripts/migrate-broker.sh";
    private static final String NS = "knative-demo";
    private static final String TIMEOUT = "300s";
    /** The channel-based Broker's retry horizon for the demo's Triggers, as the script states it. */
    private static final String DEMO_HORIZON = "2 x (6 x 30 s (no timeout set) + 0.5 + 1 + 2 + 4 + 8) = 391 s";
    private static final Set<String> KAFKA_SYSTEM = Set.of("Broker/default-kafka", "Trigger/demo-event-kafka",
            "Trigger/order-placed-kafka", "Trigger/user-created-kafka", "ConfigMap/kafka-broker-config",
            "NetworkPolicy/producer-egress-to-kafka-broker-receiver", "NetworkPolicy/receivers-ingress-from-kafka-broker-dispatcher",
            "NetworkPolicy/dead-letter-egress-to-kafka-broker-receiver", "Pod/producer-default-kafka");
    private static final Set<String> CHANNEL_SYSTEM = Set.of("Broker/default", "Trigger/demo-event", "Trigger/order-placed",
            "Trigger/user-created", "Subscription/default-demo-event", "Pod/producer-default");

    @TempDir
    Path fake;
    @TempDir
    Path bin;

    @Test
    void movesToTheKafkaBrokerCreatingWaitingRepointingDrainingWaitingTheHorizonThenDeletingTheOldBroker() {
        FakeCluster cluster = new FakeCluster(fake).running(Kustomize.repository());

        Result result = cluster.run(SCRIPT, env());

        assertThat(result.exitCode()).as(result.output()).isZero();
        assertThat(steps(cluster)).containsExactly(
                List.of("apply", "ConfigMap/kafka-broker-config"),
                List.of("apply", "NetworkPolicy/dead-letter-egress-to-kafka-broker-receiver"),
                List.of("apply", "NetworkPolicy/producer-egress-to-kafka-broker-receiver"),
                List.of("apply", "NetworkPolicy/receivers-ingress-from-kafka-broker-dispatcher"),
                List.of("apply", "Broker/default-kafka"),
                List.of("wait", "broker", "default-kafka", "--namespace", NS, "--for", "condition=Ready", "--timeout", TIMEOUT),
                List.of("apply", "Trigger/demo-event-kafka"),
                List.of("apply", "Trigger/order-placed-kafka"),
                List.of("apply", "Trigger/user-created-kafka"),
                List.of("wait", "trigger", "demo-event-kafka", "--namespace", NS, "--for", "condition=Ready", "--timeout", TIMEOUT),
                List.of("wait", "trigger", "order-placed-kafka", "--namespace", NS, "--for", "condition=Ready", "--timeout", TIMEOUT),
                List.of("wait", "trigger", "user-created-kafka", "--namespace", NS, "--for", "condition=Ready", "--timeout", TIMEOUT),
                List.of("apply", "SinkBinding/dead-letter"),
                List.of("apply", "SinkBinding/producer"),
                List.of("wait", "sinkbinding", "dead-letter", "--namespace", NS, "--for", "condition=Ready", "--timeout", TIMEOUT),
                List.of("wait", "sinkbinding", "producer", "--namespace", NS, "--for", "condition=Ready", "--timeout", TIMEOUT),
                List.of("rollout", "status", "deployment/producer", "--namespace", NS, "--timeout", TIMEOUT),
                List.of("wait", "pod/producer-default", "--namespace", NS, "--for=delete", "--timeout", TIMEOUT),
                List.of("annotate", "broker", "default", "knative-eventing-demo/drained-at=" + drainedAt(cluster), "--namespace", NS),
                List.of("delete", "trigger", "demo-event", "order-placed", "user-created", "--namespace", NS, "--wait=true", "--timeout", TIMEOUT),
                List.of("delete", "subscriptions.messaging.knative.dev", "--selector", "eventing.knative.dev/broker=default", "--namespace", NS,
                        "--ignore-not-found"),
                List.of("delete", "broker", "default", "--namespace", NS, "--wait=true", "--timeout", TIMEOUT));
        assertThat(result.output()).contains("Moving knative-demo from broker/default (MTChannelBasedBroker) to broker/default-kafka (Kafka)",
                "trigger/demo-event: " + DEMO_HORIZON, "Moved: the producer sends to broker/default-kafka",
                "in kustomization.yaml, uncomment 'components:' and '- k8s/components/kafka-broker'");
        assertThat(slept()).as("the horizon, less what passed since the drain").isBetween(300L, 391L);
        assertThat(cluster.objects()).containsAll(KAFKA_SYSTEM).doesNotContainAnyElementsOf(CHANNEL_SYSTEM)
                .noneMatch(object -> object.startsWith("Subscription/"));
        assertThat(held(cluster, "SinkBinding", "producer").at("/spec/sink/ref/name").asText()).isEqualTo("default-kafka");
        assertThat(held(cluster, "SinkBinding", "dead-letter").at("/spec/sink/ref/name").asText()).as("redrives go to the new Broker")
                .isEqualTo("default-kafka");
    }

    @Test
    void theNewBrokerMatchesWhatTheKustomizationWithTheComponentRenders(@TempDir Path temp) {
        FakeCluster cluster = new FakeCluster(fake).running(Kustomize.repository());
        assertThat(cluster.run(SCRIPT, env()).exitCode()).isZero();
        Manifests declared = Kustomize.renderWithComponent(temp, "kafka-broker");

        for (Trigger trigger : declared.all(Trigger.class))
            assertThat(held(cluster, "Trigger", trigger.getMetadata().getName())).as("same filter, delivery, subscriber")
                    .isEqualTo(rendered(declared, "Trigger", trigger.getMetadata().getName()));
        assertThat(held(cluster, "Broker", "default-kafka")).isEqualTo(rendered(declared, "Broker", "default-kafka"));
        assertThat(held(cluster, "SinkBinding", "producer")).isEqualTo(rendered(declared, "SinkBinding", "producer"));
        assertThat(declared.all(Broker.class)).extracting(broker -> broker.getMetadata().getName()).containsExactly("default-kafka");
        assertThat(declared.one(SinkBinding.class, "producer").getSpec().getSink().getRef().getName()).isEqualTo("default-kafka");
    }

    @Test
    void aBrokerThatNeverGetsReadyFailsTheMoveWithItsReasonAndNothingIsRepointedOrDeleted() {
        FakeCluster cluster = new FakeCluster(fake).running(Kustomize.repository())
                .neverReady("broker", "default-kafka", "TopicNotPresentOrInvalid", "failed to create topic: bootstrap server unreachable");

        Result result = cluster.run(SCRIPT, env(), "--timeout", "30s");

        assertThat(result.exitCode()).isEqualTo(1);
        assertThat(result.output()).contains("broker/default-kafka is not Ready after 30s, reason TopicNotPresentOrInvalid: "
                + "failed to create topic: bootstrap server unreachable", "kubectl --namespace knative-demo describe broker default-kafka");
        assertThat(cluster.changes()).allSatisfy(call -> assertThat(call.get(0)).isEqualTo("apply"))
                .noneSatisfy(call -> assertThat(call).contains("SinkBinding"));
        assertThat(cluster.objects()).containsAll(CHANNEL_SYSTEM);
        assertThat(held(cluster, "SinkBinding", "producer").at("/spec/sink/ref/name").asText()).isEqualTo("default");
    }

    @ParameterizedTest(name = "interrupted after change {0}, {1}")
    @CsvSource({
        "5,  step 1: the new Broker created",
        "9,  step 2: the dead-letter display's SinkBinding repointed",
        "10, step 2: the producer's SinkBinding repointed",
        "11, step 3: the drain marked on the old Broker",
        "12, step 5: the old Triggers deleted",
        "13, step 5: their Subscriptions deleted"})
    void aRunInterruptedAfterAnyStepEndsWhereAnUninterruptedRunEndsWhenRunAgainCreatingNothingTwice(int change, String what)
            throws IOException {
        FakeCluster cluster = new FakeCluster(fake).running(Kustomize.repository()).interruptedAfterChange(change);

        Result first = cluster.run(SCRIPT, env());
        Result again = cluster.run(SCRIPT, env());

        assertThat(first.exitCode()).as(first.output()).isEqualTo(1);
        assertThat(first.output()).contains("connection to the server was lost");
        assertThat(again.exitCode()).as(again.output()).isZero();
        assertThat(cluster.objects()).isEqualTo(endStateOfAnUninterruptedRun());
        List<String> applies = cluster.changes().stream().filter(call -> call.get(0).equals("apply")).map(call -> applied(call.get(2))).toList();
        assertThat(applies).as("each object created once").doesNotHaveDuplicates();
        assertThat(cluster.changes().stream().filter(call -> call.get(0).equals("annotate"))).as("one drain mark").hasSize(1);
    }

    @Test
    void rollbackGoesBackTheSameWayAndRemovesThePoliciesOnlyTheKafkaDataPlaneNeeded() {
        FakeCluster cluster = new FakeCluster(fake).running(Kustomize.repository());
        Set<String> before = cluster.objects();
        assertThat(cluster.run(SCRIPT, env()).exitCode()).isZero();

        Result result = cluster.run(SCRIPT, env(), "--rollback", "--attempt-timeout", "10s");

        assertThat(result.exitCode()).as(result.output()).isZero();
        assertThat(result.output()).contains("Moving knative-demo from broker/default-kafka (Kafka) to broker/default (MTChannelBasedBroker)",
                // The durable policy of k8s/durable-delivery.yaml: 35 retries, linear from 1 s.
                "trigger/demo-event-kafka: 2 x (36 x 10 s (no timeout set) + " + IntStream.rangeClosed(1, 35).mapToObj(String::valueOf)
                        .collect(Collectors.joining(" + ")) + ") = 1980 s",
                "kustomization.yaml declares broker/default");
        Set<String> after = new TreeSet<>(cluster.objects());
        after.remove("ConfigMap/kafka-broker-config");
        // The stand-in starts a pod for each SinkBinding change; only the producer's are drained and waited for
        // (a Deployment's rollout removes the dead-letter display's old pods on a cluster).
        after.removeIf(object -> object.startsWith("Pod/dead-letter-"));
        Set<String> original = new TreeSet<>(before);
        original.removeIf(object -> object.startsWith("Subscription/") || object.startsWith("Pod/dead-letter-"));
        assertThat(after).isEqualTo(original);
        assertThat(held(cluster, "SinkBinding", "producer").at("/spec/sink/ref/name").asText()).isEqualTo("default");
    }

    @Test
    void theHorizonFollowsEachTriggersRetriesBackoffTimeoutRetryAfterMaxAndDeadLetterSink() {
        // Copies: the rendered repository is shared by every test.
        List<ObjectNode> objects = Kustomize.repository().json().stream().map(ObjectNode::deepCopy).toList();
        for (ObjectNode object : objects) {
            String name = object.path("metadata").path("name").asText();
            if (!object.path("kind").asText().equals("Trigger")) continue;
            ObjectNode delivery = (ObjectNode) object.path("spec").path("delivery");
            switch (name) {
                case "demo-event" -> delivery.put("retry", 3).put("backoffPolicy", "linear").put("backoffDelay", "PT1S")
                        .put("timeout", "PT2S").remove("deadLetterSink");
                case "order-placed" -> delivery.put("retry", 2).put("timeout", "PT1S").put("retryAfterMax", "PT5S");
                default -> ((ObjectNode) object.path("spec")).remove("delivery");
            }
        }
        FakeCluster cluster = new FakeCluster(fake).running(new Manifests(objects));

        Result result = cluster.run(SCRIPT, env(), "--dry-run", "--attempt-timeout", "1s");

        assertThat(result.output()).contains(
                "trigger/demo-event: 4 x 2 s + 0 + 1 + 2 = 11 s",
                "trigger/order-placed: 2 x (3 x 1 s + 5 + 5) = 26 s",
                "trigger/user-created: 2 x (6 x 1 s (no timeout set) + 0.5 + 1 + 2 + 4 + 8) = 43 s",
                "would wait 43 s after the last producer pod that sends to broker/default is gone");
    }

    @Test
    void dryRunPrintsTheStepsAndTheHorizonAndChangesNothing() {
        FakeCluster cluster = new FakeCluster(fake).running(Kustomize.repository());
        Set<String> before = cluster.objects();

        Result result = cluster.run(SCRIPT, env(), "--dry-run", "--to", "kafka-channel");

        assertThat(result.exitCode()).as(result.output()).isZero();
        assertThat(result.output()).contains("to broker/default-kafka-channel (MTChannelBasedBroker) (dry run: nothing changes)",
                "Step 1/5: create broker/default-kafka-channel", "would create ConfigMap/broker-kafka-channel-config",
                "would create Trigger/demo-event-kafka-channel", "Step 2/5: point sinkbinding/dead-letter, sinkbinding/producer at broker/default-kafka-channel",
                "Step 4/5", "trigger/demo-event: " + DEMO_HORIZON, "would run: kubectl delete broker default", "Dry run: nothing changed.");
        assertThat(cluster.changes()).isEmpty();
        assertThat(cluster.calls()).noneSatisfy(call -> assertThat(call.get(0)).isIn("wait", "rollout"));
        assertThat(slept()).isZero();
        assertThat(cluster.objects()).isEqualTo(before);
    }

    @Test
    void declareListsTheComponentSoTheKustomizationKeepsTheNewBrokerAndARunAfterwardsHasNothingToMove(@TempDir Path temp) {
        Path copy = Kustomize.copyOfRepository(temp.resolve("repo"));
        FakeCluster cluster = new FakeCluster(fake).running(Kustomize.repository());

        Result moved = runIn(copy, cluster, "--declare");
        Result again = runIn(copy, cluster);

        assertThat(moved.exitCode()).as(moved.output()).isZero();
        assertThat(moved.output()).contains("kustomization.yaml now declares broker/default-kafka");
        Manifests declared = Kustomize.render(copy);
        assertThat(declared.all(Broker.class)).extracting(broker -> broker.getMetadata().getName()).containsExactly("default-kafka");
        assertThat(again.output()).contains("Nothing to move: the producer sends to broker/default-kafka",
                "kustomization.yaml declares broker/default-kafka: 'kubectl apply -k .' keeps it.");
    }

    @Test
    void aNewTriggerWhoseNameAnotherBrokersTriggerHoldsIsRefusedBeforeAnyChange() {
        List<ObjectNode> objects = new ArrayList<>(Kustomize.repository().json());
        ObjectNode clash = Kustomize.repository().json().stream().filter(o -> o.path("kind").asText().equals("Trigger"))
                .findFirst().orElseThrow().deepCopy();
        ((ObjectNode) clash.path("metadata")).put("name", "order-placed-kafka");
        objects.add(clash);
        FakeCluster cluster = new FakeCluster(fake).running(new Manifests(objects));

        Result result = cluster.run(SCRIPT, env());

        assertThat(result.exitCode()).isEqualTo(1);
        assertThat(result.output()).contains("Trigger order-placed-kafka already exists for another Broker",
                "list k8s/components/kafka-broker last in kustomization.yaml");
        assertThat(cluster.changes()).isEmpty();
    }

    @Test
    void theSameEventDeliveredByTheOldAndByTheNewBrokerIsProcessedOnce() {
        try (ScriptProcess consumer = ScriptProcess.startListening("consumer.java", Map.of("POD_NAME", "consumer-during-move"))) {
            consumer.awaitMessage("listening", ScriptProcess.START_TIMEOUT);
            CloudEventsHttp http = new CloudEventsHttp(consumer.port());
            CloudEvent sent = event("order.placed", validData("order.placed"));
            // Each Broker stamps its own arrival time: only (source, id) say it is the same event.
            CloudEvent viaOld = CloudEventBuilder.v1(sent).withExtension("knativearrivaltime", "2026-12-06T13:00:00.100Z").build();
            CloudEvent viaNew = CloudEventBuilder.v1(sent).withExtension("knativearrivaltime", "2026-12-06T13:00:07.900Z").build();

            assertThat(http.binary(viaOld).statusCode()).isEqualTo(202);
            assertThat(http.structured(viaNew).statusCode()).isEqualTo(202);

            assertThat(consumer.awaitLogs(line -> sent.getId().equals(line.getString("id")) && line.getString("outcome") != null, 2,
                    Duration.ofSeconds(60))).extracting(line -> line.getString("outcome")).containsExactly("processed", "duplicate");
            http.close();
        }
    }

    private static Set<String> uninterruptedEnd;

    private synchronized Set<String> endStateOfAnUninterruptedRun() throws IOException {
        if (uninterruptedEnd == null) {
            Path whole = Files.createDirectories(bin.resolve("uninterrupted"));
            FakeCluster uninterrupted = new FakeCluster(whole).running(Kustomize.repository());
            assertThat(uninterrupted.run(SCRIPT, env()).exitCode()).isZero();
            uninterruptedEnd = uninterrupted.objects();
        }
        return uninterruptedEnd;
    }

    private Map<String, String> env() {
        Path sleep = bin.resolve("sleep");
        // The horizon is waited with sleep: the stand-in records how long instead of waiting.
        Kustomize.write(sleep, "#!/usr/bin/env bash\necho \"$1\" >>\"$(dirname \"$0\")/slept\"\n");
        assertThat(sleep.toFile().setExecutable(true)).isTrue();
        return Map.of("PATH", bin + ":" + System.getenv("PATH"));
    }

    private long slept() {
        Path record = bin.resolve("slept");
        return Files.exists(record) ? Long.parseLong(Kustomize.read(record).strip()) : 0;
    }

    private Result runIn(Path copy, FakeCluster cluster, String... args) {
        List<String> command = new ArrayList<>(List.of("bash", copy.resolve(SCRIPT).toString()));
        command.addAll(List.of(args));
        ProcessBuilder builder = new ProcessBuilder(command);
        builder.environment().putAll(env());
        builder.environment().put("KUBECTL", fake.resolve("kubectl").toString());
        return FakeKubectl.runToEnd(builder);
    }

    /** The script's calls that change the cluster or wait on it, in order; an apply named by the object it applied. */
    private List<List<String>> steps(FakeCluster cluster) {
        List<List<String>> steps = new ArrayList<>();
        for (List<String> call : cluster.calls()) {
            switch (call.get(0)) {
                case "apply" -> steps.add(List.of("apply", applied(call.get(2))));
                case "wait", "rollout", "annotate", "delete" -> steps.add(call);
                default -> { }
            }
        }
        return steps;
    }

    private static String applied(String file) {
        String name = Path.of(file).getFileName().toString().replaceFirst("\\.yaml$", "");
        return name.replaceFirst("\\.", "/");
    }

    private static String drainedAt(FakeCluster cluster) {
        String broker = String.join("\n", cluster.calls().stream().filter(call -> call.get(0).equals("annotate"))
                .map(call -> call.get(3)).toList());
        return broker.substring(broker.indexOf('=') + 1);
    }

    private static ObjectNode rendered(Manifests rendered, String kind, String name) {
        return rendered.json().stream().filter(o -> o.path("kind").asText().equals(kind) && o.path("metadata").path("name").asText().equals(name))
                .findFirst().orElseThrow();
    }

    /** An object as the stand-in cluster holds it, without the status it added. */
    private static ObjectNode held(FakeCluster cluster, String kind, String name) {
        try {
            ObjectNode object = (ObjectNode) Kustomize.YAML.readTree(cluster.object(kind, name));
            object.remove("status");
            return object;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
