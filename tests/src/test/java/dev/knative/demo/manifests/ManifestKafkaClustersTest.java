package dev.knative.demo.manifests;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.knative.demo.support.Kustomize;
import dev.knative.demo.support.Manifests;
import io.fabric8.knative.eventing.v1.Broker;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Namespace;
import io.strimzi.api.kafka.model.kafka.JbodStorage;
import io.strimzi.api.kafka.model.kafka.Kafka;
import io.strimzi.api.kafka.model.kafka.PersistentClaimStorage;
import io.strimzi.api.kafka.model.kafka.Storage;
import io.strimzi.api.kafka.model.kafka.listener.GenericKafkaListener;
import io.strimzi.api.kafka.model.kafka.listener.KafkaListenerType;
import io.strimzi.api.kafka.model.nodepool.KafkaNodePool;
import io.strimzi.api.kafka.model.nodepool.ProcessRoles;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Kafka clusters the durable components can move to: a Strimzi cluster (k8s/components/strimzi-kafka) valid for
 * Strimzi's own API model, the Bitnami Helm values (k8s/bitnami-kafka/values.yaml) and the Confluent overlay
 * (k8s/components/confluent-platform), each at the bootstrap address the Kafka Broker's config names, with topics
 * that keep as many copies as the cluster has brokers.
 */
class ManifestKafkaClustersTest {

    @TempDir
    static Path temp;
    private static Manifests strimzi;
    private static Manifests kafkaBroker;

    @BeforeAll
    static void render() {
        strimzi = Kustomize.renderWithComponent(temp.resolve("strimzi-kafka"), "strimzi-kafka");
        kafkaBroker = Kustomize.renderWithComponent(temp.resolve("kafka-broker"), "kafka-broker");
    }

    @Test
    void theStrimziClusterRunsKraftWithThreeControllersAndThreeBrokersOfAPinnedKafkaVersion() {
        Kafka kafka = onlyKafka();
        List<KafkaNodePool> pools = strimzi.all(KafkaNodePool.class);

        assertThat(kafka.getSpec().getZookeeper()).as("KRaft: no ZooKeeper").isNull();
        assertThat(kafka.getSpec().getKafka().getVersion()).matches("\\d+\\.\\d+\\.\\d+");
        assertThat(pools).allSatisfy(pool ->
                assertThat(pool.getMetadata().getLabels()).containsEntry("strimzi.io/cluster", kafka.getMetadata().getName()));
        assertThat(pools).extracting(pool -> pool.getSpec().getRoles())
                .containsExactlyInAnyOrder(List.of(ProcessRoles.CONTROLLER), List.of(ProcessRoles.BROKER));
        assertThat(pools).allSatisfy(pool -> {
            assertThat(pool.getSpec().getReplicas()).as("%s: an odd quorum that survives one loss", pool.getMetadata().getName()).isEqualTo(3);
            assertThat(pool.getSpec().getResources().getLimits()).containsKey("memory");
        });
        assertThat(pools).flatExtracting(pool -> volumes(pool.getSpec().getStorage())).as("volumes outlive the cluster").hasSize(2)
                .allSatisfy(volume -> assertThat(volume.isDeleteClaim()).isFalse());
    }

    @Test
    void theStrimziModelRefusesAnUnknownFieldAndAnUnknownListenerType() {
        ObjectNode kafka = strimziObject("Kafka");
        ((ObjectNode) kafka.at("/spec/kafka")).put("replica", 3);
        assertThatThrownBy(() -> ManifestSchemaTest.assertMatchesSchema(kafka)).hasMessageContaining("replica");

        ObjectNode listener = strimziObject("Kafka");
        ((ObjectNode) listener.at("/spec/kafka/listeners/0")).put("type", "clusterip-plain");
        assertThatThrownBy(() -> ManifestSchemaTest.assertMatchesSchema(listener)).hasMessageContaining("clusterip-plain");

        ObjectNode pool = strimziObject("KafkaNodePool");
        ((ObjectNode) pool.at("/spec")).putArray("roles").add("leader");
        assertThatThrownBy(() -> ManifestSchemaTest.assertMatchesSchema(pool)).hasMessageContaining("leader");
    }

    @Test
    void theStrimziBootstrapServiceIsTheKafkaBrokersBootstrapAddress() {
        Kafka kafka = onlyKafka();
        GenericKafkaListener plain = kafka.getSpec().getKafka().getListeners().stream()
                .filter(listener -> listener.getType() == KafkaListenerType.INTERNAL && !listener.isTls())
                .findFirst().orElseThrow(() -> new AssertionError("no internal plain listener"));
        // Strimzi names the bootstrap Service <cluster>-kafka-bootstrap, in the cluster's namespace.
        String address = kafka.getMetadata().getName() + "-kafka-bootstrap." + kafka.getMetadata().getNamespace() + ".svc:" + plain.getPort();

        assertThat(brokerConfig(kafkaBroker).get("bootstrap.servers")).isEqualTo(address);
    }

    @Test
    void theKafkaChannelReadmeSetsKnativesChannelConfigToTheSameAddress() {
        String readme = Kustomize.read(Kustomize.COMPONENTS.resolve("kafka-channel/README.md"));
        Matcher patch = Pattern.compile("patch configmap kafka-channel-config .*?\"bootstrap\\.servers\":\"([^\"]+)\"", Pattern.DOTALL).matcher(readme);

        assertThat(patch.find()).as("kafka-channel/README.md patches kafka-channel-config").isTrue();
        assertThat(patch.group(1)).isEqualTo(brokerConfig(kafkaBroker).get("bootstrap.servers"));
    }

    @Test
    void theBitnamiValuesServeTheSameAddressWithAsManyNodesAsTheTopicsHaveCopies() {
        JsonNode values = bitnamiValues();
        String namespace = kafkaBroker.all(Namespace.class).get(0).getMetadata().getName();
        // The chart's client Service is named after fullnameOverride and listens on service.ports.client.
        String address = values.path("fullnameOverride").asText() + "." + namespace + ".svc:" + values.at("/service/ports/client").asInt();
        Map<String, String> config = brokerConfig(kafkaBroker);

        assertThat(config.get("bootstrap.servers")).isEqualTo(address);
        assertThat(values.at("/listeners/client/protocol").asText()).isEqualTo("PLAINTEXT");
        assertThat(values.at("/controller/controllerOnly").asBoolean()).as("controllers are brokers too").isFalse();
        assertThat(values.at("/controller/replicaCount").asInt() + values.at("/broker/replicaCount").asInt())
                .isGreaterThanOrEqualTo(Integer.parseInt(config.get("default.topic.replication.factor")));
        assertThat(values.at("/image/tag").asText()).as("pinned").matches("\\d+\\.\\d+\\.\\d+-.+");
        String readme = Kustomize.read(Kustomize.REPO_ROOT.resolve("k8s/bitnami-kafka/README.md"));
        assertThat(readme).contains("--namespace " + namespace, "--version ", "--values k8s/bitnami-kafka/values.yaml");
    }

    @Test
    void theTopicsKeepAsManyCopiesAsTheClusterHasBrokersAndSevenDays() {
        Map<String, String> config = brokerConfig(kafkaBroker);
        int brokers = strimzi.all(KafkaNodePool.class).stream().filter(pool -> pool.getSpec().getRoles().contains(ProcessRoles.BROKER))
                .mapToInt(pool -> pool.getSpec().getReplicas()).sum();
        Map<String, Object> cluster = onlyKafka().getSpec().getKafka().getConfig();
        Map<String, Object> channel = Manifests.channelTemplate(Kustomize.renderWithComponent(temp.resolve("kafka-channel-topics"), "kafka-channel")
                .one(ConfigMap.class, "broker-channel-config"));
        @SuppressWarnings("unchecked")
        Map<String, Object> channelSpec = (Map<String, Object>) channel.get("spec");

        assertThat(Integer.parseInt(config.get("default.topic.replication.factor"))).isEqualTo(brokers);
        assertThat(channelSpec.get("replicationFactor")).isEqualTo(brokers);
        assertThat(((Number) cluster.get("min.insync.replicas")).intValue()).as("one broker may be down").isEqualTo(brokers - 1);
        assertThat(Duration.ofMillis(Long.parseLong(config.get("default.topic.config.retention.ms")))).isEqualTo(Duration.ofDays(7));
        assertThat(Duration.parse((String) channelSpec.get("retentionDuration"))).isEqualTo(Duration.ofDays(7));
        assertThat(((Number) cluster.get("log.retention.hours")).longValue()).isEqualTo(Duration.ofDays(7).toHours());
    }

    @Test
    void theConfluentOverlayIsTheKafkaBrokerWithConfluentsAddressAndTheSaslTlsSecretItsReadmeCreates() {
        Manifests confluent = Kustomize.renderWithComponent(temp.resolve("confluent-platform"), "confluent-platform");
        Map<String, String> config = brokerConfig(confluent);
        String readme = Kustomize.read(Kustomize.COMPONENTS.resolve("confluent-platform/README.md"));
        Matcher secret = Pattern.compile("create secret generic (\\S+)((?:\\s*\\\\\\n\\s*--from-\\S+)+)").matcher(readme);

        assertThat(confluent.one(Broker.class, "default").getMetadata().getAnnotations()).containsEntry("eventing.knative.dev/broker.class", "Kafka");
        assertThat(config.get("bootstrap.servers")).isEqualTo("kafka.confluent.svc.cluster.local:9071");
        assertThat(secret.find()).as("the README creates the Secret").isTrue();
        assertThat(config.get("auth.secret.ref.name")).isEqualTo(secret.group(1));
        // The keys eventing-kafka-broker control-plane/pkg/security/secret.go reads for SASL over TLS.
        assertThat(secret.group(2)).contains("--from-literal=protocol=SASL_SSL", "--from-literal=sasl.mechanism=", "--from-literal=user=",
                "--from-literal=password=", "--from-file=ca.crt=");
        assertThat(config).as("everything else is kafka-broker's")
                .containsAllEntriesOf(Map.of("default.topic.replication.factor", brokerConfig(kafkaBroker).get("default.topic.replication.factor"),
                        "default.topic.config.retention.ms", brokerConfig(kafkaBroker).get("default.topic.config.retention.ms")));
        assertThat(confluent.json()).as("no credentials in the repository").noneMatch(object -> object.path("kind").asText().equals("Secret"));
    }

    /** The persistent volumes of a node pool's storage, single or JBOD. */
    private static List<PersistentClaimStorage> volumes(Storage storage) {
        if (storage instanceof PersistentClaimStorage single) return List.of(single);
        assertThat(storage).isInstanceOf(JbodStorage.class);
        return ((JbodStorage) storage).getVolumes().stream().map(volume -> {
            assertThat(volume).isInstanceOf(PersistentClaimStorage.class);
            return (PersistentClaimStorage) volume;
        }).toList();
    }

    private static Kafka onlyKafka() {
        assertThat(strimzi.all(Kafka.class)).hasSize(1);
        return strimzi.all(Kafka.class).get(0);
    }

    private static ObjectNode strimziObject(String kind) {
        return strimzi.json().stream().filter(object -> object.path("kind").asText().equals(kind)).findFirst().orElseThrow().deepCopy();
    }

    private static Map<String, String> brokerConfig(Manifests manifests) {
        return manifests.one(ConfigMap.class, manifests.one(Broker.class, "default").getSpec().getConfig().getName()).getData();
    }

    private static JsonNode bitnamiValues() {
        try {
            return Kustomize.YAML.readTree(Kustomize.REPO_ROOT.resolve("k8s/bitnami-kafka/values.yaml").toFile());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
