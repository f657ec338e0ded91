package dev.knative.demo.bootpath;

import static org.assertj.core.api.Assertions.assertThat;

import dev.knative.demo.support.ScriptProcess;
import java.io.IOException;
import java.nio.file.Files;
import java.util.Comparator;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The scripts' directives: everything pinned, no JDK download, and the test suite on the very same versions. */
class ScriptDependenciesTest {

    /** A JBang directive line: two slashes, the directive's upper-case name, a space. */
    private static final Pattern DIRECTIVE = Pattern.compile("//[A-Z_]+ ");
    /** The house order of the directives (STYLE.md, after jbang-catalog). */
    private static final List<String> DIRECTIVE_ORDER = List.of("DESCRIPTION", "JAVA", "DEPS", "FILES", "COMPILE_OPTIONS", "RUNTIME_OPTIONS");
    /** Only a script that bundles a file has //FILES (consumer.java: its live page). */
    private static final Set<String> OPTIONAL_DIRECTIVES = Set.of("FILES");

    static List<String> directives(String script, String name) throws IOException {
        return Files.readAllLines(ScriptProcess.REPO.resolve(script)).stream()
                .filter(l -> l.startsWith("//" + name + " ")).map(l -> l.substring(name.length() + 3).trim()).toList();
    }

    static String pomProperty(String property) throws IOException {
        Matcher m = Pattern.compile("<" + Pattern.quote(property) + ">([^<]+)<")
                .matcher(Files.readString(ScriptProcess.REPO.resolve("tests/pom.xml")));
        assertThat(m.find()).as("property " + property + " in tests/pom.xml").isTrue();
        return m.group(1);
    }

    @ParameterizedTest
    @ValueSource(strings = {"consumer.java", "producer.java"})
    void everyDependencyIsPinnedOrManagedByThePinnedVertxBom(String script) throws IOException {
        List<String> deps = directives(script, "DEPS");
        assertThat(deps).first().asString().matches("io\\.vertx:vertx-stack-depchain:\\d+\\.\\d+\\.\\d+@pom");
        for (String dep : deps) {
            String[] parts = dep.split(":");
            if (parts[0].equals("io.vertx")) continue;
            // a fourth part is a classifier: the platform of a native library
            assertThat(parts).as(dep).hasSizeBetween(3, 4);
            assertThat(parts[2]).as(dep).matches("\\d+(\\.\\d+)+(\\.Final)?").doesNotContain("SNAPSHOT", "LATEST", "RELEASE");
        }
        assertThat(deps.stream().filter(d -> d.startsWith("io.vertx:") && !d.contains("depchain")))
                .allSatisfy(d -> assertThat(d.split(":")).as(d + " takes its version from the BOM").hasSize(2));
    }

    /**
     * Netty's epoll transport is pinned by hand (a classifier takes no version from the BOM): it must be the Netty the
     * Vert.x BOM brings, for both node platforms users run (amd64, arm64), and locked, or scripts/jbang cannot boot.
     */
    @ParameterizedTest
    @ValueSource(strings = {"consumer.java", "producer.java"})
    void nativeTransportIsTheNettyOfTheVertxBomForAmd64AndArm64AndLocked(String script) throws IOException {
        String lock = Files.readString(ScriptProcess.REPO.resolve("scripts/deps.lock"));
        Matcher netty = Pattern.compile("io/netty/netty-transport/([^/]+)/netty-transport-\\1\\.jar").matcher(lock);
        assertThat(netty.find()).as("netty-transport in deps.lock").isTrue();
        List<String> platforms = List.of("linux-x86_64", "linux-aarch_64");

        assertThat(directives(script, "DEPS").stream().filter(d -> d.startsWith("io.netty:netty-transport-native-epoll:")))
                .containsExactlyInAnyOrderElementsOf(platforms.stream()
                        .map(platform -> "io.netty:netty-transport-native-epoll:" + netty.group(1) + ":" + platform).toList());
        assertThat(lock).contains(platforms.stream().map(platform -> "io/netty/netty-transport-native-epoll/" + netty.group(1)
                + "/netty-transport-native-epoll-" + netty.group(1) + "-" + platform + ".jar").toArray(String[]::new));
    }

    @ParameterizedTest
    @ValueSource(strings = {"consumer.java", "producer.java"})
    void javaVersionIsAMinimumSoTheImagesNewerJdkIsUsedAndNeverDownloaded(String script) throws IOException {
        assertThat(directives(script, "JAVA")).singleElement().asString().matches("\\d+\\+");
    }

    @ParameterizedTest
    @ValueSource(strings = {"consumer.java", "producer.java"})
    void testSuiteUsesTheVersionsTheScriptsPin(String script) throws IOException {
        List<String> deps = directives(script, "DEPS");
        assertThat(deps).contains("io.vertx:vertx-stack-depchain:" + pomProperty("vertx.version") + "@pom")
                .contains("io.cloudevents:cloudevents-http-vertx:" + pomProperty("cloudevents.version"))
                .contains("io.micrometer:micrometer-registry-prometheus:" + pomProperty("micrometer.version"));
    }

    @ParameterizedTest
    @ValueSource(strings = {"consumer.java", "producer.java"})
    void scriptFileStartsWithTheJbangShebangThenEveryDirectiveInTheHouseOrder(String script) throws IOException {
        List<String> lines = Files.readAllLines(ScriptProcess.REPO.resolve(script));
        List<String> header = lines.stream().skip(1).takeWhile(l -> DIRECTIVE.matcher(l).lookingAt()).toList();
        List<String> names = header.stream().map(l -> l.substring(2, l.indexOf(' '))).toList();

        assertThat(lines.get(0)).startsWith("///usr/bin/env jbang");
        assertThat(Set.copyOf(names)).as("directives right after the shebang").isSubsetOf(DIRECTIVE_ORDER)
                .containsAll(DIRECTIVE_ORDER.stream().filter(name -> !OPTIONAL_DIRECTIVES.contains(name)).toList());
        assertThat(names).as("in the order %s", DIRECTIVE_ORDER).isSortedAccordingTo(Comparator.comparingInt(DIRECTIVE_ORDER::indexOf));
        assertThat(lines.stream().filter(l -> DIRECTIVE.matcher(l).lookingAt())).as("directives anywhere in the file")
                .containsExactlyElementsOf(header);
    }
}
