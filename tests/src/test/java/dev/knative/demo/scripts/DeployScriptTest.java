package dev.knative.demo.scripts;

import static org.assertj.core.api.Assertions.assertThat;

import dev.knative.demo.support.FakeCluster;
import dev.knative.demo.support.FakeKubectl.Result;
import dev.knative.demo.support.Kustomize;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * scripts/deploy.sh against a stand-in kubectl playing a cluster (support/FakeCluster): the
 * prerequisites it checks, the apply, the waits, and what it says when something never gets Ready.
 */
class DeployScriptTest {

    private static final String SCRIPT = "scripts/deploy.sh";
    private static final String ROOT = Kustomize.REPO_ROOT.toString();

    @TempDir
    Path fake;
    @TempDir
    Path overlay;

    @Test
    void appliesTheKustomizationThenWaitsForBrokerTriggersSinkBindingAndEveryRolloutAndSaysHowToWatch() {
        FakeCluster cluster = new FakeCluster(fake).withKnative("1.22.2");

        Result result = cluster.run(SCRIPT, Map.of());

        assertThat(result.exitCode()).as(result.output()).isZero();
        List<List<String>> calls = cluster.calls();
        int apply = calls.indexOf(List.of("apply", "--kustomize", ROOT));
        assertThat(apply).as("applied once: " + calls).isPositive();
        assertThat(calls.subList(apply + 1, calls.size())).containsExactly(
                List.of("wait", "broker", "--all", "--namespace", "knative-demo", "--for", "condition=Ready", "--timeout", "300s"),
                List.of("wait", "trigger", "--all", "--namespace", "knative-demo", "--for", "condition=Ready", "--timeout", "300s"),
                List.of("wait", "sinkbinding", "--all", "--namespace", "knative-demo", "--for", "condition=Ready", "--timeout", "300s"),
                List.of("get", "deployments", "--namespace", "knative-demo", "--output", "name"),
                List.of("rollout", "status", "deployment.apps/consumer", "--namespace", "knative-demo", "--timeout", "300s"),
                List.of("rollout", "status", "deployment.apps/dead-letter", "--namespace", "knative-demo", "--timeout", "300s"),
                List.of("rollout", "status", "deployment.apps/producer", "--namespace", "knative-demo", "--timeout", "300s"));
        assertThat(result.output()).contains("Knative Eventing 1.22.2 installed", "Ready: Broker, Triggers and SinkBinding Ready",
                "scripts/follow-events.sh -n knative-demo", "kubectl --namespace knative-demo port-forward service/consumer 8080:80",
                "http://localhost:8080/", "scripts/send-event.sh -n knative-demo");
    }

    @Test
    void aSecondRunAppliesTheSameKustomizationAgainAndSucceedsAgain() {
        FakeCluster cluster = new FakeCluster(fake).withKnative("1.22.2");

        assertThat(cluster.run(SCRIPT, Map.of()).exitCode()).isZero();
        List<List<String>> first = cluster.changes();
        Result again = cluster.run(SCRIPT, Map.of());

        assertThat(again.exitCode()).as(again.output()).isZero();
        assertThat(cluster.changes()).containsExactlyElementsOf(List.of(first.get(0), first.get(0)));
    }

    @Test
    void aTriggerThatNeverGetsReadyFailsTheScriptNamingItsReasonAndMessage() {
        FakeCluster cluster = new FakeCluster(fake).withKnative("1.22.2")
                .neverReady("trigger", "order-placed", "SubscriberResolveFailed", "services \"consumer\" not found");

        Result result = cluster.run(SCRIPT, Map.of(), "--timeout", "30s");

        assertThat(result.exitCode()).isEqualTo(1);
        assertThat(result.output()).contains("Waiting up to 30s for every trigger in knative-demo to be Ready",
                        "not Ready after 30s:",
                        "Trigger/order-placed: Ready is False, reason SubscriberResolveFailed: services \"consumer\" not found",
                        "kubectl --namespace knative-demo describe trigger")
                .doesNotContain("Ready: Broker");
        assertThat(cluster.calls()).noneSatisfy(call -> assertThat(call).startsWith("rollout"));
    }

    @Test
    void withoutKnativesCrdsItStopsBeforeApplyingAndSaysHowToInstallKnative() {
        FakeCluster cluster = new FakeCluster(fake);

        Result result = cluster.run(SCRIPT, Map.of());

        assertThat(result.exitCode()).isEqualTo(1);
        assertThat(result.output()).contains("Knative Eventing is not installed: CRD brokers.eventing.knative.dev is missing",
                "scripts/install-knative.sh");
        assertThat(cluster.changes()).isEmpty();
    }

    @Test
    void aKnativeOlderThanTheOldestTheManifestsServeIsRefused() {
        FakeCluster cluster = new FakeCluster(fake).withKnative("1.11.5");

        Result result = cluster.run(SCRIPT, Map.of());

        assertThat(result.exitCode()).isEqualTo(1);
        assertThat(result.output()).contains("Knative Eventing 1.11.5 is too old: the manifests need 1.12 or newer");
        assertThat(cluster.changes()).isEmpty();
    }

    @Test
    void anUnreachableClusterIsNamedBeforeAnythingElse() {
        FakeCluster cluster = new FakeCluster(fake).unreachable();

        Result result = cluster.run(SCRIPT, Map.of());

        assertThat(result.exitCode()).isEqualTo(1);
        assertThat(result.output()).contains("was refused", "is not reachable");
        assertThat(cluster.calls()).hasSize(1);
    }

    @Test
    void strictTransportEncryptionWithoutTheTlsComponentIsRefusedNamingTheComponent() {
        FakeCluster cluster = new FakeCluster(fake).withKnative("1.22.2").withFeature("transport-encryption", "strict");

        Result result = cluster.run(SCRIPT, Map.of());

        assertThat(result.exitCode()).isEqualTo(1);
        assertThat(result.output()).contains("transport-encryption is strict: k8s/components/tls is required");
        assertThat(cluster.changes()).isEmpty();
    }

    @Test
    void strictTransportEncryptionWithAnOverlayListingTheTlsComponentIsDeployed() {
        FakeCluster cluster = new FakeCluster(fake).withKnative("1.22.2").withFeature("transport-encryption", "strict");
        Result result = cluster.run(SCRIPT, Map.of(), "--overlay", overlayListing("""
                  - %s/k8s/components/tls
                  # - %s/k8s/components/security
                """.formatted(ROOT, ROOT)));

        assertThat(result.exitCode()).as(result.output()).isZero();
        assertThat(cluster.changes()).containsExactly(List.of("apply", "--kustomize", overlay.toString()));
    }

    @Test
    void oidcAuthenticationWithoutTheSecurityComponentIsNamedAsRecommendedAndTheDeployGoesOn() {
        FakeCluster cluster = new FakeCluster(fake).withKnative("1.22.2").withFeature("authentication-oidc", "enabled");

        Result result = cluster.run(SCRIPT, Map.of());

        assertThat(result.exitCode()).as(result.output()).isZero();
        assertThat(result.output()).contains("authentication-oidc is enabled: k8s/components/security is recommended");
    }

    @Test
    void aKnativeWithTriggerFiltersNamesTheUnmatchedEventsComponentAndTheDeployGoesOn() {
        FakeCluster cluster = new FakeCluster(fake).withKnative("1.15.5");

        Result result = cluster.run(SCRIPT, Map.of());

        assertThat(result.exitCode()).as(result.output()).isZero();
        assertThat(result.output()).contains("note: through the Broker, an event of a type no Trigger filters is accepted and then dropped: "
                + "k8s/components/unmatched-events");
        assertThat(new FakeCluster(fake).withKnative("1.14.7").run(SCRIPT, Map.of()).output()).doesNotContain("unmatched-events");
    }

    /** The components whose manifests give a Trigger {@code filters}: each must be one deploy.sh names. */
    static List<String> componentsWithTriggerFilters() {
        return Kustomize.componentNames().stream().filter(component -> {
            try (Stream<Path> files = Files.list(Kustomize.COMPONENTS.resolve(component))) {
                return files.filter(file -> file.toString().endsWith(".yaml")).map(Kustomize::read)
                        .anyMatch(text -> text.contains("kind: Trigger") && text.contains("\n  filters:\n"));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }).toList();
    }

    @ParameterizedTest
    @MethodSource("componentsWithTriggerFilters")
    void aComponentWithTriggerFiltersOnAKnativeBefore115WithNewTriggerFiltersDisabledIsRefused(String component) {
        assertThat(componentsWithTriggerFilters()).contains("unmatched-events", "priority-routing");
        FakeCluster cluster = new FakeCluster(fake).withKnative("1.14.7").withFeature("new-trigger-filters", "disabled");
        Result result = cluster.run(SCRIPT, Map.of(), "--overlay", overlayListing("  - %s/k8s/components/%s\n".formatted(ROOT, component)));

        assertThat(result.exitCode()).isEqualTo(1);
        assertThat(result.output()).contains("new-trigger-filters is disabled: k8s/components/" + component + " needs it");
        assertThat(cluster.changes()).isEmpty();
    }

    @Test
    void theRetryAfterComponentWithDeliveryRetryAfterNotEnabledIsRefusedSayingHowToEnableIt() {
        FakeCluster cluster = new FakeCluster(fake).withKnative("1.22.2");
        Result result = cluster.run(SCRIPT, Map.of(), "--overlay", overlayListing("  - %s/k8s/components/retry-after\n".formatted(ROOT)));

        assertThat(result.exitCode()).isEqualTo(1);
        assertThat(result.output()).contains("delivery-retryafter is not enabled: k8s/components/retry-after",
                "patch configmap config-features --namespace knative-eventing", "\"delivery-retryafter\":\"enabled\"");
        assertThat(cluster.changes()).isEmpty();
    }

    @Test
    void theRetryAfterComponentIsDeployedWithDeliveryRetryAfterEnabledAndNamedWhenItIsEnabledWithoutIt() {
        FakeCluster cluster = new FakeCluster(fake).withKnative("1.22.2").withFeature("delivery-retryafter", "enabled");
        Result listed = cluster.run(SCRIPT, Map.of(), "--overlay", overlayListing("  - %s/k8s/components/retry-after\n".formatted(ROOT)));
        Result base = cluster.run(SCRIPT, Map.of());

        assertThat(listed.exitCode()).as(listed.output()).isZero();
        assertThat(listed.output()).doesNotContain("retry-after");
        assertThat(base.exitCode()).as(base.output()).isZero();
        assertThat(base.output()).contains("note: Knative's delivery-retryafter is enabled: k8s/components/retry-after");
        assertThat(cluster.changes()).containsExactly(List.of("apply", "--kustomize", overlay.toString()),
                List.of("apply", "--kustomize", ROOT));
    }

    @Test
    void theAutoscalingComponentWithoutACustomMetricsApiIsNamedAsScalingOnCpuOnlyAndTheDeployGoesOn() {
        String overlay = overlayListing("  - %s/k8s/components/autoscaling\n".formatted(ROOT));
        Result without = new FakeCluster(fake).withKnative("1.22.2").run(SCRIPT, Map.of(), "--overlay", overlay);
        Result with = new FakeCluster(fake).withKnative("1.22.2").serving("/apis/custom.metrics.k8s.io/v1beta1")
                .run(SCRIPT, Map.of(), "--overlay", overlay);

        assertThat(without.exitCode()).as(without.output()).isZero();
        assertThat(without.output()).contains("serves no custom metrics API", "scales the consumer up on CPU only, and never down");
        assertThat(with.exitCode()).as(with.output()).isZero();
        assertThat(with.output()).doesNotContain("custom metrics");
    }

    @Test
    void theKedaComponentWithoutKedasCrdIsRefused() {
        String overlay = overlayListing("  - %s/k8s/components/autoscaling-keda\n".formatted(ROOT));
        FakeCluster cluster = new FakeCluster(fake).withKnative("1.22.2");
        Result without = cluster.run(SCRIPT, Map.of(), "--overlay", overlay);
        assertThat(without.exitCode()).isEqualTo(1);
        assertThat(without.output()).contains("KEDA is not installed (CRD scaledobjects.keda.sh is missing)");
        assertThat(cluster.changes()).isEmpty();

        Result with = cluster.withCrd("scaledobjects.keda.sh").run(SCRIPT, Map.of(), "--overlay", overlay);
        assertThat(with.exitCode()).as(with.output()).isZero();
    }

    @Test
    void deleteRemovesWhatTheKustomizationCreatesAndWaitsUntilItIsGone() {
        FakeCluster cluster = new FakeCluster(fake).withKnative("1.22.2");

        Result result = cluster.run(SCRIPT, Map.of(), "--delete", "--timeout", "120s");

        assertThat(result.exitCode()).as(result.output()).isZero();
        assertThat(cluster.changes()).containsExactly(
                List.of("delete", "--kustomize", ROOT, "--ignore-not-found", "--wait=true", "--timeout", "120s"));
        assertThat(result.output()).contains("waiting up to 120s until it is gone", "Knative Eventing itself stays installed");
    }

    @Test
    void helpDescribesTheOptionsAndAnUnknownArgumentIsRefused() {
        FakeCluster cluster = new FakeCluster(fake);

        assertThat(cluster.run(SCRIPT, Map.of(), "--help").output())
                .contains("Usage:", "--overlay", "--timeout", "--delete", "--namespace", "scripts/install-knative.sh");
        Result unknown = cluster.run(SCRIPT, Map.of(), "--bogus");
        assertThat(unknown.exitCode()).isEqualTo(2);
        assertThat(unknown.output()).contains("unknown argument '--bogus'");
        assertThat(cluster.calls()).isEmpty();
    }

    /** An overlay of the repository with these lines under components:; returns its folder. */
    private String overlayListing(String components) {
        Kustomize.write(overlay.resolve("kustomization.yaml"), "resources:\n  - " + ROOT + "\ncomponents:\n" + components);
        return overlay.toString();
    }
}
