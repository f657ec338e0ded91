package dev.knative.demo.container;

import static org.assertj.core.api.Assertions.assertThat;

import dev.knative.demo.programs.ProgramSettingsTest;
import dev.knative.demo.support.Await;
import dev.knative.demo.support.Kustomize;
import dev.knative.demo.support.Manifests;
import dev.knative.demo.support.Podman;
import dev.knative.demo.support.RoundRobinProxy;
import dev.knative.demo.support.ScriptProcess;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;

/**
 * The zero-image boot path in a real OCI runtime: the rendered Deployments and their generated ConfigMaps
 * played with podman on a local stand-in for the stock eclipse-temurin image, with the component
 * k8s/components/shared-build-cache (its claim becomes a podman volume the consumer's pods share). What is
 * changed for podman, and why, is in {@link #forPodman}; everything else runs as rendered. The test stands in
 * for the consumer's Service: the producer sends through a {@link RoundRobinProxy} whose endpoints the test sets
 * as the endpoints controller would during a rollout.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ContainerEndToEndTest {

    static final Duration COLD_START = Duration.ofSeconds(300);
    static final List<String> WORKLOADS = List.of("consumer", "dead-letter", "producer");
    /** A second consumer pod: another replica of the first version, then the new version's pod of the rollout. */
    static final String NEXT_CONSUMER = "consumer-next";
    static final String CONTAINER = "app";

    Path temp;
    final String run = Long.toString(System.currentTimeMillis() % 1_000_000, 36);
    final String network = "knative-demo-e2e-" + run;
    final Map<String, String> ips = new LinkedHashMap<>();
    final Map<String, Double> measured = new LinkedHashMap<>();
    // The kernel completes a connect to a listening socket however busy the machine is; a pod not up yet is retried.
    final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
    final List<String> consumerLogsBeforeUpdate = new ArrayList<>();
    final Set<String> configMaps = new java.util.HashSet<>();
    Path repository;
    Manifests rendered;
    String image;
    RoundRobinProxy service;
    /** The host's address on the pods' network, where they reach the test's stand-in for the consumer's Service. */
    String gateway;

    @BeforeAll
    void playTheRenderedDeployments(@TempDir Path dir) {
        temp = dir;
        Podman.bash("tests/container/install-podman.sh && tests/container/build-image.sh");
        image = Podman.environment().get("STANDIN_IMAGE");
        repository = Kustomize.copyOfRepository(temp.resolve("repo"));
        Kustomize.enableComponent(repository, "shared-build-cache");
        rendered = render();
        Podman.run("network", "create", network);
        gateway = Podman.run("network", "inspect", network, "--format", "{{range .Subnets}}{{.Gateway}}{{end}}").trim();
        String subnet = Podman.run("network", "inspect", network, "--format",
                "{{range .Subnets}}{{.Subnet}}{{end}}").trim();
        String prefix = subnet.substring(0, subnet.lastIndexOf('.') + 1);
        List<String> pods = new ArrayList<>(WORKLOADS);
        pods.add(NEXT_CONSUMER);
        for (int i = 0; i < pods.size(); i++) ips.put(pods.get(i), prefix + (10 + i));

        // The consumer first and alone, on the empty shared cache, so its cold start is measured without two others
        // compiling beside it.
        measured.put("consumer_cold_start_s", play("consumer", rendered));
        service = RoundRobinProxy.startTo(List.of(endpoint("consumer")));
        // The same script version on the same cache: it finds JBang, the dependencies and the build there.
        measured.put("dead_letter_new_pod_on_shared_cache_s", play("dead-letter", rendered));
        // On a cache of its own (forPodman), so that it too starts from empty.
        measured.put("producer_cold_start_s", play("producer", rendered));
    }

    @AfterAll
    void removeEverything() throws IOException {
        for (String workload : ips.keySet()) Podman.tryRun("pod", "rm", "--force", "--time", "2", pod(workload));
        if (service != null) service.close();
        Podman.tryRun("network", "rm", "--force", network);
        // emptyDirs and the claims carry the run id; ConfigMap volumes are named after the (hash-named) ConfigMaps.
        for (String volume : Podman.run("volume", "ls", "--format", "{{.Name}}").split("\n"))
            if (volume.contains(run) || configMaps.contains(volume)) Podman.tryRun("volume", "rm", "--force", volume);
        Path report = ScriptProcess.REPO.resolve("tests/target/container-measurements.json");
        Files.createDirectories(report.getParent());
        Files.writeString(report, new JsonObject(new LinkedHashMap<>(measured)).encodePrettily());
        System.out.println("container measurements: " + new JsonObject(new LinkedHashMap<>(measured)).encode());
    }

    @Test
    @Order(1)
    void allThreeEventTypesArriveAtTheConsumerAndAreProcessed() {
        Await.until("the consumer to process all three event types", Duration.ofSeconds(120), () ->
                processedTypes(logs("consumer")).containsAll(Set.of("demo.event", "user.created", "order.placed")));
        assertThat(logs("producer")).anySatisfy(l -> assertThat(l.getString("msg")).isEqualTo("sent"));
    }

    @Test
    @Order(2)
    void containersRunAsTheDeclaredNonRootUserWithAReadOnlyRootFilesystem() {
        for (String workload : WORKLOADS) {
            String container = container(workload);
            assertThat(Podman.run("top", container, "user", "group").lines().skip(1)
                    .map(l -> l.trim().replaceAll("\\s+", " ")).toList())
                    .as("processes of %s", workload).isNotEmpty().allSatisfy(l -> assertThat(l).isEqualTo("10001 10001"));
            assertThat(Podman.run("inspect", container, "--format", "{{.HostConfig.ReadonlyRootfs}}").trim())
                    .isEqualTo("true");
            Podman.Result write = Podman.tryRun("exec", container, "sh", "-c", "echo x > /written-by-test");
            assertThat(write.status()).isNotZero();
            assertThat(write.stderr() + write.stdout()).contains("Read-only file system");
            assertThat(Podman.tryRun("exec", container, "sh", "-c", "echo x > /tmp/written-by-test").status())
                    .as("/tmp is a writable emptyDir").isZero();
        }
    }

    @Test
    @Order(2)
    void bothProgramsRunOnNettysEpollTransportInTheImageAsItsNonRootUser() {
        // The native library is unpacked into /tmp (an emptyDir) and loaded from there: the root filesystem is
        // read-only and the user has no home. Where it could not load, the program would say "nio" and why.
        assertThat(logs("consumer")).as("the consumer's listening line")
                .anySatisfy(l -> assertThat(l.getString("msg") + " " + l.getString("transport")).isEqualTo("listening epoll"));
        assertThat(logs("producer")).as("the producer's started line")
                .anySatisfy(l -> assertThat(l.getString("msg") + " " + l.getString("transport")).isEqualTo("started epoll"));
    }

    @Test
    @Order(3)
    void probeEndpointsAnswer() {
        for (String workload : WORKLOADS) {
            assertThat(get(workload, "/healthz").statusCode()).as(workload + " /healthz").isEqualTo(200);
            assertThat(get(workload, "/readyz").statusCode()).as(workload + " /readyz").isEqualTo(200);
            assertThat(get(workload, "/metrics").body()).contains("jvm_memory_used_bytes");
        }
    }

    @Test
    @Order(3)
    void theConsumerAndTheDeadLetterDisplayServeTheLivePageTheirConfigMapCarriesBesideTheScript() throws IOException {
        String page = Files.readString(repository.resolve("k8s/live-page.html"));
        for (String workload : List.of("consumer", "dead-letter")) {
            HttpResponse<String> served = get(workload, "/");
            assertThat(served.statusCode()).as(workload + " GET /").isEqualTo(200);
            assertThat(served.body()).as(workload + " GET /").isEqualTo(page);
        }
    }

    @Test
    @Order(4)
    void exactlyOneJvmRunsInEachContainerAndItIsPid1() {
        for (String workload : WORKLOADS) {
            List<String> processes = Podman.run("top", container(workload), "pid", "comm").lines().skip(1)
                    .map(l -> l.trim().replaceAll("\\s+", " ")).toList();
            assertThat(processes).as("processes in %s", workload).containsExactly("1 java");
        }
    }

    @Test
    @Order(5)
    void warmStartReusesTheCaches() {
        String pod = pod("dead-letter");
        Podman.run("pod", "stop", "--time", "30", pod);
        String since = java.time.Instant.now().toString();
        long started = System.nanoTime();
        Podman.run("pod", "start", pod);
        awaitReady("dead-letter", COLD_START);
        // Measured for the report only: the two starts run under whatever else the machine does at the time, so
        // the reuse is shown by what the start did not do (fetch, build) and what it mapped (the class-data archive).
        measured.put("dead_letter_warm_start_s", (System.nanoTime() - started) / 1e9);
        String warmLog = bootLog("--since", since, container("dead-letter"));
        assertThat(warmLog).contains("\"msg\":\"listening\"").doesNotContain("[boot] fetching")
                .doesNotContain("[jbang]");
        // The first run wrote its class-data archive when it stopped; the JDK 25 of the image maps it now.
        assertThat(procFile(hostPids("dead-letter").get(0), "maps")).contains("/var/jbang/cache/cds/");
    }

    @Test
    @Order(2)
    void aNewPodOfAScriptVersionAnotherPodBuiltOnTheSharedCacheFetchesAndBuildsNothing() {
        assertThat(bootLog(container("consumer"))).contains("[boot] fetching", "[jbang]");
        assertThat(bootLog(container("dead-letter"))).contains("\"msg\":\"listening\"")
                .doesNotContain("[boot] fetching").doesNotContain("[jbang]");
    }

    @Test
    @Order(6)
    void aNewPodOfAScriptVersionWhoseArchiveAnotherPodWroteMapsIt() {
        // The dead-letter display's stop (warm start above) wrote the class-data archive of consumer.java and its
        // arguments, which the consumer shares: another consumer replica, as a scale-up or a rollout's second pod.
        measured.put("new_pod_on_shared_cache_with_archive_s", play(NEXT_CONSUMER, "consumer", rendered));
        assertThat(bootLog(container(NEXT_CONSUMER))).contains("\"msg\":\"listening\"")
                .doesNotContain("[boot] fetching").doesNotContain("[jbang]");
        assertThat(procFile(hostPids(NEXT_CONSUMER).get(0), "maps")).contains("/var/jbang/cache/cds/");
        // The Service never sent to it; gone now, so that the rollout below starts in its place without waiting for it.
        Podman.run("pod", "rm", "--force", "--time", "2", pod(NEXT_CONSUMER));
    }

    @Test
    @Order(7)
    void memoryOfEachContainerIsMeasuredIdleAndUnderLoad() {
        for (String workload : WORKLOADS) measured.put(workload.replace('-', '_') + "_idle_rss_mib", rssMib(workload));
        double peak = 0;
        // Batches of half what one replica takes at once: beyond MAX_IN_FLIGHT it answers 429 (backpressure), and
        // the producer's events arrive meanwhile.
        int batchSize = Integer.parseInt(ProgramSettingsTest.readmeSettings("consumer.java").stream()
                .filter(setting -> "MAX_IN_FLIGHT".equals(setting.env())).findFirst().orElseThrow().fallback()) / 2;
        for (int batch = 0; batch < 2_000 / batchSize; batch++) {
            List<java.util.concurrent.CompletableFuture<HttpResponse<Void>>> sent = new ArrayList<>();
            for (int i = 0; i < batchSize; i++) sent.add(send("consumer"));
            for (var response : sent) assertThat(response.join().statusCode()).isEqualTo(202);
            peak = Math.max(peak, rssMib("consumer"));
        }
        measured.put("consumer_load_peak_rss_mib", peak);
        assertThat(peak).as("peak RSS stays below the 384Mi limit").isLessThan(384);
    }

    @Test
    @Order(8)
    void hotUpdateStartsTheNewPodBesideTheOldOneWhichThenDrainsAndNoEventIsLost() throws Exception {
        Path script = repository.resolve("consumer.java");
        String code = Files.readString(script);
        String logCall = "\"event\", logFields(delivery, outcome, millis))";
        assertThat(code).as("the place the test edits").containsOnlyOnce(logCall);
        Files.writeString(script, code.replace(logCall,
                "\"event\", logFields(delivery, outcome, millis).put(\"revision\", \"hot-update\"))"));
        Manifests updated = render();
        assertThat(scriptConfigMap(updated, "consumer")).isNotEqualTo(scriptConfigMap(rendered, "consumer"));
        assertThat(scriptConfigMap(updated, "producer")).isEqualTo(scriptConfigMap(rendered, "producer"));

        // As a rolling update with maxSurge 1 and maxUnavailable 0 does: the new pod starts on the new ConfigMap
        // beside the old one (here in place of the second replica of the old version), on the shared cache, which
        // has JBang and the dependencies but not this version's build. Once it is ready, the Service sends to it
        // and no longer to the old pod, which then drains and stops (its logs are kept).
        long started = System.nanoTime();
        play(NEXT_CONSUMER, "consumer", updated);
        service.route(List.of(endpoint(NEXT_CONSUMER)));
        measured.put("hot_update_to_new_code_s", (System.nanoTime() - started) / 1e9);
        assertThat(bootLog(container(NEXT_CONSUMER))).as("JBang and the dependencies are on the shared cache")
                .doesNotContain("[boot] fetching").contains("[jbang]");
        Await.until("the new code to log a processed event", Duration.ofSeconds(120), () -> logs(NEXT_CONSUMER).stream()
                .anyMatch(l -> "hot-update".equals(l.getString("revision")) && "processed".equals(l.getString("outcome"))));

        // The producer drains on SIGTERM and prints its books: everything it generated must have been delivered.
        // Only its container is stopped: stopping the pod would take the network away in the middle of the drain.
        // It is stopped just after an answered event, about a second before its next one (1 event/s).
        // The old pod, out of the Service already, drains and stops after that: a pod whose last container stops
        // is stopped by podman (kube play's exit policy), and in three of nine runs that stopped the other pods'
        // traffic through the bridge for 15-30 s right after, which a cluster does not do.
        long answered = sentIds("producer").size();
        Await.until("the producer's next answered event", Duration.ofSeconds(30), () -> sentIds("producer").size() > answered);
        Podman.run("stop", "--time", "40", container("producer"));
        List<JsonObject> producerLogs = logs("producer");
        JsonObject books = producerLogs.stream().filter(l -> "stopped".equals(l.getString("msg"))).reduce((a, b) -> b)
                .orElseThrow(() -> new AssertionError("the producer printed no books"));
        String tail = producerLogs.stream().skip(Math.max(0, producerLogs.size() - 40)).map(JsonObject::encode)
                .collect(Collectors.joining("\n"));
        assertThat(books.getLong("undelivered")).as(() -> tail + "\nlast requests through the Service: "
                + service.forwarded().stream().skip(Math.max(0, service.forwarded().size() - 10)).toList()).isZero();
        assertThat(books.getLong("failed")).isZero();
        assertThat(books.getLong("sent")).isEqualTo(books.getLong("generated")).isPositive();
        Podman.run("stop", "--time", "40", container("consumer"));
        consumerLogsBeforeUpdate.addAll(Podman.run("logs", container("consumer")).lines().toList());
        Set<String> sent = sentIds("producer");
        List<JsonObject> consumed = new ArrayList<>(parse(consumerLogsBeforeUpdate));
        consumed.addAll(logs(NEXT_CONSUMER));
        Set<String> handled = consumed.stream().filter(l -> "event".equals(l.getString("msg")) && l.getInteger("status", 0) == 202)
                .map(l -> l.getString("id")).collect(Collectors.toSet());
        assertThat(handled).containsAll(sent);
        // For the report: with the new pod ready before the old one leaves, the producer should not have to retry.
        measured.put("hot_update_producer_retries", (double) producerLogs.stream().filter(l -> "retry".equals(l.getString("msg"))).count());
    }

    /** The ids of the events a producer's log says were answered with a 2xx. */
    private Set<String> sentIds(String workload) {
        return logs(workload).stream().filter(l -> "sent".equals(l.getString("msg"))).map(l -> l.getString("id"))
                .collect(Collectors.toSet());
    }

    // ---- playing one Deployment ----

    private Manifests render() {
        Path overlay = temp.resolve("overlay");
        String[] name = image.split(":", 2);
        Kustomize.write(overlay.resolve("kustomization.yaml"), String.join("\n",
                "apiVersion: kustomize.config.k8s.io/v1beta1", "kind: Kustomization",
                "resources:", "  - ../repo",
                "images:", "  - name: eclipse-temurin", "    newName: " + name[0], "    newTag: " + name[1], ""));
        return Kustomize.render(overlay);
    }

    /** Plays (or replaces) one workload's pod and returns the seconds until it is ready. */
    private double play(String workload, Manifests manifests) {
        return play(workload, workload, manifests);
    }

    /** Plays (or replaces) a pod of the given Deployment, named after {@code pod}, and returns the seconds until it is ready. */
    private double play(String workload, String deploymentName, Manifests manifests) {
        Path file = temp.resolve(workload + "-" + System.nanoTime() + ".yaml");
        StringBuilder yaml = new StringBuilder();
        for (ObjectNode document : forPodman(workload, deploymentName, manifests)) {
            try {
                yaml.append("---\n").append(Kustomize.YAML.writeValueAsString(document));
            } catch (IOException e) {
                throw new AssertionError(e);
            }
        }
        Kustomize.write(file, yaml.toString());
        long started = System.nanoTime();
        Podman.run("kube", "play", "--replace", "--network", network, "--ip", ips.get(workload),
                "--mac-address", mac(ips.get(workload)), file.toString());
        awaitReady(workload, COLD_START);
        return (System.nanoTime() - started) / 1e9;
    }

    /**
     * The Deployment and the ConfigMaps it mounts, as rendered, with only what podman needs changed: one replica
     * and the pod's name (podman names the pod after the Deployment); no ports (podman would publish them on the
     * host); no liveness probe (podman turns it into a curl healthcheck); fieldRefs podman lacks as literal values;
     * emptyDirs and claims named per run (podman shares volumes by name, and makes a claim a volume of its name),
     * the producer's claim apart, so that its cold start starts from an empty cache too; and the producer's K_SINK,
     * which the SinkBinding would inject, pointing at the consumer's Service, which stands in for the Broker.
     */
    private List<ObjectNode> forPodman(String workload, String deploymentName, Manifests manifests) {
        ObjectNode deployment = manifests.json().stream()
                .filter(o -> "Deployment".equals(o.path("kind").asText()) && deploymentName.equals(o.at("/metadata/name").asText()))
                .findFirst().orElseThrow().deepCopy();
        ((ObjectNode) deployment.get("spec")).put("replicas", 1);
        ((ObjectNode) deployment.get("metadata")).put("name", workload);
        ObjectNode pod = (ObjectNode) deployment.at("/spec/template/spec");
        List<ObjectNode> documents = new ArrayList<>();
        for (JsonNode volume : pod.withArray("volumes")) {
            if (volume.has("emptyDir")) ((ObjectNode) volume).put("name", volume.get("name").asText() + "-" + workload + "-" + run);
            if (volume.has("persistentVolumeClaim")) ((ObjectNode) volume.get("persistentVolumeClaim")).put("claimName",
                    volume.at("/persistentVolumeClaim/claimName").asText() + (workload.equals("producer") ? "-producer-" : "-") + run);
            if (volume.has("configMap")) {
                String name = volume.at("/configMap/name").asText();
                configMaps.add(name);
                documents.add(manifests.json().stream().filter(o -> "ConfigMap".equals(o.path("kind").asText())
                        && name.equals(o.at("/metadata/name").asText())).findFirst().orElseThrow().deepCopy());
            }
        }
        for (JsonNode node : pod.withArray("containers")) {
            ObjectNode container = (ObjectNode) node;
            container.remove("ports");
            container.remove("livenessProbe");
            for (JsonNode mount : container.withArray("volumeMounts")) {
                String name = mount.get("name").asText();
                boolean emptyDir = pod.get("volumes").findParents("name").stream()
                        .anyMatch(v -> v.get("name").asText().equals(name + "-" + workload + "-" + run));
                if (emptyDir) ((ObjectNode) mount).put("name", name + "-" + workload + "-" + run);
            }
            ArrayNode env = container.withArray("env");
            for (JsonNode variable : env) {
                if ("metadata.namespace".equals(variable.at("/valueFrom/fieldRef/fieldPath").asText())) {
                    ((ObjectNode) variable).remove("valueFrom");
                    ((ObjectNode) variable).put("value", deployment.at("/metadata/namespace").asText());
                }
            }
            if (workload.equals("producer"))
                env.addObject().put("name", "K_SINK").put("value", service.url(gateway));
        }
        documents.add(0, deployment);
        return documents;
    }

    private void awaitReady(String workload, Duration timeout) {
        Await.until(workload + " to answer /readyz", timeout, () -> {
            try {
                return get(workload, "/readyz").statusCode() == 200;
            } catch (RuntimeException notYet) {
                return false;
            }
        });
    }

    private HttpResponse<String> get(String workload, String path) {
        try {
            return http.send(HttpRequest.newBuilder(URI.create("http://" + ips.get(workload) + ":8080" + path))
                    .timeout(Duration.ofSeconds(60)).build(), HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            throw new IllegalStateException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    private java.util.concurrent.CompletableFuture<HttpResponse<Void>> send(String workload) {
        String id = java.util.UUID.randomUUID().toString();
        return http.sendAsync(HttpRequest.newBuilder(URI.create("http://" + ips.get(workload) + ":8080/"))
                .header("ce-specversion", "1.0").header("ce-id", id).header("ce-source", "/tests/e2e-load")
                .header("ce-type", "demo.event").header("content-type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("{\"message\":\"load\"}")).build(),
                HttpResponse.BodyHandlers.discarding());
    }

    /** RSS of every process of the container, summed from the host's /proc. */
    private double rssMib(String workload) {
        long kib = 0;
        for (String pid : hostPids(workload)) {
            kib += procFile(pid, "status").lines().filter(l -> l.startsWith("VmRSS:"))
                    .mapToLong(l -> Long.parseLong(l.replaceAll("\\D", ""))).sum();
        }
        return Math.round(kib / 1024.0 * 10) / 10.0;
    }

    /** The host's PIDs of every process in the workload's app container. */
    private List<String> hostPids(String workload) {
        return Podman.run("top", container(workload), "hpid").lines().skip(1).map(String::trim).toList();
    }

    private static String procFile(String pid, String name) {
        try {
            return Files.readString(Path.of("/proc", pid, name));
        } catch (IOException e) {
            throw new AssertionError("cannot read /proc/" + pid + "/" + name, e);
        }
    }

    /** A container's whole log: podman prints what the container wrote to stderr (the launcher's lines) on its own stderr. */
    private static String bootLog(String... logsArguments) {
        List<String> command = new ArrayList<>(List.of("logs"));
        command.addAll(List.of(logsArguments));
        Podman.Result logs = Podman.tryRun(command.toArray(String[]::new));
        assertThat(logs.status()).as(logs.stderr()).isZero();
        return logs.stdout() + logs.stderr();
    }

    private List<JsonObject> logs(String workload) {
        return parse(Podman.run("logs", container(workload)).lines().toList());
    }

    private static List<JsonObject> parse(List<String> lines) {
        return lines.stream().filter(l -> l.startsWith("{")).map(JsonObject::new).toList();
    }

    private static Set<String> processedTypes(List<JsonObject> lines) {
        return lines.stream().filter(l -> "processed".equals(l.getString("outcome"))).map(l -> l.getString("type"))
                .collect(Collectors.toSet());
    }

    private static String scriptConfigMap(Manifests manifests, String workload) {
        return manifests.json().stream()
                .filter(o -> "Deployment".equals(o.path("kind").asText()) && workload.equals(o.at("/metadata/name").asText()))
                .flatMap(o -> o.at("/spec/template/spec/volumes").findValuesAsText("name").stream())
                .filter(n -> n.contains("-script-")).findFirst().orElseThrow();
    }

    private RoundRobinProxy.Endpoint endpoint(String workload) {
        return new RoundRobinProxy.Endpoint(ips.get(workload), 8080);
    }

    private static String pod(String workload) {
        return workload + "-pod-0";
    }

    private static String container(String workload) {
        return pod(workload) + "-" + CONTAINER;
    }

    // A fixed MAC per IP: a pod replaced at the same IP otherwise waits out a stale ARP entry.
    private static String mac(String ip) {
        String[] octets = ip.split("\\.");
        return String.format("02:42:%02x:%02x:%02x:%02x", Integer.parseInt(octets[0]), Integer.parseInt(octets[1]),
                Integer.parseInt(octets[2]), Integer.parseInt(octets[3]));
    }
}
