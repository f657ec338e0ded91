package dev.knative.demo.support;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.fabric8.knative.duck.v1.DeliverySpec;
import io.fabric8.knative.eventing.v1.Trigger;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/** The objects of one render, as JSON trees and as Kubernetes/Knative models. */
public record Manifests(List<ObjectNode> json) {

    /** Every object of the model's kind, converted to the model. */
    public <T extends HasMetadata> List<T> all(Class<T> model) {
        return json.stream()
                .filter(object -> KubernetesModels.modelOf(object).filter(model::equals).isPresent())
                .map(object -> KubernetesModels.convert(object, model))
                .toList();
    }

    public <T extends HasMetadata> Optional<T> find(Class<T> model, String name) {
        List<T> named = all(model).stream().filter(object -> object.getMetadata().getName().equals(name)).toList();
        assertThat(named).as("%s objects named %s", model.getSimpleName(), name).hasSizeLessThanOrEqualTo(1);
        return named.stream().findFirst();
    }

    /** The one object of that kind and name; fails the test when it is missing. */
    public <T extends HasMetadata> T one(Class<T> model, String name) {
        return find(model, name).orElseThrow(() -> new AssertionError(
                "the render has no " + model.getSimpleName() + " named " + name + "; it has "
                        + all(model).stream().map(object -> object.getMetadata().getName()).toList()));
    }

    /** The delivery policy of the Triggers, which k8s/trigger-delivery.yaml patches into every one: fails unless all agree. */
    public DeliverySpec triggerDelivery() {
        List<DeliverySpec> policies = all(Trigger.class).stream().map(trigger -> trigger.getSpec().getDelivery()).distinct().toList();
        assertThat(policies).as("delivery policies of the Triggers").singleElement().isNotNull();
        return policies.get(0);
    }

    /** The ConfigMap mounted at mountPath in the Deployment's first container. */
    public ConfigMap configMapMountedAt(Deployment deployment, String mountPath) {
        PodSpec pod = deployment.getSpec().getTemplate().getSpec();
        Container container = pod.getContainers().get(0);
        String volumeName = container.getVolumeMounts().stream()
                .filter(mount -> mount.getMountPath().equals(mountPath))
                .map(VolumeMount::getName)
                .findFirst()
                .orElseThrow(() -> new AssertionError(deployment.getMetadata().getName() + " mounts nothing at " + mountPath));
        Volume volume = pod.getVolumes().stream().filter(v -> v.getName().equals(volumeName)).findFirst()
                .orElseThrow(() -> new AssertionError(deployment.getMetadata().getName() + " has no volume " + volumeName));
        assertThat(volume.getConfigMap()).as("volume %s of %s is a ConfigMap", volumeName, deployment.getMetadata().getName()).isNotNull();
        return one(ConfigMap.class, volume.getConfigMap().getName());
    }

    /** The channel-template-spec of a Broker's channel ConfigMap, parsed. */
    public static Map<String, Object> channelTemplate(ConfigMap config) {
        String template = config.getData().get("channel-template-spec");
        assertThat(template).as("channel-template-spec of ConfigMap %s", config.getMetadata().getName()).isNotBlank();
        try {
            return Kustomize.YAML.readValue(template, new TypeReference<Map<String, Object>>() {});
        } catch (JsonProcessingException e) {
            throw new AssertionError("channel-template-spec of " + config.getMetadata().getName() + " is not YAML", e);
        }
    }

    /** Labels of the pods the Deployment creates. */
    public static Map<String, String> podLabels(Deployment deployment) {
        return deployment.getSpec().getTemplate().getMetadata().getLabels();
    }

    public static boolean selects(Map<String, String> selector, Map<String, String> labels) {
        return selector != null && !selector.isEmpty() && labels.entrySet().containsAll(selector.entrySet());
    }
}
