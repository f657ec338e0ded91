package dev.knative.demo.manifests;

import static org.assertj.core.api.Assertions.assertThat;

import dev.knative.demo.support.KubernetesModels;
import dev.knative.demo.support.EventContract;
import dev.knative.demo.support.Kustomize;
import dev.knative.demo.support.Manifests;
import dev.knative.demo.support.ScriptDeclarations;
import io.fabric8.knative.duck.v1.Destination;
import io.fabric8.knative.duck.v1.KReference;
import io.fabric8.knative.eventing.v1.Broker;
import io.fabric8.knative.eventing.v1.Trigger;
import io.fabric8.knative.eventing.v1beta2.EventType;
import io.fabric8.knative.sources.v1.SinkBinding;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServicePort;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The event path as the manifests wire it: producer → Broker → one Trigger per type → consumer, dead letters aside. */
class ManifestWiringTest {

    /** The types of the issue; the scripts may add more, each then needing its Trigger. */
    private static final List<String> DEMO_TYPES = List.of("demo.event", "user.created", "order.placed");

    private final Manifests manifests = Kustomize.repository();

    @Test
    void everyTypeTheProducerEmitsHasExactlyOneTriggerAndOneConsumerHandler() {
        List<String> emitted = ScriptDeclarations.declaredEventTypes(Kustomize.REPO_ROOT.resolve("producer.java"));
        List<String> handled = EventContract.ofRepository().types();
        Map<String, Long> triggersPerType = manifests.all(Trigger.class).stream()
                .collect(Collectors.groupingBy(ManifestWiringTest::filteredType, Collectors.counting()));

        assertThat(emitted).as("event types declared in producer.java (how they are found: ScriptDeclarations)").containsAll(DEMO_TYPES).doesNotHaveDuplicates();
        assertThat(handled).as("event types consumer.java handles: a schema each in k8s/schemas").containsAll(emitted);
        for (String type : emitted) {
            assertThat(triggersPerType.getOrDefault(type, 0L)).as("Triggers filtering type %s", type).isEqualTo(1);
        }
        assertThat(triggersPerType.keySet()).as("types of all Triggers (each must be one the producer emits)")
                .containsExactlyInAnyOrderElementsOf(emitted);
    }

    @Test
    void everyTriggerBelongsToTheBrokerAndDeliversToTheConsumerService() {
        assertThat(manifests.all(Trigger.class)).isNotEmpty().allSatisfy(trigger -> {
            manifests.one(Broker.class, trigger.getSpec().getBroker());
            Service subscriber = serviceOf(trigger.getSpec().getSubscriber());
            assertThat(subscriber.getMetadata().getName()).isEqualTo("consumer");
            assertThat(envOf(deploymentBehind(subscriber), "CONSUMER_MODE")).isEqualTo("events");
        });
    }

    @Test
    void everyTriggerRetriesFiveTimesExponentiallyFromHalfASecondThenDeadLettersToTheDeadLetterService() {
        // The values README.md documents ("5 retries, exponential from 0.5 s, then the dead-letter Service").
        assertThat(manifests.all(Trigger.class)).isNotEmpty().allSatisfy(trigger -> {
            var delivery = trigger.getSpec().getDelivery();
            assertThat(delivery).as("delivery of Trigger %s", trigger.getMetadata().getName()).isNotNull();
            assertThat(delivery.getRetry()).as("retry").isEqualTo(5);
            assertThat(delivery.getBackoffPolicy()).as("backoffPolicy").isEqualTo("exponential");
            assertThat(Duration.parse(delivery.getBackoffDelay())).as("backoffDelay, ISO-8601").isEqualTo(Duration.ofMillis(500));
            Service deadLetters = serviceOf(delivery.getDeadLetterSink());
            assertThat(deadLetters.getMetadata().getName()).isEqualTo("dead-letter");
            assertThat(envOf(deploymentBehind(deadLetters), "CONSUMER_MODE")).isEqualTo("dead-letter");
        });
    }

    @Test
    void theBrokerCarriesTheTriggersDeliveryPolicySoTheClusterDefaultIsNeverFilledIn(@TempDir Path temp) {
        // Without spec.delivery, Knative's webhook copies in config-br-defaults (knative/eventing
        // pkg/apis/eventing/v1/broker_defaults.go): 10 retries from PT0.2S unless the cluster says otherwise.
        for (String component : Kustomize.componentNames()) {
            Manifests rendered = Kustomize.renderWithComponent(temp.resolve(component), component);
            // A durable component names its own Broker: the one Broker rendered.
            assertThat(rendered.all(Broker.class)).singleElement().satisfies(broker -> assertThat(broker.getSpec().getDelivery())
                    .as("Broker delivery with %s", component).isEqualTo(rendered.triggerDelivery()));
        }
        Broker broker = manifests.one(Broker.class, "default");
        assertThat(broker.getSpec().getDelivery()).isEqualTo(manifests.triggerDelivery());
        assertThat(serviceOf(broker.getSpec().getDelivery().getDeadLetterSink()).getMetadata().getName()).isEqualTo("dead-letter");
        assertThat(KubernetesModels.unknownFields(broker)).as("fields the Broker model does not know").isEmpty();
    }

    @Test
    void servicesExposePort80TowardsTheNamedHttpPortOfTheirPods() {
        assertThat(manifests.all(Service.class)).isNotEmpty().allSatisfy(service -> {
            ServicePort port = service.getSpec().getPorts().get(0);
            assertThat(service.getSpec().getPorts()).hasSize(1);
            assertThat(port.getPort()).isEqualTo(80);
            assertThat(port.getTargetPort().getStrVal()).isEqualTo("http");
            Container container = deploymentBehind(service).getSpec().getTemplate().getSpec().getContainers().get(0);
            assertThat(container.getPorts()).anySatisfy(p -> {
                assertThat(p.getName()).isEqualTo("http");
                assertThat(p.getContainerPort()).isEqualTo(8080);
                assertThat(envOf(container, "PORT")).isEqualTo("8080");
            });
        });
    }

    @Test
    void theSinkBindingPointsTheProducerDeploymentAtTheBroker() {
        Deployment producer = boundToTheBroker(manifests.one(SinkBinding.class, "producer"));
        assertThat(producer.getSpec().getTemplate().getSpec().getContainers().get(0).getArgs()).last().asString().endsWith("/producer.java");
    }

    @Test
    void theDeadLetterSinkBindingPointsTheDisplayAtTheBrokerForRedrives() {
        Deployment display = boundToTheBroker(manifests.one(SinkBinding.class, "dead-letter"));
        assertThat(display.getSpec().getTemplate().getSpec().getContainers().get(0).getArgs()).last().asString().endsWith("/consumer.java");
        assertThat(envOf(display, "CONSUMER_MODE")).isEqualTo("dead-letter");
    }

    /** The Deployment the SinkBinding names as its subject, after checking that its sink is this render's Broker. */
    private Deployment boundToTheBroker(SinkBinding binding) {
        var subject = binding.getSpec().getSubject();
        assertThat(subject.getApiVersion()).isEqualTo("apps/v1");
        assertThat(subject.getKind()).isEqualTo("Deployment");
        assertThat(subject.getSelector()).as("the subject is named, not selected").isNull();
        KReference sink = binding.getSpec().getSink().getRef();
        assertThat(sink.getApiVersion()).isEqualTo("eventing.knative.dev/v1");
        assertThat(sink.getKind()).isEqualTo("Broker");
        manifests.one(Broker.class, sink.getName());
        return manifests.one(Deployment.class, subject.getName());
    }

    @Test
    void theBrokerIsChannelBasedOnAnInMemoryChannelConfiguredUnderAStableName() {
        Broker broker = manifests.one(Broker.class, "default");
        KReference config = broker.getSpec().getConfig();

        assertThat(broker.getMetadata().getAnnotations()).containsEntry("eventing.knative.dev/broker.class", "MTChannelBasedBroker");
        assertThat(config.getApiVersion()).isEqualTo("v1");
        assertThat(config.getKind()).isEqualTo("ConfigMap");
        assertThat(config.getNamespace()).as("defaulted to the Broker's namespace by Knative").isNull();
        ConfigMap channel = manifests.one(ConfigMap.class, config.getName());
        assertThat(channel.getMetadata().getLabels()).as("not a generated, prunable ConfigMap")
                .doesNotContainKey("knative-eventing-demo/script-configmap");
        assertThat(Manifests.channelTemplate(channel))
                .containsEntry("apiVersion", "messaging.knative.dev/v1")
                .containsEntry("kind", "InMemoryChannel");
    }

    @Test
    void deploymentsRunTheScriptMountedFromItsConfigMapThroughTheBootLauncher() {
        Map<String, String> scriptOf = Map.of("producer", "producer.java", "consumer", "consumer.java", "dead-letter", "consumer.java");

        assertThat(manifests.all(Deployment.class)).extracting(d -> d.getMetadata().getName())
                .containsExactlyInAnyOrderElementsOf(scriptOf.keySet());
        assertThat(manifests.all(Deployment.class)).allSatisfy(deployment -> {
            String script = scriptOf.get(deployment.getMetadata().getName());
            Container container = deployment.getSpec().getTemplate().getSpec().getContainers().get(0);
            assertThat(container.getArgs()).containsExactly("sh", "/opt/boot/jbang", "/opt/app/" + script);
            // Beside the script, flat, every file it includes (k8s/live-page.html): scripts/jbang finds them there.
            List<String> keys = new ArrayList<>(List.of(script));
            ScriptDeclarations.includedFiles(Kustomize.REPO_ROOT.resolve(script))
                    .forEach(included -> keys.add(Path.of(included).getFileName().toString()));
            assertThat(manifests.configMapMountedAt(deployment, "/opt/app").getData()).containsOnlyKeys(keys);
            assertThat(manifests.configMapMountedAt(deployment, "/opt/boot").getData()).containsKey("jbang");
        });
    }

    @Test
    void theBootConfigMapHoldsEveryFileTheLauncherReadsBesideItself() {
        List<String> needed = ScriptDeclarations.filesBesideLauncher(Kustomize.REPO_ROOT.resolve("scripts/jbang"));
        ConfigMap boot = manifests.configMapMountedAt(manifests.one(Deployment.class, "consumer"), "/opt/boot");

        assertThat(needed).as("files scripts/jbang reads from its own directory").isNotEmpty();
        assertThat(boot.getData()).containsKeys(needed.toArray(String[]::new));
    }

    @Test
    void theConsumerKeepsTwoSpreadReplicasAvailableThroughDisruptionsAndRollouts() {
        Deployment consumer = manifests.one(Deployment.class, "consumer");
        PodDisruptionBudget budget = manifests.one(PodDisruptionBudget.class, "consumer");
        var spread = consumer.getSpec().getTemplate().getSpec().getTopologySpreadConstraints();

        assertThat(consumer.getSpec().getReplicas()).isEqualTo(2);
        assertThat(consumer.getSpec().getStrategy().getRollingUpdate().getMaxUnavailable().getIntVal()).isZero();
        assertThat(consumer.getSpec().getStrategy().getRollingUpdate().getMaxSurge().getIntVal()).isEqualTo(1);
        assertThat(budget.getSpec().getMinAvailable().getIntVal()).isEqualTo(1);
        assertThat(Manifests.selects(budget.getSpec().getSelector().getMatchLabels(), Manifests.podLabels(consumer))).isTrue();
        assertThat(spread).singleElement().satisfies(constraint -> {
            assertThat(constraint.getTopologyKey()).isEqualTo("kubernetes.io/hostname");
            assertThat(constraint.getWhenUnsatisfiable()).isEqualTo("ScheduleAnyway");
            assertThat(Manifests.selects(constraint.getLabelSelector().getMatchLabels(), Manifests.podLabels(consumer))).isTrue();
        });
    }

    @Test
    void aNamePrefixInAnOverlayKeepsTheKnativeReferencesWired(@TempDir Path temp) {
        Kustomize.copyOfRepository(temp.resolve("base"));
        Kustomize.write(temp.resolve("overlay/kustomization.yaml"), "resources:\n  - ../base\nnamePrefix: blue-\n");
        Manifests prefixed = Kustomize.render(temp.resolve("overlay"));

        Broker broker = prefixed.one(Broker.class, "blue-default");
        assertThat(broker.getSpec().getDelivery().getDeadLetterSink().getRef().getName()).isEqualTo("blue-dead-letter");
        prefixed.one(ConfigMap.class, broker.getSpec().getConfig().getName());
        assertThat(prefixed.all(Trigger.class)).hasSize(manifests.all(Trigger.class).size()).allSatisfy(trigger -> {
            assertThat(trigger.getSpec().getBroker()).isEqualTo("blue-default");
            assertThat(trigger.getSpec().getSubscriber().getRef().getName()).isEqualTo("blue-consumer");
            assertThat(trigger.getSpec().getDelivery().getDeadLetterSink()).extracting(sink -> sink.getRef().getName())
                    .isEqualTo("blue-dead-letter");
        });
        for (String bound : List.of("producer", "dead-letter")) {
            SinkBinding binding = prefixed.one(SinkBinding.class, "blue-" + bound);
            assertThat(binding.getSpec().getSubject().getName()).isEqualTo("blue-" + bound);
            assertThat(binding.getSpec().getSink().getRef().getName()).isEqualTo("blue-default");
        }
        assertThat(prefixed.all(EventType.class)).hasSize(manifests.all(EventType.class).size()).allSatisfy(eventType -> {
            assertThat(eventType.getSpec().getReference().getName()).isEqualTo("blue-default");
            assertThat(eventType.getSpec().getSchemaData()).as("schema text copied in").startsWith("{");
        });
    }

    private static String filteredType(Trigger trigger) {
        assertThat(trigger.getSpec().getFilter()).as("filter of Trigger %s", trigger.getMetadata().getName()).isNotNull();
        assertThat(trigger.getSpec().getFilter().getAttributes()).as("filter attributes of Trigger %s", trigger.getMetadata().getName())
                .containsKey("type");
        return trigger.getSpec().getFilter().getAttributes().get("type");
    }

    /** The Service a Destination refers to; fails unless it is a plain Service of this render. */
    private Service serviceOf(Destination destination) {
        assertThat(destination).as("destination").isNotNull();
        assertThat(destination.getUri()).as("addressed by reference, not by URI").isNull();
        KReference ref = destination.getRef();
        assertThat(ref.getApiVersion()).isEqualTo("v1");
        assertThat(ref.getKind()).isEqualTo("Service");
        return manifests.one(Service.class, ref.getName());
    }

    /** The single Deployment whose pods the Service selects. */
    private Deployment deploymentBehind(Service service) {
        List<Deployment> selected = manifests.all(Deployment.class).stream()
                .filter(deployment -> Manifests.selects(service.getSpec().getSelector(), Manifests.podLabels(deployment)))
                .toList();
        assertThat(selected).as("Deployments selected by Service %s", service.getMetadata().getName()).hasSize(1);
        return selected.get(0);
    }

    private static String envOf(Deployment deployment, String name) {
        return envOf(deployment.getSpec().getTemplate().getSpec().getContainers().get(0), name);
    }

    private static String envOf(Container container, String name) {
        return container.getEnv().stream().filter(env -> env.getName().equals(name)).map(EnvVar::getValue)
                .findFirst().orElseThrow(() -> new AssertionError(container.getName() + " has no env " + name));
    }
}
