package dev.knative.demo.manifests;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.knative.demo.support.CrdSchemas;
import dev.knative.demo.support.KubernetesModels;
import dev.knative.demo.support.Kustomize;
import dev.knative.demo.support.Manifests;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The Knative objects use only fields the oldest Knative release scripts/install-knative.sh installs
 * declares: Broker, Trigger and SinkBinding against the CRDs of knative-v1.12.6 (Kubernetes 1.26), the
 * security component's EventPolicy against knative-v1.15.5, the first release with that kind. The CRDs
 * (knative/eventing config/core/resources/ at those tags) keep unknown fields, so "declared" is checked
 * here, not left to the API server: a field the release does not know would be dropped or refused.
 */
class ManifestKnativeReleaseTest {

    /** Kind → the CRD of the oldest release that serves it, copied into src/test/resources/crds/. */
    static final Map<String, JsonNode> OLDEST = Map.of(
            "eventing.knative.dev/v1/Broker", CrdSchemas.schema("knative-v1.12.6_broker.yaml", "v1"),
            "eventing.knative.dev/v1/Trigger", CrdSchemas.schema("knative-v1.12.6_trigger.yaml", "v1"),
            "sources.knative.dev/v1/SinkBinding", CrdSchemas.schema("knative-v1.12.6_sinkbindings.yaml", "v1"),
            "eventing.knative.dev/v1alpha1/EventPolicy", CrdSchemas.schema("knative-v1.15.5_eventpolicy.yaml", "v1alpha1"));

    @TempDir
    Path temp;

    @Test
    void theBasesBrokerTriggersAndSinkBindingUseOnlyFieldsKnative112Declares() {
        assertThat(checked(Kustomize.repository())).containsExactlyInAnyOrder("eventing.knative.dev/v1/Broker",
                "eventing.knative.dev/v1/Trigger", "eventing.knative.dev/v1/Trigger", "eventing.knative.dev/v1/Trigger",
                "sources.knative.dev/v1/SinkBinding");
    }

    static Stream<String> components() {
        return Kustomize.componentNames().stream();
    }

    @ParameterizedTest
    @MethodSource("components")
    void everyComponentsKnativeObjectsUseOnlyFieldsOfTheOldestReleaseServingTheirKind(String component) {
        checked(Kustomize.renderWithComponent(temp, component));
    }

    /** Checks every Knative object of a render; returns the kinds it checked. */
    private static List<String> checked(Manifests manifests) {
        List<String> kinds = new ArrayList<>();
        for (ObjectNode object : manifests.json()) {
            String type = KubernetesModels.typeOf(object);
            if (!type.contains("knative.dev/")) continue;
            assertThat(OLDEST).as("%s has a known oldest release", type).containsKey(type);
            List<String> undeclared = new ArrayList<>();
            undeclared(OLDEST.get(type).path("properties").path("spec"), object.path("spec"), "spec", undeclared);
            assertThat(undeclared).as("%s %s: fields its oldest release does not declare", type, object.at("/metadata/name").asText())
                    .isEmpty();
            kinds.add(type);
        }
        return kinds;
    }

    /** Paths of the value that the schema does not declare; a schema without properties is a free-form map. */
    private static void undeclared(JsonNode schema, JsonNode value, String path, List<String> found) {
        if (schema.isMissingNode()) {
            found.add(path);
            return;
        }
        if (value.isArray()) {
            for (int i = 0; i < value.size(); i++) undeclared(schema.path("items"), value.get(i), path + "[" + i + "]", found);
        } else if (value.isObject() && schema.has("properties")) {
            value.fields().forEachRemaining(field ->
                    undeclared(schema.path("properties").path(field.getKey()), field.getValue(), path + "." + field.getKey(), found));
        }
    }
}
