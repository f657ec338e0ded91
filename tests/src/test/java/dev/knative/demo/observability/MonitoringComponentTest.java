package dev.knative.demo.observability;

import static org.assertj.core.api.Assertions.assertThat;

import dev.knative.demo.manifests.ManifestNetworkPolicyTest;
import dev.knative.demo.manifests.ManifestSchemaTest;
import dev.knative.demo.support.Kustomize;
import dev.knative.demo.support.Manifests;
import dev.knative.demo.support.MonitoringQueries;
import dev.knative.demo.support.NetworkPolicies;
import com.fasterxml.jackson.databind.JsonNode;
import dev.knative.demo.support.NetworkPolicies.Endpoint;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.ContainerPort;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.openshift.api.model.monitoring.v1.PodMetricsEndpoint;
import io.fabric8.openshift.api.model.monitoring.v1.PodMonitor;
import io.fabric8.openshift.api.model.monitoring.v1.PrometheusRule;
import io.fabric8.openshift.api.model.monitoring.v1.RelabelConfig;
import io.fabric8.openshift.api.model.monitoring.v1.Rule;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * k8s/components/monitoring rendered into the demo: what Prometheus scrapes, the rules it loads,
 * the dashboard Grafana's sidecar finds, and the one path it opens through the default-deny policy.
 * (ManifestSchemaTest checks these objects against the Prometheus Operator's schema.)
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class MonitoringComponentTest {

    private static final List<String> WORKLOADS = List.of("producer", "consumer", "dead-letter");
    // Pods of a Prometheus the Prometheus Operator runs (pkg/prometheus/server/statefulset.go) and
    // of kube-prometheus-stack's Grafana, both in the namespace the component admits.
    private static final Endpoint PROMETHEUS = Endpoint.pod("monitoring", Map.of("app.kubernetes.io/name", "prometheus",
            "app.kubernetes.io/managed-by", "prometheus-operator"));
    private static final Endpoint GRAFANA = Endpoint.pod("monitoring", Map.of("app.kubernetes.io/name", "grafana"));
    private static final int HTTP = 8080;

    private Manifests rendered;

    @BeforeAll
    void render(@TempDir Path temp) {
        rendered = Kustomize.renderWithComponent(temp, "monitoring");
    }

    @Test
    void thePodMonitorScrapesMetricsOnPortHttpOfTheProducerTheConsumersAndTheDeadLetterDisplay() {
        PodMonitor monitor = rendered.one(PodMonitor.class, MonitoringQueries.JOB);
        PodMetricsEndpoint endpoint = monitor.getSpec().getPodMetricsEndpoints().get(0);

        assertThat(monitor.getSpec().getPodMetricsEndpoints()).hasSize(1);
        assertThat(endpoint.getPort()).isEqualTo("http");
        assertThat(endpoint.getPath()).isEqualTo("/metrics");
        assertThat(monitor.getSpec().getNamespaceSelector()).as("its own namespace, the demo's").isNull();
        for (String name : WORKLOADS) {
            Deployment workload = rendered.one(Deployment.class, name);
            assertThat(NetworkPolicies.matches(monitor.getSpec().getSelector(), Manifests.podLabels(workload))).as(name).isTrue();
            assertThat(workload.getSpec().getTemplate().getSpec().getContainers().get(0).getPorts())
                    .extracting(ContainerPort::getName).as(name).contains("http");
            assertThat(workload.getMetadata().getNamespace()).isEqualTo(monitor.getMetadata().getNamespace());
        }
    }

    @Test
    void everySeriesIsLabelledWithTheJobTheRulesSelectAndTheWorkloadsComponent() {
        PodMonitor monitor = rendered.one(PodMonitor.class, MonitoringQueries.JOB);
        RelabelConfig relabel = monitor.getSpec().getPodMetricsEndpoints().get(0).getRelabelings().get(0);

        for (String name : WORKLOADS)
            assertThat(Manifests.podLabels(rendered.one(Deployment.class, name)))
                    .containsEntry(monitor.getSpec().getJobLabel(), MonitoringQueries.JOB);
        assertThat(relabel.getSourceLabels()).containsExactly("__meta_kubernetes_pod_label_app_kubernetes_io_component");
        assertThat(relabel.getTargetLabel()).isEqualTo("component");
    }

    @Test
    void everyAlertHasASeverityASummaryAndADescription() {
        List<Rule> alerts = MonitoringQueries.of(rendered).alerts();

        assertThat(alerts).extracting(Rule::getAlert).containsExactlyInAnyOrder("KnativeDemoNoEventsProcessed",
                "KnativeDemoHighErrorRatio", "KnativeDemoConsumerThrottling", "KnativeDemoDeadLetters", "KnativeDemoProducerBufferFilling",
                "KnativeDemoProducerSkippingEvents");
        assertThat(alerts).allSatisfy(alert -> {
            assertThat(alert.getLabels()).containsKey("severity");
            assertThat(alert.getLabels().get("severity")).isIn("warning", "critical");
            assertThat(alert.getAnnotations()).containsKeys("summary", "description");
            assertThat(alert.getExpr().getStrVal()).as(alert.getAlert()).contains("namespace");
        });
    }

    @Test
    void thePodMonitorAndTheRulesCarryTheReleaseLabelKubePrometheusStackSelects() {
        assertThat(rendered.one(PodMonitor.class, MonitoringQueries.JOB).getMetadata().getLabels())
                .containsEntry("release", "kube-prometheus-stack");
        assertThat(rendered.one(PrometheusRule.class, MonitoringQueries.JOB).getMetadata().getLabels())
                .containsEntry("release", "kube-prometheus-stack");
    }

    @Test
    void theDashboardShipsUnderAFixedNameWithTheSidecarLabelAndStaysOutOfTheScriptPruning() {
        ConfigMap dashboard = rendered.one(ConfigMap.class, MonitoringQueries.DASHBOARD_CONFIGMAP);

        assertThat(dashboard.getMetadata().getLabels()).containsEntry("grafana_dashboard", "1")
                .doesNotContainKey("knative-eventing-demo/script-configmap");
        assertThat(dashboard.getImmutable()).as("edits replace it in place").isNotEqualTo(Boolean.TRUE);
        assertThat(dashboard.getData()).containsOnlyKeys(MonitoringQueries.DASHBOARD_FILE);
        assertThat(dashboard.getData().get(MonitoringQueries.DASHBOARD_FILE))
                .isEqualToIgnoringNewLines(Kustomize.read(Kustomize.COMPONENTS.resolve("monitoring/grafana-dashboard.json")));
    }

    @Test
    void theDashboardIsGrafanaJsonWhosePanelsEachQueryPrometheusThroughTheDatasourceVariable() {
        JsonNode dashboard = MonitoringQueries.of(rendered).dashboard();
        Set<Integer> ids = new HashSet<>();

        assertThat(dashboard.path("uid").asText()).isEqualTo("knative-eventing-demo");
        assertThat(dashboard.path("title").asText()).isNotBlank();
        assertThat(dashboard.at("/templating/list")).extracting(variable -> variable.path("name").asText())
                .contains("datasource", "namespace");
        assertThat(dashboard.path("panels")).hasSizeGreaterThanOrEqualTo(10).allSatisfy(panel -> {
            assertThat(ids.add(panel.path("id").asInt())).as("unique panel id %s", panel.path("id")).isTrue();
            assertThat(panel.path("title").asText()).isNotBlank();
            assertThat(panel.at("/datasource/uid").asText()).isEqualTo("${datasource}");
            assertThat(panel.at("/gridPos/w").asInt()).isBetween(1, 24);
            assertThat(panel.path("targets")).isNotEmpty().allSatisfy(target -> {
                assertThat(target.path("expr").asText()).contains("namespace=\"$namespace\"");
                assertThat(target.path("refId").asText()).isNotBlank();
            });
        });
    }

    @Test
    void prometheusInTheMonitoringNamespaceMayScrapeEveryWorkloadOnPortHttpOnly() {
        NetworkPolicies withMonitoring = ManifestNetworkPolicyTest.policiesOf(rendered);
        NetworkPolicies without = ManifestNetworkPolicyTest.policiesOf(Kustomize.repository());

        for (String name : WORKLOADS) {
            Endpoint workload = ManifestNetworkPolicyTest.workload(rendered, name);
            assertThat(withMonitoring.allowsIngress(PROMETHEUS, workload, "TCP", HTTP)).as("Prometheus → %s", name).isTrue();
            assertThat(withMonitoring.allowsIngress(PROMETHEUS, workload, "TCP", 9090)).as("another port").isFalse();
            assertThat(withMonitoring.allowsIngress(GRAFANA, workload, "TCP", HTTP)).as("another pod of monitoring").isFalse();
            assertThat(withMonitoring.allowsIngress(Endpoint.pod("default", PROMETHEUS.podLabels()), workload, "TCP", HTTP))
                    .as("a look-alike outside monitoring").isFalse();
            assertThat(without.allowsIngress(PROMETHEUS, ManifestNetworkPolicyTest.workload(Kustomize.repository(), name), "TCP", HTTP))
                    .as("without the component").isFalse();
        }
    }
}
