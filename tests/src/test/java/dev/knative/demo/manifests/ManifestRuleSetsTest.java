package dev.knative.demo.manifests;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.knative.demo.support.Kustomize;
import dev.knative.demo.support.Manifests;
import dev.knative.demo.support.NetworkPolicies;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.PodAffinityTerm;
import io.fabric8.kubernetes.api.model.PodSecurityContext;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Probe;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.SecurityContext;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.WeightedPodAffinityTerm;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.autoscaling.v2.HorizontalPodAutoscaler;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicy;
import io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.function.BiConsumer;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The default rules of four public rule sets, checked on the rendered base and on the base with each
 * component under k8s/components/ (found there, not listed here, so a new component is checked too).
 * Rule lists as read:
 * <ul>
 * <li>kube-score: zegl/kube-score README_CHECKS.md, every check marked "default"; thresholds from score/security/security.go.
 * <li>Polaris: FairwindsOps/polaris pkg/config/default.yaml (checks and severities), pkg/config/checks/*.yaml (the schemas).
 * <li>kube-linter: stackrox/kube-linter docs/generated/checks.md, every check "Enabled by default: Yes".
 * <li>NSA/CISA Kubernetes Hardening Guide v1.2, as GoogleCloudPlatform/gke-policy-library encodes it in
 *     anthos-bundles/nsa-cisa-k8s-v1.2/*.yaml (one Gatekeeper constraint per recommendation).
 * </ul>
 * Where a rule is not followed on purpose, {@link #DEVIATIONS} names it, where, and why; nothing else may fail.
 */
class ManifestRuleSetsTest {

    /** A rule not followed on purpose: the rule, the object it concerns ("*": every one) and why. */
    record Deviation(String rule, String subject, String reason) {}

    private static final String ONE_PRODUCER = "one producer replica: each replica emits RATE events/s, so a second would double the event rate";
    private static final String ONE_DISPLAY = "one dead-letter display: it keeps the dead letters in memory or in one directory it locks (dead-letter-storage), so a second replica would show each GET /dead-letters half of them, or not start";
    private static final String SINGLE_REPLICA_BUDGET = "a budget for a single replica either blocks every node drain (minAvailable 1, what kube-linter pdb-min-available forbids) or allows every eviction, so it protects nothing";
    private static final String NO_CPU_LIMIT = "no CPU limit: throttling only stretches the compile-heavy cold start (k8s/jbang-workload.yaml); the CPU request still reserves a fair share, and memory is limited";
    private static final String PULL_IF_NOT_PRESENT = "IfNotPresent: Always exists to re-check imagePullSecrets on every start, and there are none (a public image); the tag is pinned, and Always would add a registry round trip (and Docker Hub's rate limit) to every pod start";

    static final List<Deviation> DEVIATIONS = List.of(
            new Deviation("kube-score deployment-replicas", "Deployment/producer", ONE_PRODUCER),
            new Deviation("Polaris deploymentMissingReplicas", "Deployment/producer", ONE_PRODUCER),
            new Deviation("kube-score deployment-replicas", "Deployment/dead-letter", ONE_DISPLAY),
            new Deviation("Polaris deploymentMissingReplicas", "Deployment/dead-letter", ONE_DISPLAY),
            new Deviation("kube-score deployment-has-poddisruptionbudget", "Deployment/producer", SINGLE_REPLICA_BUDGET),
            new Deviation("Polaris missingPodDisruptionBudget", "Deployment/producer", SINGLE_REPLICA_BUDGET),
            new Deviation("kube-score deployment-has-poddisruptionbudget", "Deployment/dead-letter", SINGLE_REPLICA_BUDGET),
            new Deviation("Polaris missingPodDisruptionBudget", "Deployment/dead-letter", SINGLE_REPLICA_BUDGET),
            new Deviation("kube-score container-resources (CPU limit)", "*", NO_CPU_LIMIT),
            new Deviation("Polaris cpuLimitsMissing", "*", NO_CPU_LIMIT),
            new Deviation("NSA/CISA cpu-and-memory-limits-required (CPU limit)", "*", NO_CPU_LIMIT),
            new Deviation("kube-score container-image-pull-policy", "*", PULL_IF_NOT_PRESENT),
            new Deviation("Polaris pullPolicyNotAlways", "*", PULL_IF_NOT_PRESENT),
            new Deviation("NSA/CISA image integrity (pin by digest)", "*",
                    "pinned to a tag, not a digest: the digest could not be read from the registry where this was written; "
                            + "k8s/jbang-workload.yaml says to add one where policy asks for it"),
            new Deviation("Polaris priorityClassNotSet", "*",
                    "a PriorityClass is cluster-wide: a demo in its own namespace should not outrank other workloads, so the cluster's default applies"),
            new Deviation("Polaris metadataAndInstanceMismatched", "*",
                    "app.kubernetes.io/instance names the install (knative-demo), as the Kubernetes recommended labels define it, "
                            + "so one selector finds every object of it; Polaris wants each controller's own name there"),
            new Deviation("Polaris sensitiveConfigmapContent", "ConfigMap/kafka-broker-config",
                    "the key auth.secret.ref.name (k8s/components/confluent-platform) is Knative's fixed key for the name of the Secret "
                            + "that holds the Kafka credentials: a reference, and the credentials stay in the Secret"),
            new Deviation("kube-score networkpolicy-targets-pod", "NetworkPolicy/kafka-cluster-traffic",
                    "it selects the Kafka pods the Strimzi operator creates from the Kafka object (k8s/components/strimzi-kafka), "
                            + "which a render cannot contain; ManifestNetworkPolicyTest checks it against Strimzi's pod labels"),
            new Deviation("Polaris deploymentMissingReplicas (under an autoscaler)", "*",
                    "an autoscaler owns the replica count: a spec.replicas in the manifest would set it back on every apply, in "
                            + "the middle of a load peak, which kube-score deployment-targeted-by-hpa-does-not-have-replicas-configured "
                            + "forbids; the autoscaler's minReplicas keeps two (Polaris hpaMinAvailability)"),
            new Deviation("Polaris missingNetworkPolicy (one policy with matchLabels, ingress and egress)", "*",
                    "policies here are per direction on top of a default deny, and the producer takes no ingress at all, which "
                            + "a non-empty ingress list cannot say; the rule's intent, every pod isolated both ways, is checked as "
                            + "'Polaris missingNetworkPolicy (intent)'"));

    private static final Pattern LABEL_VALUE = Pattern.compile("(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?");
    private static final Pattern PORT_NAME = Pattern.compile("[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?");
    private static final Pattern SENSITIVE_NAME = Pattern.compile(
            "(?i)^AWS_SECRET_ACCESS_KEY$|^GOOGLE_APPLICATION_CREDENTIALS$|^AZURE_.+KEY$|^OCI_CLI_KEY_CONTENT$|password|token|bearer|secret");
    private static final Pattern PRIVATE_KEY = Pattern.compile("(?i)-BEGIN\\s+.*PRIVATE KEY-");
    private static final Set<String> DANGEROUS_CAPABILITIES = Set.of("ALL", "SYS_ADMIN", "NET_ADMIN");
    private static final List<String> SENSITIVE_HOST_PATHS = List.of("/", "/boot", "/dev", "/etc", "/lib", "/proc", "/sys", "/usr");
    private static final Set<String> SAFE_SYSCTLS = Set.of("kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range",
            "net.ipv4.ip_unprivileged_port_start", "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range");
    private static final Pattern BETA_BUILT_IN = Pattern.compile("^(extensions|apps|policy|networking\\.k8s\\.io|batch|rbac\\.authorization\\.k8s\\.io|autoscaling)/v\\d+(alpha|beta)\\d*$");

    @TempDir
    static Path temp;
    private static final Map<String, Manifests> RENDERS = new HashMap<>();

    /** The base, then the base with each component under k8s/components/. */
    static Stream<String> renders() {
        return Stream.concat(Stream.of("base"), Kustomize.componentNames().stream());
    }

    private static synchronized Manifests render(String name) {
        return RENDERS.computeIfAbsent(name, n -> n.equals("base")
                ? Kustomize.repository()
                : Kustomize.renderWithComponent(temp.resolve(n), n));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("renders")
    void kubeScoreDefaultChecksPass(String render) {
        assertFollows("kube-score", ManifestRuleSetsTest::kubeScore, render);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("renders")
    void polarisDefaultChecksPass(String render) {
        assertFollows("Polaris", ManifestRuleSetsTest::polaris, render);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("renders")
    void kubeLinterDefaultChecksPass(String render) {
        assertFollows("kube-linter", ManifestRuleSetsTest::kubeLinter, render);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("renders")
    void nsaCisaHardeningGuidePasses(String render) {
        assertFollows("NSA/CISA hardening", ManifestRuleSetsTest::nsaCisa, render);
    }

    private static void assertFollows(String ruleSet, BiConsumer<Manifests, Findings> rules, String render) {
        Findings findings = new Findings();
        rules.accept(render(render), findings);
        assertThat(findings.failures).as("%s rules broken in %s", ruleSet, render).isEmpty();
    }

    @Test
    void everyDeviationIsStillNeededAndGivesItsReason() {
        Findings findings = new Findings();
        renders().map(ManifestRuleSetsTest::render).forEach(manifests -> {
            kubeScore(manifests, findings);
            polaris(manifests, findings);
            kubeLinter(manifests, findings);
            nsaCisa(manifests, findings);
        });
        assertThat(DEVIATIONS).allSatisfy(deviation -> {
            assertThat(deviation.reason()).as("reason for %s", deviation.rule()).hasSizeGreaterThan(40);
            assertThat(findings.excused).as("deviations the base or a component still needs").contains(deviation);
        });
    }

    // kube-score, README_CHECKS.md: the checks marked "default" that apply to the kinds rendered here.
    private static void kubeScore(Manifests manifests, Findings f) {
        forEachPod(manifests, pod -> {
            f.require("kube-score deployment-strategy", pod.subject(), "RollingUpdate".equals(pod.deployment().getSpec().getStrategy().getType()), "strategy");
            // An autoscaled Deployment is skipped: its replica count is the autoscaler's, checked below.
            if (pod.autoscaledMin() == null)
                f.require("kube-score deployment-replicas", pod.subject(), pod.replicas() >= 2, "replicas " + pod.replicas());
            else
                f.require("kube-score deployment-targeted-by-hpa-does-not-have-replicas-configured", pod.subject(),
                        pod.deployment().getSpec().getReplicas() == null, "replicas " + pod.deployment().getSpec().getReplicas());
            f.require("kube-score deployment-has-poddisruptionbudget", pod.subject(), budgetOf(manifests, pod).isPresent(), "no PodDisruptionBudget selects its pods");
            if (pod.replicas() >= 2)
                f.require("kube-score deployment-has-host-podantiaffinity", pod.subject(), hasHostAntiAffinity(pod), "no podAntiAffinity on kubernetes.io/hostname");
            f.require("kube-score deployment-pod-selector-labels-match-template-metadata-labels", pod.subject(),
                    Manifests.selects(pod.deployment().getSpec().getSelector().getMatchLabels(), pod.labels()), "selector");
            f.require("kube-score pod-networkpolicy", pod.subject(), selectingPolicies(manifests, pod).findAny().isPresent(), "no NetworkPolicy selects it");
            f.require("kube-score pod-topology-spread-constraints", pod.subject(), orEmpty(pod.spec().getTopologySpreadConstraints()).stream().allMatch(c ->
                    c.getMaxSkew() > 0 && Set.of("DoNotSchedule", "ScheduleAnyway").contains(c.getWhenUnsatisfiable())
                            && NetworkPolicies.matches(c.getLabelSelector(), pod.labels())), "invalid constraint");
            pod.containers().forEach(c -> {
                String subject = pod.subject() + " container " + c.getName();
                Map<String, Quantity> requests = c.getResources().getRequests() == null ? Map.of() : c.getResources().getRequests();
                Map<String, Quantity> limits = c.getResources().getLimits() == null ? Map.of() : c.getResources().getLimits();
                f.require("kube-score container-resources", subject, requests.containsKey("cpu") && requests.containsKey("memory") && limits.containsKey("memory"), "requests/limits");
                f.require("kube-score container-resources (CPU limit)", subject, limits.containsKey("cpu"), "no CPU limit");
                f.require("kube-score container-ephemeral-storage-request-and-limit", subject,
                        requests.containsKey("ephemeral-storage") && limits.containsKey("ephemeral-storage"), "ephemeral-storage");
                f.require("kube-score container-image-tag", subject, hasPinnedTag(c.getImage()), c.getImage());
                f.require("kube-score container-image-pull-policy", subject, "Always".equals(c.getImagePullPolicy()), "imagePullPolicy " + c.getImagePullPolicy());
                f.require("kube-score environment-variable-key-duplication", subject, !hasDuplicateEnv(c), "duplicate env");
                f.require("kube-score pod-probes", subject, c.getReadinessProbe() != null, "no readinessProbe");
                f.require("kube-score pod-probes-identical", subject, !Objects.equals(c.getReadinessProbe(), c.getLivenessProbe()), "readiness = liveness");
                SecurityContext security = effective(pod.spec().getSecurityContext(), c.getSecurityContext());
                f.require("kube-score container-security-context-user-group-id", subject,
                        security.getRunAsUser() != null && security.getRunAsUser() > 10000
                                && security.getRunAsGroup() != null && security.getRunAsGroup() > 10000, "runAsUser/runAsGroup above 10000");
                f.require("kube-score container-security-context-privileged", subject, !Boolean.TRUE.equals(security.getPrivileged()), "privileged");
                f.require("kube-score container-security-context-readonlyrootfilesystem", subject, Boolean.TRUE.equals(security.getReadOnlyRootFilesystem()), "writable root");
            });
        });
        autoscalers(manifests).forEach(autoscaler -> {
            f.require("kube-score horizontalpodautoscaler-has-target", autoscaler.subject(),
                    pods(manifests).stream().anyMatch(pod -> pod.name().equals(autoscaler.target())), "targets " + autoscaler.target());
            f.require("kube-score horizontalpodautoscaler-replicas", autoscaler.subject(), autoscaler.min() >= 2, "minReplicas " + autoscaler.min());
        });
        budgets(manifests).forEach(budget -> f.require("kube-score poddisruptionbudget-has-policy", subjectOf(budget),
                budget.getSpec().getMinAvailable() != null || budget.getSpec().getMaxUnavailable() != null, "minAvailable or maxUnavailable"));
        manifests.all(NetworkPolicy.class).forEach(policy -> f.require("kube-score networkpolicy-targets-pod", subjectOf(policy),
                pods(manifests).stream().anyMatch(pod -> NetworkPolicies.matches(policy.getSpec().getPodSelector(), pod.labels())), "selects no pod"));
        services(manifests, f, "kube-score service-targets-pod");
        manifests.all(Service.class).forEach(service -> f.require("kube-score service-type", subjectOf(service),
                !"NodePort".equals(service.getSpec().getType()), "NodePort"));
        manifests.json().forEach(object -> {
            String subject = object.path("kind").asText() + "/" + object.at("/metadata/name").asText();
            f.require("kube-score stable-version", subject, !BETA_BUILT_IN.matcher(object.path("apiVersion").asText()).matches(), object.path("apiVersion").asText());
            object.at("/metadata/labels").properties().forEach(label -> f.require("kube-score label-values", subject,
                    label.getValue().asText().length() <= 63 && LABEL_VALUE.matcher(label.getValue().asText()).matches(), label.getKey()));
        });
    }

    // Polaris, pkg/config/default.yaml: every check there, warning or danger.
    private static void polaris(Manifests manifests, Findings f) {
        forEachPod(manifests, pod -> {
            PodSpec spec = pod.spec();
            // Polaris asks for spec.replicas >= 2 whether or not an autoscaler owns the count.
            Integer declared = pod.deployment().getSpec().getReplicas();
            f.require("Polaris deploymentMissingReplicas" + (pod.autoscaledMin() == null ? "" : " (under an autoscaler)"),
                    pod.subject(), declared != null && declared >= 2, "replicas " + declared);
            if (pod.autoscaledMin() != null) budgetOf(manifests, pod).ifPresent(budget -> f.require(
                    "Polaris pdbMinAvailableGreaterThanHPAMinReplicas", pod.subject(),
                    budget.getSpec().getMinAvailable() == null || minAvailable(budget, pod.autoscaledMin()) <= pod.autoscaledMin(),
                    "minAvailable " + budget.getSpec().getMinAvailable() + " of minReplicas " + pod.autoscaledMin()));
            f.require("Polaris priorityClassNotSet", pod.subject(), spec.getPriorityClassName() != null, "no priorityClassName");
            f.require("Polaris metadataAndInstanceMismatched", pod.subject(),
                    pod.name().equals(labels(pod.deployment().getMetadata().getLabels()).get("app.kubernetes.io/instance")), "instance label");
            f.require("Polaris missingPodDisruptionBudget", pod.subject(), budgetOf(manifests, pod).isPresent(), "no PodDisruptionBudget");
            budgetOf(manifests, pod).ifPresent(budget -> f.require("Polaris pdbDisruptionsIsZero", subjectOf(budget), allowsDisruption(budget, pod.replicas()), "allows no disruption"));
            f.require("Polaris topologySpreadConstraint", pod.subject(), !orEmpty(spec.getTopologySpreadConstraints()).isEmpty(), "none");
            f.require("Polaris automountServiceAccountToken", pod.subject(), Boolean.FALSE.equals(spec.getAutomountServiceAccountToken()), "token mounted");
            f.require("Polaris hostIPCSet", pod.subject(), !Boolean.TRUE.equals(spec.getHostIPC()), "hostIPC");
            f.require("Polaris hostPIDSet", pod.subject(), !Boolean.TRUE.equals(spec.getHostPID()), "hostPID");
            f.require("Polaris hostNetworkSet", pod.subject(), !Boolean.TRUE.equals(spec.getHostNetwork()), "hostNetwork");
            f.require("Polaris hostPathSet", pod.subject(), orEmpty(spec.getVolumes()).stream().allMatch(v -> v.getHostPath() == null), "hostPath");
            f.require("Polaris missingNetworkPolicy (intent)", pod.subject(), isolatedBothWays(manifests, pod), "not isolated for ingress and egress");
            f.require("Polaris missingNetworkPolicy (one policy with matchLabels, ingress and egress)", pod.subject(), selectingPolicies(manifests, pod).anyMatch(p ->
                    p.getSpec().getPodSelector().getMatchLabels() != null && !p.getSpec().getPodSelector().getMatchLabels().isEmpty()
                            && !orEmpty(p.getSpec().getIngress()).isEmpty() && !orEmpty(p.getSpec().getEgress()).isEmpty()), "literal form");
            pod.containers().forEach(c -> {
                String subject = pod.subject() + " container " + c.getName();
                Map<String, Quantity> requests = c.getResources().getRequests() == null ? Map.of() : c.getResources().getRequests();
                Map<String, Quantity> limits = c.getResources().getLimits() == null ? Map.of() : c.getResources().getLimits();
                SecurityContext security = effective(spec.getSecurityContext(), c.getSecurityContext());
                f.require("Polaris tagNotSpecified", subject, hasPinnedTag(c.getImage()), c.getImage());
                f.require("Polaris pullPolicyNotAlways", subject, "Always".equals(c.getImagePullPolicy()), "imagePullPolicy " + c.getImagePullPolicy());
                f.require("Polaris readinessProbeMissing", subject, c.getReadinessProbe() != null, "none");
                f.require("Polaris livenessProbeMissing", subject, c.getLivenessProbe() != null, "none");
                f.require("Polaris cpuRequestsMissing", subject, requests.containsKey("cpu"), "none");
                f.require("Polaris memoryRequestsMissing", subject, requests.containsKey("memory"), "none");
                f.require("Polaris memoryLimitsMissing", subject, limits.containsKey("memory"), "none");
                f.require("Polaris cpuLimitsMissing", subject, limits.containsKey("cpu"), "none");
                f.require("Polaris hostPortSet", subject, orEmpty(c.getPorts()).stream().allMatch(p -> p.getHostPort() == null), "hostPort");
                f.require("Polaris hostProcess", subject, security.getWindowsOptions() == null || !Boolean.TRUE.equals(security.getWindowsOptions().getHostProcess()), "hostProcess");
                f.require("Polaris procMount", subject, security.getProcMount() == null || "Default".equals(security.getProcMount()), "procMount");
                f.require("Polaris runAsRootAllowed", subject, Boolean.TRUE.equals(security.getRunAsNonRoot()), "runAsNonRoot");
                f.require("Polaris runAsPrivileged", subject, !Boolean.TRUE.equals(security.getPrivileged()), "privileged");
                f.require("Polaris privilegeEscalationAllowed", subject, Boolean.FALSE.equals(security.getAllowPrivilegeEscalation()), "allowPrivilegeEscalation");
                f.require("Polaris dangerousCapabilities", subject, added(security).stream().noneMatch(DANGEROUS_CAPABILITIES::contains), "adds " + added(security));
                f.require("Polaris insecureCapabilities", subject, dropped(security).contains("ALL"), "drops " + dropped(security));
                f.require("Polaris notReadOnlyRootFilesystem", subject, Boolean.TRUE.equals(security.getReadOnlyRootFilesystem()), "writable root");
                f.require("Polaris linuxHardening", subject, seccompConfined(security) || dropped(security).contains("ALL"), "no seccomp, AppArmor, SELinux or dropped capabilities");
                f.require("Polaris sensitiveContainerEnvVar", subject, orEmpty(c.getEnv()).stream()
                        .noneMatch(env -> env.getValue() != null && SENSITIVE_NAME.matcher(env.getName()).find()), "env names a secret");
            });
        });
        autoscalers(manifests).forEach(autoscaler -> {
            f.require("Polaris hpaMinAvailability", autoscaler.subject(), autoscaler.min() >= 2, "minReplicas " + autoscaler.min());
            f.require("Polaris hpaMaxAvailability", autoscaler.subject(), autoscaler.max() > autoscaler.min(),
                    "maxReplicas " + autoscaler.max() + ", minReplicas " + autoscaler.min());
        });
        kinds(manifests, "ConfigMap").forEach(map -> map.path("data").properties().forEach(entry -> f.require("Polaris sensitiveConfigmapContent", subjectOf(map),
                !SENSITIVE_NAME.matcher(entry.getKey()).find() && !PRIVATE_KEY.matcher(entry.getValue().asText()).find(), "key " + entry.getKey())));
        kinds(manifests, "Ingress").forEach(ingress -> f.require("Polaris tlsSettingsMissing", subjectOf(ingress), ingress.at("/spec/tls").size() > 0, "no TLS"));
        rbac(manifests, f, "Polaris");
    }

    // kube-linter, docs/generated/checks.md: every check enabled by default.
    private static void kubeLinter(Manifests manifests, Findings f) {
        Set<String> accounts = new HashSet<>(manifests.all(ServiceAccount.class).stream().map(a -> a.getMetadata().getName()).toList());
        accounts.add("default");
        forEachPod(manifests, pod -> {
            PodSpec spec = pod.spec();
            f.require("kube-linter deprecated-service-account-field", pod.subject(), spec.getServiceAccount() == null, "serviceAccount");
            f.require("kube-linter non-existent-service-account", pod.subject(), accounts.contains(Optional.ofNullable(spec.getServiceAccountName()).orElse("default")), spec.getServiceAccountName());
            f.require("kube-linter host-ipc", pod.subject(), !Boolean.TRUE.equals(spec.getHostIPC()), "hostIPC");
            f.require("kube-linter host-network", pod.subject(), !Boolean.TRUE.equals(spec.getHostNetwork()), "hostNetwork");
            f.require("kube-linter host-pid", pod.subject(), !Boolean.TRUE.equals(spec.getHostPID()), "hostPID");
            f.require("kube-linter mismatching-selector", pod.subject(), Manifests.selects(pod.deployment().getSpec().getSelector().getMatchLabels(), pod.labels()), "selector");
            if (pod.replicas() >= 2) f.require("kube-linter no-anti-affinity", pod.subject(), hasHostAntiAffinity(pod), "no anti-affinity");
            f.require("kube-linter unsafe-sysctls", pod.subject(), spec.getSecurityContext() == null || orEmpty(spec.getSecurityContext().getSysctls()).stream()
                    .allMatch(s -> SAFE_SYSCTLS.contains(s.getName())), "sysctls");
            orEmpty(spec.getVolumes()).stream().filter(v -> v.getHostPath() != null).forEach(v -> {
                f.require("kube-linter sensitive-host-mounts", pod.subject(), !SENSITIVE_HOST_PATHS.contains(v.getHostPath().getPath()), v.getHostPath().getPath());
                f.require("kube-linter docker-sock", pod.subject(), !v.getHostPath().getPath().endsWith("docker.sock"), v.getHostPath().getPath());
            });
            pod.containers().forEach(c -> {
                String subject = pod.subject() + " container " + c.getName();
                SecurityContext security = effective(spec.getSecurityContext(), c.getSecurityContext());
                f.require("kube-linter latest-tag", subject, hasPinnedTag(c.getImage()), c.getImage());
                f.require("kube-linter duplicate-env-var", subject, !hasDuplicateEnv(c), "duplicate env");
                f.require("kube-linter env-var-secret", subject, orEmpty(c.getEnv()).stream()
                        .noneMatch(env -> env.getValue() != null && !env.getValue().isEmpty() && env.getName().toLowerCase().contains("secret")), "secret in env");
                f.require("kube-linter drop-net-raw-capability", subject, dropped(security).contains("ALL") || dropped(security).contains("NET_RAW"), "NET_RAW kept");
                f.require("kube-linter no-read-only-root-fs", subject, Boolean.TRUE.equals(security.getReadOnlyRootFilesystem()), "writable root");
                f.require("kube-linter privilege-escalation-container", subject, Boolean.FALSE.equals(security.getAllowPrivilegeEscalation()), "allowPrivilegeEscalation");
                f.require("kube-linter privileged-container", subject, !Boolean.TRUE.equals(security.getPrivileged()), "privileged");
                f.require("kube-linter run-as-non-root", subject, Boolean.TRUE.equals(security.getRunAsNonRoot()) || Optional.ofNullable(security.getRunAsUser()).orElse(0L) > 0, "may run as root");
                f.require("kube-linter ssh-port", subject, orEmpty(c.getPorts()).stream().noneMatch(p -> p.getContainerPort() == 22), "port 22");
                f.require("kube-linter unset-cpu-requirements", subject, c.getResources().getRequests() != null && c.getResources().getRequests().containsKey("cpu"), "no CPU request");
                f.require("kube-linter unset-memory-requirements", subject, c.getResources().getLimits() != null && c.getResources().getLimits().containsKey("memory"), "no memory limit");
                Map<String, Probe> probes = new HashMap<>();
                if (c.getLivenessProbe() != null) probes.put("kube-linter liveness-port", c.getLivenessProbe());
                if (c.getReadinessProbe() != null) probes.put("kube-linter readiness-port", c.getReadinessProbe());
                if (c.getStartupProbe() != null) probes.put("kube-linter startup-port", c.getStartupProbe());
                probes.forEach((rule, probe) -> f.require(rule, subject, probe.getHttpGet() == null || portExists(probe.getHttpGet().getPort(), c), "probe port not on the container"));
                orEmpty(c.getPorts()).forEach(p -> f.require("kube-linter invalid-target-ports", subject, p.getName() == null || PORT_NAME.matcher(p.getName()).matches(), p.getName()));
            });
        });
        services(manifests, f, "kube-linter dangling-service");
        manifests.all(Service.class).forEach(service -> service.getSpec().getPorts().forEach(port -> f.require("kube-linter invalid-target-ports", subjectOf(service),
                port.getTargetPort() == null || port.getTargetPort().getStrVal() == null || PORT_NAME.matcher(port.getTargetPort().getStrVal()).matches(), "targetPort")));
        manifests.json().forEach(object -> f.require("kube-linter no-extensions-v1beta", subjectOf(object),
                !object.path("apiVersion").asText().startsWith("extensions/v1beta"), object.path("apiVersion").asText()));
        kinds(manifests, "Job").forEach(job -> f.require("kube-linter job-ttl-seconds-after-finished", subjectOf(job), job.at("/spec/ttlSecondsAfterFinished").isNumber(), "no TTL"));
        budgets(manifests).forEach(budget -> {
            String subject = subjectOf(budget);
            int replicas = pods(manifests).stream().filter(pod -> NetworkPolicies.matches(budget.getSpec().getSelector(), pod.labels())).mapToInt(Pod::replicas).sum();
            f.require("kube-linter pdb-max-unavailable", subject, budget.getSpec().getMaxUnavailable() == null || !isZero(budget.getSpec().getMaxUnavailable()), "maxUnavailable 0");
            f.require("kube-linter pdb-min-available", subject, allowsDisruption(budget, replicas), "minAvailable " + budget.getSpec().getMinAvailable() + " of " + replicas);
            f.require("kube-linter pdb-unhealthy-pod-eviction-policy", subject, budget.getSpec().getUnhealthyPodEvictionPolicy() != null, "not set");
        });
    }

    // NSA/CISA Kubernetes Hardening Guide v1.2 as gke-policy-library's anthos-bundles/nsa-cisa-k8s-v1.2 checks it.
    private static void nsaCisa(Manifests manifests, Findings f) {
        forEachPod(manifests, pod -> {
            PodSpec spec = pod.spec();
            f.require("NSA/CISA automount-serviceaccount-token-pod", pod.subject(), Boolean.FALSE.equals(spec.getAutomountServiceAccountToken()), "token mounted");
            f.require("NSA/CISA host-namespaces", pod.subject(), !Boolean.TRUE.equals(spec.getHostIPC()) && !Boolean.TRUE.equals(spec.getHostPID()), "host namespaces");
            f.require("NSA/CISA host-network", pod.subject(), !Boolean.TRUE.equals(spec.getHostNetwork()), "hostNetwork");
            f.require("NSA/CISA restrict-hostpath-volumes", pod.subject(), orEmpty(spec.getVolumes()).stream().allMatch(v -> v.getHostPath() == null), "hostPath");
            f.require("NSA/CISA require-namespace-network-policies (default deny, both ways)", pod.subject(), isolatedBothWays(manifests, pod), "not isolated");
            f.require("NSA/CISA apparmor", pod.subject(), labels(pod.deployment().getSpec().getTemplate().getMetadata().getAnnotations()).entrySet().stream()
                    .filter(a -> a.getKey().startsWith("container.apparmor.security.beta.kubernetes.io/"))
                    .allMatch(a -> a.getValue().equals("runtime/default") || a.getValue().startsWith("localhost/")), "AppArmor profile");
            pod.containers().forEach(c -> {
                String subject = pod.subject() + " container " + c.getName();
                SecurityContext security = effective(spec.getSecurityContext(), c.getSecurityContext());
                Map<String, Quantity> limits = c.getResources().getLimits() == null ? Map.of() : c.getResources().getLimits();
                f.require("NSA/CISA capabilities", subject, dropped(security).contains("ALL") && added(security).isEmpty(), "drop ALL, add none");
                f.require("NSA/CISA cpu-and-memory-limits-required", subject, limits.containsKey("memory"), "no memory limit");
                f.require("NSA/CISA cpu-and-memory-limits-required (CPU limit)", subject, limits.containsKey("cpu"), "no CPU limit");
                f.require("NSA/CISA hostport", subject, orEmpty(c.getPorts()).stream().allMatch(p -> p.getHostPort() == null), "hostPort");
                f.require("NSA/CISA privilege-escalation", subject, Boolean.FALSE.equals(security.getAllowPrivilegeEscalation()), "allowPrivilegeEscalation");
                f.require("NSA/CISA privileged-containers", subject, !Boolean.TRUE.equals(security.getPrivileged()), "privileged");
                f.require("NSA/CISA readonlyrootfilesystem", subject, Boolean.TRUE.equals(security.getReadOnlyRootFilesystem()), "writable root");
                f.require("NSA/CISA running-as-non-root", subject, Boolean.TRUE.equals(security.getRunAsNonRoot()) && Optional.ofNullable(security.getRunAsUser()).orElse(1L) > 0, "root");
                f.require("NSA/CISA seccomp", subject, seccompConfined(security), "seccomp");
                f.require("NSA/CISA selinux", subject, security.getSeLinuxOptions() == null
                        || (security.getSeLinuxOptions().getUser() == null && security.getSeLinuxOptions().getRole() == null), "SELinux user/role");
                f.require("NSA/CISA image integrity (pin by digest)", subject, c.getImage().contains("@sha256:"), c.getImage());
            });
        });
        kinds(manifests, "Ingress").forEach(ingress -> f.require("NSA/CISA block-all-ingress", subjectOf(ingress), false, "an Ingress"));
        kinds(manifests, "Secret").forEach(secret -> f.require("NSA/CISA block-secrets-of-type-basic-auth", subjectOf(secret),
                !"kubernetes.io/basic-auth".equals(secret.path("type").asText()), "basic-auth Secret"));
        kinds(manifests, "Namespace").forEach(namespace -> f.require("NSA/CISA pod security admission (restricted)", subjectOf(namespace),
                "restricted".equals(namespace.at("/metadata/labels/pod-security.kubernetes.io~1enforce").asText()), "enforce label"));
        rbac(manifests, f, "NSA/CISA");
    }

    /** Polaris's RBAC checks and the guide's restrict-clusteradmin/edit-rolebindings and restrict-pods-exec. */
    private static void rbac(Manifests manifests, Findings f, String ruleSet) {
        Stream.of("Role", "ClusterRole").flatMap(kind -> kinds(manifests, kind)).forEach(role -> role.path("rules").forEach(rule -> rule.path("resources").forEach(resource ->
                f.require(ruleSet + " pod exec/attach (rolePodExecAttach, restrict-pods-exec)", subjectOf(role),
                        !Set.of("pods/exec", "pods/attach", "*").contains(resource.asText()), resource.asText()))));
        Stream.of("RoleBinding", "ClusterRoleBinding").flatMap(kind -> kinds(manifests, kind)).forEach(binding ->
                f.require(ruleSet + " cluster-admin/edit binding (clusterrolebindingClusterAdmin, restrict-clusteradmin-rolebindings)", subjectOf(binding),
                        !Set.of("cluster-admin", "admin", "edit").contains(binding.at("/roleRef/name").asText()), binding.at("/roleRef/name").asText()));
    }

    /** Collects what a rule set finds; a finding a deviation covers is set aside as excused. */
    static final class Findings {
        final List<String> failures = new ArrayList<>();
        final Set<Deviation> excused = new HashSet<>();

        void require(String rule, String subject, boolean followed, String detail) {
            if (followed) return;
            Optional<Deviation> deviation = DEVIATIONS.stream().filter(d -> d.rule().equals(rule)
                    && (d.subject().equals("*") || subject.equals(d.subject()) || subject.startsWith(d.subject() + " "))).findFirst();
            if (deviation.isPresent()) excused.add(deviation.get());
            else failures.add(rule + ": " + subject + " (" + detail + ")");
        }
    }

    /** A Deployment's pods; autoscaledMin is the fewest replicas its autoscaler keeps, null when none scales it. */
    record Pod(String name, Deployment deployment, Integer autoscaledMin) {
        String subject() { return "Deployment/" + name; }
        PodSpec spec() { return deployment.getSpec().getTemplate().getSpec(); }
        Map<String, String> labels() { return Manifests.podLabels(deployment); }
        int replicas() { return autoscaledMin != null ? autoscaledMin : Optional.ofNullable(deployment.getSpec().getReplicas()).orElse(1); }

        List<Container> containers() {
            return Stream.concat(orEmpty(spec().getInitContainers()).stream(), spec().getContainers().stream()).toList();
        }
    }

    private static List<Pod> pods(Manifests manifests) {
        List<Autoscaler> autoscalers = autoscalers(manifests);
        return manifests.all(Deployment.class).stream().map(d -> new Pod(d.getMetadata().getName(), d, autoscalers.stream()
                .filter(a -> a.target().equals(d.getMetadata().getName())).map(Autoscaler::min).findFirst().orElse(null))).toList();
    }

    /** A HorizontalPodAutoscaler of a Deployment, as the rule sets see it. */
    record Autoscaler(String subject, String target, int min, int max) {}

    /**
     * The rendered HorizontalPodAutoscalers, and the one KEDA makes of each ScaledObject (keda-hpa-NAME, minReplicas
     * from minReplicaCount, at least 1; maxReplicas from maxReplicaCount, 100 when unset), which is what the rule sets
     * see in a cluster: none of them knows KEDA's kind.
     */
    private static List<Autoscaler> autoscalers(Manifests manifests) {
        Stream<Autoscaler> hpas = manifests.all(HorizontalPodAutoscaler.class).stream().filter(hpa ->
                        "apps/v1".equals(hpa.getSpec().getScaleTargetRef().getApiVersion())
                                && "Deployment".equals(hpa.getSpec().getScaleTargetRef().getKind()))
                .map(hpa -> new Autoscaler(subjectOf(hpa), hpa.getSpec().getScaleTargetRef().getName(),
                        Optional.ofNullable(hpa.getSpec().getMinReplicas()).orElse(1), hpa.getSpec().getMaxReplicas()));
        Stream<Autoscaler> keda = kinds(manifests, "ScaledObject").filter(scaled -> scaled.at("/spec/scaleTargetRef/kind").asText("Deployment")
                        .equals("Deployment"))
                .map(scaled -> new Autoscaler("HorizontalPodAutoscaler/keda-hpa-" + scaled.at("/metadata/name").asText(),
                        scaled.at("/spec/scaleTargetRef/name").asText(), Math.max(1, scaled.at("/spec/minReplicaCount").asInt(0)),
                        scaled.at("/spec/maxReplicaCount").asInt(100)));
        return Stream.concat(hpas, keda).toList();
    }

    /** A budget's minAvailable in pods, a percentage of the replicas rounded up (Polaris, intstr.GetScaledValueFromIntOrPercent). */
    private static int minAvailable(PodDisruptionBudget budget, int replicas) {
        IntOrString min = budget.getSpec().getMinAvailable();
        return min.getIntVal() != null ? min.getIntVal()
                : (int) Math.ceil(Integer.parseInt(min.getStrVal().replace("%", "")) * replicas / 100.0);
    }

    private static void forEachPod(Manifests manifests, java.util.function.Consumer<Pod> check) {
        List<Pod> pods = pods(manifests);
        assertThat(pods).as("rendered Deployments").isNotEmpty();
        pods.forEach(check);
    }

    private static Optional<PodDisruptionBudget> budgetOf(Manifests manifests, Pod pod) {
        return budgets(manifests).stream().filter(b -> NetworkPolicies.matches(b.getSpec().getSelector(), pod.labels())).findFirst();
    }

    private static List<PodDisruptionBudget> budgets(Manifests manifests) {
        return manifests.all(PodDisruptionBudget.class);
    }

    private static boolean allowsDisruption(PodDisruptionBudget budget, int replicas) {
        IntOrString min = budget.getSpec().getMinAvailable();
        IntOrString max = budget.getSpec().getMaxUnavailable();
        if (max != null) return !isZero(max);
        return min == null || (min.getIntVal() != null ? min.getIntVal() < replicas : !"100%".equals(min.getStrVal()));
    }

    private static boolean isZero(IntOrString value) {
        return value.getIntVal() != null ? value.getIntVal() == 0 : "0%".equals(value.getStrVal());
    }

    private static Stream<NetworkPolicy> selectingPolicies(Manifests manifests, Pod pod) {
        return manifests.all(NetworkPolicy.class).stream().filter(p -> NetworkPolicies.matches(p.getSpec().getPodSelector(), pod.labels()));
    }

    private static boolean isolatedBothWays(Manifests manifests, Pod pod) {
        List<String> types = selectingPolicies(manifests, pod).flatMap(p -> orEmpty(p.getSpec().getPolicyTypes()).stream()).toList();
        return types.contains("Ingress") && types.contains("Egress");
    }

    private static boolean hasHostAntiAffinity(Pod pod) {
        var affinity = pod.spec().getAffinity();
        if (affinity == null || affinity.getPodAntiAffinity() == null) return false;
        var anti = affinity.getPodAntiAffinity();
        Stream<PodAffinityTerm> terms = Stream.concat(orEmpty(anti.getRequiredDuringSchedulingIgnoredDuringExecution()).stream(),
                orEmpty(anti.getPreferredDuringSchedulingIgnoredDuringExecution()).stream().map(WeightedPodAffinityTerm::getPodAffinityTerm));
        return terms.anyMatch(term -> "kubernetes.io/hostname".equals(term.getTopologyKey()) && NetworkPolicies.matches(term.getLabelSelector(), pod.labels()));
    }

    /** Every Service selects the pods of a rendered Deployment (kube-score service-targets-pod, kube-linter dangling-service). */
    private static void services(Manifests manifests, Findings f, String rule) {
        manifests.all(Service.class).forEach(service -> f.require(rule, subjectOf(service),
                pods(manifests).stream().anyMatch(pod -> Manifests.selects(service.getSpec().getSelector(), pod.labels())), "selects no pod"));
    }

    private static boolean hasPinnedTag(String image) {
        String afterRegistry = image.substring(image.lastIndexOf('/') + 1);
        return image.contains("@sha256:") || (afterRegistry.contains(":") && !afterRegistry.endsWith(":latest"));
    }

    private static boolean hasDuplicateEnv(Container container) {
        List<String> names = orEmpty(container.getEnv()).stream().map(EnvVar::getName).toList();
        return names.size() != new HashSet<>(names).size();
    }

    private static boolean portExists(IntOrString port, Container container) {
        return orEmpty(container.getPorts()).stream().anyMatch(p -> port.getStrVal() != null
                ? port.getStrVal().equals(p.getName()) : port.getIntVal().equals(p.getContainerPort()));
    }

    /** The container's security settings, each falling back to the pod's where the API lets it. */
    private static SecurityContext effective(PodSecurityContext pod, SecurityContext container) {
        SecurityContext own = container == null ? new SecurityContext() : container;
        PodSecurityContext shared = pod == null ? new PodSecurityContext() : pod;
        SecurityContext result = new SecurityContext();
        result.setAllowPrivilegeEscalation(own.getAllowPrivilegeEscalation());
        result.setCapabilities(own.getCapabilities());
        result.setPrivileged(own.getPrivileged());
        result.setProcMount(own.getProcMount());
        result.setReadOnlyRootFilesystem(own.getReadOnlyRootFilesystem());
        result.setRunAsNonRoot(first(own.getRunAsNonRoot(), shared.getRunAsNonRoot()));
        result.setRunAsUser(first(own.getRunAsUser(), shared.getRunAsUser()));
        result.setRunAsGroup(first(own.getRunAsGroup(), shared.getRunAsGroup()));
        result.setSeccompProfile(first(own.getSeccompProfile(), shared.getSeccompProfile()));
        result.setSeLinuxOptions(first(own.getSeLinuxOptions(), shared.getSeLinuxOptions()));
        result.setWindowsOptions(first(own.getWindowsOptions(), shared.getWindowsOptions()));
        return result;
    }

    private static <T> T first(T own, T shared) {
        return own != null ? own : shared;
    }

    private static boolean seccompConfined(SecurityContext security) {
        return security.getSeccompProfile() != null && Set.of("RuntimeDefault", "Localhost").contains(security.getSeccompProfile().getType());
    }

    private static List<String> dropped(SecurityContext security) {
        return security.getCapabilities() == null ? List.of() : orEmpty(security.getCapabilities().getDrop());
    }

    private static List<String> added(SecurityContext security) {
        return security.getCapabilities() == null ? List.of() : orEmpty(security.getCapabilities().getAdd());
    }

    private static Stream<JsonNode> kinds(Manifests manifests, String kind) {
        return manifests.json().stream().filter(o -> kind.equals(o.path("kind").asText())).map(JsonNode.class::cast);
    }

    private static String subjectOf(JsonNode object) {
        return object.path("kind").asText() + "/" + object.at("/metadata/name").asText();
    }

    private static String subjectOf(io.fabric8.kubernetes.api.model.HasMetadata object) {
        return object.getKind() + "/" + object.getMetadata().getName();
    }

    private static Map<String, String> labels(Map<String, String> labels) {
        return labels == null ? Map.of() : labels;
    }

    private static <T> List<T> orEmpty(List<T> list) {
        return list == null ? List.of() : list;
    }
}
