package dev.knative.demo.support;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.knative.demo.support.FakeKubectl.Result;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * A stand-in kubectl that plays a cluster for scripts/deploy.sh and scripts/install-knative.sh
 * (src/test/resources/fake-cluster-kubectl.sh): its Kubernetes version, the CRDs installed and their
 * Knative version, Knative's config-features, objects that never get Ready. Applying a release file
 * installs its Namespace and CRDs with the file's version label, so a second run sees the first.
 * With {@link #running(Manifests)} it also holds a namespace's objects, which the scripts get, apply,
 * wait on, annotate and delete (for scripts/migrate-broker.sh).
 */
public final class FakeCluster {

    public static final List<String> DEPLOYMENTS = List.of("deployment.apps/consumer", "deployment.apps/dead-letter",
            "deployment.apps/producer");
    public static final List<String> EVENTING_CRDS = List.of("brokers.eventing.knative.dev", "triggers.eventing.knative.dev",
            "sinkbindings.sources.knative.dev");

    private final Path dir;

    public FakeCluster(Path dir) {
        this.dir = dir;
        Path kubectl = dir.resolve("kubectl");
        try (InputStream script = FakeCluster.class.getResourceAsStream("/fake-cluster-kubectl.sh")) {
            Files.write(kubectl, script.readAllBytes());
            Files.setPosixFilePermissions(kubectl, PosixFilePermissions.fromString("rwxr-xr-x"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        withKubernetes("v1.34.1");
        Kustomize.write(dir.resolve("deployments"), String.join("\n", DEPLOYMENTS) + "\n");
    }

    /** The API server's gitVersion, e.g. v1.30.4-gke.1348000. */
    public FakeCluster withKubernetes(String gitVersion) {
        Kustomize.write(dir.resolve("server-version"), gitVersion);
        return this;
    }

    public FakeCluster unreachable() {
        Kustomize.write(dir.resolve("unreachable"), "");
        return this;
    }

    /** Knative Eventing of this version (e.g. 1.20.3) installed: its Namespace and its CRDs, labelled with it. */
    public FakeCluster withKnative(String version) {
        Kustomize.write(dir.resolve("knative-eventing-version"), version + "\n");
        EVENTING_CRDS.forEach(crd -> Kustomize.write(dir.resolve("crds").resolve(crd), version + "\n"));
        return this;
    }

    /** A CRD other than Knative's installed, e.g. scaledobjects.keda.sh. */
    public FakeCluster withCrd(String name) {
        Kustomize.write(dir.resolve("crds").resolve(name), "\n");
        return this;
    }

    /** An API path the API server serves besides /version, e.g. /apis/custom.metrics.k8s.io/v1beta1. */
    public FakeCluster serving(String apiPath) {
        Kustomize.write(dir.resolve("served" + apiPath), "");
        return this;
    }

    /** A key of config-features in knative-eventing, e.g. authentication-oidc: enabled. */
    public FakeCluster withFeature(String key, String value) {
        Kustomize.write(dir.resolve("features").resolve(key), value);
        return this;
    }

    /** An object of kind (broker, trigger, sinkbinding) whose Ready condition stays False with this reason and message. */
    public FakeCluster neverReady(String kind, String name, String reason, String message) {
        String kindName = Character.toUpperCase(kind.charAt(0)) + kind.substring(1);
        Kustomize.write(dir.resolve("never-ready-" + kind), kindName + "/" + name + "\tFalse\t" + reason + "\t" + message + "\n");
        return this;
    }

    /** A Deployment in knative-eventing that never becomes Available. */
    public FakeCluster withKnativeDeploymentNeverAvailable(String name) {
        Kustomize.write(dir.resolve("not-available"), name);
        return this;
    }

    /**
     * A running system: the Knative objects, NetworkPolicies, Deployments and Broker ConfigMaps of the rendered
     * manifests, Ready, each Trigger with its Subscription (labelled with its Broker, as Knative's channel-based
     * Broker labels them), and the producer's pod with the Broker's address as K_SINK.
     */
    public FakeCluster running(Manifests rendered) {
        List<ObjectNode> objects = new ArrayList<>(rendered.json().stream().filter(object -> switch (object.path("kind").asText()) {
            case "Broker", "Trigger", "SinkBinding", "Deployment", "NetworkPolicy" -> true;
            case "ConfigMap" -> object.path("metadata").path("labels").path("app.kubernetes.io/component").asText().equals("broker");
            default -> false;
        }).toList());
        // The SinkBinding last: the pod it injects needs the Broker's address and the Deployment.
        objects.sort(Comparator.comparing(object -> object.path("kind").asText().equals("SinkBinding")));
        List<String> command = new ArrayList<>(List.of(dir.resolve("kubectl").toString(), "__seed"));
        int n = 0;
        for (ObjectNode object : objects) {
            command.add(seed(++n, object));
            if (object.path("kind").asText().equals("Trigger")) command.add(seed(++n, subscriptionOf(object)));
        }
        Result seeded = FakeKubectl.runToEnd(new ProcessBuilder(command));
        assertThat(seeded.exitCode()).as(seeded.output()).isZero();
        return this;
    }

    /** The run stops after the n-th change of the cluster (counting from now), as if the connection dropped. */
    public FakeCluster interruptedAfterChange(int n) {
        Kustomize.write(dir.resolve("changes"), "0");
        Kustomize.write(dir.resolve("interrupt-after"), Integer.toString(n));
        return this;
    }

    /** The objects the cluster holds, as Kind/name. */
    public Set<String> objects() {
        try (Stream<Path> files = Files.list(dir.resolve("objects"))) {
            return files.map(file -> file.getFileName().toString().replaceFirst("\\.yaml$", "").replaceFirst("\\.", "/"))
                    .collect(Collectors.toCollection(TreeSet::new));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** One object the cluster holds, as YAML. */
    public String object(String kind, String name) {
        return Kustomize.read(dir.resolve("objects").resolve(kind + "." + name + ".yaml"));
    }

    private String seed(int n, ObjectNode object) {
        Path file = dir.resolve("seed").resolve(n + ".yaml");
        try {
            Kustomize.write(file, Kustomize.YAML.writeValueAsString(object));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return file.toString();
    }

    private static ObjectNode subscriptionOf(ObjectNode trigger) {
        ObjectNode subscription = Kustomize.YAML.createObjectNode();
        String broker = trigger.path("spec").path("broker").asText();
        subscription.put("apiVersion", "messaging.knative.dev/v1").put("kind", "Subscription");
        ObjectNode metadata = subscription.putObject("metadata");
        metadata.put("name", broker + "-" + trigger.path("metadata").path("name").asText())
                .put("namespace", trigger.path("metadata").path("namespace").asText());
        metadata.putObject("labels").put("eventing.knative.dev/broker", broker);
        return subscription;
    }

    public Result run(String script, Map<String, String> env, String... args) {
        return FakeKubectl.runWith(dir.resolve("kubectl"), script, env, args);
    }

    public List<List<String>> calls() {
        return FakeKubectl.callsIn(dir);
    }

    /** Calls that change the cluster: apply, delete, create, patch, … */
    public List<List<String>> changes() {
        return calls().stream().filter(call -> List.of("apply", "delete", "create", "patch", "replace", "label", "annotate")
                .contains(call.get(0))).toList();
    }

    /** The content of the files kubectl apply --filename was given, in order. */
    public List<String> appliedFiles() {
        List<List<String>> calls = calls();
        return java.util.stream.IntStream.rangeClosed(1, calls.size())
                .filter(n -> Files.exists(dir.resolve("applied-" + n)))
                .mapToObj(n -> Kustomize.read(dir.resolve("applied-" + n))).toList();
    }
}
