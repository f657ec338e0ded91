// Downloads the files that lock files pin by SHA-256 into a local Maven repository, so that JBang can then run offline.
// Run by scripts/jbang with the JDK's source launcher; needs nothing but a JDK 17+.
//
// Usage: java FetchLocked.java <local-repository> <lock-file>...
// A lock line is "<sha256>  <path in a Maven repository>"; '#' starts a comment.
// MAVEN_REPO_URL names the repository to download from (default: Maven Central), e.g. a mirror in an air-gapped cluster.
//
// Example output (stderr):
// [boot] fetching 188 of 188 locked files from https://repo1.maven.org/maven2
// [boot] fetched 188 files (27.7 MB) in 1.2 s

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.channels.UnresolvedAddressException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.DigestOutputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.regex.Pattern;

public class FetchLocked {

    static final String DEFAULT_REPOSITORY = "https://repo1.maven.org/maven2";
    static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(10);
    // Per file; generous because the largest locked jar is a few MB and a cluster's egress may be slow.
    static final Duration REQUEST_TIMEOUT = Duration.ofSeconds(120);
    // Enough to hide the latency of ~200 small files without hammering a mirror.
    static final int PARALLEL_DOWNLOADS = 8;
    // Transient failures (a reset connection, a 5xx from a CDN edge) are common at pod start; a hard failure is not.
    static final int ATTEMPTS = 3;
    static final Pattern LOCK_LINE = Pattern.compile("([0-9a-f]{64}) {2}([A-Za-z0-9._+-]+(?:/[A-Za-z0-9._+-]+)*)");

    record Entry(String sha256, String path) {}

    /** A failure that ends the fetch; its message is the one line the user reads. */
    static final class FetchFailure extends Exception {
        private static final long serialVersionUID = 1L;

        FetchFailure(String message) {
            super(message, null, false, false);
        }
    }

    public static void main(String[] args) throws InterruptedException {
        if (args.length < 2) {
            System.err.println("usage: java FetchLocked.java <local-repository> <lock-file>...");
            System.exit(2);
        }
        Path repository = Path.of(args[0]);
        try {
            String baseUrl = repositoryUrl();
            List<Entry> entries = readLocks(List.of(args).subList(1, args.length));
            List<Entry> missing = new ArrayList<>();
            for (Entry entry : entries) {
                Path file = repository.resolve(entry.path());
                if (Files.exists(file)) {
                    verifyExisting(file, entry);
                } else {
                    missing.add(entry);
                }
            }
            if (!missing.isEmpty()) {
                fetchAll(missing, entries.size(), repository, baseUrl);
            }
        } catch (FetchFailure failure) {
            System.err.println("[boot] ERROR " + failure.getMessage());
            System.exit(1);
        } catch (IOException e) {
            System.err.println("[boot] ERROR cannot read the locks or the local repository " + repository + ": " + e);
            System.exit(1);
        }
    }

    static String repositoryUrl() throws FetchFailure {
        String url = System.getenv("MAVEN_REPO_URL");
        if (url == null || url.isBlank()) {
            return DEFAULT_REPOSITORY;
        }
        if (!url.startsWith("https://") && !url.startsWith("http://")) {
            throw new FetchFailure("MAVEN_REPO_URL must be the http(s) URL of a Maven repository, not '" + url + "'");
        }
        return url.replaceAll("/+$", "");
    }

    static List<Entry> readLocks(List<String> lockFiles) throws IOException, FetchFailure {
        Map<String, Entry> byPath = new LinkedHashMap<>();
        for (String lockFile : lockFiles) {
            List<String> lines = Files.readAllLines(Path.of(lockFile));
            for (int i = 0; i < lines.size(); i++) {
                String line = lines.get(i).strip();
                if (line.isEmpty() || line.startsWith("#")) {
                    continue;
                }
                var match = LOCK_LINE.matcher(line);
                if (!match.matches() || line.contains("..")) {
                    throw new FetchFailure(lockFile + ":" + (i + 1) + " is not '<sha256>  <repository path>': '" + line
                            + "'; regenerate the locks with scripts/lock-deps.sh");
                }
                Entry entry = new Entry(match.group(1), match.group(2));
                Entry earlier = byPath.putIfAbsent(entry.path(), entry);
                if (earlier != null && !earlier.sha256().equals(entry.sha256())) {
                    throw new FetchFailure("the locks pin " + entry.path() + " to two different SHA-256 sums;"
                            + " regenerate them with scripts/lock-deps.sh");
                }
            }
        }
        return new ArrayList<>(byPath.values());
    }

    /** A file already in the repository is trusted only if it is exactly what the lock pins. */
    static void verifyExisting(Path file, Entry entry) throws IOException, FetchFailure {
        MessageDigest sha256 = sha256();
        try (InputStream in = Files.newInputStream(file);
                OutputStream sink = new DigestOutputStream(OutputStream.nullOutputStream(), sha256)) {
            in.transferTo(sink);
        }
        String actual = HexFormat.of().formatHex(sha256.digest());
        if (!actual.equals(entry.sha256())) {
            throw new FetchFailure(file + " is in the local repository but differs from the lock (sha256 " + actual
                    + ", lock pins " + entry.sha256() + "); it was changed after download: delete it to fetch it again");
        }
    }

    static void fetchAll(List<Entry> missing, int total, Path repository, String baseUrl)
            throws FetchFailure, InterruptedException {
        System.err.printf("[boot] fetching %d of %d locked files from %s%n", missing.size(), total, baseUrl);
        long started = System.nanoTime();
        HttpClient client = HttpClient.newBuilder()
                .connectTimeout(CONNECT_TIMEOUT)
                .followRedirects(HttpClient.Redirect.NORMAL)
                .build();
        AtomicReference<FetchFailure> firstFailure = new AtomicReference<>();
        AtomicLong bytes = new AtomicLong();
        ExecutorService pool = Executors.newFixedThreadPool(PARALLEL_DOWNLOADS);
        for (Entry entry : missing) {
            pool.execute(() -> {
                // After the first failure, start nothing new: the run fails anyway and should fail fast.
                if (firstFailure.get() != null) {
                    return;
                }
                try {
                    bytes.addAndGet(fetch(client, baseUrl, repository, entry));
                } catch (FetchFailure failure) {
                    firstFailure.compareAndSet(null, failure);
                } catch (IOException e) {
                    firstFailure.compareAndSet(null, new FetchFailure("cannot write " + entry.path() + " into "
                            + repository + ": " + e + "; make the local repository (JBANG_REPO) writable"));
                } catch (RuntimeException e) {
                    firstFailure.compareAndSet(null, new FetchFailure("fetching " + entry.path() + " failed: " + e));
                }
            });
        }
        pool.shutdown();
        pool.awaitTermination(1, TimeUnit.DAYS);
        if (firstFailure.get() != null) {
            throw firstFailure.get();
        }
        System.err.printf("[boot] fetched %d files (%.1f MB) in %.1f s%n", missing.size(), bytes.get() / 1e6,
                (System.nanoTime() - started) / 1e9);
    }

    /**
     * Downloads one file next to its final place, checks its SHA-256 and only then renames it into place, so the
     * repository never holds an unverified file under a locked name.
     */
    static long fetch(HttpClient client, String baseUrl, Path repository, Entry entry)
            throws IOException, FetchFailure {
        URI uri = URI.create(baseUrl + "/" + entry.path());
        Path target = repository.resolve(entry.path());
        Files.createDirectories(target.getParent());
        Path partial = Files.createTempFile(target.getParent(), target.getFileName() + ".", ".part");
        try {
            MessageDigest sha256 = sha256();
            download(client, uri, entry, partial, sha256);
            String actual = HexFormat.of().formatHex(sha256.digest());
            if (!actual.equals(entry.sha256())) {
                throw new FetchFailure("checksum mismatch for " + entry.path() + " from " + uri + ": got sha256 "
                        + actual + ", the lock pins " + entry.sha256() + "; the download was discarded."
                        + " The repository or a proxy serves other bytes than were locked: fix the mirror"
                        + " (MAVEN_REPO_URL), or, if the lock itself is wrong, run scripts/lock-deps.sh");
            }
            Files.move(partial, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            return Files.size(target);
        } finally {
            Files.deleteIfExists(partial);
        }
    }

    static void download(HttpClient client, URI uri, Entry entry, Path partial, MessageDigest sha256)
            throws IOException, FetchFailure {
        HttpRequest request = HttpRequest.newBuilder(uri).timeout(REQUEST_TIMEOUT).GET().build();
        for (int attempt = 1; ; attempt++) {
            FetchFailure failure;
            try {
                HttpResponse<InputStream> response = client.send(request, HttpResponse.BodyHandlers.ofInputStream());
                try (InputStream body = response.body()) {
                    int status = response.statusCode();
                    if (status == 200) {
                        sha256.reset();
                        try (OutputStream out = new DigestOutputStream(Files.newOutputStream(partial), sha256)) {
                            body.transferTo(out);
                        }
                        return;
                    }
                    if (status == 404) {
                        throw new FetchFailure(entry.path() + " is not in the repository: GET " + uri
                                + " answered HTTP 404. If MAVEN_REPO_URL names a mirror, let it mirror Maven Central;"
                                + " if the lock names a file that does not exist, run scripts/lock-deps.sh");
                    }
                    failure = new FetchFailure("cannot download " + entry.path() + ": GET " + uri + " answered HTTP "
                            + status + "; check that MAVEN_REPO_URL names a Maven repository that allows reading");
                    if (status < 500 && status != 429) {
                        throw failure;
                    }
                }
            } catch (HttpConnectTimeoutException e) {
                failure = unreachable(uri, e);
            } catch (HttpTimeoutException e) {
                failure = new FetchFailure("the repository is too slow: GET " + uri + " took longer than "
                        + REQUEST_TIMEOUT.toSeconds() + " s; check the network or set MAVEN_REPO_URL to a closer mirror");
            } catch (IOException e) {
                failure = unreachable(uri, e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new FetchFailure("interrupted while downloading " + uri);
            }
            if (attempt == ATTEMPTS) {
                throw failure;
            }
            pause(attempt);
        }
    }

    static FetchFailure unreachable(URI uri, IOException cause) {
        return new FetchFailure("cannot reach the Maven repository at " + uri.getScheme() + "://" + uri.getAuthority()
                + " (GET " + uri + ": " + reason(cause) + "); check network access, proxy and DNS,"
                + " or set MAVEN_REPO_URL to a reachable mirror of Maven Central");
    }

    /** The JDK's HTTP client often throws without a message; say in words what went wrong. */
    static String reason(IOException e) {
        if (e instanceof HttpConnectTimeoutException) {
            return "no connection within " + CONNECT_TIMEOUT.toSeconds() + " s";
        }
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof UnresolvedAddressException) {
                return "unknown host";
            }
        }
        if (e instanceof ConnectException) {
            return e.getMessage() == null ? "connection refused" : e.getMessage();
        }
        return e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
    }

    static void pause(int attempt) throws FetchFailure {
        try {
            Thread.sleep(500L * attempt);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new FetchFailure("interrupted while waiting to retry");
        }
    }

    static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JDK has SHA-256", e);
        }
    }
}
