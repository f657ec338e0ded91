package dev.knative.demo.bootpath;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The boot path: {@code sh scripts/jbang script.java} fetches JBang and the locked dependencies, verifies them,
 * lets JBang build offline and becomes the script's JVM. Each test boots from empty directories, laid out like
 * the pod: the boot files as a ConfigMap volume (symlinks into {@code ..data/}), state in temporary directories.
 * The files come from a mirror on loopback that holds what this machine's local Maven repository already has,
 * so a run downloads only what is missing there, from MAVEN_REPO_URL (else Maven Central).
 */
@Timeout(value = 4, unit = TimeUnit.MINUTES)
class BootPathTest {

    static final Path REPO_ROOT = Path.of(System.getProperty("repo.root")).toAbsolutePath().normalize();
    static final List<String> BOOT_FILES = List.of("jbang", "FetchLocked.java", "jbang.lock", "deps.lock");
    static final String CENTRAL = "https://repo1.maven.org/maven2";
    /** Where the mirror fills a miss that no local repository can: this run's MAVEN_REPO_URL, else Maven Central. */
    static final String UPSTREAM = Optional.ofNullable(System.getenv("MAVEN_REPO_URL")).filter(url -> !url.isBlank())
            .map(url -> url.replaceAll("/+$", "")).orElse(CENTRAL);
    /** Local Maven repositories (JBANG_REPO, ~/.m2/repository) the mirror copies a file from instead of downloading it. */
    static final List<Path> LOCAL_REPOSITORIES = Stream.of(System.getenv("JBANG_REPO"), System.getProperty("user.home") + "/.m2/repository")
            .filter(dir -> dir != null && !dir.isBlank()).map(Path::of).distinct().toList();

    /** What the mirror has stored, shared by the tests so that each file is copied or downloaded once per run. */
    @TempDir
    static Path mirrorStore;

    @TempDir
    Path work;

    Path boot;
    Path repository;
    final List<Process> started = new ArrayList<>();

    @BeforeEach
    void layOutBootFiles() throws IOException {
        boot = bootVolume(work.resolve("boot"), Map.of());
        repository = work.resolve("state/m2");
    }

    @AfterEach
    void stopLeftoverProcesses() {
        started.forEach(Process::destroyForcibly);
    }

    @Test
    void coldStartFetchesTheLockedFilesAndBecomesTheScriptsOnlyJvm() throws Exception {
        Path script = script("Tiny", scriptDependencies());
        // No HOME and no JBANG_* variables: an arbitrary container UID. Everything lands below TMPDIR.
        Map<String, String> env = baseEnvironment();
        env.put("TMPDIR", work.resolve("tmp").toString());
        Files.createDirectories(work.resolve("tmp"));

        try (Mirror mirror = Mirror.start(mirrorStore)) {
            env.put("MAVEN_REPO_URL", mirror.url());
            Process program = start(env, script, "first", "second arg");
            BufferedReader out = stdout(program);

            assertThat(out.readLine()).as(this::bootLog).isEqualTo("pid " + program.pid());
            assertThat(out.readLine()).isEqualTo("args first|second arg");
            assertThat(jvmsUsing(work)).as("every JVM whose command line names this test's directories")
                    .containsExactly(program.pid());
            program.getOutputStream().close();
            assertThat(program.waitFor()).isZero();
            assertThat(stderr()).contains("[boot] fetching", "from " + mirror.url());
        }
        assertThat(filesIn(work.resolve("tmp/.m2/repository"))).containsOnlyKeys(lockedFiles().keySet());
    }

    @Test
    void withoutMavenRepoUrlTheFilesComeFromMavenCentral() throws Exception {
        // A proxy that names the host of every tunnel asked for and opens none: this proves where the fetcher
        // goes without downloading anything.
        try (RefusingProxy proxy = RefusingProxy.start()) {
            Map<String, String> env = isolatedEnvironment();
            env.put("JBANG_JAVA_OPTIONS", "-Dhttps.proxyHost=127.0.0.1 -Dhttps.proxyPort=" + proxy.port());

            int exit = runToEnd(env, script("Tiny", ""));

            assertThat(exit).as(this::bootLog).isEqualTo(1);
            assertThat(stderr()).contains("[boot] fetching", "from " + CENTRAL, "[boot] ERROR cannot reach the Maven repository");
            assertThat(proxy.requests()).isNotEmpty().containsOnly("CONNECT repo1.maven.org:443 HTTP/1.1");
        }
        assertThat(filesIn(repository)).isEmpty();
    }

    @Test
    void warmStartVerifiesNothingAgainAndFetchesNothing() throws Exception {
        try (Mirror mirror = Mirror.start(mirrorStore)) {
            Map<String, String> env = isolatedEnvironment(mirror.url());
            Path script = script("Tiny", "");
            assertThat(runToEnd(env, script)).as(this::bootLog).isZero();
            int requestsOfColdStart = mirror.requests().size();

            assertThat(runToEnd(env, script)).as(this::bootLog).isZero();

            assertThat(mirror.requests()).hasSize(requestsOfColdStart);
            assertThat(stderr()).doesNotContain("[boot]");
        }
    }

    @Test
    void bootFilesOfTwoLockVersionsOnOneRepositoryEachVerifyOnceAndNotAgainAfterTheOther() throws Exception {
        try (Mirror mirror = Mirror.start(mirrorStore)) {
            Map<String, String> env = isolatedEnvironment(mirror.url());
            Path script = script("Tiny", "");
            Path first = boot;
            // The boot ConfigMap of the next version, as a rollout brings it while pods of the last one still run.
            Map<String, String> files = new LinkedHashMap<>();
            for (String name : BOOT_FILES) files.put(name, Files.readString(REPO_ROOT.resolve("scripts").resolve(name)));
            files.put("deps.lock", files.get("deps.lock") + "# the next version\n");
            Path next = configMapVolume(work.resolve("next-boot"), files);

            assertThat(runToEnd(env, script)).as(this::bootLog).isZero();
            boot = next;
            assertThat(runToEnd(env, script)).as(this::bootLog).isZero();

            boot = first;
            assertThat(runToEnd(withoutJBang(env), script)).as("no fetcher JVM for the first version again: %s", bootLog()).isZero();
        }
    }

    @Test
    void warmStartReusesTheRecordedCommandLineUntilTheScriptChanges() throws Exception {
        try (Mirror mirror = Mirror.start(mirrorStore)) {
            Map<String, String> env = isolatedEnvironment(mirror.url());
            Path script = script("Tiny", "");
            assertThat(runToEnd(env, script)).as(this::bootLog).isZero();

            Map<String, String> noJBang = withoutJBang(env);
            assertThat(firstLines(noJBang, script, 2)).as(this::bootLog).endsWith("args ");

            Files.writeString(script, Files.readString(script).replace("\"args \"", "\"arguments \""));
            assertThat(runToEnd(noJBang, script)).as("an edited script is built again, by JBang").isNotZero();
            assertThat(stderr()).contains("NoSuchOptionOfThisTest");
            assertThat(firstLines(env, script, 2)).as(this::bootLog).endsWith("arguments ");
        }
    }

    @Test
    void anEditedFileTheScriptIncludesIsBuiltAgainLikeAnEditedScript() throws Exception {
        try (Mirror mirror = Mirror.start(mirrorStore)) {
            Map<String, String> env = isolatedEnvironment(mirror.url());
            Path script = script("Includes", "//SOURCES Word.java\n");
            Files.writeString(script, Files.readString(script).replace("\"args \"", "Word.TEXT + \" \""));
            Path included = script.resolveSibling("Word.java");
            Files.writeString(included, "class Word { static final String TEXT = \"first\"; }\n");
            assertThat(firstLines(env, script, 2)).as(this::bootLog).endsWith("first ");

            Map<String, String> noJBang = withoutJBang(env);
            Files.writeString(included, Files.readString(included).replace("first", "second"));
            assertThat(runToEnd(noJBang, script)).as("an edited included file is built again, by JBang").isNotZero();
            assertThat(stderr()).contains("NoSuchOptionOfThisTest");
            assertThat(firstLines(env, script, 2)).as(this::bootLog).endsWith("second ");
        }
    }

    @Test
    void anEditedFileTheScriptBundlesWithFilesIsInTheJarOfTheNextStart() throws Exception {
        try (Mirror mirror = Mirror.start(mirrorStore)) {
            Map<String, String> env = isolatedEnvironment(mirror.url());
            Path script = script("Bundles", "//FILES word.txt=text/word.txt\n");
            Files.writeString(script, Files.readString(script).replace("\"args \"",
                    "new String(Bundles.class.getResourceAsStream(\"/word.txt\").readAllBytes()).strip() + \" \""));
            Path bundled = Files.createDirectories(script.resolveSibling("text")).resolve("word.txt");
            Files.writeString(bundled, "first\n");
            assertThat(firstLines(env, script, 2)).as(this::bootLog).endsWith("first ");

            Files.writeString(bundled, "second\n");
            assertThat(runToEnd(withoutJBang(env), script)).as("an edited bundled file is built again, by JBang").isNotZero();
            assertThat(stderr()).contains("NoSuchOptionOfThisTest");
            assertThat(firstLines(env, script, 2)).as(this::bootLog).endsWith("second ");
        }
    }

    @Test
    void fromAConfigMapVolumeTheConsumerServesTheLivePageBesideItAndAfterARestartTheEditedOne() throws Exception {
        // The consumer-script ConfigMap as the kubelet mounts it: consumer.java and live-page.html side by side,
        // where //FILES names k8s/live-page.html.
        Path app = configMapVolume(work.resolve("app"), Map.of(
                "consumer.java", Files.readString(REPO_ROOT.resolve("consumer.java")),
                "live-page.html", Files.readString(REPO_ROOT.resolve("k8s/live-page.html"))));
        Path script = app.resolve("consumer.java");
        Path page = app.resolve("live-page.html");
        try (Mirror mirror = Mirror.start(mirrorStore)) {
            Map<String, String> env = isolatedEnvironment(mirror.url());
            env.put("PORT", "0");
            // As in the Deployment: the schemas come from a volume of their own.
            env.put("EVENT_SCHEMAS", REPO_ROOT.resolve("k8s/schemas").toString());
            assertThat(livePage(env, script)).isEqualTo(Files.readString(page));
            assertThat(livePage(withoutJBang(env), script)).as("a restart reuses the recorded command line")
                    .isEqualTo(Files.readString(page));

            // What a restarted container sees when the file it mounts has changed (it follows the ..data link).
            Files.writeString(page, Files.readString(page).replace("<title>Event flow</title>", "<title>Edited flow</title>"));
            Process rebuilt = start(withoutJBang(env), script);
            assertThat(stdout(rebuilt).readLine()).as("an edited page is built again, by JBang, which refuses the option")
                    .isNull();
            assertThat(rebuilt.waitFor()).isNotZero();
            assertThat(stderr()).contains("NoSuchOptionOfThisTest");
            assertThat(livePage(env, script)).as(this::bootLog).contains("<title>Edited flow</title>")
                    .isEqualTo(Files.readString(page));
        }
    }

    @Test
    void onJdk25TheProgramStartsFromAClassDataArchiveAndOutlivesOneCutShort() throws Exception {
        try (Mirror mirror = Mirror.start(mirrorStore)) {
            Map<String, String> env = jdk25Environment(mirror);
            Path script = script("Tiny", "");
            assertThat(firstLines(env, script, 2)).as(this::bootLog).endsWith("args ");
            Path archives = work.resolve("state/cache/cds");
            List<Path> written;
            try (Stream<Path> files = Files.list(archives)) {
                written = files.toList();
            }
            assertThat(written).as("archives written when the first start exited, under the JVM's own name").singleElement()
                    .satisfies(own -> assertThat(own.getFileName().toString()).matches("[0-9a-f]{64}\\.jsa\\..{6}"));
            // The next start renames it into place (<launch key>.jsa) and maps it through a name of its own beside it.
            Path archive = Path.of(written.get(0).toString().replaceAll("\\.jsa\\..{6}$", ".jsa"));
            long size = Files.size(written.get(0));

            assertThat(mapsOfRunningProgram(env, script)).as("the warm start maps the archive").contains(archive.toString());
            assertThat(Files.size(archive)).isEqualTo(size);

            // What a kill in the middle of writing leaves behind: a JVM that mapped it would crash (SIGBUS).
            try (var file = new java.io.RandomAccessFile(archive.toFile(), "rw")) {
                file.setLength(size / 2);
            }
            assertThat(mapsOfRunningProgram(env, script)).as("a cut archive is left alone").doesNotContain(archive.toString());
            assertThat(mapsOfRunningProgram(env, script)).as("and replaced by the one written at exit").contains(archive.toString());
            assertThat(Files.size(archive)).isGreaterThan(size / 2);
            assertThat(stderr()).doesNotContain("Skipping");
        }
    }

    @Test
    void onJdk25AJarBuiltAgainUnderTheSameLaunchKeyGetsAFreshArchiveInsteadOfAStaleOneForever() throws Exception {
        try (Mirror mirror = Mirror.start(mirrorStore)) {
            Map<String, String> env = jdk25Environment(mirror);
            Path script = script("Tiny", "");
            assertThat(firstLines(env, script, 2)).as(this::bootLog).endsWith("args ");
            String mapped = mapsOfRunningProgram(env, script);
            assertThat(mapped).as("the warm start maps the archive").containsPattern("/cds/[0-9a-f]{64}\\.jsa");

            // JBang's build cache lost the jar (another JBang on the same cache cleaned it): the launch record names
            // a jar that is gone, so the next start has JBang build the same script again, a jar of new timestamps
            // the archive no longer matches; JDK 25 would refuse that archive on every start and never replace it.
            try (Stream<Path> jars = Files.walk(work.resolve("state/cache/jars"))) {
                for (Path jar : jars.filter(file -> file.toString().endsWith(".jar")).toList()) Files.delete(jar);
            }
            assertThat(mapsOfRunningProgram(env, script)).as(this::bootLog).doesNotContainPattern("/cds/[0-9a-f]{64}\\.jsa");
            assertThat(stderr()).contains("[jbang] Building jar");

            assertThat(mapsOfRunningProgram(env, script)).as("the start after maps the archive the rebuilt jar's JVM wrote")
                    .containsPattern("/cds/[0-9a-f]{64}\\.jsa");
            assertThat(stderr()).doesNotContain("mismatch", "[jbang]");
        }
    }

    @Test
    void twoStartsAtOnceOnOneEmptyCacheFetchAndBuildOnceBothServeAndLeaveOneUsableArchive() throws Exception {
        try (Mirror mirror = Mirror.start(mirrorStore)) {
            // Two pods on one shared cache volume: the same state directories, each start with a stderr of its own.
            Map<String, String> env = jdk25Environment(mirror);
            // A bundled file too: two builds of one script at once once left a jar without it.
            Path script = script("Bundles", "//FILES word.txt=text/word.txt\n");
            Files.writeString(script, Files.readString(script).replace("\"args \"",
                    "new String(Bundles.class.getResourceAsStream(\"/word.txt\").readAllBytes()).strip() + \" \""));
            Files.writeString(Files.createDirectories(script.resolveSibling("text")).resolve("word.txt"), "bundled\n");
            List<Path> logs = List.of(work.resolve("stderr-a.txt"), work.resolve("stderr-b.txt"));
            List<Process> pods = new ArrayList<>();
            for (Path log : logs) pods.add(start(log, env, script));

            for (Process pod : pods) {
                BufferedReader out = stdout(pod);
                assertThat(out.readLine()).as(() -> logsOf(logs)).isEqualTo("pid " + pod.pid());
                assertThat(out.readLine()).as(() -> logsOf(logs)).isEqualTo("bundled ");
            }
            // Both stop at once and both write the class-data archive at exit.
            for (Process pod : pods) pod.getOutputStream().close();
            for (Process pod : pods) assertThat(pod.waitFor()).as(() -> logsOf(logs)).isZero();

            String both = logsOf(logs);
            assertThat(Pattern.compile("\\[boot] fetching").matcher(both).results().count()).as(both).isEqualTo(1);
            assertThat(Pattern.compile("\\[jbang] Building jar").matcher(both).results().count()).as(both).isEqualTo(1);
            assertThat(mirror.requests()).as("each file fetched once").doesNotHaveDuplicates();
            try (Stream<Path> archives = Files.list(work.resolve("state/cache/cds"))) {
                assertThat(archives.map(file -> file.getFileName().toString()))
                        .as("each JVM wrote its own archive").hasSize(2).allMatch(name -> name.matches("[0-9a-f]{64}\\.jsa\\..{6}"));
            }
            assertThat(mapsOfRunningProgram(env, script, "bundled ").replace('\n', ' '))
                    .as("the next start maps one of them").matches(".*/cds/[0-9a-f]{64}\\.jsa.*");
            assertThat(stderr()).doesNotContain("[boot]", "[jbang]", "Skipping");
        }
    }

    String logsOf(List<Path> logs) {
        StringBuilder text = new StringBuilder();
        for (Path log : logs) {
            try {
                text.append("stderr of one start:\n").append(Files.readString(log)).append('\n');
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return text.toString();
    }

    @Test
    void theFetcherJBangAndTheJavacJBangStartsAllRunWithJbangJavaOptions() throws Exception {
        try (Mirror mirror = Mirror.start(mirrorStore)) {
            Map<String, String> env = isolatedEnvironment(mirror.url());
            // Each JVM that takes the options logs the classes it loads to a file of its own (%p: its PID).
            Path logs = Files.createDirectories(work.resolve("jvm-logs"));
            env.put("JBANG_JAVA_OPTIONS", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xlog:class+load:file=" + logs + "/jvm-%p.log");

            assertThat(runToEnd(env, script("Tiny", ""))).as(this::bootLog).isZero();

            List<String> jvms;
            try (Stream<Path> files = Files.list(logs)) {
                jvms = files.map(file -> {
                    try {
                        return Files.readString(file);
                    } catch (IOException e) {
                        throw new UncheckedIOException(e);
                    }
                }).toList();
            }
            assertThat(jvms).as("the fetcher, JBang and the javac JBang starts").anySatisfy(log -> assertThat(log).contains(" FetchLocked "))
                    .anySatisfy(log -> assertThat(log).contains(" dev.jbang.Main "))
                    .anySatisfy(log -> assertThat(log).contains(" com.sun.tools.javac.Main "));
        }
    }

    @Test
    void onJdk25TheProgramHandsFreedNativeMemoryBackEverySecond() throws Exception {
        try (Mirror mirror = Mirror.start(mirrorStore)) {
            Map<String, String> env = jdk25Environment(mirror);
            Process process = start(env, script("Tiny", ""));
            BufferedReader out = stdout(process);
            assertThat(out.readLine()).as(this::bootLog).isEqualTo("pid " + process.pid());
            String options = Files.readString(Path.of("/proc", String.valueOf(process.pid()), "cmdline")).replace('\0', ' ');
            process.getOutputStream().close();
            assertThat(process.waitFor()).as(this::bootLog).isZero();
            assertThat(options).as("the program's JVM, which accepted it").contains(" -XX:TrimNativeHeapInterval=1000 ");
        }
    }

    @Test
    void tamperedLockEntryFailsWithChecksumErrorAndLeavesNoUnverifiedFile() throws Exception {
        Map<String, String> locked = lockedFiles();
        String tampered = locked.keySet().stream().filter(path -> path.endsWith(".pom")).findFirst().orElseThrow();
        boot = bootVolume(work.resolve("tampered-boot"), Map.of(tampered, "0".repeat(64)));

        try (Mirror mirror = Mirror.start(mirrorStore)) {
            int exit = runToEnd(isolatedEnvironment(mirror.url()), script("Tiny", ""));

            assertThat(exit).isEqualTo(1);
            assertThat(stderr()).contains("[boot] ERROR checksum mismatch for " + tampered + " from " + mirror.url());
            assertThat(stderr()).doesNotContain("[jbang]");
        }
        Map<String, String> present = filesIn(repository);
        assertThat(present).doesNotContainKey(tampered);
        present.forEach((path, sha256) -> assertThat(locked).containsEntry(path, sha256));
    }

    @Test
    void mavenRepoUrlIsTheOnlyPlaceFilesComeFrom() throws Exception {
        try (Mirror mirror = Mirror.start(mirrorStore)) {
            int exit = runToEnd(isolatedEnvironment(mirror.url()), script("Tiny", ""));

            assertThat(exit).as(this::bootLog).isZero();
            assertThat(stderr()).contains("from " + mirror.url());
            assertThat(Set.copyOf(mirror.requests())).isEqualTo(lockedFiles().keySet());
            assertThat(filesIn(repository)).containsOnlyKeys(lockedFiles().keySet());
        }
    }

    @Test
    void unreachableRepositoryFailsWithClearError() throws Exception {
        String closed;
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            closed = "http://127.0.0.1:" + socket.getLocalPort();
        }

        int exit = runToEnd(isolatedEnvironment(closed + "/maven2"), script("Tiny", ""));

        assertThat(exit).isEqualTo(1);
        assertThat(stderr()).contains("[boot] ERROR cannot reach the Maven repository at " + closed,
                "set MAVEN_REPO_URL to a reachable mirror");
        assertThat(stderr()).doesNotContain("[jbang]");
    }

    @Test
    void sigtermReachesTheProgram() throws Exception {
        try (Mirror mirror = Mirror.start(mirrorStore)) {
            Process program = start(isolatedEnvironment(mirror.url()), script("Tiny", ""));
            BufferedReader out = stdout(program);
            assertThat(out.readLine()).as(this::bootLog).isEqualTo("pid " + program.pid());

            // SIGTERM, as the kubelet sends it; Process.destroy() would also close the pipe the hook prints to.
            assertThat(program.toHandle().destroy()).isTrue();

            assertThat(program.waitFor()).isEqualTo(128 + 15);
            assertThat(out.lines()).contains("shutdown hook ran");
        }
    }

    @Test
    void dependencyMissingFromTheLockTellsToRunLockDeps() throws Exception {
        try (Mirror mirror = Mirror.start(mirrorStore)) {
            Path script = script("Tiny", "//DEPS org.apache.commons:commons-collections4:4.4\n");

            int exit = runToEnd(isolatedEnvironment(mirror.url()), script);

            assertThat(exit).isNotZero();
            assertThat(stderr()).contains("commons-collections4", "run scripts/lock-deps.sh");
        }
    }

    /** A program that reports its PID and arguments, then waits for stdin to close or for a signal. */
    Path script(String name, String directives) throws IOException {
        Path script = work.resolve("app/" + name + ".java");
        Files.createDirectories(script.getParent());
        Files.writeString(script, "//JAVA 17+\n" + directives + """
                class %s {
                    public static void main(String[] args) throws Exception {
                        Runtime.getRuntime().addShutdownHook(new Thread(() -> System.out.println("shutdown hook ran")));
                        System.out.println("pid " + ProcessHandle.current().pid());
                        System.out.println("args " + String.join("|", args));
                        System.in.read();
                    }
                }
                """.formatted(name));
        return script;
    }

    /** The //DEPS lines of both real scripts: booting them must need nothing beyond the locks. */
    static String scriptDependencies() throws IOException {
        Set<String> lines = new LinkedHashSet<>();
        for (String script : List.of("consumer.java", "producer.java")) {
            Files.readAllLines(REPO_ROOT.resolve(script)).stream().filter(line -> line.startsWith("//DEPS ")).forEach(lines::add);
        }
        assertThat(lines).as("//DEPS of consumer.java and producer.java").isNotEmpty();
        return lines.stream().map(line -> line + "\n").collect(Collectors.joining());
    }

    /** The boot files as a ConfigMap volume (see below). Lock lines can be given another SHA-256. */
    static Path bootVolume(Path volume, Map<String, String> sha256Overrides) throws IOException {
        Map<String, String> files = new LinkedHashMap<>();
        for (String name : BOOT_FILES) {
            String text = Files.readString(REPO_ROOT.resolve("scripts").resolve(name));
            for (var override : sha256Overrides.entrySet()) {
                text = text.replaceAll("(?m)^[0-9a-f]{64}(  \\Q" + override.getKey() + "\\E)$", override.getValue() + "$1");
            }
            files.put(name, text);
        }
        return configMapVolume(volume, files);
    }

    /**
     * Lays files (ConfigMap key to text) out as the kubelet mounts a ConfigMap: real files in a timestamped
     * directory, {@code ..data} pointing at it, and each key a symlink through {@code ..data}.
     */
    static Path configMapVolume(Path volume, Map<String, String> files) throws IOException {
        Path data = Files.createDirectories(volume.resolve("..2026_11_26_00_00_00.000000001"));
        for (var file : files.entrySet()) {
            Files.writeString(data.resolve(file.getKey()), file.getValue());
        }
        Files.createSymbolicLink(volume.resolve("..data"), data.getFileName());
        for (String name : files.keySet()) {
            Files.createSymbolicLink(volume.resolve(name), Path.of("..data", name));
        }
        return volume;
    }

    /** Every entry of both locks: repository path to SHA-256. */
    static Map<String, String> lockedFiles() throws IOException {
        Map<String, String> entries = new LinkedHashMap<>();
        for (String lock : List.of("jbang.lock", "deps.lock")) {
            for (String line : Files.readAllLines(REPO_ROOT.resolve("scripts").resolve(lock))) {
                if (!line.isBlank() && !line.startsWith("#")) {
                    String[] fields = line.split(" {2}", 2);
                    entries.put(fields[1], fields[0]);
                }
            }
        }
        return entries;
    }

    /** Regular files of a local repository, except the launcher's stamp and lock file: path to SHA-256. */
    static Map<String, String> filesIn(Path repository) throws IOException {
        Map<String, String> files = new HashMap<>();
        try (Stream<Path> walk = Files.walk(repository)) {
            for (Path file : walk.filter(Files::isRegularFile).toList()) {
                String path = repository.relativize(file).toString();
                if (!path.equals(".verified-locks") && !path.equals(".fetch.lock")) {
                    files.put(path, sha256(file));
                }
            }
        }
        return files;
    }

    static String sha256(Path file) throws IOException {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(file)));
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** PIDs of the live JVMs whose command line mentions the directory: JBang's and the fetcher's would. */
    static List<Long> jvmsUsing(Path directory) {
        return ProcessHandle.allProcesses()
                .filter(process -> process.info().command().map(command -> command.endsWith("/java")).orElse(false))
                .filter(process -> process.info().commandLine().map(line -> line.contains(directory.toString())).orElse(false))
                .map(ProcessHandle::pid)
                .toList();
    }

    Map<String, String> baseEnvironment() {
        Map<String, String> env = new HashMap<>();
        env.put("PATH", System.getenv("PATH"));
        env.put("JAVA_HOME", System.getProperty("java.home"));
        return env;
    }

    /** State in this test's directories, files from the launcher's default repository. */
    Map<String, String> isolatedEnvironment() {
        Map<String, String> env = baseEnvironment();
        env.put("HOME", work.resolve("home").toString());
        env.put("JBANG_DIR", work.resolve("state/jbang").toString());
        env.put("JBANG_CACHE_DIR", work.resolve("state/cache").toString());
        env.put("JBANG_REPO", repository.toString());
        return env;
    }

    /** State in this test's directories, files from the given repository. */
    Map<String, String> isolatedEnvironment(String mavenRepoUrl) {
        Map<String, String> env = isolatedEnvironment();
        env.put("MAVEN_REPO_URL", mavenRepoUrl);
        return env;
    }

    /**
     * The environment with an option no JVM accepts for the fetcher's and JBang's JVMs: a start succeeds only when
     * neither runs, that is when it reuses a recorded command line.
     */
    static Map<String, String> withoutJBang(Map<String, String> env) {
        Map<String, String> noJBang = new HashMap<>(env);
        noJBang.put("JBANG_JAVA_OPTIONS", "-XX:+NoSuchOptionOfThisTest");
        return noJBang;
    }

    /** The consumer's log line that says where it listens. */
    static final Pattern LISTENING = Pattern.compile("\"msg\":\"listening\".*\"port\":(\\d+)");

    /** Boots consumer.java (PORT=0), returns what GET / answers once it listens, then stops it with SIGTERM. */
    String livePage(Map<String, String> env, Path consumer) throws Exception {
        Process process = start(env, consumer);
        BufferedReader out = stdout(process);
        String port = null;
        for (String line; port == null && (line = out.readLine()) != null; ) {
            Matcher listening = LISTENING.matcher(line);
            if (listening.find()) port = listening.group(1);
        }
        assertThat(port).as(this::bootLog).isNotNull();
        HttpResponse<String> page = Mirror.CLIENT.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/")).build(),
                HttpResponse.BodyHandlers.ofString(UTF_8));
        assertThat(process.toHandle().destroy()).isTrue();
        out.transferTo(Writer.nullWriter());
        assertThat(process.waitFor()).as(this::bootLog).isZero();
        assertThat(page.statusCode()).isEqualTo(200);
        return page.body();
    }

    Process start(Map<String, String> env, Path script, String... args) throws IOException {
        return start(work.resolve("stderr.txt"), env, script, args);
    }

    /** Boots the script with its stderr in the given file. */
    Process start(Path stderr, Map<String, String> env, Path script, String... args) throws IOException {
        List<String> command = new ArrayList<>(List.of("sh", boot.resolve("jbang").toString(), script.toString()));
        command.addAll(List.of(args));
        ProcessBuilder builder = new ProcessBuilder(command).directory(work.toFile())
                .redirectError(stderr.toFile());
        builder.environment().clear();
        builder.environment().putAll(env);
        Process process = builder.start();
        started.add(process);
        return process;
    }

    /** Boots the script with stdin closed, so it ends as soon as it has started; returns the exit code. */
    int runToEnd(Map<String, String> env, Path script) throws Exception {
        Process process = start(env, script);
        process.getOutputStream().close();
        process.getInputStream().transferTo(OutputStream.nullOutputStream());
        return process.waitFor();
    }

    /** Boots the script and returns its JVM's memory map, read while it runs; the program's output must be its own. */
    String mapsOfRunningProgram(Map<String, String> env, Path script) throws Exception {
        return mapsOfRunningProgram(env, script, "args ");
    }

    /** The same, for a program whose second line is the given one. */
    String mapsOfRunningProgram(Map<String, String> env, Path script, String secondLine) throws Exception {
        Process process = start(env, script);
        BufferedReader out = stdout(process);
        assertThat(out.readLine()).as(this::bootLog).isEqualTo("pid " + process.pid());
        String maps = Files.readString(Path.of("/proc", String.valueOf(process.pid()), "maps"));
        process.getOutputStream().close();
        assertThat(out.readLine()).isEqualTo(secondLine);
        assertThat(out.readLine()).isEqualTo("shutdown hook ran");
        assertThat(out.readLine()).as("nothing but the program's lines on stdout").isNull();
        assertThat(process.waitFor()).as(this::bootLog).isZero();
        return maps;
    }

    /** The isolated environment of a start on JDK 25, the image's, fetching from the mirror. */
    Map<String, String> jdk25Environment(Mirror mirror) throws IOException {
        Map<String, String> env = isolatedEnvironment(mirror.url());
        env.put("JAVA_HOME", jdk25().toString());
        return env;
    }

    /** A JDK 25 or later on this machine (CI's has Temurin 25 beside the default JDK 17). */
    static Path jdk25() throws IOException {
        List<Path> candidates = new ArrayList<>();
        candidates.add(Path.of(System.getProperty("java.home")));
        try (Stream<Path> installed = Files.list(Path.of("/usr/lib/jvm"))) {
            installed.sorted().forEach(candidates::add);
        }
        for (Path home : candidates) {
            Path release = home.resolve("release");
            if (!Files.isRegularFile(release) || !Files.isExecutable(home.resolve("bin/java"))) continue;
            java.util.regex.Matcher version = java.util.regex.Pattern.compile("(?m)^JAVA_VERSION=\"(\\d+)")
                    .matcher(Files.readString(release));
            if (version.find() && Integer.parseInt(version.group(1)) >= 25) return home;
        }
        throw new AssertionError("this test needs a JDK 25 or later in /usr/lib/jvm, the cluster image's JDK");
    }

    /** Boots the script, reads its first lines, then closes its stdin so that it ends; returns those lines. */
    List<String> firstLines(Map<String, String> env, Path script, int count) throws Exception {
        Process process = start(env, script);
        BufferedReader out = stdout(process);
        List<String> lines = new ArrayList<>();
        for (String line; lines.size() < count && (line = out.readLine()) != null; ) lines.add(line);
        process.getOutputStream().close();
        assertThat(process.waitFor()).as(this::bootLog).isZero();
        return lines;
    }

    static BufferedReader stdout(Process process) {
        return new BufferedReader(new InputStreamReader(process.getInputStream(), UTF_8));
    }

    String stderr() throws IOException {
        return Files.readString(work.resolve("stderr.txt"));
    }

    /** The launcher's stderr, to explain a failed assertion. */
    String bootLog() {
        try {
            return "stderr of scripts/jbang:\n" + stderr();
        } catch (IOException e) {
            return "no stderr of scripts/jbang: " + e;
        }
    }

    /**
     * A Maven mirror on loopback, as an air-gapped cluster would run one: serves files from a directory and records
     * every path asked for. It fills a miss from a local Maven repository that holds exactly the bytes the locks
     * pin, else from UPSTREAM.
     */
    record Mirror(HttpServer server, ExecutorService executor, ConcurrentLinkedQueue<String> requestLog,
                  Map<String, String> pinned) implements AutoCloseable {

        static final HttpClient CLIENT = HttpClient.newBuilder().followRedirects(HttpClient.Redirect.NORMAL).build();

        static Mirror start(Path store) throws IOException {
            HttpServer server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
            ExecutorService executor = Executors.newFixedThreadPool(8);
            Mirror mirror = new Mirror(server, executor, new ConcurrentLinkedQueue<>(), lockedFiles());
            server.createContext("/maven2/", exchange -> mirror.serve(exchange, store));
            server.setExecutor(executor);
            server.start();
            return mirror;
        }

        String url() {
            return "http://127.0.0.1:" + server.getAddress().getPort() + "/maven2";
        }

        List<String> requests() {
            return List.copyOf(requestLog);
        }

        void serve(HttpExchange exchange, Path store) throws IOException {
            try {
                String path = exchange.getRequestURI().getPath().substring("/maven2/".length());
                requestLog.add(path);
                Path file = store.resolve(path).normalize();
                if (!file.startsWith(store) || !(Files.exists(file) || copyFromLocalRepository(path, file) || download(path, file))) {
                    exchange.sendResponseHeaders(404, -1);
                    return;
                }
                exchange.sendResponseHeaders(200, Files.size(file));
                try (OutputStream body = exchange.getResponseBody()) {
                    Files.copy(file, body);
                }
            } finally {
                exchange.close();
            }
        }

        /** Only a locked file, and only the bytes its lock pins: the mirror serves what a real one would. */
        boolean copyFromLocalRepository(String path, Path file) throws IOException {
            String sha256 = pinned.get(path);
            if (sha256 == null) return false;
            for (Path local : LOCAL_REPOSITORIES) {
                Path candidate = local.resolve(path).normalize();
                if (candidate.startsWith(local) && Files.isRegularFile(candidate) && sha256(candidate).equals(sha256)) {
                    try (InputStream in = Files.newInputStream(candidate)) {
                        storeAtomically(in, file);
                    }
                    return true;
                }
            }
            return false;
        }

        static boolean download(String path, Path file) throws IOException {
            try {
                HttpResponse<InputStream> response = CLIENT.send(
                        HttpRequest.newBuilder(URI.create(UPSTREAM + "/" + path)).build(),
                        HttpResponse.BodyHandlers.ofInputStream());
                try (InputStream body = response.body()) {
                    if (response.statusCode() != 200) {
                        return false;
                    }
                    storeAtomically(body, file);
                    return true;
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new UncheckedIOException(new IOException("interrupted", e));
            }
        }

        /** Writes next to the file and renames: a concurrent request never sees half a file. */
        static void storeAtomically(InputStream content, Path file) throws IOException {
            Files.createDirectories(file.getParent());
            Path partial = Files.createTempFile(file.getParent(), file.getFileName().toString(), ".part");
            Files.copy(content, partial, StandardCopyOption.REPLACE_EXISTING);
            Files.move(partial, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        }

        @Override
        public void close() {
            server.stop(0);
            executor.shutdownNow();
        }
    }

    /**
     * An HTTP proxy on loopback that records the request line of every connection and answers 403: a client that
     * uses it (the JDK's, with https.proxyHost) names the host it wants and reaches nothing.
     */
    record RefusingProxy(ServerSocket socket, ConcurrentLinkedQueue<String> requestLog) implements AutoCloseable {

        static RefusingProxy start() throws IOException {
            RefusingProxy proxy = new RefusingProxy(new ServerSocket(0, 50, InetAddress.getLoopbackAddress()),
                    new ConcurrentLinkedQueue<>());
            Thread acceptor = new Thread(proxy::refuseAll, "refusing-proxy");
            acceptor.setDaemon(true);
            acceptor.start();
            return proxy;
        }

        int port() {
            return socket.getLocalPort();
        }

        List<String> requests() {
            return List.copyOf(requestLog);
        }

        private void refuseAll() {
            while (!socket.isClosed()) {
                try (Socket connection = socket.accept()) {
                    connection.setSoTimeout(10_000);
                    String requestLine = new BufferedReader(new InputStreamReader(connection.getInputStream(), UTF_8)).readLine();
                    if (requestLine != null) requestLog.add(requestLine);
                    connection.getOutputStream().write("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n".getBytes(UTF_8));
                } catch (IOException closedOrGone) {
                    // The test closed the proxy, or a client hung up: nothing to record.
                }
            }
        }

        @Override
        public void close() throws IOException {
            socket.close();
        }
    }
}
