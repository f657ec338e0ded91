package dev.knative.demo.support;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.networknt.schema.JsonSchema;
import com.networknt.schema.JsonSchemaFactory;
import com.networknt.schema.SpecVersion.VersionFlag;
import com.networknt.schema.ValidationMessage;
import io.vertx.core.json.JsonObject;
import io.vertx.json.schema.Draft;
import io.vertx.json.schema.JsonSchemaOptions;
import io.vertx.json.schema.OutputFormat;
import io.vertx.json.schema.Validator;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * The event contract of a checkout: one Draft 2020-12 JSON Schema per type in k8s/schemas/&lt;type&gt;.json. Data is
 * checked by the validator consumer.java uses (networknt) and, as a second opinion, by Vert.x's vertx-json-schema: the
 * schemas must mean the same to both, so that they are the standard's and not one library's dialect.
 */
public final class EventContract {

    public static final String DRAFT = "https://json-schema.org/draft/2020-12/schema";
    /** The base of every schema's $id, which the producer sets as the events' dataschema. */
    public static final String ID_BASE = "https://knative-eventing-demo.example/schemas/";
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final JsonSchemaFactory FACTORY = JsonSchemaFactory.getInstance(VersionFlag.V202012);

    private final Map<String, JsonNode> schemas;

    private EventContract(Map<String, JsonNode> schemas) {
        this.schemas = schemas;
    }

    public static EventContract of(Path repositoryRoot) {
        Map<String, JsonNode> schemas = new TreeMap<>();
        try (Stream<Path> files = Files.list(repositoryRoot.resolve("k8s/schemas"))) {
            for (Path file : files.filter(f -> f.toString().endsWith(".json")).toList()) {
                String name = file.getFileName().toString();
                schemas.put(name.substring(0, name.length() - ".json".length()), JSON.readTree(file.toFile()));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return new EventContract(schemas);
    }

    public static EventContract ofRepository() {
        return of(Kustomize.REPO_ROOT);
    }

    /** The types, sorted: the names of the schema files. */
    public List<String> types() {
        return List.copyOf(schemas.keySet());
    }

    public JsonNode schema(String type) {
        JsonNode schema = schemas.get(type);
        if (schema == null) throw new AssertionError("no schema k8s/schemas/" + type + ".json");
        return schema;
    }

    /** What the type's schema refuses in the data, empty when it is valid; both validators must agree. */
    public List<String> violations(String type, String data) {
        JsonNode node;
        try {
            node = JSON.readTree(data);
        } catch (IOException e) {
            return List.of("not JSON: " + e.getMessage().lines().findFirst().orElse(""));
        }
        List<String> found = FACTORY.getSchema(schema(type)).validate(node).stream().map(ValidationMessage::getMessage).toList();
        Validator vertx = Validator.create(io.vertx.json.schema.JsonSchema.of(new JsonObject(schema(type).toString())),
                new JsonSchemaOptions().setDraft(Draft.DRAFT202012).setBaseUri(ID_BASE).setOutputFormat(OutputFormat.Basic));
        boolean vertxValid = vertx.validate(io.vertx.core.json.Json.decodeValue(data)).getValid();
        if (vertxValid != found.isEmpty())
            throw new AssertionError("the validators disagree on " + type + " " + data + ": networknt " + found
                    + ", vertx-json-schema " + (vertxValid ? "valid" : "invalid"));
        return found;
    }

    /** What the Draft 2020-12 meta-schema refuses in a schema file, empty when it is a valid schema. */
    public List<String> metaSchemaViolations(String type) {
        JsonSchema meta = FACTORY.getSchema(com.networknt.schema.SchemaLocation.of(DRAFT));
        return meta.validate(schema(type)).stream().map(ValidationMessage::getMessage).toList();
    }
}
