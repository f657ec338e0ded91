package dev.knative.demo.scripts;

import static org.assertj.core.api.Assertions.assertThat;

import dev.knative.demo.support.FakeKubectl;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * scripts/prune-configmaps.sh against a stand-in kubectl: the cluster's generated ConfigMaps are
 * canned, while the references are read by the real kubectl (offline, {@code label --local}) with
 * the script's own JSONPath from real Deployment, ReplicaSet and Pod objects.
 */
class ManifestConfigMapPruneTest {


    /** A Deployment's current template, a ReplicaSet kept for rollback, and a Pod, each referring to ConfigMaps another way. */
    private static final String WORKLOADS = """
            apiVersion: v1
            kind: List
            items:
              - apiVersion: apps/v1
                kind: Deployment
                metadata: {name: consumer}
                spec:
                  selector: {matchLabels: {app: consumer}}
                  template:
                    metadata: {labels: {app: consumer}}
                    spec:
                      containers: [{name: app, image: eclipse-temurin:25.0.3_9-jdk-noble}]
                      volumes: [{name: script, configMap: {name: consumer-script-new}}]
              - apiVersion: apps/v1
                kind: ReplicaSet
                metadata: {name: consumer-old}
                spec:
                  selector: {matchLabels: {app: consumer}}
                  template:
                    metadata: {labels: {app: consumer}}
                    spec:
                      containers: [{name: app, image: eclipse-temurin:25.0.3_9-jdk-noble}]
                      volumes: [{name: all, projected: {sources: [{configMap: {name: consumer-script-old}}]}}]
              - apiVersion: v1
                kind: Pod
                metadata: {name: producer-abc}
                spec:
                  containers:
                    - name: app
                      image: eclipse-temurin:25.0.3_9-jdk-noble
                      envFrom: [{configMapRef: {name: jbang-boot-env}}]
                      env: [{name: X, valueFrom: {configMapKeyRef: {name: producer-script-key, key: x}}}]
            """;
    private static final List<String> IN_USE = List.of("consumer-script-new", "consumer-script-old", "jbang-boot-env", "producer-script-key");
    private static final List<String> UNUSED = List.of("consumer-script-older", "producer-script-gone");

    @TempDir
    Path fake;

    @BeforeEach
    void standInKubectl() throws IOException {
        Files.writeString(fake.resolve("workloads.yaml"), WORKLOADS);
        Files.write(fake.resolve("configmaps"), concat(IN_USE, UNUSED));
        Path kubectl = fake.resolve("kubectl");
        Files.writeString(kubectl, """
                #!/usr/bin/env bash
                set -euo pipefail
                dir=$(dirname "$0")
                printf '%%s\\n' "$*" >>"$dir/calls"
                output=''
                for ((i = 1; i <= $#; i++)); do [[ ${!i} == --output ]] && { j=$((i + 1)); output=${!j}; }; done
                case "$1 $2" in
                  'get configmaps') cat "$dir/configmaps" ;;
                  'get deployments,replicasets,pods')
                    [[ ! -e $dir/unreachable ]] || { echo 'The connection to the server was refused' >&2; exit 1; }
                    exec '%s' label --local --filename "$dir/workloads.yaml" stand-in=true --output "$output" ;;
                  'delete configmap') echo "configmap \\"$3\\" deleted" ;;
                  *) echo "stand-in kubectl: unexpected: $*" >&2; exit 1 ;;
                esac
                """.formatted(realKubectl()));
        Files.setPosixFilePermissions(kubectl, PosixFilePermissions.fromString("rwxr-xr-x"));
    }

    @Test
    void aDryRunNamesTheUnusedConfigMapsAndDeletesNothing() {
        FakeKubectl.Result result = prune();

        assertThat(result.exitCode()).as(result.output()).isZero();
        for (String name : UNUSED) assertThat(result.output()).contains("unused  configmap/" + name);
        for (String name : IN_USE) assertThat(result.output()).contains("keep    configmap/" + name);
        assertThat(calls()).noneMatch(call -> call.startsWith("delete"));
    }

    @Test
    void applyDeletesExactlyTheConfigMapsNoDeploymentReplicaSetOrPodRefersTo() {
        FakeKubectl.Result result = prune("--apply", "--namespace", "demo");

        assertThat(result.exitCode()).as(result.output()).isZero();
        assertThat(result.output()).contains("Done: " + IN_USE.size() + " in use, " + UNUSED.size() + " deleted.");
        assertThat(calls()).filteredOn(call -> call.startsWith("delete")).containsExactlyInAnyOrderElementsOf(
                UNUSED.stream().map(name -> "delete configmap " + name + " --namespace demo --ignore-not-found").toList());
        assertThat(calls()).filteredOn(call -> call.startsWith("get configmaps"))
                .singleElement().asString().contains("--selector knative-eventing-demo/script-configmap=true");
    }

    @Test
    void whenTheReferencesCannotBeReadNothingIsDeleted() throws IOException {
        Files.createFile(fake.resolve("unreachable"));

        FakeKubectl.Result result = prune("--apply");

        assertThat(result.exitCode()).isNotZero();
        assertThat(result.output()).contains("Pruning generated ConfigMaps in namespace knative-demo (deleting)")
                .doesNotContain("keep ", "unused ", "Done:");
        assertThat(calls()).noneMatch(call -> call.startsWith("delete"));
    }

    @Test
    void anUnknownArgumentIsRefusedWithAHint() {
        FakeKubectl.Result result = prune("--force");

        assertThat(result.exitCode()).isEqualTo(2);
        assertThat(result.output()).contains("unknown argument '--force'", "--help");
        assertThat(prune("--help").output()).contains("Usage:", "--apply", "NAMESPACE", "KUBECTL");
    }


    private FakeKubectl.Result prune(String... args) {
        return FakeKubectl.runWith(fake.resolve("kubectl"), "scripts/prune-configmaps.sh", Map.of(), args);
    }

    private List<String> calls() {
        try {
            Path calls = fake.resolve("calls");
            return Files.exists(calls) ? Files.readAllLines(calls) : List.of();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String realKubectl() {
        return Stream.of(System.getenv("PATH").split(":"))
                .map(dir -> Path.of(dir, "kubectl"))
                .filter(Files::isExecutable)
                .findFirst()
                .orElseThrow(() -> new AssertionError("kubectl is not on the PATH"))
                .toString();
    }

    private static List<String> concat(List<String> first, List<String> second) {
        return Stream.concat(first.stream(), second.stream()).toList();
    }
}
