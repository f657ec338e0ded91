package dev.knative.demo.support;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Kinds without a fabric8 model, checked against the openAPIV3Schema of their CRD, copied into
 * src/test/resources/crds/: every field known, of the declared type and enum, every required field present.
 */
public final class CrdSchemas {

    // EventType: the version every supported release serves, from the oldest (its schema is the same up to 1.22).
    private static final Map<String, JsonNode> SCHEMAS = Map.of(
            "cert-manager.io/v1/Certificate", schema("cert-manager.io_certificates.yaml", "v1"),
            "eventing.knative.dev/v1alpha1/KafkaSink", schema("eventing-kafka-broker-v1.12.9_kafkasinks.yaml", "v1alpha1"),
            // The oldest release's schema: the kafka-dead-letters component uses only what knative-v1.12.9 declares.
            "sources.knative.dev/v1beta1/KafkaSource", schema("eventing-kafka-broker-v1.12.9_kafkasources.yaml", "v1beta1"),
            // eventing-kafka-broker knative-v1.22.3 control-plane/config/eventing-kafka-broker/100-source/100-kafka-source.yaml
            "sources.knative.dev/v1/KafkaSource", schema("kafka-knative-v1.22.3_kafkasources.yaml", "v1"),
            "keda.sh/v1alpha1/ScaledObject", schema("keda.sh_scaledobjects.yaml", "v1alpha1"),
            "eventing.knative.dev/v1beta2/EventType", schema("knative-v1.12.6_eventtype.yaml", "v1beta2"));

    private static final Set<String> API_SERVERS = Set.of("apiVersion", "kind", "metadata");

    private CrdSchemas() {}

    public static Optional<JsonNode> schemaOf(JsonNode object) {
        return Optional.ofNullable(SCHEMAS.get(KubernetesModels.typeOf(object)));
    }

    /**
     * What the schema refuses in the object (empty when it is valid). apiVersion, kind and metadata are the API
     * server's, not the CRD's: some CRDs declare them, Knative's do not.
     */
    public static List<String> violations(JsonNode object) {
        JsonNode schema = schemaOf(object).orElseThrow(() -> new IllegalArgumentException(KubernetesModels.typeOf(object)));
        List<String> found = new ArrayList<>();
        object.fields().forEachRemaining(field -> {
            if (!API_SERVERS.contains(field.getKey())) check(schema.path("properties").path(field.getKey()), field.getValue(),
                    "$." + field.getKey(), found);
        });
        return found;
    }

    private static void check(JsonNode schema, JsonNode value, String path, List<String> found) {
        if (schema.isMissingNode()) {
            found.add(path + " is not in the schema");
            return;
        }
        if (schema.path("x-kubernetes-preserve-unknown-fields").asBoolean()
                || schema.path("x-kubernetes-int-or-string").asBoolean()) return;
        String type = schema.path("type").asText();
        boolean typed = switch (type) {
            case "object" -> value.isObject();
            case "array" -> value.isArray();
            case "string" -> value.isTextual();
            case "integer" -> value.isIntegralNumber();
            case "number" -> value.isNumber();
            case "boolean" -> value.isBoolean();
            default -> true;
        };
        if (!typed) found.add(path + " is not of type " + type + ": " + value);
        if (schema.has("enum") && !schema.get("enum").toString().contains(value.toString()))
            found.add(path + " is " + value + ", not one of " + schema.get("enum"));
        if (value.isArray()) for (int i = 0; i < value.size(); i++) check(schema.path("items"), value.get(i), path + "[" + i + "]", found);
        if (value.isObject()) {
            schema.path("required").forEach(required -> {
                if (!value.has(required.asText())) found.add(path + "." + required.asText() + " is required");
            });
            value.fields().forEachRemaining(field -> check(schema.has("properties")
                    ? schema.path("properties").path(field.getKey()) : schema.path("additionalProperties"),
                    field.getValue(), path + "." + field.getKey(), found));
        }
    }

    /** The openAPIV3Schema a CRD in src/test/resources/crds/ serves for a version. */
    public static JsonNode schema(String file, String version) {
        try (InputStream in = CrdSchemas.class.getResourceAsStream("/crds/" + file)) {
            // SnakeYAML resolves the merge keys (<<: *version) older Knative CRDs declare a version with.
            JsonNode crd = Kustomize.YAML.valueToTree(new org.yaml.snakeyaml.Yaml().load(in));
            for (JsonNode served : crd.path("spec").path("versions"))
                if (served.path("name").asText().equals(version)) return served.at("/schema/openAPIV3Schema");
            throw new IllegalStateException(file + " has no version " + version);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
