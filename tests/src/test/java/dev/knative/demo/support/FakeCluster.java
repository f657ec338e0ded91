package dev.knative.demo.support;

import dev.knative.demo.support.FakeKubectl.Result;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;

/**
 * A stand-in kubectl that plays a cluster for scripts/deploy.sh and scripts/install-knative.sh
 * (src/test/resources/fake-cluster-kubectl.sh): its Kubernetes version, the CRDs installed and their
 * Knative version, Knative's config-features, objects that never get Ready. Applying a release file
 * installs its Namespace and CRDs with the file's version label, so a second run sees the first.
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
