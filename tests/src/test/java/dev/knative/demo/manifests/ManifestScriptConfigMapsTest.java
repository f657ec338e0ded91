package dev.knative.demo.manifests;

import static org.assertj.core.api.Assertions.assertThat;

import dev.knative.demo.support.Kustomize;
import dev.knative.demo.support.Manifests;
import com.fasterxml.jackson.databind.JsonNode;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The scripts reach the pods as generated ConfigMaps: exact copies of the repository's files,
 * named after their content, so that a changed script rolls exactly the Deployments running it.
 */
class ManifestScriptConfigMapsTest {

    private static final String PRUNE_LABEL = "knative-eventing-demo/script-configmap";
    /** kubectl apply (client-side) keeps the whole object in an annotation, and annotations are limited to 256 KiB. */
    private static final int ANNOTATION_LIMIT = 256 * 1024;

    /** Generated ConfigMap (name without hash) → the repository files it holds, as the root kustomization.yaml lists them. */
    private static final Map<String, List<String>> GENERATED = generatorsOfRootKustomization();

    private final Manifests manifests = Kustomize.repository();

    @Test
    void generatedConfigMapsHoldTheRepositoryFilesByteForByte() {
        GENERATED.forEach((prefix, files) -> {
            ConfigMap config = generated(manifests, prefix);
            assertThat(config.getBinaryData()).as("%s has no binaryData (every file is UTF-8 text)", prefix).isNullOrEmpty();
            assertThat(config.getData().keySet()).as("keys of %s", prefix)
                    .containsExactlyInAnyOrderElementsOf(files.stream().map(ManifestScriptConfigMapsTest::key).toList());
            for (String file : files) {
                byte[] expected = bytes(Kustomize.REPO_ROOT.resolve(file));
                byte[] actual = config.getData().get(key(file)).getBytes(StandardCharsets.UTF_8);
                assertThat(actual).as("%s in ConfigMap %s equals the repository's file", file, prefix).isEqualTo(expected);
            }
        });
    }

    @Test
    void everyConfigMapStaysFarBelowTheClientSideApplyAnnotationLimit() {
        assertThat(manifests.json()).filteredOn(object -> object.path("kind").asText().equals("ConfigMap")).allSatisfy(config ->
                assertThat(config.toString().getBytes(StandardCharsets.UTF_8).length)
                        .as("size of ConfigMap %s as JSON (at most half of the %d-byte annotation limit)",
                                config.at("/metadata/name").asText(), ANNOTATION_LIMIT)
                        .isLessThan(ANNOTATION_LIMIT / 2));
    }

    @Test
    void generatedConfigMapsAreHashedImmutableAndLabelledForPruning() {
        GENERATED.keySet().forEach(prefix -> {
            ConfigMap config = generated(manifests, prefix);
            assertThat(config.getMetadata().getName()).matches(prefix + "-[a-z0-9]{10}");
            assertThat(config.getImmutable()).as("%s is immutable", prefix).isTrue();
            assertThat(config.getMetadata().getLabels()).containsEntry(PRUNE_LABEL, "true");
        });
        assertThat(manifests.all(ConfigMap.class))
                .filteredOn(config -> config.getMetadata().getLabels().containsKey(PRUNE_LABEL))
                .as("only generated ConfigMaps carry the prune label").hasSize(GENERATED.size());
    }

    static Stream<Arguments> editedFiles() {
        return Stream.of(
                Arguments.of("consumer.java", "consumer-script", Set.of("consumer", "dead-letter")),
                Arguments.of("k8s/live-page.html", "consumer-script", Set.of("consumer", "dead-letter")),
                Arguments.of("producer.java", "producer-script", Set.of("producer")),
                Arguments.of("scripts/deps.lock", "jbang-boot", Set.of("producer", "consumer", "dead-letter")),
                Arguments.of("k8s/schemas/order.placed.json", "event-schemas", Set.of("consumer", "dead-letter")));
    }

    @ParameterizedTest(name = "editing {0} renames {1} and rolls {2}")
    @MethodSource("editedFiles")
    void editingAFileRenamesOnlyItsConfigMapAndChangesOnlyTheDeploymentsMountingIt(
            String file, String configMap, Set<String> rolled, @TempDir Path temp) {
        Path copy = Kustomize.copyOfRepository(temp);
        Kustomize.write(copy.resolve(file), Kustomize.read(copy.resolve(file)) + "\n// edited\n");
        Manifests edited = Kustomize.render(copy);

        Map<String, String> before = configMapNames(manifests);
        Map<String, String> after = configMapNames(edited);
        assertThat(after.keySet()).isEqualTo(before.keySet());
        before.forEach((prefix, name) -> {
            if (prefix.equals(configMap)) assertThat(after.get(prefix)).as("name of %s", prefix).isNotEqualTo(name);
            else assertThat(after.get(prefix)).as("name of %s", prefix).isEqualTo(name);
        });
        Set<String> changed = manifests.all(Deployment.class).stream()
                .filter(deployment -> !deployment.equals(edited.one(Deployment.class, deployment.getMetadata().getName())))
                .map(deployment -> deployment.getMetadata().getName())
                .collect(Collectors.toSet());
        assertThat(changed).as("Deployments whose manifest changed").isEqualTo(rolled);
    }

    @Test
    void theGeneratorsShipTheThreeScriptBundlesAndTheEventSchemas() {
        assertThat(GENERATED).containsOnlyKeys("jbang-boot", "producer-script", "consumer-script", "event-schemas");
        assertThat(GENERATED.get("producer-script")).containsExactly("producer.java");
        // The live page beside the script it belongs to: consumer.java bundles it with //FILES.
        assertThat(GENERATED.get("consumer-script")).containsExactly("consumer.java", "k8s/live-page.html");
        assertThat(GENERATED.get("jbang-boot")).contains("scripts/jbang", "scripts/jbang.lock", "scripts/deps.lock");
    }

    private static Map<String, List<String>> generatorsOfRootKustomization() {
        try {
            JsonNode kustomization = Kustomize.YAML.readTree(Kustomize.REPO_ROOT.resolve("kustomization.yaml").toFile());
            Map<String, List<String>> generators = new TreeMap<>();
            for (JsonNode generator : kustomization.path("configMapGenerator")) {
                List<String> files = new ArrayList<>();
                generator.path("files").forEach(file -> files.add(file.asText()));
                generators.put(generator.path("name").asText(), List.copyOf(files));
            }
            return generators;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The ConfigMap key of a generator's file entry: its file name (no "key=path" entries here). */
    private static String key(String file) {
        assertThat(file).as("generator file entry").doesNotContain("=");
        return Path.of(file).getFileName().toString();
    }

    /** Generated ConfigMap name without hash → its rendered name. */
    private static Map<String, String> configMapNames(Manifests manifests) {
        return manifests.all(ConfigMap.class).stream()
                .filter(config -> config.getMetadata().getLabels().containsKey(PRUNE_LABEL))
                .collect(Collectors.toMap(config -> config.getMetadata().getName().replaceFirst("-[a-z0-9]{10}$", ""),
                        config -> config.getMetadata().getName(), (a, b) -> a, TreeMap::new));
    }

    private static ConfigMap generated(Manifests manifests, String prefix) {
        return manifests.all(ConfigMap.class).stream()
                .filter(config -> config.getMetadata().getName().matches(prefix + "-[a-z0-9]{10}"))
                .findFirst()
                .orElseThrow(() -> new AssertionError("no generated ConfigMap " + prefix + "-<hash> in the render"));
    }

    private static byte[] bytes(Path file) {
        try {
            return Files.readAllBytes(file);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
