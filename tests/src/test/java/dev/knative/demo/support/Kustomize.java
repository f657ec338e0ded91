package dev.knative.demo.support;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MappingIterator;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * Renders kustomizations the way users apply them, with {@code kubectl kustomize} (kubectl's
 * built-in Kustomize), and works on copies of the repository for renders of changed inputs.
 */
public final class Kustomize {

    /** The repository under test (system property repo.root, set by the pom). */
    public static final Path REPO_ROOT = ScriptProcess.REPO;

    /** Optional features under k8s/components/, each listed commented out in the root kustomization. */
    public static final Path COMPONENTS = REPO_ROOT.resolve("k8s/components");

    public static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
    private static final long TIMEOUT_SECONDS = 120;
    /** Not part of what the kustomization renders, and large (history, build output). */
    private static final Set<String> NOT_COPIED = Set.of(".git", "tests", "target", "node_modules");

    private static Manifests repository;

    private Kustomize() {}

    /** The repository's root kustomization as rendered (once per test run; treat as read-only). */
    public static synchronized Manifests repository() {
        if (repository == null) repository = render(REPO_ROOT);
        return repository;
    }

    /** Runs {@code kubectl kustomize dir}; fails the test with kubectl's message if it fails. */
    public static Manifests render(Path dir) {
        try {
            Path stderr = Files.createTempFile("kustomize", ".stderr");
            try {
                Process process = new ProcessBuilder("kubectl", "kustomize", dir.toString())
                        .redirectError(stderr.toFile())
                        .start();
                process.getOutputStream().close();
                byte[] stdout = process.getInputStream().readAllBytes();
                if (!process.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
                    process.destroyForcibly();
                    fail("kubectl kustomize %s did not finish within %d s", dir, TIMEOUT_SECONDS);
                }
                if (process.exitValue() != 0) {
                    fail("kubectl kustomize %s failed (exit %d):%n%s", dir, process.exitValue(),
                            Files.readString(stderr, StandardCharsets.UTF_8));
                }
                return new Manifests(parse(stdout));
            } finally {
                Files.deleteIfExists(stderr);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot run kubectl (is it on the PATH?)", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    private static List<ObjectNode> parse(byte[] yaml) throws IOException {
        List<ObjectNode> objects = new ArrayList<>();
        try (MappingIterator<JsonNode> documents = YAML.readerFor(JsonNode.class).readValues(yaml)) {
            while (documents.hasNext()) {
                JsonNode document = documents.next();
                if (document == null || document.isNull() || document.isMissingNode()) continue;
                assertThat(document.isObject()).as("every rendered document is an object: %s", document).isTrue();
                objects.add((ObjectNode) document);
            }
        }
        return List.copyOf(objects);
    }

    /** Copies what the root kustomization renders from (everything but history, tests and build output) into target. */
    public static Path copyOfRepository(Path target) {
        return copyOfRepository(target, REPO_ROOT);
    }

    /** The same, from another checkout (a copy made earlier) at root. */
    public static Path copyOfRepository(Path target, Path root) {
        try {
            Files.walkFileTree(root, new SimpleFileVisitor<>() {
                @Override
                public FileVisitResult preVisitDirectory(Path dir, BasicFileAttributes attributes) throws IOException {
                    if (!dir.equals(root) && NOT_COPIED.contains(dir.getFileName().toString())) return FileVisitResult.SKIP_SUBTREE;
                    Files.createDirectories(target.resolve(root.relativize(dir).toString()));
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult visitFile(Path file, BasicFileAttributes attributes) throws IOException {
                    Files.copy(file, target.resolve(root.relativize(file).toString()), StandardCopyOption.REPLACE_EXISTING);
                    return FileVisitResult.CONTINUE;
                }
            });
            return target;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Names of the component directories under k8s/components/. */
    public static List<String> componentNames() {
        try (Stream<Path> dirs = Files.list(COMPONENTS)) {
            return dirs.filter(Files::isDirectory).map(dir -> dir.getFileName().toString()).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Enables components in a copy's root kustomization the way a user would: by uncommenting
     * the {@code components:} key and each component's line, which keeps their listed order.
     * Fails if a line is not there.
     */
    public static void enableComponent(Path copy, String... components) {
        Path kustomization = copy.resolve("kustomization.yaml");
        String text = read(kustomization);
        String key = "# components:\n";
        assertThat(text).as("root kustomization.yaml has the components: key commented out").contains(key);
        text = text.replace(key, "components:\n");
        for (String component : components) {
            String entry = "#   - k8s/components/" + component + "\n";
            assertThat(text).as("root kustomization.yaml lists %s commented out", component).contains(entry);
            text = text.replace(entry, "  - k8s/components/" + component + "\n");
        }
        write(kustomization, text);
    }

    /** Renders a copy of the repository (made under temp) with components enabled. */
    public static Manifests renderWithComponent(Path temp, String... components) {
        Path copy = copyOfRepository(temp);
        enableComponent(copy, components);
        return render(copy);
    }

    public static String read(Path file) {
        try {
            return Files.readString(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static void write(Path file, String text) {
        try {
            Files.createDirectories(file.getParent());
            Files.writeString(file, text, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
