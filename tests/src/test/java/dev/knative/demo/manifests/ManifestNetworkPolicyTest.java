package dev.knative.demo.manifests;

import static org.assertj.core.api.Assertions.assertThat;

import dev.knative.demo.support.Kustomize;
import dev.knative.demo.support.Manifests;
import dev.knative.demo.support.NetworkPolicies;
import dev.knative.demo.support.NetworkPolicies.Endpoint;
import io.fabric8.kubernetes.api.model.ContainerPort;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicy;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Who may talk to whom, decided from the rendered NetworkPolicies: everything is denied except
 * the paths the event flow and the JBang boot need.
 */
public class ManifestNetworkPolicyTest {

    private static final String KNATIVE = "knative-eventing";
    // Pod labels of Knative Eventing knative-v1.22.2 (config/brokers/mt-channel-broker/deployments/,
    // config/channels/in-memory-channel/deployments/dispatcher.yaml).
    private static final Endpoint BROKER_INGRESS = Endpoint.pod(KNATIVE, Map.of("eventing.knative.dev/brokerRole", "ingress"));
    private static final Endpoint BROKER_FILTER = Endpoint.pod(KNATIVE, Map.of("eventing.knative.dev/brokerRole", "filter"));
    private static final Endpoint IMC_DISPATCHER = Endpoint.pod(KNATIVE, Map.of(
            "messaging.knative.dev/channel", "in-memory-channel", "messaging.knative.dev/role", "dispatcher"));
    // eventing-kafka-broker knative-v1.22.3 data-plane/config/, eventing-natss knative-v1.22.0 jetstream dispatcher.
    private static final Endpoint KAFKA_BROKER_RECEIVER = Endpoint.pod(KNATIVE, Map.of("app", "kafka-broker-receiver"));
    private static final Endpoint KAFKA_BROKER_DISPATCHER = Endpoint.pod(KNATIVE, Map.of("app", "kafka-broker-dispatcher"));
    private static final Endpoint KAFKA_CHANNEL_DISPATCHER = Endpoint.pod(KNATIVE, Map.of("app", "kafka-channel-dispatcher"));
    private static final Endpoint JETSTREAM_DISPATCHER = Endpoint.pod(KNATIVE, Map.of(
            "messaging.knative.dev/channel", "nats-jetstream-channel", "messaging.knative.dev/role", "dispatcher"));
    private static final Endpoint KUBE_DNS = Endpoint.pod("kube-system", Map.of("k8s-app", "kube-dns"));
    private static final Endpoint SOMEWHERE_ON_THE_INTERNET = Endpoint.external("151.101.128.209");
    private static final int HTTP = 8080;

    private final Manifests manifests = Kustomize.repository();
    private final NetworkPolicies policies = policiesOf(manifests);
    private final Endpoint producer = workload(manifests, "producer");
    private final Endpoint consumer = workload(manifests, "consumer");
    private final Endpoint deadLetter = workload(manifests, "dead-letter");

    @Test
    void theNamespaceDeniesAllIngressAndEgressByDefault() {
        assertThat(manifests.all(NetworkPolicy.class)).anySatisfy(policy -> {
            assertThat(policy.getSpec().getPodSelector().getMatchLabels()).isNullOrEmpty();
            assertThat(policy.getSpec().getPodSelector().getMatchExpressions()).isNullOrEmpty();
            assertThat(policy.getSpec().getPolicyTypes()).containsExactlyInAnyOrder("Ingress", "Egress");
            assertThat(policy.getSpec().getIngress()).isNullOrEmpty();
            assertThat(policy.getSpec().getEgress()).isNullOrEmpty();
        });
        Endpoint stranger = Endpoint.pod(manifests.all(Namespace.class).get(0).getMetadata().getName(), Map.of("app", "stranger"));
        assertThat(policies.allowsIngress(BROKER_FILTER, stranger, "TCP", HTTP)).isFalse();
        assertThat(policies.allowsEgress(stranger, SOMEWHERE_ON_THE_INTERNET, "TCP", 443)).isFalse();
    }

    @Test
    void theReceiversAcceptEventsOnlyFromTheBrokerFilterAndTheChannelDispatcher() {
        for (Endpoint receiver : List.of(consumer, deadLetter)) {
            assertThat(policies.allowsIngress(BROKER_FILTER, receiver, "TCP", HTTP)).as("filter → %s", receiver.podLabels()).isTrue();
            assertThat(policies.allowsIngress(IMC_DISPATCHER, receiver, "TCP", HTTP)).as("dispatcher → %s", receiver.podLabels()).isTrue();
            assertThat(policies.allowsIngress(BROKER_FILTER, receiver, "TCP", 9090)).as("another port").isFalse();
            assertThat(policies.allowsIngress(BROKER_INGRESS, receiver, "TCP", HTTP)).isFalse();
            assertThat(policies.allowsIngress(Endpoint.pod("default", BROKER_FILTER.podLabels()), receiver, "TCP", HTTP))
                    .as("a look-alike outside knative-eventing").isFalse();
            assertThat(policies.allowsIngress(producer, receiver, "TCP", HTTP)).isFalse();
        }
        assertThat(policies.allowsIngress(BROKER_FILTER, producer, "TCP", HTTP)).as("nothing calls the producer").isFalse();
    }

    @Test
    void theProducerMaySendOnlyToTheBrokerIngress() {
        assertThat(policies.allowsEgress(producer, BROKER_INGRESS, "TCP", HTTP)).isTrue();
        assertThat(policies.allowsEgress(producer, BROKER_FILTER, "TCP", HTTP)).isFalse();
        assertThat(policies.allowsEgress(producer, consumer, "TCP", HTTP)).isFalse();
        assertThat(policies.allowsEgress(consumer, BROKER_INGRESS, "TCP", HTTP)).as("the consumer sends nothing").isFalse();
    }

    @Test
    void theDeadLetterDisplayMaySendRedrivesOnlyToTheBrokerIngress() {
        assertThat(policies.allowsEgress(deadLetter, BROKER_INGRESS, "TCP", HTTP)).isTrue();
        assertThat(policies.allowsEgress(deadLetter, BROKER_FILTER, "TCP", HTTP)).isFalse();
        assertThat(policies.allowsEgress(deadLetter, consumer, "TCP", HTTP)).isFalse();
    }

    @Test
    void everyWorkloadMayResolveNamesAndDownloadOverHttpsOnly() {
        for (Endpoint workload : List.of(producer, consumer, deadLetter)) {
            assertThat(policies.allowsEgress(workload, KUBE_DNS, "UDP", 53)).as("DNS/UDP from %s", workload.podLabels()).isTrue();
            assertThat(policies.allowsEgress(workload, KUBE_DNS, "TCP", 53)).as("DNS/TCP").isTrue();
            assertThat(policies.allowsEgress(workload, Endpoint.pod("default", KUBE_DNS.podLabels()), "UDP", 53))
                    .as("a look-alike DNS outside kube-system").isFalse();
            assertThat(policies.allowsEgress(workload, SOMEWHERE_ON_THE_INTERNET, "TCP", 443)).as("HTTPS to an outside address").isTrue();
            assertThat(policies.allowsEgress(workload, SOMEWHERE_ON_THE_INTERNET, "TCP", 80)).as("plain HTTP").isFalse();
        }
    }

    @Test
    void theKafkaBrokerComponentOpensTheKafkaDataPlanePaths(@TempDir Path temp) {
        Manifests rendered = Kustomize.renderWithComponent(temp, "kafka-broker");
        NetworkPolicies withKafka = policiesOf(rendered);

        assertThat(withKafka.allowsEgress(workload(rendered, "producer"), KAFKA_BROKER_RECEIVER, "TCP", HTTP)).isTrue();
        assertThat(withKafka.allowsIngress(KAFKA_BROKER_DISPATCHER, workload(rendered, "consumer"), "TCP", HTTP)).isTrue();
        assertThat(withKafka.allowsIngress(KAFKA_BROKER_DISPATCHER, workload(rendered, "dead-letter"), "TCP", HTTP)).isTrue();
        assertThat(withKafka.allowsEgress(workload(rendered, "dead-letter"), KAFKA_BROKER_RECEIVER, "TCP", HTTP)).as("redrives").isTrue();
    }

    @Test
    void theKafkaDeadLettersComponentLetsOnlyTheKafkaSourceDispatcherFeedTheDisplay(@TempDir Path temp) {
        Manifests rendered = Kustomize.renderWithComponent(temp, "kafka-dead-letters");
        NetworkPolicies withKafkaDeadLetters = policiesOf(rendered);
        Endpoint sourceDispatcher = Endpoint.pod(KNATIVE, Map.of("app", "kafka-source-dispatcher"));

        assertThat(withKafkaDeadLetters.allowsIngress(sourceDispatcher, workload(rendered, "dead-letter"), "TCP", HTTP)).isTrue();
        assertThat(withKafkaDeadLetters.allowsIngress(sourceDispatcher, workload(rendered, "consumer"), "TCP", HTTP)).isFalse();
        assertThat(policies.allowsIngress(sourceDispatcher, deadLetter, "TCP", HTTP)).as("without the component").isFalse();
    }

    @Test
    void theChannelComponentsLetTheirDispatcherReachOnlyTheDeadLetterDisplaySinceTheBrokerFilterCallsTheConsumer(@TempDir Path temp) {
        Map<String, Endpoint> dispatcherOf = Map.of("kafka-channel", KAFKA_CHANNEL_DISPATCHER, "nats-jetstream-channel", JETSTREAM_DISPATCHER);
        dispatcherOf.forEach((component, dispatcher) -> {
            Manifests rendered = Kustomize.renderWithComponent(temp.resolve(component), component);
            NetworkPolicies withChannel = policiesOf(rendered);
            Endpoint renderedConsumer = workload(rendered, "consumer");
            assertThat(withChannel.allowsIngress(dispatcher, workload(rendered, "dead-letter"), "TCP", HTTP)).as("%s: dead letters", component).isTrue();
            assertThat(withChannel.allowsIngress(dispatcher, workload(rendered, "dead-letter"), "TCP", 9090)).as("%s: another port", component).isFalse();
            assertThat(withChannel.allowsIngress(dispatcher, renderedConsumer, "TCP", HTTP)).as("%s: the consumer is the filter's", component).isFalse();
            assertThat(withChannel.allowsIngress(BROKER_FILTER, renderedConsumer, "TCP", HTTP)).as("%s: filter → consumer", component).isTrue();
            assertThat(withChannel.allowsIngress(dispatcher, workload(rendered, "producer"), "TCP", HTTP)).as(component).isFalse();
            assertThat(policies.allowsIngress(dispatcher, deadLetter, "TCP", HTTP)).as("%s without the component", component).isFalse();
        });
    }

    @Test
    void theStrimziComponentLetsKnativesKafkaPartsAndTheOperatorReachTheKafkaNodesWhichReachOnlyEachOtherAndDns(@TempDir Path temp) {
        Manifests rendered = Kustomize.renderWithComponent(temp, "strimzi-kafka");
        NetworkPolicies withKafka = policiesOf(rendered);
        String namespace = rendered.all(Namespace.class).get(0).getMetadata().getName();
        // Pod labels Strimzi 0.48.0 gives the nodes of the cluster "events" (pool name and role labels beside them).
        Endpoint broker = Endpoint.pod(namespace, Map.of("strimzi.io/cluster", "events", "strimzi.io/kind", "Kafka",
                "strimzi.io/name", "events-kafka", "strimzi.io/pool-name", "brokers", "strimzi.io/broker-role", "true"));
        Endpoint controller = Endpoint.pod(namespace, Map.of("strimzi.io/cluster", "events", "strimzi.io/kind", "Kafka",
                "strimzi.io/name", "events-kafka", "strimzi.io/pool-name", "controllers", "strimzi.io/controller-role", "true"));
        Endpoint operator = Endpoint.pod("strimzi", Map.of("name", "strimzi-cluster-operator"));
        Endpoint otherCluster = Endpoint.pod(namespace, Map.of("strimzi.io/cluster", "other", "strimzi.io/kind", "Kafka"));

        for (Endpoint knative : List.of(KAFKA_BROKER_RECEIVER, KAFKA_BROKER_DISPATCHER, KAFKA_CHANNEL_DISPATCHER))
            assertThat(withKafka.allowsIngress(knative, broker, "TCP", 9092)).as("%s → the plain listener", knative.podLabels()).isTrue();
        assertThat(withKafka.allowsIngress(KAFKA_BROKER_DISPATCHER, broker, "TCP", 9091)).as("not the replication port").isFalse();
        assertThat(withKafka.allowsEgress(broker, controller, "TCP", 9090)).as("broker → controller quorum").isTrue();
        assertThat(withKafka.allowsIngress(broker, controller, "TCP", 9090)).isTrue();
        assertThat(withKafka.allowsEgress(broker, broker, "TCP", 9091)).as("replication").isTrue();
        assertThat(withKafka.allowsEgress(broker, KUBE_DNS, "UDP", 53)).isTrue();
        assertThat(withKafka.allowsIngress(operator, broker, "TCP", 8443)).as("the operator polls the Kafka agent").isTrue();
        assertThat(withKafka.allowsIngress(Endpoint.pod("default", operator.podLabels()), broker, "TCP", 8443)).as("a look-alike").isFalse();
        assertThat(withKafka.allowsEgress(broker, otherCluster, "TCP", 9091)).as("another cluster's nodes").isFalse();
        assertThat(withKafka.allowsEgress(broker, SOMEWHERE_ON_THE_INTERNET, "TCP", 443)).isFalse();
        assertThat(withKafka.allowsIngress(workload(rendered, "producer"), broker, "TCP", 9092)).as("the demo's pods do not talk to Kafka").isFalse();
        assertThat(withKafka.allowsEgress(workload(rendered, "consumer"), broker, "TCP", 9092)).isFalse();
    }

    @Test
    void thePriorityConsumerBootsAndTakesEventsOnlyFromKnativesSendersAlsoTheKafkaBrokersListedAfterIt(@TempDir Path temp) {
        Manifests rendered = Kustomize.renderWithComponent(temp.resolve("alone"), "priority-routing");
        NetworkPolicies withPriority = policiesOf(rendered);
        Endpoint priority = workload(rendered, "consumer-priority");
        assertThat(withPriority.allowsIngress(BROKER_FILTER, priority, "TCP", HTTP)).isTrue();
        assertThat(withPriority.allowsIngress(IMC_DISPATCHER, priority, "TCP", HTTP)).isTrue();
        assertThat(withPriority.allowsIngress(workload(rendered, "producer"), priority, "TCP", HTTP)).isFalse();
        assertThat(withPriority.allowsIngress(BROKER_FILTER, priority, "TCP", 9090)).as("another port").isFalse();
        assertThat(withPriority.allowsEgress(priority, KUBE_DNS, "UDP", 53)).isTrue();
        assertThat(withPriority.allowsEgress(priority, SOMEWHERE_ON_THE_INTERNET, "TCP", 443)).isTrue();
        assertThat(withPriority.allowsEgress(priority, BROKER_INGRESS, "TCP", HTTP)).as("it sends nothing").isFalse();
        assertThat(withPriority.allowsIngress(BROKER_FILTER, workload(rendered, "producer"), "TCP", HTTP))
                .as("the producer is still not called").isFalse();

        Manifests withKafka = Kustomize.renderWithComponent(temp.resolve("kafka"), "kafka-broker", "priority-routing");
        assertThat(policiesOf(withKafka).allowsIngress(KAFKA_BROKER_DISPATCHER, workload(withKafka, "consumer-priority"), "TCP", HTTP))
                .isTrue();
    }

    @Test
    void theMavenMirrorComponentNarrowsTheBootEgressToTheMirrorNamedInItsOneSettingsFile(@TempDir Path temp) {
        Path copy = Kustomize.copyOfRepository(temp);
        // With priority-routing in the listed order: its consumer-priority boots through the mirror too.
        Kustomize.enableComponent(copy, "priority-routing", "maven-mirror");
        Path settings = copy.resolve("k8s/components/maven-mirror/mirror.yaml");
        String url = "http://nexus.artifacts.svc:8082/repository/central/";
        Kustomize.write(settings, Kustomize.read(settings)
                .replaceFirst("(?m)^  url: .*$", "  url: " + url)
                .replaceFirst("(?m)^  namespace: .*$", "  namespace: artifacts")
                .replaceFirst("(?m)^  app: .*$", "  app: nexus")
                .replaceFirst("(?m)^  port: .*$", "  port: 8082"));
        Manifests rendered = Kustomize.render(copy);
        NetworkPolicies narrowed = policiesOf(rendered);
        Endpoint mirror = Endpoint.pod("artifacts", Map.of("app.kubernetes.io/name", "nexus"));

        List<String> deployments = rendered.all(Deployment.class).stream().map(d -> d.getMetadata().getName()).toList();
        assertThat(deployments).contains("producer", "consumer", "dead-letter", "consumer-priority");
        for (String name : deployments) {
            Endpoint workload = workload(rendered, name);
            assertThat(narrowed.allowsEgress(workload, mirror, "TCP", 8082)).as("%s → the mirror's pods", name).isTrue();
            assertThat(narrowed.allowsEgress(workload, SOMEWHERE_ON_THE_INTERNET, "TCP", 443)).as("%s → HTTPS anywhere", name).isFalse();
            assertThat(narrowed.allowsEgress(workload, Endpoint.pod("artifacts", Map.of("app.kubernetes.io/name", "other")), "TCP", 8082))
                    .as("%s → another pod beside the mirror", name).isFalse();
            assertThat(narrowed.allowsEgress(workload, KUBE_DNS, "UDP", 53)).as("%s DNS", name).isTrue();
            assertThat(rendered.one(Deployment.class, name).getSpec().getTemplate().getSpec().getContainers().get(0).getEnv())
                    .as("MAVEN_REPO_URL of %s", name).anySatisfy(env -> {
                        assertThat(env.getName()).isEqualTo("MAVEN_REPO_URL");
                        assertThat(env.getValue()).isEqualTo(url);
                    });
        }
        assertThat(rendered.json()).as("the settings object stays out of the cluster")
                .noneMatch(object -> "maven-mirror".equals(object.at("/metadata/name").asText()));
        assertThat(manifests.all(Deployment.class)).as("without the component: Maven Central, scripts/jbang's default")
                .allSatisfy(d -> assertThat(d.getSpec().getTemplate().getSpec().getContainers().get(0).getEnv())
                        .noneMatch(env -> env.getName().equals("MAVEN_REPO_URL")));
    }

    public static NetworkPolicies policiesOf(Manifests manifests) {
        return new NetworkPolicies(manifests.all(NetworkPolicy.class), manifests.all(Namespace.class).get(0).getMetadata().getName());
    }

    /** The pods of a Deployment as the policies see them. */
    public static Endpoint workload(Manifests manifests, String deployment) {
        Deployment workload = manifests.one(Deployment.class, deployment);
        Map<String, Integer> ports = workload.getSpec().getTemplate().getSpec().getContainers().stream()
                .flatMap(container -> container.getPorts().stream())
                .filter(port -> port.getName() != null)
                .collect(Collectors.toMap(ContainerPort::getName, ContainerPort::getContainerPort));
        return Endpoint.pod(workload.getMetadata().getNamespace(), Manifests.podLabels(workload), ports);
    }
}
