package dev.knative.demo.manifests;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.DynamicTest.dynamicTest;

import dev.knative.demo.support.CrdSchemas;
import dev.knative.demo.support.KubernetesModels;
import dev.knative.demo.support.Kustomize;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every rendered object is of a kind the project expects and matches its Kubernetes or Knative
 * schema exactly: no field the schema does not know (a typo a real API server may keep silently:
 * a Trigger's spec and every delivery preserve unknown fields), and nothing the schema drops.
 */
public class ManifestSchemaTest {

    @TestFactory
    Stream<DynamicTest> everyObjectOfTheRootRenderMatchesItsSchema() {
        return Kustomize.repository().json().stream()
                .map(object -> dynamicTest(describe(object), () -> assertMatchesSchema(object)));
    }

    @TestFactory
    Stream<DynamicTest> everyObjectOfEachComponentRenderMatchesItsSchema(@TempDir Path temp) {
        return Kustomize.componentNames().stream().flatMap(component ->
                Kustomize.renderWithComponent(temp.resolve(component), component).json().stream()
                        .map(object -> dynamicTest(component + ": " + describe(object), () -> assertMatchesSchema(object))));
    }

    @Test
    void theSchemaCheckRejectsAMisspelledField() {
        ObjectNode deployment = rendered("Deployment", "consumer");
        ((ObjectNode) deployment.at("/spec/template/spec/containers/0")).put("comand", "java");

        assertThatThrownBy(() -> assertMatchesSchema(deployment))
                .hasMessageContaining("spec.template.spec.containers[0]")
                .hasMessageContaining("comand");
    }

    @Test
    void theSchemaCheckRejectsAMisspelledDeliveryFieldThatAnApiServerWouldKeep() {
        ObjectNode trigger = rendered("Trigger", "demo-event");
        ((ObjectNode) trigger.at("/spec/delivery")).put("backofDelay", "PT1S");

        assertThatThrownBy(() -> assertMatchesSchema(trigger)).hasMessageContaining("backofDelay");
    }

    @Test
    void theSchemaCheckRejectsAMisspelledEventPolicyField(@TempDir Path temp) {
        ObjectNode policy = Kustomize.renderWithComponent(temp, "security").json().stream()
                .filter(object -> object.path("kind").asText().equals("EventPolicy")).findFirst().orElseThrow().deepCopy();
        ((ObjectNode) policy.at("/spec/from/0/ref")).put("nmae", "producer");

        assertThatThrownBy(() -> assertMatchesSchema(policy)).hasMessageContaining("spec.from[0].ref").hasMessageContaining("nmae");
    }

    @Test
    void theCrdSchemaCheckRejectsAMisspelledCertificateFieldAndAValueOutsideItsEnum(@TempDir Path temp) {
        ObjectNode certificate = (ObjectNode) Kustomize.renderWithComponent(temp, "tls").json().stream()
                .filter(object -> object.path("kind").asText().equals("Certificate")).findFirst().orElseThrow().deepCopy();
        ((ObjectNode) certificate.at("/spec")).put("dnsName", "consumer");
        ((ObjectNode) certificate.at("/spec/privateKey")).put("encoding", "PKCS12");

        assertThatThrownBy(() -> assertMatchesSchema(certificate))
                .hasMessageContaining("$.spec.dnsName is not in the schema")
                .hasMessageContaining("$.spec.privateKey.encoding is \"PKCS12\"");
    }

    @Test
    void theCrdSchemaCheckRejectsAMisspelledScaledObjectField(@TempDir Path temp) {
        ObjectNode scaled = (ObjectNode) Kustomize.renderWithComponent(temp, "autoscaling-keda").json().stream()
                .filter(object -> object.path("kind").asText().equals("ScaledObject")).findFirst().orElseThrow().deepCopy();
        ((ObjectNode) scaled.at("/spec")).put("minReplicas", 2);

        assertThatThrownBy(() -> assertMatchesSchema(scaled)).hasMessageContaining("$.spec.minReplicas is not in the schema");
    }

    @Test
    void theSchemaCheckRejectsAnUnexpectedKind() {
        ObjectNode unexpected = rendered("Service", "consumer");
        unexpected.put("apiVersion", "serving.knative.dev/v1");

        assertThatThrownBy(() -> assertMatchesSchema(unexpected)).hasMessageContaining("serving.knative.dev/v1/Service");
    }

    /** Reads the object into its model, then checks that nothing was unknown and nothing got lost. */
    public static void assertMatchesSchema(ObjectNode object) {
        if (CrdSchemas.schemaOf(object).isPresent()) {
            assertThat(CrdSchemas.violations(object)).as("%s against its CRD's schema", describe(object)).isEmpty();
            return;
        }
        Class<?> model = KubernetesModels.modelOf(object).orElseThrow(() -> new AssertionError(
                KubernetesModels.typeOf(object) + " is not a kind this project renders (see KubernetesModels)"));
        Object parsed = KubernetesModels.convert(object, model);

        assertThat(KubernetesModels.unknownFields(parsed)).as("%s: fields unknown to %s", describe(object), model.getName()).isEmpty();
        JsonNode back = KubernetesModels.reserialized(parsed);
        assertThat(KubernetesModels.sameJson(object, back))
                .as("%s reads into %s and back unchanged%n rendered: %s%n model:    %s", describe(object), model.getSimpleName(), object, back)
                .isTrue();
    }

    private static ObjectNode rendered(String kind, String name) {
        return Kustomize.repository().json().stream()
                .filter(object -> object.path("kind").asText().equals(kind) && object.at("/metadata/name").asText().equals(name))
                .findFirst()
                .orElseThrow(() -> new AssertionError("no " + kind + " " + name + " in the render"))
                .deepCopy();
    }

    private static String describe(JsonNode object) {
        return KubernetesModels.typeOf(object) + " " + object.at("/metadata/name").asText();
    }
}
