package dev.knative.demo.scripts;

import static org.assertj.core.api.Assertions.assertThat;

import dev.knative.demo.manifests.ManifestNetworkPolicyTest;
import dev.knative.demo.support.FakeKubectl;
import dev.knative.demo.support.KubernetesModels;
import dev.knative.demo.support.Kustomize;
import dev.knative.demo.support.Manifests;
import dev.knative.demo.support.NetworkPolicies;
import dev.knative.demo.support.ScriptProcess;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.knative.demo.support.FakeKubectl.Result;
import dev.knative.demo.support.NetworkPolicies.Endpoint;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * scripts/send-event.sh against a stand-in kubectl: the exact commands it runs, the pod it would
 * start (restricted Pod Security, inside the producer's NetworkPolicies), and, with the pod's curl
 * run on this machine against a real consumer standing in for the Broker, the event it sends.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class MonitoringSendEventScriptTest {

    private static final String SCRIPT = "scripts/send-event.sh";
    private static final String ID = "0b7c5f7e-4d1a-4c36-9a55-2f0e8d6c1a01";
    private static final String POD = "send-event-" + ID;
    private static final String BROKER_URL = "http://broker-ingress.knative-eventing.svc.cluster.local/knative-demo/default";
    private static final String TIME = "<RFC 3339 UTC time>";
    private static final Endpoint BROKER_INGRESS = Endpoint.pod("knative-eventing", Map.of("eventing.knative.dev/brokerRole", "ingress"));
    private static final Endpoint KUBE_DNS = Endpoint.pod("kube-system", Map.of("k8s-app", "kube-dns"));

    @TempDir
    Path fake;
    private ScriptProcess consumer;

    @BeforeAll
    void startAConsumerStandingInForTheBroker() {
        consumer = ScriptProcess.startListening("consumer.java", Map.of());
    }

    @AfterAll
    void stop() {
        if (consumer != null) consumer.close();
    }

    @Test
    void waitsForTheBrokerThenPostsOneBinaryCloudEventFromAShortLivedCurlPod() {
        FakeKubectl kubectl = new FakeKubectl(fake);

        Result result = kubectl.run(SCRIPT, Map.of(), "--id", ID, "--type", "user.created");

        assertThat(result.exitCode()).as(result.output()).isZero();
        assertThat(result.output()).contains(
                "Waiting up to 120s for broker/default in namespace knative-demo to be ready\n",
                "Sending user.created id=" + ID + " to " + BROKER_URL + " from pod " + POD + "\n");
        List<List<String>> calls = kubectl.calls().subList(1, kubectl.calls().size());
        assertThat(kubectl.calls().get(0)).containsExactly("get", "brokers.eventing.knative.dev", "--namespace", "knative-demo",
                "--output", "jsonpath={.items[*].metadata.name}");
        assertThat(calls).hasSize(5);
        assertThat(calls.get(0)).containsExactly("wait", "broker", "default", "--namespace", "knative-demo",
                "--for", "condition=Ready", "--timeout", "120s");
        assertThat(calls.get(1)).containsExactly("get", "broker", "default", "--namespace", "knative-demo",
                "--output", "jsonpath={.status.address.url}");
        assertThat(calls.get(2)).containsExactly("get", "broker", "default", "--namespace", "knative-demo",
                "--output", "jsonpath={.status.address.audience}");
        assertThat(calls.get(3)).containsExactly("delete", "pod", POD, "--namespace", "knative-demo",
                "--ignore-not-found", "--wait", "--timeout", "120s");
        assertThat(withoutTime(calls.get(4))).containsExactly("run", POD, "--namespace", "knative-demo",
                "--image", "curlimages/curl:8.21.0", "--restart", "Never", "--rm", "--stdin", "--quiet",
                "--pod-running-timeout", "120s",
                "--labels", "app.kubernetes.io/name=send-event,app.kubernetes.io/part-of=knative-eventing-demo,"
                        + "app.kubernetes.io/component=producer",
                "--override-type", "strategic", "--overrides", calls.get(4).get(18),
                "--", "curl", "--silent", "--show-error", "--fail-with-body", "--max-time", "30",
                "--header", "ce-specversion: 1.0", "--header", "ce-id: " + ID, "--header", "ce-type: user.created",
                "--header", "ce-source: /apis/v1/namespaces/knative-demo/pods/" + POD,
                "--header", "ce-time: " + TIME, "--header", "content-type: application/json",
                "--data-binary", "@-", "--write-out", "broker answered HTTP %{http_code}\\n", BROKER_URL);
        assertThat(kubectl.stdinOf(6)).startsWith("{\"user_id\":");
    }

    @Test
    void withoutBrokerItSendsToTheNamespacesOneBrokerWhateverADurableComponentNamedIt() {
        FakeKubectl kubectl = new FakeKubectl(fake).withBrokers("default-kafka");

        Result result = kubectl.run(SCRIPT, Map.of(), "--id", ID);

        assertThat(result.exitCode()).as(result.output()).isZero();
        assertThat(result.output()).contains("for broker/default-kafka in namespace knative-demo");
        assertThat(kubectl.calls().subList(1, 4)).allSatisfy(call -> assertThat(call).containsSequence("broker", "default-kafka"));
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "default default-kafka"})
    void withNoBrokerOrTwoOfThemDuringAMoveItSendsNothingAndSaysWhatToDo(String brokers) {
        FakeKubectl kubectl = new FakeKubectl(fake).withBrokers(brokers);

        Result result = kubectl.run(SCRIPT, Map.of(), "--id", ID);

        assertThat(result.exitCode()).isEqualTo(1);
        assertThat(result.output()).contains(brokers.isEmpty() ? "no Broker in namespace knative-demo" : "choose one with --broker NAME")
                .doesNotContain("Sending");
        assertThat(kubectl.calls()).singleElement().satisfies(call -> assertThat(call).startsWith("get", "brokers.eventing.knative.dev"));
    }

    @Test
    void theNamespaceImageAndTimeoutsComeFromOptionsAndTheEnvironment() {
        FakeKubectl kubectl = new FakeKubectl(fake);

        Result result = kubectl.run(SCRIPT, Map.of("CURL_IMAGE", "mirror.example/curl:8.21.0", "WAIT_TIMEOUT", "30s"),
                "-n", "blue", "--broker", "other", "--id", ID);

        assertThat(result.exitCode()).as(result.output()).isZero();
        assertThat(kubectl.calls().get(0)).containsSequence("broker", "other", "--namespace", "blue").contains("30s");
        assertThat(kubectl.calls().get(4)).containsSequence("--image", "mirror.example/curl:8.21.0")
                .containsSequence("--pod-running-timeout", "30s")
                .contains("ce-source: /apis/v1/namespaces/blue/pods/" + POD);
    }

    @Test
    void thePodMeetsTheRestrictedPodSecurityStandardAndOnlyTheProducersNetworkPoliciesLetItOut() {
        FakeKubectl kubectl = new FakeKubectl(fake);
        assertThat(kubectl.run(SCRIPT, Map.of(), "--id", ID).exitCode()).isZero();
        Pod pod = podOf(kubectl.calls().get(5));
        PodSpec spec = pod.getSpec();
        Container container = spec.getContainers().get(0);

        assertThat(spec.getSecurityContext().getRunAsNonRoot()).isTrue();
        assertThat(spec.getSecurityContext().getRunAsUser()).isPositive();
        assertThat(spec.getSecurityContext().getSeccompProfile().getType()).isEqualTo("RuntimeDefault");
        assertThat(container.getSecurityContext().getAllowPrivilegeEscalation()).isFalse();
        assertThat(container.getSecurityContext().getCapabilities().getDrop()).containsExactly("ALL");
        assertThat(spec.getAutomountServiceAccountToken()).isFalse();
        assertThat(container.getResources().getLimits()).containsKey("memory");

        Manifests demo = Kustomize.repository();
        NetworkPolicies policies = ManifestNetworkPolicyTest.policiesOf(demo);
        Endpoint sender = Endpoint.pod("knative-demo", pod.getMetadata().getLabels());
        assertThat(policies.allowsEgress(sender, BROKER_INGRESS, "TCP", 8080)).as("to the broker ingress").isTrue();
        assertThat(policies.allowsEgress(sender, KUBE_DNS, "UDP", 53)).as("DNS").isTrue();
        assertThat(policies.allowsEgress(sender, ManifestNetworkPolicyTest.workload(demo, "consumer"), "TCP", 8080))
                .as("straight to the consumer").isFalse();
        Deployment producer = demo.one(Deployment.class, "producer");
        assertThat(Manifests.selects(producer.getSpec().getSelector().getMatchLabels(), pod.getMetadata().getLabels()))
                .as("not one of the producer Deployment's pods").isFalse();
    }

    @ParameterizedTest
    @ValueSource(strings = {"demo.event", "user.created", "order.placed"})
    void theSampleEventOfEachTypeIsProcessedByTheConsumer(String type) {
        assertThat(FakeKubectl.onPath("curl")).as("curl is not installed (scripts/test.sh installs it)").isTrue();
        FakeKubectl kubectl = new FakeKubectl(fake).withBrokerUrl("http://127.0.0.1:" + consumer.port() + "/").runningPodCommandsHere();
        String id = type.replace('.', '-') + "-" + System.nanoTime();

        Result result = kubectl.run(SCRIPT, Map.of(), "--type", type, "--id", id, "-n", "demo");

        assertThat(result.exitCode()).as(result.output()).isZero();
        assertThat(result.output()).contains("broker answered HTTP 202");
        var line = consumer.awaitLog(l -> id.equals(l.getString("id")), ScriptProcess.START_TIMEOUT);
        assertThat(line.getString("outcome")).isEqualTo("processed");
        assertThat(line.getString("type")).isEqualTo(type);
        assertThat(line.getString("source")).isEqualTo("/apis/v1/namespaces/demo/pods/send-event-" + id);
    }

    @Test
    void dataTheConsumerRefusesFailsTheScriptWithTheReason() {
        assertThat(FakeKubectl.onPath("curl")).as("curl is not installed (scripts/test.sh installs it)").isTrue();
        FakeKubectl kubectl = new FakeKubectl(fake).withBrokerUrl("http://127.0.0.1:" + consumer.port() + "/").runningPodCommandsHere();

        Result result = kubectl.run(SCRIPT, Map.of(), "--data", "{\"message\":\"\"}");

        assertThat(result.exitCode()).isNotZero();
        assertThat(result.output()).contains("message", "broker answered HTTP 400");
    }

    @Test
    void withKnativesOidcAuthenticationItSendsNothingAndSaysHowToSendFromTheProducer() {
        FakeKubectl kubectl = new FakeKubectl(fake).withOidcAuthentication();

        Result result = kubectl.run(SCRIPT, Map.of(), "--type", "order.placed", "-n", "blue");

        assertThat(result.exitCode()).isEqualTo(1);
        assertThat(result.output()).contains("OIDC token", "eventing.knative.dev/broker/knative-demo/default",
                        "authentication-oidc feature is enabled (config-features in knative-eventing)",
                        "kubectl --namespace blue exec deployment/producer -- sh /opt/boot/jbang /opt/app/producer.java --once order.placed",
                        "set authentication-oidc to \"disabled\"")
                .doesNotContain("Sending");
        assertThat(kubectl.calls()).hasSize(4).noneSatisfy(call -> assertThat(call.get(0)).isIn("run", "delete"));
    }

    @Test
    void nothingIsSentWhileTheBrokerIsNotReady() {
        FakeKubectl kubectl = new FakeKubectl(fake).withBrokerNotReady();

        Result result = kubectl.run(SCRIPT, Map.of());

        assertThat(result.exitCode()).isNotZero();
        assertThat(result.output()).contains("Waiting up to 120s for broker/default in namespace knative-demo to be ready")
                .doesNotContain("Sending");
        assertThat(kubectl.calls()).hasSize(2).last().satisfies(call -> assertThat(call).startsWith("wait", "broker", "default"));
    }

    @Test
    void helpDescribesTheOptionsAndAnUnknownArgumentIsRefused() {
        FakeKubectl kubectl = new FakeKubectl(fake);

        assertThat(kubectl.run(SCRIPT, Map.of(), "--help").output())
                .contains("Usage:", "--type", "--data", "--id", "--namespace", "CURL_IMAGE", "restricted");
        Result unknown = kubectl.run(SCRIPT, Map.of(), "--bogus");
        assertThat(unknown.exitCode()).isEqualTo(2);
        assertThat(unknown.output()).contains("unknown argument '--bogus'", "--help");
        assertThat(kubectl.calls()).isEmpty();
    }

    /** The ce-time header holds the send time: checked for its form, then replaced by a placeholder. */
    private static List<String> withoutTime(List<String> call) {
        List<String> args = new ArrayList<>(call);
        for (int i = 0; i < args.size(); i++) {
            if (!args.get(i).startsWith("ce-time: ")) continue;
            assertThat(args.get(i)).matches("ce-time: \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ");
            args.set(i, "ce-time: " + TIME);
        }
        return args;
    }

    /** The Pod kubectl run would create: its flags for name, image and labels, plus the overrides. */
    private static Pod podOf(List<String> run) {
        Map<String, String> flags = new LinkedHashMap<>();
        for (int i = 2; i < run.indexOf("--"); i++)
            if (run.get(i).startsWith("--") && i + 1 < run.size() && !run.get(i + 1).startsWith("--")) flags.put(run.get(i), run.get(++i));
        try {
            ObjectNode pod = (ObjectNode) Kustomize.YAML.readTree(flags.get("--overrides"));
            pod.put("kind", "Pod");
            ObjectNode labels = pod.putObject("metadata").put("name", run.get(1)).putObject("labels");
            Arrays.stream(flags.get("--labels").split(",")).map(pair -> pair.split("=", 2))
                    .forEach(pair -> labels.put(pair[0], pair[1]));
            ObjectNode container = (ObjectNode) pod.at("/spec/containers/0");
            assertThat(container.path("name").asText()).as("strategic merge by container name").isEqualTo(run.get(1));
            container.put("image", flags.get("--image"));
            Pod model = KubernetesModels.convert(pod, Pod.class);
            assertThat(KubernetesModels.unknownFields(model)).as("fields of the overrides unknown to the Pod schema").isEmpty();
            return model;
        } catch (JsonProcessingException e) {
            throw new AssertionError("--overrides is not JSON", e);
        }
    }
}
