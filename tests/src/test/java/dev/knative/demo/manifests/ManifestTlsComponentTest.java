package dev.knative.demo.manifests;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.knative.demo.support.Kustomize;
import dev.knative.demo.support.Manifests;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** k8s/components/tls: Knative reaches the consumer and the dead-letter display over HTTPS, with a cert-manager certificate. */
class ManifestTlsComponentTest {

    @TempDir
    static Path temp;
    static Manifests rendered;

    @BeforeAll
    static void render() {
        rendered = Kustomize.renderWithComponent(temp, "tls");
    }

    private static List<JsonNode> all(String kind) {
        return rendered.json().stream().filter(object -> object.path("kind").asText().equals(kind))
                .map(JsonNode.class::cast).toList();
    }

    private static JsonNode one(Manifests manifests, String kind, String name) {
        return manifests.json().stream().filter(object -> object.path("kind").asText().equals(kind)
                && object.at("/metadata/name").asText().equals(name)).findFirst()
                .orElseThrow(() -> new AssertionError("no " + kind + " " + name));
    }

    @Test
    void everyTriggerCallsTheConsumerAndDeadLettersOverHttpsTrustingTheCaOfCaCrtWithTheBasesRetryPolicy() {
        String ca = Kustomize.read(Kustomize.COMPONENTS.resolve("tls/ca.crt"));
        JsonNode baseDelivery = one(Kustomize.repository(), "Trigger", "demo-event").at("/spec/delivery");

        assertThat(all("Trigger")).hasSize(3).allSatisfy(trigger -> {
            JsonNode subscriber = trigger.at("/spec/subscriber");
            JsonNode deadLetterSink = trigger.at("/spec/delivery/deadLetterSink");
            assertThat(subscriber.has("ref")).isFalse();
            assertThat(subscriber.path("uri").asText()).isEqualTo("https://consumer.knative-demo.svc.cluster.local");
            assertThat(subscriber.path("CACerts").asText()).isEqualTo(ca);
            assertThat(deadLetterSink.has("ref")).isFalse();
            assertThat(deadLetterSink.path("uri").asText()).isEqualTo("https://dead-letter.knative-demo.svc.cluster.local");
            assertThat(deadLetterSink.path("CACerts").asText()).isEqualTo(ca);
            for (String field : List.of("retry", "backoffPolicy", "backoffDelay"))
                assertThat(trigger.at("/spec/delivery/" + field)).as(field).isEqualTo(baseDelivery.path(field));
        });
        assertThat(all("ConfigMap")).as("the CA's ConfigMap only feeds the render")
                .noneMatch(map -> map.at("/metadata/name").asText().equals("receivers-ca"));
    }

    @Test
    void theCertificateNamesTheHostsTheTriggersCall() {
        JsonNode certificate = one(rendered, "Certificate", "receivers-tls");
        List<String> dnsNames = new ArrayList<>();
        certificate.at("/spec/dnsNames").forEach(name -> dnsNames.add(name.asText()));

        assertThat(dnsNames).contains("consumer.knative-demo.svc.cluster.local", "dead-letter.knative-demo.svc.cluster.local");
        assertThat(certificate.at("/spec/issuerRef/name").asText()).isNotBlank();
        assertThat(certificate.at("/spec/privateKey/encoding").asText()).isEqualTo("PKCS8");
    }

    @Test
    void theReceiversServeHttpsFromTheCertificatesSecretAndProbeWithSchemeHttps() {
        String secret = one(rendered, "Certificate", "receivers-tls").at("/spec/secretName").asText();
        for (String name : List.of("consumer", "dead-letter")) {
            JsonNode pod = one(rendered, "Deployment", name).at("/spec/template/spec");
            JsonNode app = pod.at("/containers/0");
            String volume = null;
            for (JsonNode v : pod.path("volumes")) if (v.at("/secret/secretName").asText().equals(secret)) volume = v.path("name").asText();
            String mountPath = null;
            for (JsonNode m : app.path("volumeMounts")) if (m.path("name").asText().equals(volume)) mountPath = m.path("mountPath").asText();

            assertThat(mountPath).as(name + " mounts the Secret " + secret).isNotNull();
            assertThat(env(app, "TLS_CERT_FILE")).isEqualTo(mountPath + "/tls.crt");
            assertThat(env(app, "TLS_KEY_FILE")).isEqualTo(mountPath + "/tls.key");
            for (String probe : List.of("startupProbe", "readinessProbe", "livenessProbe"))
                assertThat(app.at("/" + probe + "/httpGet/scheme").asText()).as(name + " " + probe).isEqualTo("HTTPS");
            assertThat(app.at("/ports/0/name").asText()).isEqualTo("http");

            JsonNode port = one(rendered, "Service", name).at("/spec/ports");
            assertThat(port).hasSize(1);
            assertThat(port.at("/0/port").asInt()).isEqualTo(443);
            assertThat(port.at("/0/targetPort").asText()).isEqualTo("http");
        }
        assertThat(one(rendered, "Deployment", "producer")).isEqualTo(one(Kustomize.repository(), "Deployment", "producer"));
    }

    @Test
    void theProducerMayReachTheBrokerIngressOnItsHttpsPodPortAndTheReceiversPolicyStillCoversTheirPodPort() {
        List<Integer> ports = new ArrayList<>();
        one(rendered, "NetworkPolicy", "producer-egress-to-broker-ingress").at("/spec/egress/0/ports")
                .forEach(port -> ports.add(port.path("port").asInt()));

        assertThat(ports).containsExactly(8080, 8443);
        assertThat(one(rendered, "NetworkPolicy", "receivers-ingress-from-knative").at("/spec/ingress/0/ports/0/port").asText())
                .isEqualTo("http");
    }

    private static String env(JsonNode container, String name) {
        for (JsonNode e : container.path("env")) if (e.path("name").asText().equals(name)) return e.path("value").asText();
        return null;
    }
}
