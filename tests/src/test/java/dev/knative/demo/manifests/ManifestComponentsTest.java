package dev.knative.demo.manifests;

import static org.assertj.core.api.Assertions.assertThat;

import dev.knative.demo.support.KubernetesModels;
import dev.knative.demo.support.Kustomize;
import dev.knative.demo.support.Manifests;
import dev.knative.demo.programs.ProgramSettingsTest;
import com.fasterxml.jackson.databind.JsonNode;
import io.fabric8.knative.duck.v1.DeliverySpec;
import dev.knative.demo.support.ScriptProcess;
import dev.knative.demo.support.TestSink;
import io.cloudevents.CloudEvent;
import io.cloudevents.sql.Expression;
import io.cloudevents.sql.Parser;
import io.cloudevents.sql.Result;
import io.fabric8.knative.eventing.v1.Broker;
import io.fabric8.knative.eventing.v1.SubscriptionsAPIFilter;
import io.fabric8.knative.eventing.v1.Trigger;
import io.fabric8.knative.eventing.v1.TriggerBuilder;
import io.fabric8.knative.eventing.v1alpha1.EventPolicy;
import io.fabric8.knative.eventing.v1alpha1.EventPolicyFromReference;
import io.fabric8.knative.eventing.v1alpha1.EventPolicySpecFrom;
import io.fabric8.knative.eventing.v1alpha1.EventPolicySpecTo;
import io.fabric8.knative.eventing.v1alpha1.EventPolicyToReference;
import io.fabric8.knative.sources.v1.SinkBinding;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.fabric8.knative.duck.v1.DeliverySpec;
import io.fabric8.knative.duck.v1.KReference;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.PersistentVolumeClaim;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.autoscaling.v2.HorizontalPodAutoscaler;
import io.fabric8.kubernetes.api.model.autoscaling.v2.MetricSpec;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The optional features under k8s/components/: listed in the root kustomization, documented, and doing what they say. */
class ManifestComponentsTest {

    @Test
    void everyComponentIsListedCommentedOutInTheRootKustomizationAndHasAReadme() {
        String root = Kustomize.read(Kustomize.REPO_ROOT.resolve("kustomization.yaml"));

        assertThat(Kustomize.componentNames()).containsExactlyInAnyOrder("autoscaling", "autoscaling-keda", "confluent-platform",
                "kafka-broker", "kafka-channel", "maven-mirror", "monitoring", "nats-jetstream-channel", "priority-routing", "retry-after", "security",
                "strimzi-kafka", "tls", "tracing", "unmatched-events", "dead-letter-storage", "kafka-dead-letters", "shared-build-cache");
        assertThat(root).contains("\n# components:\n");
        for (String component : Kustomize.componentNames()) {
            assertThat(root).contains("\n#   - k8s/components/" + component + "\n");
            assertThat(Kustomize.COMPONENTS.resolve(component).resolve("README.md")).isNotEmptyFile();
            assertThat(Files.exists(Kustomize.COMPONENTS.resolve(component).resolve("kustomization.yaml"))).isTrue();
        }
    }

    @ParameterizedTest(name = "{0} makes the Broker {3} store events in a {2}")
    @CsvSource({
        "'',                     messaging.knative.dev/v1,       InMemoryChannel,      default,               broker-channel-config",
        "kafka-channel,          messaging.knative.dev/v1beta1,  KafkaChannel,         default-kafka-channel, broker-kafka-channel-config",
        "nats-jetstream-channel, messaging.knative.dev/v1alpha1, NatsJetStreamChannel, default-nats,          broker-nats-channel-config"})
    void aChannelComponentGivesTheChannelBasedBrokerItsOwnNameAndChannelTemplate(
            String component, String apiVersion, String kind, String name, String config, @TempDir Path temp) {
        Manifests rendered = component.isEmpty() ? Kustomize.repository() : Kustomize.renderWithComponent(temp, component);
        assertThat(rendered.all(Broker.class)).extracting(b -> b.getMetadata().getName()).containsExactly(name);
        Broker broker = rendered.one(Broker.class, name);
        assertThat(broker.getSpec().getConfig().getName()).isEqualTo(config);
        assertThat(rendered.all(ConfigMap.class)).as("one channel template, so the old Broker's stays unchanged during a move")
                .filteredOn(map -> map.getData() != null && map.getData().containsKey("channel-template-spec")).hasSize(1);
        Map<String, Object> template = Manifests.channelTemplate(rendered.one(ConfigMap.class, config));

        assertThat(broker.getMetadata().getAnnotations()).containsEntry("eventing.knative.dev/broker.class", "MTChannelBasedBroker");
        assertThat(template).containsEntry("apiVersion", apiVersion).containsEntry("kind", kind);
        assertThat(template.keySet()).isSubsetOf("apiVersion", "kind", "spec");
        KubernetesModels.modelOf(Kustomize.YAML.valueToTree(template)).ifPresent(model ->
                assertThat(KubernetesModels.unknownFields(Kustomize.YAML.convertValue(template, model)))
                        .as("template fields unknown to %s", model.getName()).isEmpty());
    }

    @Test
    void theKafkaBrokerComponentSwitchesTheBrokerClassAndPointsItAtTheKafkaConfig(@TempDir Path temp) {
        Manifests rendered = Kustomize.renderWithComponent(temp, "kafka-broker");
        Broker broker = rendered.one(Broker.class, "default-kafka");
        ConfigMap kafka = rendered.one(ConfigMap.class, broker.getSpec().getConfig().getName());

        assertThat(broker.getMetadata().getAnnotations()).containsEntry("eventing.knative.dev/broker.class", "Kafka");
        assertThat(kafka.getMetadata().getName()).isEqualTo("kafka-broker-config");
        assertThat(kafka.getData()).containsKeys("bootstrap.servers", "default.topic.partitions", "default.topic.replication.factor");
        assertThat(rendered.find(ConfigMap.class, "broker-channel-config")).as("the unused channel template is gone").isEmpty();
        assertThat(rendered.all(Trigger.class)).as("the base Triggers, renamed for the new Broker")
                .usingRecursiveFieldByFieldElementComparatorIgnoringFields("metadata.annotations", "spec.delivery").isEqualTo(
                Kustomize.repository().all(Trigger.class).stream().map(trigger -> new TriggerBuilder(trigger)
                        .editMetadata().withName(trigger.getMetadata().getName() + "-kafka").endMetadata()
                        .editSpec().withBroker("default-kafka").endSpec().build()).toList());
    }

    @Test
    void theDurableComponentListedLastNamesTheBrokerInOnePlaceAndEveryReferenceFollows(@TempDir Path temp) {
        Path copy = Kustomize.copyOfRepository(temp);
        for (String component : List.of("security", "unmatched-events", "kafka-broker")) Kustomize.enableComponent(copy, component);
        String root = Kustomize.read(copy.resolve("kustomization.yaml"));
        assertThat(root.indexOf("  - k8s/components/kafka-broker")).as("listed last").isGreaterThan(root.indexOf("  - k8s/components/unmatched-events"));

        Manifests rendered = Kustomize.render(copy);

        assertThat(rendered.all(Broker.class)).extracting(b -> b.getMetadata().getName()).containsExactly("default-kafka");
        assertThat(rendered.all(Trigger.class)).allSatisfy(trigger -> {
            assertThat(trigger.getSpec().getBroker()).isEqualTo("default-kafka");
            assertThat(trigger.getMetadata().getName()).endsWith("-kafka");
        }).hasSize(4);
        assertThat(rendered.all(SinkBinding.class).get(0).getSpec().getSink().getRef().getName()).isEqualTo("default-kafka");
        assertThat(rendered.all(EventPolicy.class).get(0).getSpec().getTo().get(0).getRef().getName()).isEqualTo("default-kafka");
    }

    @Test
    void theSecurityComponentLetsOnlyTheProducersIdentitySendToTheBroker(@TempDir Path temp) {
        assertOnlyTheProducerMaySendToTheBroker(Kustomize.renderWithComponent(temp, "security"));
    }

    @Test
    void theSecurityComponentStaysWiredUnderANamePrefix(@TempDir Path temp) {
        Path copy = Kustomize.copyOfRepository(temp);
        Kustomize.enableComponent(copy, "security");
        Path kustomization = copy.resolve("kustomization.yaml");
        Kustomize.write(kustomization, Kustomize.read(kustomization) + "namePrefix: blue-\n");

        Manifests rendered = Kustomize.render(copy);

        assertThat(rendered.one(EventPolicy.class, "blue-producer-to-broker").getSpec().getFrom())
                .extracting(from -> from.getRef().getName()).containsExactly("blue-producer");
        assertOnlyTheProducerMaySendToTheBroker(rendered);
    }

    @Test
    void theUnmatchedEventsTriggerPassesExactlyTheTypesNoBaseTriggerFiltersToTheDeadLetterDisplay(@TempDir Path temp) {
        Set<String> baseTypes = Kustomize.repository().all(Trigger.class).stream()
                .map(trigger -> trigger.getSpec().getFilter().getAttributes().get("type")).collect(Collectors.toSet());
        Manifests rendered = Kustomize.renderWithComponent(temp, "unmatched-events");
        Trigger unmatched = rendered.one(Trigger.class, "unmatched-events");

        assertThat(unmatched.getSpec().getFilter()).as("filter would be overridden by filters").isNull();
        assertThat(unmatched.getSpec().getFilters()).singleElement().satisfies((SubscriptionsAPIFilter none) -> {
            assertThat(none.getNot().getAny()).allSatisfy(known -> assertThat(known.getExact()).containsOnlyKeys("type"));
            assertThat(none.getNot().getAny()).extracting(known -> known.getExact().get("type"))
                    .as("the types of the base Triggers, each once").containsExactlyInAnyOrderElementsOf(baseTypes);
        });
        assertThat(unmatched.getSpec().getSubscriber().getRef().getName()).isEqualTo("dead-letter");
        assertThat(unmatched.getSpec().getBroker()).isEqualTo("default");
        assertThat(rendered.all(Trigger.class)).hasSize(baseTypes.size() + 1);
    }

    @Test
    void theDeadLetterStorageComponentKeepsTheStoreOnAVolumeClaimAndNeverRunsTwoDisplayPodsAtOnce(@TempDir Path temp) {
        Manifests rendered = Kustomize.renderWithComponent(temp, "dead-letter-storage");
        Deployment display = rendered.one(Deployment.class, "dead-letter");
        PodSpec pod = display.getSpec().getTemplate().getSpec();
        Container app = pod.getContainers().get(0);
        String store = app.getEnv().stream().filter(e -> e.getName().equals("DEAD_LETTER_STORE")).findFirst().orElseThrow().getValue();
        Volume volume = pod.getVolumes().stream().filter(v -> v.getPersistentVolumeClaim() != null).findFirst().orElseThrow();
        PersistentVolumeClaim claim = rendered.one(PersistentVolumeClaim.class, volume.getPersistentVolumeClaim().getClaimName());

        assertThat(claim.getSpec().getAccessModes()).containsExactly("ReadWriteOnce");
        assertThat(app.getVolumeMounts()).anySatisfy(mount -> {
            assertThat(mount.getName()).isEqualTo(volume.getName());
            assertThat(mount.getMountPath()).isEqualTo(store);
            assertThat(mount.getReadOnly()).isNotEqualTo(Boolean.TRUE);
        });
        assertThat(pod.getSecurityContext().getFsGroup()).isEqualTo(pod.getSecurityContext().getRunAsGroup());
        assertThat(display.getSpec().getReplicas()).isEqualTo(1);
        // The new pod can open the store only after the old one let go: old pod first, no surge.
        assertThat(display.getSpec().getStrategy().getRollingUpdate().getMaxSurge().getIntVal()).isZero();
        assertThat(display.getSpec().getStrategy().getRollingUpdate().getMaxUnavailable().getIntVal()).isEqualTo(1);
        assertThat(rendered.one(Deployment.class, "consumer").getSpec().getStrategy().getRollingUpdate().getMaxSurge().getIntVal())
                .as("the other Deployments still surge").isEqualTo(1);
    }

    @Test
    void theSharedBuildCacheComponentPutsEveryPodsJBangCacheOnOneReadWriteManyClaimInsteadOfAnEmptyDirEach(@TempDir Path temp) {
        Path copy = Kustomize.copyOfRepository(temp);
        // In the order kustomization.yaml lists them: priority-routing's Deployment shares the cache too.
        Kustomize.enableComponent(copy, "dead-letter-storage", "priority-routing", "shared-build-cache");
        Manifests rendered = Kustomize.render(copy);
        PersistentVolumeClaim claim = rendered.one(PersistentVolumeClaim.class, "jbang-build-cache");
        assertThat(claim.getSpec().getAccessModes()).as("pods on every node").containsExactly("ReadWriteMany");

        List<Deployment> deployments = rendered.all(Deployment.class);
        assertThat(deployments).extracting(d -> d.getMetadata().getName())
                .containsExactlyInAnyOrder("producer", "consumer", "dead-letter", "consumer-priority");
        for (Deployment deployment : deployments) {
            PodSpec pod = deployment.getSpec().getTemplate().getSpec();
            Container app = pod.getContainers().get(0);
            String cacheDir = app.getEnv().stream().filter(e -> e.getName().equals("JBANG_CACHE_DIR")).findFirst().orElseThrow().getValue();
            Volume cache = pod.getVolumes().stream().filter(v -> app.getVolumeMounts().stream()
                    .anyMatch(m -> m.getName().equals(v.getName()) && cacheDir.startsWith(m.getMountPath() + "/"))).findFirst().orElseThrow();
            assertThat(cache.getEmptyDir()).as(deployment.getMetadata().getName()).isNull();
            assertThat(cache.getPersistentVolumeClaim().getClaimName()).isEqualTo("jbang-build-cache");
            assertThat(pod.getSecurityContext().getFsGroup()).isEqualTo(pod.getSecurityContext().getRunAsGroup());
        }

        Deployment alone = Kustomize.repository().one(Deployment.class, "consumer");
        assertThat(alone.getSpec().getTemplate().getSpec().getVolumes()).as("without the component: an emptyDir per pod")
                .filteredOn(v -> v.getName().equals("jbang")).singleElement().satisfies(v -> assertThat(v.getEmptyDir()).isNotNull());
    }

    @ParameterizedTest(name = "with {0}")
    @CsvSource({"'', base", "kafka-broker, kafka-broker", "kafka-channel, kafka-channel"})
    void theKafkaDeadLettersComponentSendsDeadLettersThroughAKafkaTopicThatAKafkaSourceFeedsToTheDisplay(
            String durable, String retriesOf, @TempDir Path temp) {
        Path copy = Kustomize.copyOfRepository(temp.resolve("both"));
        // With the components that add Triggers, in the order kustomization.yaml lists them: theirs send through Kafka too.
        Kustomize.enableComponent(copy, "unmatched-events", "priority-routing", "kafka-dead-letters");
        if (!durable.isEmpty()) Kustomize.enableComponent(copy, durable);
        Manifests rendered = Kustomize.render(copy);
        ObjectNode sink = onlyOfKind(rendered, "KafkaSink");
        ObjectNode source = onlyOfKind(rendered, "KafkaSource");
        // The retries stay those of the path (k8s/durable-delivery.yaml with a Kafka component); only the sink changes.
        DeliverySpec base = retriesOf.equals("base") ? Kustomize.repository().triggerDelivery()
                : Kustomize.renderWithComponent(temp.resolve("alone"), retriesOf).triggerDelivery();

        List<DeliverySpec> deliveries = new ArrayList<>(rendered.all(Trigger.class).stream().map(t -> t.getSpec().getDelivery()).toList());
        deliveries.add(rendered.all(Broker.class).get(0).getSpec().getDelivery());
        assertThat(deliveries).allSatisfy(delivery -> {
            assertThat(delivery.getRetry()).isEqualTo(base.getRetry());
            assertThat(delivery.getBackoffPolicy()).isEqualTo(base.getBackoffPolicy());
            assertThat(delivery.getBackoffDelay()).isEqualTo(base.getBackoffDelay());
            KReference deadLetters = delivery.getDeadLetterSink().getRef();
            assertThat(deadLetters.getApiVersion() + " " + deadLetters.getKind() + " " + deadLetters.getName())
                    .isEqualTo(sink.path("apiVersion").asText() + " KafkaSink " + sink.at("/metadata/name").asText());
        });
        assertThat(source.at("/spec/topics")).containsExactly(sink.at("/spec/topic"));
        assertThat(source.at("/spec/bootstrapServers")).isEqualTo(sink.at("/spec/bootstrapServers"));
        assertThat(source.at("/spec/sink/ref/kind").asText()).isEqualTo("Service");
        Service display = rendered.one(Service.class, source.at("/spec/sink/ref/name").asText());
        assertThat(Manifests.selects(display.getSpec().getSelector(), Manifests.podLabels(rendered.one(Deployment.class, "dead-letter"))))
                .isTrue();
    }

    private static ObjectNode onlyOfKind(Manifests rendered, String kind) {
        List<ObjectNode> found = rendered.json().stream().filter(o -> o.path("kind").asText().equals(kind)).toList();
        assertThat(found).as(kind).hasSize(1);
        return found.get(0);
    }

    @Test
    void theRetryAfterComponentAddsRetryAfterMaxToTheDeliveryOfEveryTriggerAndTheBrokerAndChangesNothingElse(@TempDir Path temp) {
        // With the components that add Triggers, in the order kustomization.yaml lists them: theirs wait too.
        Manifests rendered = Kustomize.renderWithComponent(temp.resolve("with"), "unmatched-events", "priority-routing", "retry-after");
        Manifests without = Kustomize.renderWithComponent(temp.resolve("without"), "unmatched-events", "priority-routing");
        DeliverySpec base = without.triggerDelivery();
        DeliverySpec delivery = rendered.triggerDelivery();

        assertThat(delivery.getRetryAfterMax()).isEqualTo("PT10S");
        assertThat(rendered.one(Broker.class, "default").getSpec().getDelivery()).as("the Broker's, the same").isEqualTo(delivery);
        delivery.setRetryAfterMax(null);
        assertThat(delivery).isEqualTo(base);
        assertThat(rendered.all(Trigger.class)).hasSameSizeAs(without.all(Trigger.class));
    }

    @Test
    void theAutoscalingComponentScalesTheConsumerOnHalfItsMaxInFlightPerPodAndOnCpuAndLeavesItTheReplicaCount(@TempDir Path temp) {
        Manifests rendered = Kustomize.renderWithComponent(temp, "autoscaling");
        HorizontalPodAutoscaler autoscaler = rendered.one(HorizontalPodAutoscaler.class, "consumer");
        int maxInFlight = Integer.parseInt(ProgramSettingsTest.readmeSettings("consumer.java").stream()
                .filter(setting -> "MAX_IN_FLIGHT".equals(setting.env())).findFirst().orElseThrow().fallback());

        assertThat(autoscaler.getSpec().getScaleTargetRef()).extracting("apiVersion", "kind", "name")
                .containsExactly("apps/v1", "Deployment", "consumer");
        assertThat(autoscaler.getSpec().getMinReplicas()).isEqualTo(Kustomize.repository().one(Deployment.class, "consumer")
                .getSpec().getReplicas());
        assertThat(autoscaler.getSpec().getMetrics()).extracting(MetricSpec::getType).containsExactly("Pods", "Resource");
        assertThat(autoscaler.getSpec().getMetrics().get(0).getPods()).satisfies(inFlight -> {
            assertThat(inFlight.getMetric().getName()).isEqualTo("consumer_in_flight");
            assertThat(inFlight.getTarget().getAverageValue()).isEqualTo(new Quantity(String.valueOf(maxInFlight / 2)));
        });
        assertThat(autoscaler.getSpec().getMetrics().get(1).getResource().getName()).isEqualTo("cpu");
        assertThat(rendered.one(Deployment.class, "consumer").getSpec().getReplicas()).as("left to the autoscaler").isNull();
    }

    @Test
    void theKedaComponentScalesTheConsumerOnTheLagOfEachTriggersConsumerGroupOnTheKafkaBrokersTopic(@TempDir Path temp) {
        // With the Kafka Broker it scales on, listed after it as the root kustomization orders them.
        Manifests rendered = Kustomize.renderWithComponent(temp, "autoscaling-keda", "kafka-broker");
        JsonNode scaled = rendered.json().stream().filter(object -> object.path("kind").asText().equals("ScaledObject"))
                .findFirst().orElseThrow();
        String namespace = scaled.at("/metadata/namespace").asText();
        Broker broker = rendered.all(Broker.class).get(0);
        String bootstrap = rendered.one(ConfigMap.class, "kafka-broker-config").getData().get("bootstrap.servers");

        assertThat(scaled.at("/spec/scaleTargetRef/name").asText()).isEqualTo("consumer");
        assertThat(scaled.at("/spec/minReplicaCount").asInt()).isEqualTo(2);
        // eventing-kafka-broker's default templates: knative-broker-<ns>-<broker>, knative-trigger-<ns>-<trigger>.
        assertThat(scaled.at("/spec/triggers")).allSatisfy(trigger -> {
            assertThat(trigger.path("type").asText()).isEqualTo("kafka");
            assertThat(trigger.at("/metadata/topic").asText()).isEqualTo("knative-broker-" + namespace + "-" + broker.getMetadata().getName());
            assertThat(trigger.at("/metadata/bootstrapServers").asText()).isEqualTo(bootstrap);
        });
        assertThat(scaled.at("/spec/triggers")).extracting(trigger -> trigger.at("/metadata/consumerGroup").asText())
                .containsExactlyInAnyOrderElementsOf(rendered.all(Trigger.class).stream()
                        .map(trigger -> "knative-trigger-" + namespace + "-" + trigger.getMetadata().getName()).toList());
        assertThat(rendered.one(Deployment.class, "consumer").getSpec().getReplicas()).as("left to KEDA's autoscaler").isNull();
    }

    @Test
    void thePriorityRoutingTriggerPassesExactlyTheOrdersTheProducerMarksHighToItsOwnConsumer(@TempDir Path temp) {
        Manifests rendered = Kustomize.renderWithComponent(temp, "priority-routing");
        Trigger priority = rendered.one(Trigger.class, "priority-orders");
        assertThat(priority.getSpec().getFilter()).as("filter would be overridden by filters").isNull();
        assertThat(priority.getSpec().getFilters()).hasSize(1);
        Expression expression = Parser.parseDefault(priority.getSpec().getFilters().get(0).getCesql());
        assertThat(priority.getSpec().getSubscriber().getRef().getName()).isEqualTo("consumer-priority");
        Map<String, String> selector = rendered.one(Service.class, "consumer-priority").getSpec().getSelector();
        assertThat(rendered.one(Deployment.class, "consumer-priority").getSpec().getTemplate().getMetadata().getLabels())
                .containsAllEntriesOf(selector);
        assertThat(rendered.one(Deployment.class, "consumer").getSpec().getTemplate().getMetadata().getLabels().entrySet()
                .containsAll(selector.entrySet())).as("the consumer's pods are behind the priority Service").isFalse();

        try (TestSink sink = TestSink.start();
             ScriptProcess producer = ScriptProcess.start("producer.java",
                     Map.of("K_SINK", sink.url(), "PORT", "0", "COUNT", "270", "RATE", "1000"))) {
            assertThat(producer.awaitExit(ScriptProcess.START_TIMEOUT)).isZero();
            Map<Boolean, List<CloudEvent>> passed = sink.received().stream().map(TestSink.Received::event)
                    .collect(Collectors.partitioningBy(event -> {
                        Result result = expression.evaluate(event);
                        return !result.isFailed() && Boolean.TRUE.equals(result.value());
                    }));

            assertThat(passed.get(true)).as("passed").isNotEmpty().allSatisfy(order -> {
                assertThat(order.getType()).isEqualTo("order.placed");
                assertThat(order.getExtension("priority")).isEqualTo("high");
                assertThat(amount(order)).isGreaterThanOrEqualTo(90);
            });
            assertThat(passed.get(false)).as("not passed").extracting(CloudEvent::getType)
                    .contains("demo.event", "user.created", "order.placed");
            assertThat(passed.get(false)).filteredOn(event -> event.getType().equals("order.placed")).allSatisfy(order -> {
                assertThat(order.getExtension("priority")).isEqualTo("normal");
                assertThat(amount(order)).isLessThan(90);
            });
            assertThat(passed.get(true).size() + passed.get(false).size()).isEqualTo(270);
        }
    }

    private static double amount(CloudEvent order) {
        return new JsonObject(Buffer.buffer(order.getData().toBytes())).getDouble("amount");
    }

    /**
     * One EventPolicy, valid for Knative's schema: to the Broker the producer's SinkBinding points at, from that
     * SinkBinding alone. Knative resolves it to the SinkBinding's OIDC ServiceAccount, whose token the producer
     * sends (the pod's own ServiceAccount has none).
     */
    private static void assertOnlyTheProducerMaySendToTheBroker(Manifests rendered) {
        rendered.json().stream().filter(o -> o.path("kind").asText().equals("EventPolicy"))
                .forEach(ManifestSchemaTest::assertMatchesSchema);
        assertThat(rendered.all(EventPolicy.class)).hasSize(1);
        EventPolicy policy = rendered.all(EventPolicy.class).get(0);
        // The dead-letter display has a SinkBinding too (for redrives), but sends no OIDC token: the policy leaves it out.
        List<SinkBinding> producerBindings = rendered.all(SinkBinding.class).stream().filter(b -> "producer".equals(rendered
                .one(Deployment.class, b.getSpec().getSubject().getName()).getMetadata().getLabels().get("app.kubernetes.io/component")))
                .toList();
        assertThat(producerBindings).hasSize(1);
        SinkBinding binding = producerBindings.get(0);
        String broker = binding.getSpec().getSink().getRef().getName();
        assertThat(rendered.one(Broker.class, broker).getMetadata().getNamespace()).isEqualTo(policy.getMetadata().getNamespace());

        assertThat(policy.getSpec().getTo()).singleElement().satisfies((EventPolicySpecTo to) -> {
            assertThat(to.getSelector()).isNull();
            EventPolicyToReference ref = to.getRef();
            assertThat(ref.getApiVersion() + " " + ref.getKind() + " " + ref.getName()).isEqualTo("eventing.knative.dev/v1 Broker " + broker);
        });
        assertThat(policy.getSpec().getFrom()).singleElement().satisfies((EventPolicySpecFrom from) -> {
            assertThat(from.getSub()).isNull();
            EventPolicyFromReference ref = from.getRef();
            assertThat(ref.getApiVersion() + " " + ref.getKind() + " " + ref.getName())
                    .isEqualTo("sources.knative.dev/v1 SinkBinding " + binding.getMetadata().getName());
            assertThat(ref.getNamespace()).as("defaults to the policy's own").isNull();
        });
        assertThat(policy.getSpec().getFilters()).isNullOrEmpty();
    }

}
