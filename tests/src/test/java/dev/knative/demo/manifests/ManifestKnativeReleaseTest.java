package dev.knative.demo.manifests;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.knative.demo.support.CrdSchemas;
import dev.knative.demo.support.KubernetesModels;
import dev.knative.demo.support.Kustomize;
import dev.knative.demo.support.Manifests;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The Knative objects use only fields the oldest Knative release scripts/install-knative.sh installs
 * declares: Broker, Trigger, SinkBinding and EventType against the CRDs of knative-v1.12.6 (Kubernetes 1.26). A component
 * may need a newer release, and its README says which ("Knative Eventing 1.15 or newer"): the EventPolicy kind
 * and the Trigger's {@code filters} are declared from knative-v1.15.5 on. The CRDs (knative/eventing
 * config/core/resources/ at those tags) keep unknown fields, so "declared" is checked here, not left to the API
 * server: a field the release does not know would be dropped or refused.
 */
class ManifestKnativeReleaseTest {

    /** The CRD of one release, copied into src/test/resources/crds/. */
    record Release(Runtime.Version version, JsonNode schema) {
        Release(String version, String crd, String apiVersion) {
            this(Runtime.Version.parse(version), CrdSchemas.schema(crd, apiVersion));
        }
    }

    static final Runtime.Version OLDEST_INSTALLED = Runtime.Version.parse("1.12");

    /** Kind → the releases whose CRD changed what it declares, oldest first. */
    static final Map<String, List<Release>> RELEASES = Map.of(
            "eventing.knative.dev/v1/Broker", List.of(new Release("1.12", "knative-v1.12.6_broker.yaml", "v1")),
            "eventing.knative.dev/v1/Trigger", List.of(new Release("1.12", "knative-v1.12.6_trigger.yaml", "v1"),
                    new Release("1.15", "knative-v1.15.5_trigger.yaml", "v1")),
            "sources.knative.dev/v1/SinkBinding", List.of(new Release("1.12", "knative-v1.12.6_sinkbindings.yaml", "v1")),
            "eventing.knative.dev/v1alpha1/EventPolicy", List.of(new Release("1.15", "knative-v1.15.5_eventpolicy.yaml", "v1alpha1")),
            "eventing.knative.dev/v1beta2/EventType", List.of(new Release("1.12", "knative-v1.12.6_eventtype.yaml", "v1beta2")),
            // eventing-kafka-broker's releases carry Knative's numbers.
            "eventing.knative.dev/v1alpha1/KafkaSink", List.of(new Release("1.12", "eventing-kafka-broker-v1.12.9_kafkasinks.yaml", "v1alpha1")),
            "sources.knative.dev/v1beta1/KafkaSource", List.of(new Release("1.12", "eventing-kafka-broker-v1.12.9_kafkasources.yaml", "v1beta1")));

    /**
     * Fields the CRDs leave to x-kubernetes-preserve-unknown-fields (every delivery) that Knative's Go types declare
     * behind a feature flag, which its webhook refuses while the flag is off: DeliverySpec.retryAfterMax
     * (pkg/apis/duck/v1/delivery_types.go since knative-v1.1.0), flag delivery-retryafter (alpha, "disabled" in
     * config/core/configmaps/features.yaml from knative-v1.12.6 to knative-v1.22.2). Path → flag.
     */
    static final Map<String, String> FEATURE_GATED = Map.of("spec.delivery.retryAfterMax", "delivery-retryafter");

    private static final Pattern README_NEEDS = Pattern.compile("Knative Eventing (\\d+\\.\\d+) or newer");

    @TempDir
    Path temp;

    @Test
    void theBasesBrokerTriggersAndSinkBindingUseOnlyFieldsKnative112Declares() {
        Map<String, Runtime.Version> oldest = oldestReleases(Kustomize.repository());

        assertThat(oldest.keySet()).containsExactlyInAnyOrder("eventing.knative.dev/v1/Broker default",
                "eventing.knative.dev/v1/Trigger demo-event", "eventing.knative.dev/v1/Trigger user-created",
                "eventing.knative.dev/v1/Trigger order-placed", "sources.knative.dev/v1/SinkBinding producer",
                "sources.knative.dev/v1/SinkBinding dead-letter",
                "eventing.knative.dev/v1beta2/EventType demo-event", "eventing.knative.dev/v1beta2/EventType user-created",
                "eventing.knative.dev/v1beta2/EventType order-placed");
        assertThat(oldest.values()).containsOnly(OLDEST_INSTALLED);
    }

    @Test
    void aTriggerWithFiltersNeedsKnative115() {
        ObjectNode trigger = Kustomize.repository().json().stream()
                .filter(object -> object.path("kind").asText().equals("Trigger")).findFirst().orElseThrow().deepCopy();
        ((ObjectNode) trigger.path("spec")).putArray("filters").addObject().put("cesql", "type = 'demo.event'");

        assertThat(oldestRelease(trigger)).isEqualTo(Runtime.Version.parse("1.15"));
    }

    static Stream<String> components() {
        return Kustomize.componentNames().stream();
    }

    @ParameterizedTest
    @MethodSource("components")
    void everyComponentsReadmeNamesTheOldestReleaseThatDeclaresEveryFieldOfItsKnativeObjects(String component) {
        Manifests rendered = Kustomize.renderWithComponent(temp, component);
        Runtime.Version needed = oldestReleases(rendered).values().stream()
                .max(Comparator.naturalOrder()).orElseThrow();
        Matcher stated = README_NEEDS.matcher(Kustomize.read(Kustomize.COMPONENTS.resolve(component).resolve("README.md")));
        Runtime.Version readme = stated.find() ? Runtime.Version.parse(stated.group(1)) : OLDEST_INSTALLED;

        assertThat(readme).as("the Knative release %s's README names (none: %s)", component, OLDEST_INSTALLED).isEqualTo(needed);
        String text = Kustomize.read(Kustomize.COMPONENTS.resolve(component).resolve("README.md"));
        rendered.json().forEach(object -> FEATURE_GATED.forEach((path, flag) -> {
            if (KubernetesModels.typeOf(object).contains("knative.dev/") && !object.at("/" + path.replace('.', '/')).isMissingNode())
                assertThat(text).as("%s's README names the feature flag %s of %s", component, flag, path).contains("`" + flag + "`");
        }));
    }

    @Test
    void retryAfterMaxIsDeclaredBehindItsFeatureFlagAndOtherUnknownDeliveryFieldsAreNot() {
        ObjectNode trigger = Kustomize.repository().json().stream()
                .filter(object -> object.path("kind").asText().equals("Trigger")).findFirst().orElseThrow().deepCopy();
        ((ObjectNode) trigger.at("/spec/delivery")).put("retryAfterMax", "PT10S");
        assertThat(oldestRelease(trigger)).isEqualTo(OLDEST_INSTALLED);

        ((ObjectNode) trigger.at("/spec/delivery")).put("retryAfterMaximum", "PT10S");
        assertThatThrownBy(() -> oldestRelease(trigger)).hasMessageContaining("spec.delivery.retryAfterMaximum");
    }

    /** "type name" of every Knative object of a render → the oldest release whose CRD declares all its fields. */
    private static Map<String, Runtime.Version> oldestReleases(Manifests manifests) {
        Map<String, Runtime.Version> oldest = new HashMap<>();
        for (ObjectNode object : manifests.json()) {
            String type = KubernetesModels.typeOf(object);
            if (type.contains("knative.dev/")) oldest.put(type + " " + object.at("/metadata/name").asText(), oldestRelease(object));
        }
        return oldest;
    }

    private static Runtime.Version oldestRelease(ObjectNode object) {
        String type = KubernetesModels.typeOf(object);
        assertThat(RELEASES).as("%s has known releases", type).containsKey(type);
        List<String> undeclared = new ArrayList<>();
        for (Release release : RELEASES.get(type)) {
            undeclared.clear();
            undeclared(release.schema().path("properties").path("spec"), object.path("spec"), "spec", undeclared);
            if (undeclared.isEmpty()) return release.version();
        }
        throw new AssertionError(type + " " + object.at("/metadata/name").asText() + ": fields no known release declares: " + undeclared);
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
            boolean keepsUnknown = schema.path("x-kubernetes-preserve-unknown-fields").asBoolean();
            value.fields().forEachRemaining(field -> {
                String child = path + "." + field.getKey();
                if (keepsUnknown && !schema.path("properties").has(field.getKey()) && FEATURE_GATED.containsKey(child)) return;
                undeclared(schema.path("properties").path(field.getKey()), field.getValue(), child, found);
            });
        }
    }
}
