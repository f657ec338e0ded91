package dev.knative.demo.manifests;

import static org.assertj.core.api.Assertions.assertThat;

import dev.knative.demo.support.Kustomize;
import dev.knative.demo.support.Manifests;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Probe;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import java.math.BigDecimal;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.BiConsumer;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** Every workload meets the "restricted" Pod Security Standard and the house rules for pods. */
class ManifestHardeningTest {

    private static final List<String> RECOMMENDED_LABELS = List.of(
            "app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component",
            "app.kubernetes.io/part-of", "app.kubernetes.io/version", "app.kubernetes.io/managed-by");
    /** A cold start (JBang + javac) peaks near 170 MB; it was OOM-killed under a 128 MiB limit. */
    private static final BigDecimal COLD_START_PEAK_BYTES = BigDecimal.valueOf(170_000_000);

    private final Manifests manifests = Kustomize.repository();
    private final List<Deployment> deployments = manifests.all(Deployment.class);

    @Test
    void everyPodAndContainerRunsUnderTheRestrictedPodSecurityStandard() {
        forEachPod((name, pod) -> {
            assertThat(pod.getSecurityContext().getRunAsNonRoot()).as("%s runAsNonRoot", name).isTrue();
            assertThat(pod.getSecurityContext().getRunAsUser()).as("%s runAsUser", name).isPositive();
            assertThat(pod.getSecurityContext().getRunAsGroup()).as("%s runAsGroup", name).isPositive();
            assertThat(pod.getSecurityContext().getSeccompProfile().getType()).isEqualTo("RuntimeDefault");
            assertThat(allContainers(pod)).allSatisfy(container -> {
                var security = container.getSecurityContext();
                assertThat(security).as("securityContext of %s/%s", name, container.getName()).isNotNull();
                assertThat(security.getRunAsNonRoot()).isTrue();
                assertThat(security.getAllowPrivilegeEscalation()).isFalse();
                assertThat(security.getReadOnlyRootFilesystem()).isTrue();
                assertThat(security.getPrivileged()).isNotEqualTo(Boolean.TRUE);
                assertThat(security.getCapabilities().getDrop()).containsExactly("ALL");
                assertThat(security.getCapabilities().getAdd()).isNullOrEmpty();
                assertThat(security.getSeccompProfile().getType()).isEqualTo("RuntimeDefault");
            });
            assertThat(pod.getHostNetwork()).isNotEqualTo(Boolean.TRUE);
            assertThat(pod.getVolumes()).allSatisfy(volume -> assertThat(volume.getHostPath()).isNull());
        });
        Namespace namespace = manifests.all(Namespace.class).get(0);
        assertThat(namespace.getMetadata().getLabels()).containsEntry("pod-security.kubernetes.io/enforce", "restricted");
    }

    @Test
    void theStartCommandIsInArgsSoTheImageEntrypointStillRuns() {
        forEachContainer((name, container) -> {
            assertThat(container.getCommand()).as("command of %s (would replace the image's entrypoint)", name).isNullOrEmpty();
            assertThat(container.getArgs()).as("args of %s", name).startsWith("sh", "/opt/boot/jbang");
        });
    }

    @Test
    void everyImageIsPinnedToATag() {
        forEachContainer((name, container) -> {
            String image = container.getImage();
            String afterRegistry = image.substring(image.lastIndexOf('/') + 1);
            assertThat(afterRegistry).as("image of %s", name).contains(":");
            assertThat(afterRegistry.substring(afterRegistry.indexOf(':') + 1)).as("tag of %s", image)
                    .isNotBlank().isNotEqualTo("latest");
            assertThat(image).isEqualTo("eclipse-temurin:25.0.3_9-jdk-noble");
        });
    }

    @Test
    void everyContainerHasStartupReadinessAndLivenessProbesOnItsHttpPort() {
        forEachContainer((name, container) -> {
            assertHttpProbe(name + " startupProbe", container.getStartupProbe(), "/healthz");
            assertHttpProbe(name + " readinessProbe", container.getReadinessProbe(), "/readyz");
            assertHttpProbe(name + " livenessProbe", container.getLivenessProbe(), "/healthz");
            Probe startup = container.getStartupProbe();
            assertThat(startup.getPeriodSeconds() * startup.getFailureThreshold())
                    .as("seconds %s allows a cold start (measured 8-11 s; downloads may be slow)", name)
                    .isGreaterThanOrEqualTo(120);
        });
    }

    @Test
    void everyContainerRequestsCpuAndMemoryAndHasAMemoryLimitAboveTheColdStartPeak() {
        forEachContainer((name, container) -> {
            Map<String, Quantity> requests = container.getResources().getRequests();
            Map<String, Quantity> limits = container.getResources().getLimits();
            assertThat(requests).as("requests of %s", name).containsKeys("cpu", "memory");
            assertThat(limits).as("limits of %s", name).containsKey("memory");
            BigDecimal limit = limits.get("memory").getNumericalAmount();
            assertThat(limit).as("memory limit of %s in bytes", name).isGreaterThan(COLD_START_PEAK_BYTES);
            assertThat(limit).isGreaterThanOrEqualTo(requests.get("memory").getNumericalAmount());
        });
    }

    @Test
    void everyWorkloadHasItsOwnServiceAccountWithoutAnApiToken() {
        List<ServiceAccount> accounts = manifests.all(ServiceAccount.class);
        assertThat(accounts).allSatisfy(account ->
                assertThat(account.getAutomountServiceAccountToken()).as("automount of %s", account.getMetadata().getName()).isFalse());
        forEachPod((name, pod) -> {
            assertThat(pod.getAutomountServiceAccountToken()).as("automount in pod of %s", name).isFalse();
            assertThat(pod.getServiceAccountName()).isEqualTo(name);
            manifests.one(ServiceAccount.class, pod.getServiceAccountName());
        });
        assertThat(deployments.stream().map(d -> d.getSpec().getTemplate().getSpec().getServiceAccountName()).distinct())
                .hasSameSizeAs(deployments);
    }

    @Test
    void everyPathTheProgramsWriteIsOnAnEmptyDirAndTheScriptsAreMountedReadOnly() {
        forEachPod((name, pod) -> {
            Container container = pod.getContainers().get(0);
            Map<String, Volume> volumes = pod.getVolumes().stream().collect(Collectors.toMap(Volume::getName, v -> v));
            for (String variable : List.of("HOME", "JBANG_DIR", "JBANG_CACHE_DIR", "JBANG_REPO")) {
                String path = env(container, variable).getValue();
                VolumeMount mount = container.getVolumeMounts().stream()
                        .filter(m -> path.equals(m.getMountPath()) || path.startsWith(m.getMountPath() + "/"))
                        .findFirst()
                        .orElseThrow(() -> new AssertionError(name + ": " + variable + "=" + path + " is on no volume"));
                assertThat(volumes.get(mount.getName()).getEmptyDir()).as("%s: volume under %s", name, variable).isNotNull();
            }
            assertThat(container.getVolumeMounts()).filteredOn(m -> volumes.get(m.getName()).getConfigMap() != null)
                    .isNotEmpty()
                    .allSatisfy(m -> assertThat(m.getReadOnly()).as("%s mounts %s read-only", name, m.getMountPath()).isTrue());
        });
    }

    @Test
    void everyProgramGetsItsPortAndPodIdentityFromTheEnvironment() {
        forEachContainer((name, container) -> {
            assertThat(env(container, "PORT").getValue()).isEqualTo("8080");
            assertThat(env(container, "POD_NAME").getValueFrom().getFieldRef().getFieldPath()).isEqualTo("metadata.name");
            assertThat(env(container, "POD_NAMESPACE").getValueFrom().getFieldRef().getFieldPath()).isEqualTo("metadata.namespace");
        });
    }

    @Test
    void receiversDrainWithinTheirTerminationGracePeriod() {
        for (String name : List.of("consumer", "dead-letter")) {
            PodSpec pod = manifests.one(Deployment.class, name).getSpec().getTemplate().getSpec();
            Container container = pod.getContainers().get(0);
            long drainMillis = Long.parseLong(env(container, "DRAIN_DELAY_MS").getValue())
                    + Long.parseLong(env(container, "SHUTDOWN_GRACE_MS").getValue());
            assertThat(pod.getTerminationGracePeriodSeconds() * 1000).as("grace period of %s", name).isGreaterThan(drainMillis);
        }
    }

    @Test
    void everyObjectAndPodCarriesTheRecommendedLabels() {
        assertThat(manifests.json()).allSatisfy(object -> assertThat(object.at("/metadata/labels").isObject())
                .as("labels of %s %s", object.path("kind").asText(), object.at("/metadata/name").asText()).isTrue());
        assertThat(manifests.json()).allSatisfy(object -> {
            Set<String> keys = Set.copyOf(Kustomize.YAML.convertValue(object.at("/metadata/labels"), Map.class).keySet());
            assertThat(keys).as("labels of %s %s", object.path("kind").asText(), object.at("/metadata/name").asText())
                    .containsAll(RECOMMENDED_LABELS);
        });
        assertThat(deployments).allSatisfy(deployment ->
                assertThat(Manifests.podLabels(deployment)).containsKeys(RECOMMENDED_LABELS.toArray(String[]::new)));
    }

    private void forEachPod(BiConsumer<String, PodSpec> check) {
        assertThat(deployments).isNotEmpty();
        for (Deployment deployment : deployments) check.accept(deployment.getMetadata().getName(), deployment.getSpec().getTemplate().getSpec());
    }

    private void forEachContainer(BiConsumer<String, Container> check) {
        forEachPod((name, pod) -> allContainers(pod).forEach(container -> check.accept(name + "/" + container.getName(), container)));
    }

    private static List<Container> allContainers(PodSpec pod) {
        List<Container> init = pod.getInitContainers() == null ? List.of() : pod.getInitContainers();
        return Stream.concat(init.stream(), pod.getContainers().stream()).toList();
    }

    private static void assertHttpProbe(String what, Probe probe, String path) {
        assertThat(probe).as(what).isNotNull();
        assertThat(probe.getHttpGet()).as("%s is an HTTP GET", what).isNotNull();
        assertThat(probe.getHttpGet().getPath()).as("%s path", what).isEqualTo(path);
        assertThat(probe.getHttpGet().getPort().getStrVal()).as("%s port", what).isEqualTo("http");
    }

    private static EnvVar env(Container container, String name) {
        return container.getEnv().stream().filter(env -> env.getName().equals(name)).findFirst()
                .orElseThrow(() -> new AssertionError(container.getName() + " has no env " + name));
    }
}
