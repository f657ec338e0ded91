package dev.knative.demo.observability;

import static org.assertj.core.api.Assertions.assertThat;

import dev.knative.demo.manifests.ManifestSchemaTest;
import dev.knative.demo.support.KubernetesModels;
import dev.knative.demo.support.Kustomize;
import dev.knative.demo.support.Manifests;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * k8s/components/tracing: the OpenTelemetry environment of the Deployments, and the keys for
 * Knative's config-observability that are applied on their own in knative-eventing.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class MonitoringTracingComponentTest {

    private static final Path KNATIVE_CONFIG = Kustomize.COMPONENTS.resolve("tracing/knative-config-observability.yaml");
    private static final Set<String> OTEL_ENV = Set.of("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_SERVICE_NAME");

    private Manifests rendered;

    @BeforeAll
    void render(@TempDir Path temp) {
        rendered = Kustomize.renderWithComponent(temp, "tracing");
    }

    @Test
    void everyDeploymentGetsTheCollectorAndItsComponentAsServiceName() {
        assertThat(rendered.all(Deployment.class)).hasSize(3).allSatisfy(deployment -> {
            Map<String, EnvVar> env = app(deployment).getEnv().stream().collect(Collectors.toMap(EnvVar::getName, e -> e));
            assertThat(env.get("OTEL_EXPORTER_OTLP_ENDPOINT").getValue()).startsWith("http://");
            assertThat(env.get("OTEL_EXPORTER_OTLP_PROTOCOL").getValue()).isEqualTo("http/protobuf");
            String label = env.get("OTEL_SERVICE_NAME").getValueFrom().getFieldRef().getFieldPath();
            assertThat(label).isEqualTo("metadata.labels['app.kubernetes.io/component']");
            assertThat(Manifests.podLabels(deployment)).containsEntry("app.kubernetes.io/component", deployment.getMetadata().getName());
        });
    }

    @Test
    void withPriorityRoutingInTheListedOrderThePriorityConsumerGetsTheCollectorToo(@TempDir Path temp) {
        Manifests both = Kustomize.renderWithComponent(temp, "priority-routing", "tracing");

        assertThat(both.all(Deployment.class)).hasSize(4).allSatisfy(deployment -> assertThat(app(deployment).getEnv())
                .extracting(EnvVar::getName).as(deployment.getMetadata().getName()).containsAll(OTEL_ENV));
    }

    @Test
    void theComponentChangesNothingButThatEnvironment() {
        assertThat(names(rendered)).isEqualTo(names(Kustomize.repository()));
        for (Deployment deployment : rendered.all(Deployment.class)) { // fresh models: changing them changes no render
            app(deployment).getEnv().removeIf(env -> OTEL_ENV.contains(env.getName()));
            assertThat(deployment).isEqualTo(Kustomize.repository().one(Deployment.class, deployment.getMetadata().getName()));
        }
        assertThat(rendered.json()).filteredOn(o -> !o.path("kind").asText().equals("Deployment"))
                .containsExactlyInAnyOrderElementsOf(Kustomize.repository().json().stream()
                        .filter(o -> !o.path("kind").asText().equals("Deployment")).toList());
    }

    @Test
    void knativesTracingKeysAreAConfigMapForKnativeEventingThatTheKustomizationLeavesOut() throws IOException {
        ObjectNode object = (ObjectNode) Kustomize.YAML.readTree(KNATIVE_CONFIG.toFile());
        ManifestSchemaTest.assertMatchesSchema(object);
        ConfigMap config = KubernetesModels.convert(object, ConfigMap.class);

        assertThat(config.getMetadata().getName()).isEqualTo("config-observability");
        assertThat(config.getMetadata().getNamespace()).isEqualTo("knative-eventing");
        assertThat(config.getData()).containsOnlyKeys("tracing-protocol", "tracing-endpoint", "tracing-sampling-rate");
        assertThat(rendered.json()).noneMatch(o -> o.at("/metadata/name").asText().equals("config-observability"));
    }

    /** Knative refuses to start on an invalid config-observability (knative.dev/pkg observability/tracing/config.go). */
    @Test
    void knativesTracingKeysAreValidAndPointAtTheSameCollectorAsTheDeployments() throws IOException {
        Map<String, String> data = KubernetesModels.convert(Kustomize.YAML.readTree(KNATIVE_CONFIG.toFile()), ConfigMap.class).getData();
        URI knative = URI.create(data.get("tracing-endpoint"));
        URI ours = URI.create(rendered.all(Deployment.class).get(0).getSpec().getTemplate().getSpec().getContainers().get(0)
                .getEnv().stream().filter(e -> e.getName().equals("OTEL_EXPORTER_OTLP_ENDPOINT")).findFirst().orElseThrow().getValue());

        assertThat(data.get("tracing-protocol")).isEqualTo("http/protobuf");
        assertThat(knative.getPath()).as("OTLP/HTTP takes the full URL").isEqualTo("/v1/traces");
        assertThat(Double.parseDouble(data.get("tracing-sampling-rate"))).isBetween(0.0, 1.0);
        assertThat(knative.getScheme() + "://" + knative.getAuthority()).isEqualTo(ours.getScheme() + "://" + ours.getAuthority());
        assertThat(ours.getPath()).as("an SDK appends /v1/traces to the base URL").isEmpty();
    }

    private static Container app(Deployment deployment) {
        return deployment.getSpec().getTemplate().getSpec().getContainers().get(0);
    }

    private static List<String> names(Manifests manifests) {
        return manifests.json().stream().map(o -> KubernetesModels.typeOf(o) + " " + o.at("/metadata/name").asText()).sorted().toList();
    }
}
