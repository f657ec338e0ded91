package dev.knative.demo.scripts;

import static dev.knative.demo.support.CloudEventsHttp.event;
import static org.assertj.core.api.Assertions.assertThat;

import dev.knative.demo.manifests.ManifestEventContractTest;
import dev.knative.demo.support.CloudEventsHttp;
import dev.knative.demo.support.Kustomize;
import dev.knative.demo.support.Manifests;
import dev.knative.demo.support.Readme;
import dev.knative.demo.support.ScriptProcess;
import io.fabric8.knative.eventing.v1.Trigger;
import io.fabric8.knative.eventing.v1beta2.EventType;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.client.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The README's "Add an event type", followed to the letter in a copy of the repository: its code blocks, in order, go
 * where its steps say. The copy then renders the fourth type's Trigger and EventType with every list in step, and the
 * copy's consumer takes the type: the copy's producer delivers its sample, and data that breaks the schema gets 400.
 */
class AddEventTypeTest {

    static final Duration WAIT = Duration.ofSeconds(120);

    @Test
    void theReadmesStepsAddAFourthTypeThatIsRenderedRegisteredAcceptedWhenValidAndRefusedWhenNot(@TempDir Path temp) {
        Path copy = Kustomize.copyOfRepository(temp.resolve("repo"));
        List<String> blocks = codeBlocks(Readme.section(Readme.text().lines().toList(), 3, "Add an event type"));
        assertThat(blocks).as("code blocks of the README's steps").hasSize(7);

        Kustomize.write(copy.resolve("k8s/schemas/invoice.paid.json"), blocks.get(0));
        insertAfter(copy.resolve("kustomization.yaml"), "      - k8s/schemas/order.placed.json\n", blocks.get(1));
        insertAfter(copy.resolve("kustomization.yaml"),
                "    targets: [{select: {kind: EventType, name: order-placed}, fieldPaths: [spec.schemaData]}]\n", blocks.get(2));
        append(copy.resolve("k8s/triggers.yaml"), blocks.get(3));
        append(copy.resolve("k8s/event-types.yaml"), blocks.get(4));
        insertAfter(copy.resolve("k8s/components/unmatched-events/trigger.yaml"), "              type: order.placed\n", blocks.get(5));
        insertAfter(copy.resolve("producer.java"), "    static final List<Sample> SAMPLE_TYPES = List.of(\n", blocks.get(6));

        Manifests rendered = Kustomize.render(copy);
        assertThat(rendered.one(Trigger.class, "invoice-paid").getSpec().getFilter().getAttributes()).containsEntry("type", "invoice.paid");
        assertThat(rendered.one(EventType.class, "invoice-paid").getSpec().getSchemaData()).isEqualTo(blocks.get(0));
        ManifestEventContractTest.assertTypesInStep(copy, temp.resolve("render"));

        Map<String, String> env = Map.of("PORT", "0", "PROCESSING_TIME_MS", "0",
                "EVENT_SCHEMAS", copy.resolve("k8s/schemas").toString());
        try (ScriptProcess consumer = ScriptProcess.run("consumer.java",
                List.of(copy.resolve("scripts/jbang").toString(), copy.resolve("consumer.java").toString()), env)) {
            int port = consumer.awaitLog(line -> line.getInteger("port", -1) > 0, ScriptProcess.START_TIMEOUT).getInteger("port");
            try (ScriptProcess producer = ScriptProcess.run("producer.java", List.of(copy.resolve("scripts/jbang").toString(),
                    copy.resolve("producer.java").toString(), "--once", "invoice.paid", "--sink", "http://127.0.0.1:" + port), Map.of());
                 CloudEventsHttp http = new CloudEventsHttp(port)) {
                assertThat(producer.awaitExit(WAIT)).as(producer.describe()).isZero();
                JsonObject processed = consumer.awaitLog(line -> "invoice.paid".equals(line.getString("type")), WAIT);
                assertThat(processed.getString("outcome")).isEqualTo("processed");

                HttpResponse<Buffer> refused = http.binary(event("invoice.paid", new JsonObject().put("invoice_id", "i-1").put("amount", 0)));
                assertThat(refused.statusCode()).isEqualTo(400);
                assertThat(refused.bodyAsString()).contains("data.amount", "exclusiveMinimum", "invoice.paid");
            }
        }
    }

    /** The text of each fenced code block, without the indentation of its fence (a list item's). */
    static List<String> codeBlocks(List<String> lines) {
        List<String> blocks = new ArrayList<>();
        StringBuilder block = null;
        int indent = 0;
        for (String line : lines) {
            if (line.trim().startsWith("```")) {
                if (block == null) {
                    block = new StringBuilder();
                    indent = line.indexOf('`');
                } else {
                    blocks.add(block.toString());
                    block = null;
                }
            } else if (block != null) {
                block.append(line.length() > indent ? line.substring(indent) : line.strip()).append('\n');
            }
        }
        return blocks;
    }

    private static void insertAfter(Path file, String anchor, String text) {
        String content = Kustomize.read(file);
        assertThat(content).as("%s has the line the README's step names", file).containsOnlyOnce(anchor);
        Kustomize.write(file, content.replace(anchor, anchor + text));
    }

    private static void append(Path file, String text) {
        Kustomize.write(file, Kustomize.read(file) + text);
    }
}
