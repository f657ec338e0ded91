package dev.knative.demo.programs;

import static org.assertj.core.api.Assertions.assertThat;

import dev.knative.demo.support.CloudEventsHttp;
import dev.knative.demo.support.ScriptProcess;
import dev.knative.demo.support.TestCertificates;
import dev.knative.demo.support.TestSink;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Knative's transport-encryption, played over real TLS with a CA made for the test: the producer sends to an https
 * Broker address trusting K_CA_CERTS, and the consumer serves HTTPS from a mounted certificate and key.
 */
class TransportEncryptionTest {

    static final Duration RUN = Duration.ofSeconds(120);

    @TempDir
    static Path certificates;
    static TestCertificates ca;
    static TestCertificates.Server server;

    @BeforeAll
    static void makeACertificateAuthorityAndAServerCertificate() {
        ca = TestCertificates.authority(certificates, "test-ca");
        server = ca.server("server");
    }

    private static Map<String, String> producerEnv(TestSink sink, String... pairs) {
        Map<String, String> env = new java.util.HashMap<>(Map.of("K_SINK", sink.url(), "RETRY_INITIAL_MS", "20",
                "RETRY_MAX_MS", "200", "SEND_TIMEOUT_MS", ProducerTest.SEND_TIMEOUT_MS));
        for (int i = 0; i < pairs.length; i += 2) env.put(pairs[i], pairs[i + 1]);
        return env;
    }

    @Test
    void producerDeliversToAnHttpsSinkWhoseCaIsInKCaCerts() {
        try (TestSink sink = TestSink.startHttps(server);
             ScriptProcess producer = ScriptProcess.start("producer.java",
                     producerEnv(sink, "K_CA_CERTS", ca.caPem()), "--once", "order.placed")) {
            assertThat(producer.awaitExit(RUN)).as(producer.describe()).isZero();
            assertThat(sink.url()).startsWith("https://");
            assertThat(sink.received()).singleElement()
                    .satisfies(r -> assertThat(r.event().getType()).isEqualTo("order.placed"));
        }
    }

    @Test
    void withoutTheCaTheProducerRetriesAndEachRetryLineSaysTheTlsHandshakeFailedOnTheCertificate() {
        try (TestSink sink = TestSink.startHttps(server);
             ScriptProcess producer = ScriptProcess.start("producer.java", producerEnv(sink, "MAX_ATTEMPTS", "3"),
                     "--once", "demo.event")) {
            assertThat(producer.awaitExit(RUN)).as(producer.describe()).isEqualTo(1);
            assertThat(sink.received()).isEmpty();
            assertThat(producer.messages("retry")).hasSize(2).allSatisfy(line -> assertThat(line.getString("reason"))
                    .startsWith("TLS handshake with the sink failed: ").contains("PKIX"));
            assertThat(producer.messages("failed")).singleElement()
                    .satisfies(line -> assertThat(line.getString("reason")).contains("certification path"));
        }
    }

    @Test
    void kCaCertsAddsToTheJdkTrustStoreAndReplacesNothing() {
        TestCertificates other = TestCertificates.authority(certificates, "other-ca");
        // The sink's CA is trusted only through the JVM's trust store; K_CA_CERTS names an unrelated CA.
        try (TestSink sink = TestSink.startHttps(server);
             ScriptProcess producer = ScriptProcess.start("producer.java", producerEnv(sink,
                     "K_CA_CERTS", other.caPem(),
                     "JAVA_TOOL_OPTIONS", "-Djavax.net.ssl.trustStore=" + ca.trustStore()
                             + " -Djavax.net.ssl.trustStorePassword=" + TestCertificates.trustStorePassword()),
                     "--once", "user.created")) {
            assertThat(producer.awaitExit(RUN)).as(producer.describe()).isZero();
            assertThat(sink.received()).hasSize(1);
        }
    }

    @Test
    void aKCaCertsThatIsNotPemStopsTheProducerAtStart() {
        try (TestSink sink = TestSink.start();
             ScriptProcess producer = ScriptProcess.start("producer.java", producerEnv(sink, "K_CA_CERTS", "not a certificate"),
                     "--once", "demo.event")) {
            assertThat(producer.awaitExit(RUN)).isEqualTo(2);
            assertThat(producer.stderr()).contains("K_CA_CERTS='not a certificate' is not valid: expected PEM certificates");
        }
    }

    @Test
    void consumerWithTlsCertAndKeyFilesAcceptsCloudEventsOverHttpsAndAnswersItsProbesOverHttps() {
        try (ScriptProcess consumer = ScriptProcess.startListening("consumer.java", Map.of(
                     "TLS_CERT_FILE", server.certFile().toString(), "TLS_KEY_FILE", server.keyFile().toString()));
             CloudEventsHttp https = CloudEventsHttp.overHttps(consumer.port(), ca.caPem())) {
            assertThat(consumer.awaitMessage("listening", RUN).getString("scheme")).isEqualTo("https");

            assertThat(https.binary(CloudEventsHttp.event("demo.event", CloudEventsHttp.validData("demo.event")))
                    .statusCode()).isEqualTo(202);
            assertThat(https.structured(CloudEventsHttp.event("user.created", CloudEventsHttp.validData("user.created")))
                    .statusCode()).isEqualTo(202);
            assertThat(https.get("/healthz").statusCode()).isEqualTo(200);
            assertThat(https.get("/readyz").bodyAsString()).isEqualTo("ready");
            assertThat(consumer.awaitLogs(line -> "processed".equals(line.getString("outcome")), 2, RUN)).hasSize(2);
        }
    }

    @Test
    void tlsCertFileWithoutTlsKeyFileStopsTheConsumerNamingBoth() {
        for (String given : new String[] {"TLS_CERT_FILE", "TLS_KEY_FILE"}) {
            try (ScriptProcess consumer = ScriptProcess.start("consumer.java",
                    Map.of("PORT", "0", given, server.certFile().toString()))) {
                assertThat(consumer.awaitExit(RUN)).isEqualTo(2);
                assertThat(consumer.stderr()).contains("TLS_CERT_FILE and TLS_KEY_FILE go together");
            }
        }
    }

    @Test
    void aTlsKeyFileThatCannotBeReadStopsTheConsumerNamingIt() {
        try (ScriptProcess consumer = ScriptProcess.start("consumer.java", Map.of("PORT", "0",
                "TLS_CERT_FILE", server.certFile().toString(), "TLS_KEY_FILE", "/nonexistent/tls.key"))) {
            assertThat(consumer.awaitExit(RUN)).isEqualTo(2);
            assertThat(consumer.stderr()).contains("TLS_KEY_FILE='/nonexistent/tls.key' is not valid: expected a readable PEM file");
        }
    }
}
