package dev.knative.demo.manifests;

import static org.assertj.core.api.Assertions.assertThat;

import dev.knative.demo.support.KubernetesModels;
import dev.knative.demo.support.Kustomize;
import dev.knative.demo.support.Manifests;
import io.fabric8.knative.eventing.v1.Broker;
import io.fabric8.knative.eventing.v1.Trigger;
import io.fabric8.kubernetes.api.model.ConfigMap;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The optional features under k8s/components/: listed in the root kustomization, documented, and doing what they say. */
class ManifestComponentsTest {

    @Test
    void everyComponentIsListedCommentedOutInTheRootKustomizationAndHasAReadme() {
        String root = Kustomize.read(Kustomize.REPO_ROOT.resolve("kustomization.yaml"));

        assertThat(Kustomize.componentNames()).containsExactlyInAnyOrder("kafka-broker", "kafka-channel", "monitoring", "nats-jetstream-channel", "tls", "tracing");
        assertThat(root).contains("\n# components:\n");
        for (String component : Kustomize.componentNames()) {
            assertThat(root).contains("\n#   - k8s/components/" + component + "\n");
            assertThat(Kustomize.COMPONENTS.resolve(component).resolve("README.md")).isNotEmptyFile();
            assertThat(Files.exists(Kustomize.COMPONENTS.resolve(component).resolve("kustomization.yaml"))).isTrue();
        }
    }

    @ParameterizedTest(name = "{0} makes the Broker store events in a {2}")
    @CsvSource({
        "'',                     messaging.knative.dev/v1,       InMemoryChannel",
        "kafka-channel,          messaging.knative.dev/v1beta1,  KafkaChannel",
        "nats-jetstream-channel, messaging.knative.dev/v1alpha1, NatsJetStreamChannel"})
    void aChannelComponentReplacesTheChannelTemplateOfTheChannelBasedBroker(
            String component, String apiVersion, String kind, @TempDir Path temp) {
        Manifests rendered = component.isEmpty() ? Kustomize.repository() : Kustomize.renderWithComponent(temp, component);
        Broker broker = rendered.one(Broker.class, "default");
        Map<String, Object> template = Manifests.channelTemplate(rendered.one(ConfigMap.class, broker.getSpec().getConfig().getName()));

        assertThat(broker.getMetadata().getAnnotations()).containsEntry("eventing.knative.dev/broker.class", "MTChannelBasedBroker");
        assertThat(template).containsEntry("apiVersion", apiVersion).containsEntry("kind", kind);
        assertThat(template.keySet()).isSubsetOf("apiVersion", "kind", "spec");
        KubernetesModels.modelOf(Kustomize.YAML.valueToTree(template)).ifPresent(model ->
                assertThat(KubernetesModels.unknownFields(Kustomize.YAML.convertValue(template, model)))
                        .as("template fields unknown to %s", model.getName()).isEmpty());
    }

    @Test
    void theKafkaBrokerComponentSwitchesTheBrokerClassAndPointsItAtTheKafkaConfig(@TempDir Path temp) {
        Manifests rendered = Kustomize.renderWithComponent(temp, "kafka-broker");
        Broker broker = rendered.one(Broker.class, "default");
        ConfigMap kafka = rendered.one(ConfigMap.class, broker.getSpec().getConfig().getName());

        assertThat(broker.getMetadata().getAnnotations()).containsEntry("eventing.knative.dev/broker.class", "Kafka");
        assertThat(kafka.getMetadata().getName()).isEqualTo("kafka-broker-config");
        assertThat(kafka.getData()).containsKeys("bootstrap.servers", "default.topic.partitions", "default.topic.replication.factor");
        assertThat(rendered.find(ConfigMap.class, "broker-channel-config")).as("the unused channel template is gone").isEmpty();
        assertThat(rendered.all(Trigger.class)).isEqualTo(Kustomize.repository().all(Trigger.class));
    }

}
