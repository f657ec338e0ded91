package dev.knative.demo.scripts;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.knative.demo.support.CrdSchemas;
import dev.knative.demo.support.FakeKubectl;
import dev.knative.demo.support.FakeKubectl.Result;
import dev.knative.demo.support.KubernetesModels;
import dev.knative.demo.support.Kustomize;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicy;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * scripts/replay.sh against a stand-in kubectl playing a cluster with a Kafka-backed Broker
 * (src/test/resources/fake-kafka-kubectl.sh): the offsets it notes, the consumer group it positions, the
 * KafkaSource and NetworkPolicies it applies (checked against the KafkaSource CRD of eventing-kafka-broker
 * knative-v1.22.3 and the Kubernetes model), the wait for the replay to catch up, and the clean-up.
 */
class ReplayScriptTest {

    private static final String SCRIPT = "scripts/replay.sh";
    private static final String TOPIC = "knative-broker-knative-demo-default-kafka";
    private static final String GROUP = "knative-replay-knative-demo-r1";
    private static final Map<String, String> FAST = Map.of("POLL_SECONDS", "0");

    @TempDir
    Path fake;

    @BeforeEach
    void aKafkaBrokerWithThreePartitions() {
        try (InputStream script = ReplayScriptTest.class.getResourceAsStream("/fake-kafka-kubectl.sh")) {
            Files.write(fake.resolve("kubectl"), script.readAllBytes());
            Files.setPosixFilePermissions(fake.resolve("kubectl"), PosixFilePermissions.fromString("rwxr-xr-x"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        state("brokers", "default-kafka");
        state("broker-class", "Kafka");
        state("broker-topic", TOPIC);
        state("service-consumer", "{\"app.kubernetes.io/component\":\"consumer\",\"app.kubernetes.io/name\":\"knative-eventing-demo\"}");
        state("service-dead-letter", "{\"app.kubernetes.io/component\":\"dead-letter\",\"app.kubernetes.io/name\":\"knative-eventing-demo\"}");
        state("end-offsets", TOPIC + ":0:5\n" + TOPIC + ":1:0\n" + TOPIC + ":2:7\n");
        // Three looks at the group: nothing committed yet, part of it, everything up to the noted end offsets.
        state("progress-1", describe("0", "0", "0"));
        state("progress-2", describe("5", "0", "3"));
        state("progress-3", describe("6", "0", "7"));
    }

    @Test
    void fromTheBeginningItNotesTheEndOffsetsPositionsItsOwnGroupAppliesAKafkaSourceMarkingEachCopyWaitsUntilCaughtUpAndDeletesIt() {
        Result result = run("--from-beginning", "--name", "r1");

        assertThat(result.exitCode()).as(result.output()).isZero();
        List<List<String>> calls = calls();
        assertThat(commands(calls)).containsSubsequence("run:kafka-get-offsets.sh", "run:kafka-consumer-groups.sh",
                "apply", "wait", "run:kafka-consumer-groups.sh", "delete");
        assertThat(tool(calls, "kafka-get-offsets.sh")).containsSequence("--topic", TOPIC, "--time", "-1")
                .containsSequence("--bootstrap-server", "my-cluster-kafka-bootstrap.kafka:9092");
        List<String> position = tool(calls, "--reset-offsets");
        assertThat(position).containsSequence("--group", GROUP, "--topic", TOPIC, "--reset-offsets", "--to-earliest", "--execute");
        // The tool pod runs beside Kafka, in the namespace of the bootstrap Service.
        assertThat(calls.stream().filter(call -> call.get(0).equals("run"))).allSatisfy(call ->
                assertThat(call).containsSequence("--namespace", "kafka").containsSequence("--image", "apache/kafka:3.9.1"));

        List<JsonNode> applied = appliedObjects();
        JsonNode source = applied.get(0);
        assertThat(source.path("kind").asText()).isEqualTo("KafkaSource");
        assertThat(source.at("/metadata/name").asText()).isEqualTo("r1");
        assertThat(source.at("/metadata/annotations/knative-eventing-demo~1replay-until").asText()).isEqualTo("0:5,1:0,2:7");
        JsonNode spec = source.path("spec");
        assertThat(spec.path("topics").toString()).isEqualTo("[\"" + TOPIC + "\"]");
        assertThat(spec.path("bootstrapServers").toString()).isEqualTo("[\"my-cluster-kafka-bootstrap.kafka:9092\"]");
        assertThat(spec.path("consumerGroup").asText()).isEqualTo(GROUP);
        assertThat(spec.path("initialOffset").asText()).isEqualTo("earliest");
        assertThat(spec.at("/ceOverrides/extensions/replay").asText()).isEqualTo("r1");
        assertThat(spec.at("/sink/ref/name").asText()).isEqualTo("consumer");
        assertThat(spec.at("/delivery/deadLetterSink/ref/name").asText()).isEqualTo("dead-letter");
        JsonNode durable = parse(Kustomize.read(Kustomize.REPO_ROOT.resolve("k8s/durable-delivery.yaml"))).get(0).at("/spec/delivery");
        assertThat(durable.fieldNames()).toIterable().isNotEmpty().allSatisfy(field ->
                assertThat(spec.path("delivery").path(field)).as("the durable Triggers' " + field).isEqualTo(durable.path(field)));
        assertValid(applied);
        assertThat(applied.subList(1, 3)).extracting(policy -> policy.at("/spec/podSelector/matchLabels/app.kubernetes.io~1component").asText())
                .containsExactly("consumer", "dead-letter");

        assertThat(calls.get(calls.size() - 1)).containsSequence("delete", "kafkasources.sources.knative.dev,networkpolicies.networking.k8s.io")
                .containsSequence("--selector", "app.kubernetes.io/component=replay,app.kubernetes.io/instance=r1");
        assertThat(result.output()).contains("Replay r1: 12 events still to deliver", "Replay r1: 4 events still to deliver",
                "Replay r1 delivered everything up to offsets 0:5,1:0,2:7");
    }

    @Test
    void sinceATimeThePositionIsThatTimeInUtc() {
        Result result = run("--since", "2026-12-01T08:00:00+01:00", "--name", "r1", "--to", "dead-letter");

        assertThat(result.exitCode()).as(result.output()).isZero();
        assertThat(tool(calls(), "--reset-offsets")).containsSequence("--to-datetime", "2026-12-01T07:00:00.000Z", "--execute");
        List<JsonNode> applied = appliedObjects();
        assertThat(applied.get(0).at("/spec/sink/ref/name").asText()).isEqualTo("dead-letter");
        assertThat(applied).hasSize(2);
        assertValid(applied);
    }

    @Test
    void anInterruptedReplayRunAgainGoesOnUpToTheOffsetsItNotedWithoutPositioningItsGroupAgain() {
        state("source-until", "0:5,1:0,2:7");

        Result result = run("--from-beginning", "--name", "r1");

        assertThat(result.exitCode()).as(result.output()).isZero();
        assertThat(commands(calls())).doesNotContain("run:kafka-get-offsets.sh").containsSubsequence("apply", "wait",
                "run:kafka-consumer-groups.sh", "delete");
        assertThat(calls().stream().filter(call -> call.contains("--reset-offsets"))).isEmpty();
        assertThat(appliedObjects().get(0).at("/metadata/annotations/knative-eventing-demo~1replay-until").asText())
                .isEqualTo("0:5,1:0,2:7");
        assertThat(result.output()).contains("Replay r1 exists: going on up to offsets 0:5,1:0,2:7");
    }

    @Test
    void aChannelBasedBrokerOnAKafkaChannelIsReplayedFromTheChannelsTopic() throws IOException {
        state("brokers", "default-kafka-channel");
        state("broker-class", "MTChannelBasedBroker");
        Files.delete(fake.resolve("broker-topic"));
        state("channel-topic", "knative-messaging-kafka.knative-demo.default-kafka-channel-kne-trigger");

        Result result = run("--from-beginning", "--name", "r1", "--dry-run");

        assertThat(result.exitCode()).as(result.output()).isZero();
        JsonNode spec = parse(sourceText(result.output())).get(0).path("spec");
        assertThat(spec.path("topics").get(0).asText()).isEqualTo("knative-messaging-kafka.knative-demo.default-kafka-channel-kne-trigger");
        assertThat(spec.path("bootstrapServers").get(0).asText()).isEqualTo("channel-kafka-bootstrap.kafka-channel:9092");
    }

    @Test
    void aBrokerOnAnInMemoryChannelIsRefusedNamingTheDurableComponentsAndNothingIsChanged() throws IOException {
        state("broker-class", "MTChannelBasedBroker");
        Files.delete(fake.resolve("broker-topic"));

        Result result = run("--from-beginning");

        assertThat(result.exitCode()).isEqualTo(1);
        assertThat(result.output()).contains("an InMemoryChannel holds nothing to replay", "k8s/components/kafka-broker", "kafka-channel");
        assertThat(commands(calls())).doesNotContain("apply", "delete").noneMatch(command -> command.startsWith("run"));
    }

    @Test
    void withoutBrokerItTakesTheNamespacesOneBrokerAndWithTwoItAsksWhichOneBeforeChangingAnything() {
        assertThat(run("--from-beginning", "--name", "r1", "--dry-run").exitCode()).isZero();
        assertThat(calls()).anySatisfy(call -> assertThat(call).startsWith("get", "broker", "default-kafka"));

        state("brokers", "default default-kafka");
        Result during = run("--from-beginning", "--name", "r1");
        assertThat(during.exitCode()).isEqualTo(1);
        assertThat(during.output()).contains("has the Brokers default default-kafka", "choose one with --broker NAME");

        Result chosen = run("--from-beginning", "--name", "r1", "--broker", "default-kafka", "--dry-run");
        assertThat(chosen.exitCode()).as(chosen.output()).isZero();
        assertThat(chosen.output()).contains("Replay r1: topic " + TOPIC);
        assertThat(commands(calls())).doesNotContain("apply", "delete").noneMatch(command -> command.startsWith("run"));
    }

    @Test
    void dryRunPrintsTheObjectsValidForTheirSchemasAndChangesNothing() {
        Result result = run("--since", "2026-12-01T07:00:00Z", "--name", "r1", "--dry-run");

        assertThat(result.exitCode()).as(result.output()).isZero();
        assertThat(commands(calls())).allMatch(command -> command.equals("get"));
        List<JsonNode> objects = parse(sourceText(result.output()));
        assertThat(objects).extracting(o -> o.path("kind").asText()).containsExactly("KafkaSource", "NetworkPolicy", "NetworkPolicy");
        assertValid(objects);
        assertThat(result.output()).contains("Replay r1: topic " + TOPIC, "from 2026-12-01T07:00:00.000Z", "into service/consumer");
    }

    @Test
    void deleteRemovesTheReplaysKafkaSourceAndPoliciesByItsLabels() {
        Result result = run("--delete", "--name", "r1");

        assertThat(result.exitCode()).as(result.output()).isZero();
        assertThat(calls()).singleElement().satisfies(call -> assertThat(call)
                .containsSequence("delete", "kafkasources.sources.knative.dev,networkpolicies.networking.k8s.io")
                .containsSequence("--selector", "app.kubernetes.io/component=replay,app.kubernetes.io/instance=r1")
                .contains("--ignore-not-found"));
    }

    @Test
    void withoutAStartOrWithABadTimeItStopsWithUsageErrorsBeforeAnyCall() {
        assertThat(run("--name", "r1").exitCode()).isEqualTo(2);
        Result badTime = run("--since", "yesterday-ish o'clock");
        assertThat(badTime.exitCode()).isEqualTo(2);
        assertThat(badTime.output()).contains("--since 'yesterday-ish o'clock' is not a time");
        assertThat(run("--from-beginning", "--name", "Not_A_Name").exitCode()).isEqualTo(2);
        assertThat(calls()).isEmpty();
    }

    private Result run(String... args) {
        return FakeKubectl.runWith(fake.resolve("kubectl"), SCRIPT, FAST, args);
    }

    private void state(String file, String content) {
        Kustomize.write(fake.resolve(file), content);
    }

    private static String describe(String... current) {
        StringBuilder out = new StringBuilder("\nConsumer group '" + GROUP + "' has no active members.\n\n"
                + "GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID HOST CLIENT-ID\n");
        long[] end = {5, 0, 9};
        for (int p = 0; p < current.length; p++)
            out.append(GROUP).append(' ').append(TOPIC).append(' ').append(p).append(' ').append(current[p]).append(' ')
                    .append(end[p]).append(' ').append(end[p] - Long.parseLong(current[p])).append(" - - -\n");
        return out.toString();
    }

    private List<List<String>> calls() {
        return FakeKubectl.callsIn(fake);
    }

    /** Each call as its verb, and run:TOOL for Kafka's tools. */
    private static List<String> commands(List<List<String>> calls) {
        return calls.stream().map(call -> call.get(0).equals("run")
                ? "run:" + Path.of(call.get(call.indexOf("--") + 1)).getFileName() : call.get(0)).toList();
    }

    /** The first call of a Kafka tool with this argument. */
    private static List<String> tool(List<List<String>> calls, String argument) {
        return calls.stream().filter(call -> call.get(0).equals("run") && call.stream().anyMatch(a -> a.endsWith(argument)))
                .findFirst().orElseThrow(() -> new AssertionError("no call with " + argument + ": " + calls));
    }

    private List<JsonNode> appliedObjects() {
        List<List<String>> calls = calls();
        for (int n = 1; n <= calls.size(); n++)
            if (Files.exists(fake.resolve("applied-" + n))) return parse(Kustomize.read(fake.resolve("applied-" + n)));
        throw new AssertionError("nothing applied: " + calls);
    }

    /** The YAML stream of the output: from the first document marker on. */
    private static String sourceText(String output) {
        return output.substring(output.indexOf("---\n"));
    }

    private static List<JsonNode> parse(String yaml) {
        try {
            return Kustomize.YAML.readerFor(JsonNode.class).<JsonNode>readValues(yaml).readAll().stream()
                    .filter(node -> node != null && !node.isNull()).toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Each object against its schema: the KafkaSource CRD's, the Kubernetes model of a NetworkPolicy; unknown fields refused. */
    private static void assertValid(List<JsonNode> objects) {
        for (JsonNode object : objects) {
            if (object.path("kind").asText().equals("KafkaSource")) {
                assertThat(CrdSchemas.violations(object)).as("KafkaSource against its CRD").isEmpty();
            } else {
                NetworkPolicy policy = KubernetesModels.convert(object, NetworkPolicy.class);
                assertThat(KubernetesModels.unknownFields(policy)).as("NetworkPolicy fields").isEmpty();
                assertThat(KubernetesModels.sameJson(object, KubernetesModels.reserialized(policy))).as(object.toString()).isTrue();
            }
        }
    }
}
