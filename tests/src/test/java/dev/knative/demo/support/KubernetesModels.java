package dev.knative.demo.support;

import com.fasterxml.jackson.databind.BeanDescription;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.introspect.AnnotatedMember;
import com.fasterxml.jackson.databind.introspect.BeanPropertyDefinition;
import io.fabric8.knative.eventing.v1.Broker;
import io.fabric8.knative.eventing.v1.Trigger;
import io.fabric8.knative.eventing.v1alpha1.EventPolicy;
import io.fabric8.knative.messaging.v1.InMemoryChannel;
import io.fabric8.knative.sources.v1.SinkBinding;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.autoscaling.v2.HorizontalPodAutoscaler;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicy;
import io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget;
import io.fabric8.openshift.api.model.monitoring.v1.PodMonitor;
import io.fabric8.openshift.api.model.monitoring.v1.PrometheusRule;
import io.strimzi.api.kafka.model.kafka.Kafka;
import io.strimzi.api.kafka.model.nodepool.KafkaNodePool;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * The Kubernetes, Knative and Strimzi schemas the manifests are checked against: fabric8's generated
 * models and Strimzi's API model, one class per apiVersion and kind. A field a model does not know lands in its
 * additionalProperties map; {@link #unknownFields} finds every such field anywhere in a tree.
 */
public final class KubernetesModels {

    /** Every apiVersion/kind the project may render, with its model. Anything else is an error. */
    private static final Map<String, Class<? extends HasMetadata>> MODELS = Map.ofEntries(
            Map.entry("v1/Namespace", Namespace.class),
            Map.entry("v1/ServiceAccount", ServiceAccount.class),
            Map.entry("v1/ConfigMap", ConfigMap.class),
            Map.entry("v1/Service", Service.class),
            Map.entry("v1/PersistentVolumeClaim", io.fabric8.kubernetes.api.model.PersistentVolumeClaim.class),
            Map.entry("apps/v1/Deployment", Deployment.class),
            Map.entry("policy/v1/PodDisruptionBudget", PodDisruptionBudget.class),
            Map.entry("autoscaling/v2/HorizontalPodAutoscaler", HorizontalPodAutoscaler.class),
            Map.entry("networking.k8s.io/v1/NetworkPolicy", NetworkPolicy.class),
            Map.entry("eventing.knative.dev/v1/Broker", Broker.class),
            Map.entry("eventing.knative.dev/v1/Trigger", Trigger.class),
            Map.entry("eventing.knative.dev/v1alpha1/EventPolicy", EventPolicy.class),
            Map.entry("eventing.knative.dev/v1beta2/EventType", io.fabric8.knative.eventing.v1beta2.EventType.class),
            Map.entry("sources.knative.dev/v1/SinkBinding", SinkBinding.class),
            Map.entry("monitoring.coreos.com/v1/PodMonitor", PodMonitor.class),
            Map.entry("monitoring.coreos.com/v1/PrometheusRule", PrometheusRule.class),
            // Strimzi's own API model (io.strimzi:api), of the release k8s/components/strimzi-kafka names.
            Map.entry("kafka.strimzi.io/v1beta2/Kafka", Kafka.class),
            Map.entry("kafka.strimzi.io/v1beta2/KafkaNodePool", KafkaNodePool.class),
            // Channels appear only as a Broker's channel-template-spec, never as objects of their own.
            Map.entry("messaging.knative.dev/v1/InMemoryChannel", InMemoryChannel.class),
            Map.entry("messaging.knative.dev/v1beta1/KafkaChannel", io.fabric8.knative.messaging.v1beta1.KafkaChannel.class));

    /** Where model classes live (fabric8's and Strimzi's); anything else is a plain value. */
    private static final Pattern MODEL_PACKAGES = Pattern.compile("io\\.fabric8\\.|io\\.strimzi\\.api\\.");

    public static final ObjectMapper MAPPER = new ObjectMapper()
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);

    private KubernetesModels() {}

    public static String typeOf(JsonNode object) {
        return object.path("apiVersion").asText() + "/" + object.path("kind").asText();
    }

    /** The model class of an object, if the project knows its apiVersion and kind. */
    public static Optional<Class<? extends HasMetadata>> modelOf(JsonNode object) {
        return Optional.ofNullable(MODELS.get(typeOf(object)));
    }

    public static <T> T convert(JsonNode object, Class<T> model) {
        return MAPPER.convertValue(object, model);
    }

    /** The object as its model writes it back: what survives a read into the model. */
    public static JsonNode reserialized(Object model) {
        return MAPPER.valueToTree(model);
    }

    /** JSON equality in which 30 and 30L and 30.0 are the same number. */
    public static boolean sameJson(JsonNode expected, JsonNode actual) {
        return expected.equals((a, b) -> {
            if (a.equals(b)) return 0;
            if (a.isNumber() && b.isNumber()) return new BigDecimal(a.asText()).compareTo(new BigDecimal(b.asText()));
            return 1;
        }, actual);
    }

    /** Paths of every field that the model did not know, anywhere in the tree (empty when all are known). */
    public static List<String> unknownFields(Object model) {
        List<String> found = new ArrayList<>();
        collectUnknown(model, "$", found);
        return found;
    }

    private static void collectUnknown(Object value, String path, List<String> found) {
        if (value == null) return;
        if (value instanceof Map<?, ?> map) {
            map.forEach((key, item) -> collectUnknown(item, path + "." + key, found));
            return;
        }
        if (value instanceof Collection<?> items) {
            int index = 0;
            for (Object item : items) collectUnknown(item, path + "[" + index++ + "]", found);
            return;
        }
        // An enum (Strimzi's listener types, node roles) is a value; its constants would read as properties of itself.
        if (value instanceof Enum<?> || !MODEL_PACKAGES.matcher(value.getClass().getName()).lookingAt()) return;

        additionalProperties(value).ifPresent(extra -> {
            if (!extra.isEmpty()) found.add(path + " has fields the schema does not know: " + extra.keySet());
        });
        BeanDescription bean = MAPPER.getSerializationConfig().introspect(MAPPER.constructType(value.getClass()));
        for (BeanPropertyDefinition property : bean.findProperties()) {
            AnnotatedMember accessor = property.getAccessor();
            if (accessor == null || accessor.hasAnnotation(com.fasterxml.jackson.annotation.JsonAnyGetter.class)) continue;
            collectUnknown(accessor.getValue(value), path + "." + property.getName(), found);
        }
    }

    private static Optional<Map<?, ?>> additionalProperties(Object model) {
        try {
            Method getter = model.getClass().getMethod("getAdditionalProperties");
            return Optional.ofNullable((Map<?, ?>) getter.invoke(model));
        } catch (NoSuchMethodException e) {
            return Optional.empty();
        } catch (IllegalAccessException | InvocationTargetException e) {
            throw new IllegalStateException("cannot read additionalProperties of " + model.getClass(), e);
        }
    }
}
