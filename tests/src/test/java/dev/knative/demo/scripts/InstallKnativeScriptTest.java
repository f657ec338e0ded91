package dev.knative.demo.scripts;

import static org.assertj.core.api.Assertions.assertThat;

import com.sun.net.httpserver.HttpServer;
import dev.knative.demo.support.FakeCluster;
import dev.knative.demo.support.FakeKubectl.Result;
import dev.knative.demo.support.Kustomize;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * scripts/install-knative.sh against a stand-in kubectl playing a cluster (support/FakeCluster), with
 * the release files served from a local HTTP server in place of GitHub (KNATIVE_RELEASE_URL): the
 * release chosen for a Kubernetes version, the order and the waits, the checksums, a second run.
 */
class InstallKnativeScriptTest {

    private static final String SCRIPT = "scripts/install-knative.sh";
    private static final String RELEASE = "knative-v1.22.2";
    private static final List<String> FILES = List.of("eventing-crds.yaml", "eventing-core.yaml", "in-memory-channel.yaml",
            "mt-channel-broker.yaml");

    @TempDir
    Path fake;
    @TempDir
    Path served;
    @TempDir
    Path work;
    private HttpServer server;
    private final List<String> downloads = new ArrayList<>();

    @BeforeEach
    void serveReleaseFiles() throws IOException {
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.createContext("/", exchange -> {
            Path file = served.resolve(exchange.getRequestURI().getPath().substring(1));
            synchronized (downloads) {
                downloads.add(exchange.getRequestURI().getPath());
            }
            byte[] body = Files.isRegularFile(file) ? Files.readAllBytes(file) : new byte[0];
            exchange.sendResponseHeaders(Files.isRegularFile(file) ? 200 : 404, body.length == 0 ? -1 : body.length);
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(body);
            }
        });
        server.start();
        release("eventing", RELEASE, "1.22.2", FILES);
        release("kafka", "knative-v1.22.3", "1.22.3", List.of("eventing-kafka-controller.yaml", "eventing-kafka-broker.yaml",
                "eventing-kafka-sink.yaml", "eventing-kafka-source.yaml"));
    }

    @AfterEach
    void stop() {
        server.stop(0);
    }

    @ParameterizedTest
    @CsvSource({"v1.26.0, knative-v1.12.6", "v1.27.3, knative-v1.13.8", "v1.29.9, knative-v1.16.7", "v1.30.4-gke.1348000, knative-v1.17.6",
            "v1.31.1, knative-v1.18.4", "v1.32.4+k3s1, knative-v1.20.3", "v1.33.0, knative-v1.21.4", "v1.34.1, knative-v1.22.2",
            "v1.36.0, knative-v1.22.2"})
    void theNewestReleaseThatSupportsTheKubernetesVersionIsChosen(String kubernetes, String release) {
        FakeCluster cluster = new FakeCluster(fake).withKubernetes(kubernetes);

        Result result = cluster.run(SCRIPT, env(), "--dry-run");

        assertThat(result.exitCode()).as(result.output()).isZero();
        assertThat(result.output()).contains("Cluster: Kubernetes " + kubernetes, "Plan: Knative Eventing " + release + " ");
    }

    @Test
    void aClusterOlderThanKubernetes126IsRefusedAndNothingIsDownloadedOrApplied() {
        FakeCluster cluster = new FakeCluster(fake).withKubernetes("v1.25.16");

        Result result = cluster.run(SCRIPT, env());

        assertThat(result.exitCode()).isEqualTo(1);
        assertThat(result.output()).contains("Kubernetes v1.25.16 is too old: this demo supports v1.26 and newer");
        assertThat(cluster.changes()).isEmpty();
        assertThat(downloads).isEmpty();
    }

    @Test
    void aVersionTheClusterIsTooOldForIsRefused() {
        FakeCluster cluster = new FakeCluster(fake).withKubernetes("v1.30.2");

        Result result = cluster.run(SCRIPT, env(), "--version", "1.22");

        assertThat(result.exitCode()).isEqualTo(1);
        assertThat(result.output()).contains("knative-v1.22.2 needs Kubernetes v1.34 or newer; this one is v1.30.2");
        assertThat(cluster.changes()).isEmpty();
    }

    @Test
    void dryRunWithAKubernetesVersionPrintsReleaseFilesAndChecksumsWithoutAClusterAndChangesNothing() {
        FakeCluster cluster = new FakeCluster(fake).unreachable();
        Path lock = lock();

        Result result = cluster.run(SCRIPT, env(lock), "--dry-run", "--kubernetes-version", "v1.34.0", "--with", "kafka-broker");

        assertThat(result.exitCode()).as(result.output()).isZero();
        assertThat(result.output()).contains("Plan: Knative Eventing knative-v1.22.2 (needs Kubernetes v1.34 or newer)",
                url("eventing", RELEASE, "eventing-crds.yaml"), "sha256 " + sha256(served.resolve("eventing/" + RELEASE + "/eventing-crds.yaml")),
                url("kafka", "knative-v1.22.3", "eventing-kafka-broker.yaml"), "none pinned");
        assertThat(cluster.calls()).isEmpty();
        assertThat(downloads).isEmpty();
    }

    @Test
    void installsCrdsThenCoreThenChannelThenBrokerWaitingOnEstablishedCrdsAndAvailableDeployments() {
        FakeCluster cluster = new FakeCluster(fake);

        Result result = cluster.run(SCRIPT, env(lock()));

        assertThat(result.exitCode()).as(result.output()).isZero();
        List<List<String>> calls = cluster.calls();
        assertThat(calls.get(0)).containsExactly("get", "--raw", "/version");
        assertThat(calls.subList(2, calls.size())).map(InstallKnativeScriptTest::withoutTempDir).containsExactly(
                List.of("apply", "--filename", "eventing-crds.yaml"),
                List.of("wait", "--for", "condition=Established", "--filename", "eventing-crds.yaml", "--timeout", "300s"),
                List.of("apply", "--filename", "eventing-core.yaml"), available(),
                List.of("apply", "--filename", "in-memory-channel.yaml"), available(),
                List.of("apply", "--filename", "mt-channel-broker.yaml"), available());
        assertThat(result.output()).contains("Knative Eventing knative-v1.22.2 is ready. Next: scripts/deploy.sh");
    }

    @Test
    void aSecondRunOnTheInstalledReleaseSaysSoAndAppliesNothing() {
        FakeCluster cluster = new FakeCluster(fake);
        Path lock = lock();
        assertThat(cluster.run(SCRIPT, env(lock)).exitCode()).isZero();
        int applied = cluster.changes().size();
        downloads.clear();

        Result again = cluster.run(SCRIPT, env(lock));

        assertThat(again.exitCode()).as(again.output()).isZero();
        assertThat(again.output()).contains("Knative Eventing 1.22.2 is already installed");
        assertThat(cluster.changes()).hasSize(applied);
        assertThat(downloads).isEmpty();
    }

    @Test
    void aFileThatDoesNotMatchItsPinnedChecksumStopsTheInstallBeforeAnythingIsApplied() throws IOException {
        FakeCluster cluster = new FakeCluster(fake);
        Path lock = lock();
        Files.writeString(served.resolve("eventing/" + RELEASE + "/mt-channel-broker.yaml"), "# changed after the lock\n",
                java.nio.file.StandardOpenOption.APPEND);

        Result result = cluster.run(SCRIPT, env(lock));

        assertThat(result.exitCode()).isEqualTo(1);
        assertThat(result.output()).contains("mt-channel-broker.yaml: FAILED", "does not match its SHA-256", "nothing was applied");
        assertThat(cluster.changes()).isEmpty();
    }

    @Test
    void theKafkaDeadLettersPartsInstallTheSinkAndTheSourceAfterTheKafkaControllerAndAnUnknownPartIsRefused() throws IOException {
        FakeCluster cluster = new FakeCluster(fake);
        Path lock = work.resolve("knative.lock");
        Result update = cluster.run(SCRIPT, env(lock), "--update-lock", "--version", RELEASE, "--with", "kafka-source", "--with", "kafka-sink");
        assertThat(update.exitCode()).as(update.output()).isZero();

        Result install = cluster.run(SCRIPT, env(lock), "--with", "kafka-source", "--with", "kafka-sink");

        assertThat(install.exitCode()).as(install.output()).isZero();
        assertThat(cluster.changes()).map(InstallKnativeScriptTest::withoutTempDir).map(call -> call.get(2)).containsExactly(
                "eventing-crds.yaml", "eventing-core.yaml", "in-memory-channel.yaml", "mt-channel-broker.yaml",
                "eventing-kafka-controller.yaml", "eventing-kafka-sink.yaml", "eventing-kafka-source.yaml");
        Result unknown = cluster.run(SCRIPT, env(lock), "--with", "kafka-connect");
        assertThat(unknown.exitCode()).isEqualTo(2);
        assertThat(unknown.output()).contains("--with takes kafka-broker, kafka-channel, kafka-sink or kafka-source, not 'kafka-connect'");
    }

    @Test
    void aFileWithoutAPinnedChecksumIsRefusedNamingItAndHowToRecordIt() {
        FakeCluster cluster = new FakeCluster(fake);

        Result result = cluster.run(SCRIPT, env(lock()), "--with", "kafka-broker");

        assertThat(result.exitCode()).isEqualTo(1);
        assertThat(result.output()).contains("no pinned SHA-256", "eventing-kafka-broker knative-v1.22.3 eventing-kafka-controller.yaml",
                "scripts/install-knative.sh --update-lock --version knative-v1.22.2 --with kafka-broker");
        assertThat(cluster.changes()).isEmpty();
        assertThat(downloads).isEmpty();
    }

    @Test
    void updateLockRecordsTheChecksumsOfTheReleaseFilesAndTheInstallThenAppliesTheKafkaPartsAfterTheCore() throws IOException {
        FakeCluster cluster = new FakeCluster(fake);
        Path lock = work.resolve("knative.lock");

        Result update = cluster.run(SCRIPT, env(lock), "--update-lock", "--version", RELEASE, "--with", "kafka-broker");

        assertThat(update.exitCode()).as(update.output()).isZero();
        assertThat(Files.readAllLines(lock)).contains(
                "eventing " + RELEASE + " eventing-core.yaml " + sha256(served.resolve("eventing/" + RELEASE + "/eventing-core.yaml")),
                "eventing-kafka-broker knative-v1.22.3 eventing-kafka-broker.yaml "
                        + sha256(served.resolve("kafka/knative-v1.22.3/eventing-kafka-broker.yaml")));
        assertThat(cluster.calls()).isEmpty();

        Result install = cluster.run(SCRIPT, env(lock), "--with", "kafka-broker");

        assertThat(install.exitCode()).as(install.output()).isZero();
        assertThat(cluster.changes()).map(InstallKnativeScriptTest::withoutTempDir).map(call -> call.get(2)).containsExactly(
                "eventing-crds.yaml", "eventing-core.yaml", "in-memory-channel.yaml", "mt-channel-broker.yaml",
                "eventing-kafka-controller.yaml", "eventing-kafka-broker.yaml");
    }

    @Test
    void aKnativeDeploymentThatNeverBecomesAvailableFailsTheInstall() {
        FakeCluster cluster = new FakeCluster(fake).withKnativeDeploymentNeverAvailable("eventing-webhook");

        Result result = cluster.run(SCRIPT, env(lock()), "--timeout", "30s");

        assertThat(result.exitCode()).isEqualTo(1);
        assertThat(result.output()).contains("deployments/eventing-webhook", "Knative Eventing did not become Available in 30s");
        assertThat(cluster.changes()).map(InstallKnativeScriptTest::withoutTempDir).map(call -> call.get(2))
                .containsExactly("eventing-crds.yaml", "eventing-core.yaml");
    }

    @Test
    void helpDescribesTheOptionsAndAnUnknownArgumentIsRefused() {
        FakeCluster cluster = new FakeCluster(fake);

        assertThat(cluster.run(SCRIPT, env(), "--help").output()).contains("Usage:", "--version", "--with", "--dry-run",
                "--kubernetes-version", "--update-lock", "KNATIVE_RELEASE_URL");
        Result unknown = cluster.run(SCRIPT, env(), "--bogus");
        assertThat(unknown.exitCode()).isEqualTo(2);
        assertThat(unknown.output()).contains("unknown argument '--bogus'");
        assertThat(cluster.calls()).isEmpty();
    }

    private Map<String, String> env() {
        return env(work.resolve("empty.lock"));
    }

    private Map<String, String> env(Path lock) {
        String base = "http://127.0.0.1:" + server.getAddress().getPort();
        return Map.of("KNATIVE_RELEASE_URL", base + "/eventing", "KNATIVE_KAFKA_RELEASE_URL", base + "/kafka",
                "KNATIVE_LOCK", lock.toString());
    }

    private String url(String project, String release, String file) {
        return "http://127.0.0.1:" + server.getAddress().getPort() + "/" + project + "/" + release + "/" + file;
    }

    /** A lock with the eventing files of the release as served, not the Kafka ones. */
    private Path lock() {
        Path lock = work.resolve("knative.lock");
        StringBuilder lines = new StringBuilder("# project release file sha256\n");
        FILES.forEach(file -> lines.append("eventing ").append(RELEASE).append(' ').append(file).append(' ')
                .append(sha256(served.resolve("eventing/" + RELEASE + "/" + file))).append('\n'));
        Kustomize.write(lock, lines.toString());
        return lock;
    }

    /** Release files as small as the stand-in cluster needs: the CRDs and the Namespace, labelled with the version. */
    private void release(String project, String release, String version, List<String> files) {
        for (String file : files) {
            String content = switch (file) {
                case "eventing-crds.yaml" -> String.join("---\n", FakeCluster.EVENTING_CRDS.stream().map(crd -> """
                        apiVersion: apiextensions.k8s.io/v1
                        kind: CustomResourceDefinition
                        metadata:
                          name: %s
                          labels:
                            app.kubernetes.io/version: "%s"
                        """.formatted(crd, version)).toList());
                case "eventing-core.yaml" -> """
                        apiVersion: v1
                        kind: Namespace
                        metadata:
                          name: knative-eventing
                          labels:
                            app.kubernetes.io/version: "%s"
                        """.formatted(version);
                default -> "# " + file + " of " + release + "\n";
            };
            Kustomize.write(served.resolve(project + "/" + release + "/" + file), content);
        }
    }

    private static List<String> available() {
        return List.of("wait", "deployment", "--all", "--namespace", "knative-eventing", "--for", "condition=Available",
                "--timeout", "300s");
    }

    /** A call with the temporary download folder left out of its file arguments. */
    private static List<String> withoutTempDir(List<String> call) {
        return call.stream().map(arg -> arg.endsWith(".yaml") ? Path.of(arg).getFileName().toString() : arg).toList();
    }

    private static String sha256(Path file) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(file)));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
