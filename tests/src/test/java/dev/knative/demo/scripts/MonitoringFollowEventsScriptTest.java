package dev.knative.demo.scripts;

import static org.assertj.core.api.Assertions.assertThat;

import dev.knative.demo.support.FakeKubectl;
import dev.knative.demo.support.Kustomize;
import dev.knative.demo.support.Manifests;
import dev.knative.demo.support.NetworkPolicies;
import dev.knative.demo.support.FakeKubectl.Result;
import io.fabric8.kubernetes.api.model.LabelSelector;
import io.fabric8.kubernetes.api.model.LabelSelectorBuilder;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** scripts/follow-events.sh against a stand-in kubectl: the commands it runs and the pods they select. */
class MonitoringFollowEventsScriptTest {

    private static final String SCRIPT = "scripts/follow-events.sh";
    private static final Pattern REQUIREMENT = Pattern.compile("([^,=\\s]+)\\s+in\\s+\\(([^)]*)\\)|([^,=\\s]+)=([^,]+)");

    @TempDir
    Path fake;

    @Test
    void waitsForTheConsumerPodsThenFollowsAllOfThemPrefixedByPod() {
        FakeKubectl kubectl = new FakeKubectl(fake);

        Result result = kubectl.run(SCRIPT, Map.of());

        String selector = "app.kubernetes.io/name=knative-eventing-demo,app.kubernetes.io/component in (consumer,consumer-priority)";
        assertThat(result.exitCode()).as(result.output()).isZero();
        assertThat(result.output()).contains(
                "Waiting up to 120s for pods '" + selector + "' in namespace knative-demo to be ready\n",
                "Following their logs (Ctrl-C stops)\n");
        assertThat(kubectl.calls()).containsExactly(
                List.of("wait", "pod", "--namespace", "knative-demo", "--selector", selector, "--for", "condition=Ready",
                        "--timeout", "120s"),
                List.of("logs", "--namespace", "knative-demo", "--selector", selector, "--prefix", "--follow",
                        "--tail", "10", "--max-log-requests", "10"));
    }

    @Test
    void optionsAddTheDeadLetterDisplayAndTheProducerAndChooseNamespaceAndHistory() {
        FakeKubectl kubectl = new FakeKubectl(fake);

        Result result = kubectl.run(SCRIPT, Map.of("WAIT_TIMEOUT", "30s"), "--producer", "--dead-letter", "-n", "blue", "--tail", "-1");

        assertThat(result.exitCode()).as(result.output()).isZero();
        String selector = "app.kubernetes.io/name=knative-eventing-demo,app.kubernetes.io/component in (consumer,consumer-priority,dead-letter,producer)";
        assertThat(kubectl.calls().get(0)).containsSequence("--namespace", "blue", "--selector", selector).contains("30s");
        assertThat(kubectl.calls().get(1)).containsSequence("--namespace", "blue", "--selector", selector)
                .containsSequence("--tail", "-1");
    }

    @Test
    void theSelectorsPickExactlyTheDemosPodsOfTheChosenComponents() {
        // With priority-routing, whose consumer-priority Deployment is a consumer too.
        Manifests demo = Kustomize.renderWithComponent(fake.resolve("render"), "priority-routing");
        FakeKubectl consumers = new FakeKubectl(fake.resolve("consumers"));
        FakeKubectl all = new FakeKubectl(fake.resolve("all"));
        consumers.run(SCRIPT, Map.of());
        all.run(SCRIPT, Map.of(), "--all");
        LabelSelector consumersOnly = parse(consumers.calls().get(1).get(4));
        LabelSelector everything = parse(all.calls().get(1).get(4));

        for (Deployment deployment : demo.all(Deployment.class)) {
            Map<String, String> labels = Manifests.podLabels(deployment);
            assertThat(NetworkPolicies.matches(everything, labels)).as(deployment.getMetadata().getName()).isTrue();
            assertThat(NetworkPolicies.matches(consumersOnly, labels)).as(deployment.getMetadata().getName())
                    .isEqualTo(deployment.getMetadata().getName().startsWith("consumer"));
        }
        assertThat(demo.all(Deployment.class)).extracting(d -> d.getMetadata().getName()).contains("consumer-priority");
        assertThat(NetworkPolicies.matches(everything, Map.of("app.kubernetes.io/name", "send-event",
                "app.kubernetes.io/component", "producer"))).as("a send-event.sh pod").isFalse();
    }

    @Test
    void helpDescribesTheOptionsAndAnUnknownArgumentIsRefused() {
        FakeKubectl kubectl = new FakeKubectl(fake);

        assertThat(kubectl.run(SCRIPT, Map.of(), "-h").output())
                .contains("Usage:", "--dead-letter", "--producer", "--all", "--namespace", "MAX_LOG_REQUESTS");
        Result unknown = kubectl.run(SCRIPT, Map.of(), "--since", "5m");
        assertThat(unknown.exitCode()).isEqualTo(2);
        assertThat(unknown.output()).contains("unknown argument '--since'");
        assertThat(kubectl.calls()).isEmpty();
    }

    /** kubectl's selector syntax, as far as the script uses it: key=value and key in (a,b). */
    private static LabelSelector parse(String selector) {
        LabelSelectorBuilder builder = new LabelSelectorBuilder();
        Matcher m = REQUIREMENT.matcher(selector);
        while (m.find()) {
            if (m.group(1) != null)
                builder.addNewMatchExpression().withKey(m.group(1)).withOperator("In").withValues(m.group(2).split(",")).endMatchExpression();
            else builder.addToMatchLabels(m.group(3), m.group(4));
        }
        return builder.build();
    }
}
