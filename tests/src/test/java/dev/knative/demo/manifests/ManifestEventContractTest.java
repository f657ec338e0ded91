package dev.knative.demo.manifests;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.knative.demo.support.EventContract;
import dev.knative.demo.support.Kustomize;
import dev.knative.demo.support.Manifests;
import dev.knative.demo.support.ScriptDeclarations;
import io.fabric8.knative.eventing.v1.Trigger;
import io.fabric8.knative.eventing.v1beta2.EventType;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * One contract, registered: the schema files of k8s/schemas are the event types, and every other place that names
 * the types (the Triggers, Knative's EventTypes, the unmatched-events Trigger's list, the producer's samples) names
 * exactly the same set; each EventType carries its schema as the consumer reads it.
 */
public class ManifestEventContractTest {

    @Test
    void theSchemaFilesTheTriggersTheEventTypesTheUnmatchedEventsListAndTheProducersSamplesNameTheSameTypes(@TempDir Path temp) {
        assertTypesInStep(Kustomize.REPO_ROOT, temp);
    }

    @Test
    void aTriggerWithoutItsSchemaBreaksTheCheck(@TempDir Path temp) {
        Path copy = Kustomize.copyOfRepository(temp.resolve("repo"));
        Kustomize.write(copy.resolve("k8s/triggers.yaml"), Kustomize.read(copy.resolve("k8s/triggers.yaml"))
                .replace("type: order.placed", "type: order.cancelled"));

        assertThatThrownBy(() -> assertTypesInStep(copy, temp.resolve("render"))).hasMessageContaining("order.cancelled");
    }

    /** Every list of the event types in a checkout of this repository agrees with its schema files. */
    public static void assertTypesInStep(Path root, Path temp) {
        List<String> schemas = EventContract.of(root).types();
        Manifests base = Kustomize.render(root);
        Path withUnmatched = Kustomize.copyOfRepository(temp, root);
        Kustomize.enableComponent(withUnmatched, "unmatched-events");
        Trigger unmatched = Kustomize.render(withUnmatched).one(Trigger.class, "unmatched-events");

        assertThat(base.all(Trigger.class)).extracting(trigger -> trigger.getSpec().getFilter().getAttributes().get("type"))
                .as("types the Triggers filter (k8s/triggers.yaml), against k8s/schemas/*.json").containsExactlyInAnyOrderElementsOf(schemas);
        assertThat(base.all(EventType.class)).extracting(eventType -> eventType.getSpec().getType())
                .as("types of the EventTypes (k8s/event-types.yaml)").containsExactlyInAnyOrderElementsOf(schemas);
        assertThat(unmatched.getSpec().getFilters().get(0).getNot().getAny()).extracting(known -> known.getExact().get("type"))
                .as("types the unmatched-events Trigger leaves to the others").containsExactlyInAnyOrderElementsOf(schemas);
        assertThat(ScriptDeclarations.declaredEventTypes(root.resolve("producer.java")))
                .as("types the producer has a sample of (SAMPLE_TYPES)").containsExactlyInAnyOrderElementsOf(schemas);
        assertThat(generated(base, "event-schemas").getData().keySet()).as("keys of the event-schemas ConfigMap")
                .containsExactlyInAnyOrderElementsOf(schemas.stream().map(type -> type + ".json").toList());
        assertThat(base.all(EventType.class)).allSatisfy(eventType -> {
            String type = eventType.getSpec().getType();
            assertThat(eventType.getSpec().getSchemaData()).as("schemaData of EventType %s", type)
                    .isEqualTo(Kustomize.read(root.resolve("k8s/schemas/" + type + ".json")));
            assertThat(eventType.getSpec().getSchema()).as("schema of EventType %s", type)
                    .isEqualTo(EventContract.of(root).schema(type).path("$id").asText());
            assertThat(eventType.getSpec().getReference().getKind()).isEqualTo("Broker");
            assertThat(eventType.getSpec().getReference().getName()).isEqualTo("default");
        });
    }

    static Stream<String> types() {
        return EventContract.ofRepository().types().stream();
    }

    @ParameterizedTest
    @MethodSource("types")
    void everySchemaIsADraft202012SchemaWhoseIdAndTitleNameItsType(String type) {
        EventContract contract = EventContract.ofRepository();

        assertThat(contract.metaSchemaViolations(type)).as("k8s/schemas/%s.json against the 2020-12 meta-schema", type).isEmpty();
        assertThat(contract.schema(type).path("$schema").asText()).isEqualTo(EventContract.DRAFT);
        assertThat(contract.schema(type).path("$id").asText()).isEqualTo(EventContract.ID_BASE + type + ".json");
        assertThat(contract.schema(type).path("title").asText()).isEqualTo(type);
        assertThat(contract.schema(type).path("type").asText()).as("data is a JSON object").isEqualTo("object");
    }

    @Test
    void everyDeploymentRunningTheConsumerMountsTheWholeSchemasConfigMapWhereEventSchemasPoints(@TempDir Path temp) {
        // The base's consumer and dead-letter display, and the second consumer of k8s/components/priority-routing.
        for (Manifests manifests : List.of(Kustomize.repository(), Kustomize.renderWithComponent(temp, "priority-routing"))) {
            ConfigMap schemas = generated(manifests, "event-schemas");
            List<Deployment> consumers = manifests.all(Deployment.class).stream()
                    .filter(deployment -> deployment.getSpec().getTemplate().getSpec().getContainers().get(0).getArgs().stream()
                            .anyMatch(arg -> arg.endsWith("/consumer.java")))
                    .toList();
            assertThat(consumers).extracting(deployment -> deployment.getMetadata().getName()).contains("consumer", "dead-letter");
            for (Deployment deployment : consumers) {
                String name = deployment.getMetadata().getName();
                Container app = deployment.getSpec().getTemplate().getSpec().getContainers().get(0);
                String directory = app.getEnv().stream().filter(env -> env.getName().equals("EVENT_SCHEMAS"))
                        .map(EnvVar::getValue).findFirst().orElseThrow(() -> new AssertionError(name + " sets no EVENT_SCHEMAS"));
                assertThat(manifests.configMapMountedAt(deployment, directory).getMetadata().getName())
                        .as("mounted at %s in %s", directory, name).isEqualTo(schemas.getMetadata().getName());
                // podman 4.3's kube play refuses items with nested paths: every key is a file of its own, mounted whole.
                assertThat(deployment.getSpec().getTemplate().getSpec().getVolumes())
                        .filteredOn(volume -> volume.getConfigMap() != null
                                && volume.getConfigMap().getName().equals(schemas.getMetadata().getName()))
                        .singleElement().satisfies(volume -> assertThat(volume.getConfigMap().getItems()).isNullOrEmpty());
            }
        }
    }

    @Test
    void theSchemaCheckRejectsAMisspelledEventTypeField() {
        ObjectNode eventType = Kustomize.repository().json().stream()
                .filter(object -> object.path("kind").asText().equals("EventType")).findFirst().orElseThrow().deepCopy();
        ((ObjectNode) eventType.path("spec")).put("schemaURI", "https://example.com/x.json");

        assertThatThrownBy(() -> ManifestSchemaTest.assertMatchesSchema(eventType)).hasMessageContaining("$.spec.schemaURI");
    }

    private static ConfigMap generated(Manifests manifests, String prefix) {
        return manifests.all(ConfigMap.class).stream().filter(config -> config.getMetadata().getName().startsWith(prefix + "-"))
                .findFirst().orElseThrow(() -> new AssertionError("no generated ConfigMap " + prefix + "-<hash>"));
    }
}
