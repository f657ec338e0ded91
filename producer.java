///usr/bin/env jbang "$0" "$@" ; exit $?
//DESCRIPTION Emits demo CloudEvents to a Knative Broker (K_SINK) at a steady rate, retrying without ever dropping one silently.
//JAVA 17+
//DEPS io.vertx:vertx-stack-depchain:5.1.6@pom
//DEPS io.vertx:vertx-web
//DEPS io.vertx:vertx-web-client
//DEPS io.vertx:vertx-micrometer-metrics
//DEPS io.micrometer:micrometer-registry-prometheus:1.16.6
//DEPS io.cloudevents:cloudevents-core:4.0.1
//DEPS io.cloudevents:cloudevents-http-vertx:4.0.1
//DEPS io.cloudevents:cloudevents-json-jackson:4.0.1
//DEPS io.netty:netty-transport-native-epoll:4.2.17.Final:linux-x86_64
//DEPS io.netty:netty-transport-native-epoll:4.2.17.Final:linux-aarch_64
//COMPILE_OPTIONS -encoding UTF-8
//RUNTIME_OPTIONS -XX:+UseSerialGC -Xms16m -Xmx64m -Xmn4m -Dio.netty.jfr.enabled=false
// Serial GC and a 64 MiB heap (it holds at most MAX_BUFFERED events) stay well inside the Deployment's 384Mi
// limit; a small young generation keeps idle memory low at no cost in throughput (tests/benchmark/TUNING.md).
// Netty's allocator events would load the JDK's flight recorder (115 classes, 2 MiB) that nothing here records.

// Example log lines (stdout, one per delivered or failed event, one per retry):
// {"ts":"2026-11-26T10:00:00.123Z","level":"info","msg":"sent","id":"6f1c…","type":"user.created","attempts":1,"status":202}
// {"ts":"2026-11-26T10:00:01.456Z","level":"warn","msg":"retry","id":"7a2d…","type":"demo.event","attempt":1,"status":503,"delay_ms":212}

import io.cloudevents.CloudEvent;
import io.cloudevents.CloudEventData;
import io.cloudevents.core.CloudEventUtils;
import io.cloudevents.core.builder.CloudEventBuilder;
import io.cloudevents.http.vertx.VertxMessageFactory;
import io.cloudevents.jackson.JsonFormat;
import io.cloudevents.rw.CloudEventWriter;
import io.micrometer.core.instrument.Counter;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.vertx.core.AsyncResult;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.core.net.TrustOptions;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.client.HttpResponse;
import io.vertx.ext.web.client.WebClient;
import io.vertx.ext.web.client.WebClientOptions;
import io.vertx.micrometer.MetricsDomain;
import io.vertx.micrometer.MicrometerMetricsFactory;
import io.vertx.micrometer.MicrometerMetricsOptions;
import java.io.BufferedOutputStream;
import java.io.ByteArrayInputStream;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.URI;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import java.util.function.LongFunction;
import java.util.logging.Level;
import java.util.logging.Logger;
import java.util.stream.Collectors;
import javax.net.ssl.SSLException;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;

/**
 * The producer end of the event flow: it generates events at a steady rate and delivers each to the sink (the
 * Broker's ingress, from K_SINK), holding and retrying it until delivered, and never dropping one silently.
 * Read top to bottom: the event types, configuration, start-up, the send path (tick, enqueue, pump, send, settle),
 * shutdown, helpers.
 */
class producer {

    // ---- The event types: each with sample data that meets its schema, k8s/schemas/<type>.json ----

    /** An event's dataschema: the $id of its type's schema, an identifier (the .example domain never resolves). */
    static final String SCHEMA_BASE = "https://knative-eventing-demo.example/schemas/";

    /** One type the producer emits, its dataschema, and its generated data (seq: the producer's count of events so far). */
    record Sample(String type, URI dataschema, LongFunction<JsonObject> data) {
        Sample(String type, LongFunction<JsonObject> data) {
            this(type, URI.create(SCHEMA_BASE + type + ".json"), data);
        }
    }

    static final List<Sample> SAMPLE_TYPES = List.of(
            new Sample("demo.event", seq -> new JsonObject().put("message", "Hello from the producer, event " + seq)
                    .put("sequence", seq)),
            new Sample("user.created", seq -> new JsonObject().put("user_id", "user-" + seq).put("username", "user" + seq)
                    .put("email", "user" + seq + "@example.com")),
            new Sample("order.placed", seq -> new JsonObject().put("order_id", "order-" + seq).put("user_id", "user-" + seq % 97)
                    .put("amount", 10 + seq % 90 + 0.99).put("currency", "EUR")
                    .put("items", new JsonArray().add(new JsonObject().put("sku", "sku-" + seq % 13).put("quantity", 1)))));

    // About one sample order in nine reaches it (amounts run from 10.99 to 99.99).
    static final double HIGH_PRIORITY_AMOUNT = 90;

    static final List<String> TYPES = SAMPLE_TYPES.stream().map(Sample::type).toList();
    // Looked up once per event: the send path builds no URI and scans no list.
    static final Map<String, Sample> SAMPLES = SAMPLE_TYPES.stream().collect(Collectors.toMap(Sample::type, sample -> sample));

    // ---- Configuration ----

    static final String USAGE = """
            usage: scripts/jbang producer.java [--once TYPE [--data JSON]] [--name value | --name=value]...
            Emits CloudEvents to a Knative Broker (K_SINK) at a steady rate, retrying without ever dropping one
            silently; --once sends one event and exits 0 when it was delivered. Every setting is a variable or a flag.""";

    static final String LOCAL_SINK = "http://localhost:8080";

    static final List<Setting> SETTINGS = List.of(
            Setting.of("K_SINK", "sink", null, "where events go; a SinkBinding injects it"),
            Setting.of("BROKER_URL", null, null, "where events go when K_SINK and --sink are not set; none of them: "
                    + LOCAL_SINK + " outside a pod, in a pod no events until the SinkBinding sets K_SINK"),
            Setting.of("KUBERNETES_SERVICE_HOST", null, null,
                    "set by Kubernetes in every pod: there, with no sink, wait for K_SINK"),
            Setting.of("OIDC_TOKEN_FILE", "oidc-token-file", "/oidc/token",
                    "sent as Authorization: Bearer whenever the file exists, read again when it changes"),
            Setting.of("K_CE_OVERRIDES", null, null, "{\"extensions\":{\"name\":\"value\"}} added to every event"),
            Setting.of("K_CA_CERTS", null, null, "PEM certificates trusted for an https sink, besides the JDK's; a SinkBinding injects them"),
            Setting.of("POD_NAMESPACE", null, "local", "namespace part of the source /apis/v1/namespaces/<ns>/pods/<pod>"),
            Setting.of("POD_NAME", null, "host name", "pod part of the source"),
            Setting.of("PORT", "port", "8081", "HTTP port of /healthz, /readyz, /metrics (0: any free port)"),
            Setting.of("RATE", "rate", "1", "events per second, fractions allowed"),
            Setting.of("INTERVAL_MS", "interval-ms", null, "one event every N ms; wins over RATE unless --rate is given"),
            Setting.of("EVENT_MIX", "mix", String.join(",", TYPES.stream().map(type -> type + "=1").toList()),
                    "event types and their weights, emitted round-robin"),
            Setting.of("COUNT", "count", "0", "stop after N events and exit once they are settled (0: until SIGTERM)"),
            Setting.of(null, "once", null, "send one event of this type and exit: 0 delivered, 1 not"),
            Setting.of(null, "data", null, "JSON object used as the data of every event (default: a generated sample)"),
            Setting.toggle("CE_MODE", "structured", "structured", "binary",
                    "binary, or structured: application/cloudevents+json"),
            Setting.of("MAX_IN_FLIGHT", "max-in-flight", "16", "concurrent requests to the sink"),
            Setting.of("MAX_BUFFERED", "max-buffered", "1000", "events held (queued, in flight, retrying) before generation pauses"),
            Setting.of("SEND_TIMEOUT_MS", "send-timeout-ms", "5000", "timeout of every request and of connecting"),
            Setting.of("RETRY_INITIAL_MS", "retry-initial-ms", "200", "first retry delay, doubling with jitter"),
            Setting.of("RETRY_MAX_MS", "retry-max-ms", "10000", "longest retry delay"),
            Setting.of("RETRY_AFTER_MAX_MS", "retry-after-max-ms", "60000", "cap on a sink's Retry-After"),
            Setting.of("MAX_ATTEMPTS", "max-attempts", "0", "attempts before an event is logged as failed (0: unlimited; 5 with --once)"),
            Setting.of("SHUTDOWN_GRACE_MS", "shutdown-grace-ms", "20000", "how long SIGTERM waits for buffered events"));

    /** The checked settings this producer runs with. */
    record Config(URI sink, String sinkFrom, String source, Map<String, String> extensions, double rate,
                  List<String> mix, long count, JsonObject data, boolean structured, int port, int maxInFlight,
                  int maxBuffered, long sendTimeoutMs, long retryInitialMs, long retryMaxMs, long retryAfterMaxMs,
                  int maxAttempts, long shutdownGraceMs, Path oidcTokenFile, List<X509Certificate> caCerts) {

        static Config from(Settings settings) {
            String sinkSetting = settings.isSet("K_SINK") ? "K_SINK" : settings.isSet("BROKER_URL") ? "BROKER_URL" : null;
            // In a pod the SinkBinding sets K_SINK, possibly after the pod started: no sink there means wait for it.
            boolean inPod = settings.isSet("KUBERNETES_SERVICE_HOST");
            URI sink = sinkSetting != null ? settings.check(sinkSetting, "an absolute http:// or https:// URL", Config::httpUrl)
                    : inPod ? null : URI.create(LOCAL_SINK);
            String pod = settings.isSet("POD_NAME") ? settings.text("POD_NAME") : hostname();
            boolean useInterval = settings.isSet("INTERVAL_MS") && !settings.fromFlag("RATE");
            double rate = useInterval ? 1000.0 / settings.number("INTERVAL_MS", 0, 86_400_000)
                    : settings.number("RATE", 0, 100_000);
            String once = settings.choice("--once", TYPES);
            String sinkFrom = sinkSetting == null ? (inPod ? "none" : "default")
                    : settings.fromFlag(sinkSetting) ? "--sink" : sinkSetting;
            int port = once != null ? -1 : (int) settings.integer("PORT", 0, 65535);
            if (sink != null && isOwnAddress(sink, port))
                throw new BadSetting((sinkSetting == null ? "the default sink " + sink : sinkFrom + "='" + sink + "'")
                        + " is this producer's own address (port " + port + "): set the Broker's address in K_SINK,"
                        + " --sink or BROKER_URL, or another PORT");
            return new Config(sink, sinkFrom,
                    "/apis/v1/namespaces/" + settings.text("POD_NAMESPACE") + "/pods/" + pod,
                    Objects.requireNonNullElse(settings.check("K_CE_OVERRIDES", "{\"extensions\":{\"name\":\"value\",...}}",
                            Config::extensions), Map.of()),
                    rate,
                    once != null ? List.of(once)
                            : settings.check("EVENT_MIX", "type=weight,... with types " + String.join(", ", TYPES)
                                    + " and weights from 0 to 1000, at least one above 0", Config::mix),
                    once != null ? 1 : settings.integer("COUNT", 0, Long.MAX_VALUE),
                    settings.check("--data", "a JSON object", JsonObject::new),
                    settings.choice("CE_MODE", List.of("binary", "structured")).equals("structured"),
                    port,
                    (int) settings.integer("MAX_IN_FLIGHT", 1, 10_000),
                    (int) settings.integer("MAX_BUFFERED", 1, 10_000_000),
                    settings.integer("SEND_TIMEOUT_MS", 1, 3_600_000),
                    settings.integer("RETRY_INITIAL_MS", 1, 3_600_000),
                    settings.integer("RETRY_MAX_MS", 1, 3_600_000),
                    settings.integer("RETRY_AFTER_MAX_MS", 0, 3_600_000),
                    once != null && !settings.isSet("MAX_ATTEMPTS") ? 5 : (int) settings.integer("MAX_ATTEMPTS", 0, 1_000_000),
                    settings.integer("SHUTDOWN_GRACE_MS", 0, 3_600_000),
                    Path.of(settings.text("OIDC_TOKEN_FILE")),
                    Objects.requireNonNullElse(settings.check("K_CA_CERTS", "PEM certificates (-----BEGIN CERTIFICATE-----)",
                            Config::certificates), List.of()));
        }

        // Loopback and the producer's own port: its events would come back to its probes. Names are not resolved.
        private static boolean isOwnAddress(URI sink, int port) {
            String host = sink.getHost().toLowerCase();
            int sinkPort = sink.getPort() >= 0 ? sink.getPort() : "https".equals(sink.getScheme()) ? 443 : 80;
            return sinkPort == port && (host.equals("localhost") || host.matches("127(\\.\\d+){3}")
                    || host.equals("[::1]") || host.equals("0.0.0.0"));
        }

        private static URI httpUrl(String text) {
            URI uri = URI.create(text.trim());
            if (uri.getHost() == null || !("http".equals(uri.getScheme()) || "https".equals(uri.getScheme())))
                throw new IllegalArgumentException("not an http(s) URL");
            return uri;
        }

        private static List<X509Certificate> certificates(String pem) {
            try {
                List<X509Certificate> certificates = CertificateFactory.getInstance("X.509")
                        .generateCertificates(new ByteArrayInputStream(pem.trim().getBytes(StandardCharsets.US_ASCII)))
                        .stream().map(X509Certificate.class::cast).toList();
                if (certificates.isEmpty()) throw new IllegalArgumentException("no certificate");
                return certificates;
            } catch (CertificateException e) {
                throw new IllegalArgumentException(e);
            }
        }

        private static List<String> mix(String spec) {
            List<String> sequence = new ArrayList<>();
            for (String part : spec.split(",")) {
                String[] typeWeight = part.trim().split("=", 2);
                if (!TYPES.contains(typeWeight[0])) throw new IllegalArgumentException("unknown type");
                int weight = typeWeight.length == 2 ? Integer.parseInt(typeWeight[1].trim()) : 1;
                if (weight < 0 || weight > 1000) throw new IllegalArgumentException("weight out of range");
                for (int i = 0; i < weight; i++) sequence.add(typeWeight[0]);
            }
            if (sequence.isEmpty()) throw new IllegalArgumentException("no type selected");
            return List.copyOf(sequence);
        }

        // K_CE_OVERRIDES is {"extensions":{"name":"value",...}}, set by Knative sources and SinkBindings.
        private static Map<String, String> extensions(String json) {
            Map<String, String> extensions = new HashMap<>();
            new JsonObject(json).getJsonObject("extensions", new JsonObject())
                    .forEach(e -> extensions.put(e.getKey(), String.valueOf(e.getValue())));
            return extensions;
        }

        private static String hostname() {
            try {
                return InetAddress.getLocalHost().getHostName();
            } catch (UnknownHostException e) {
                return "local";
            }
        }
    }

    // ---- State and start-up ----

    /** One generated event and its delivery attempts; held until delivered or finally failed. */
    static final class Outgoing {
        final CloudEvent event;
        int attempts;

        Outgoing(CloudEvent event) {
            this.event = event;
        }
    }

    private final Config config;
    private final Vertx vertx;
    private final Context context;
    private final WebClient client;
    private final CloudEventBuilder template;
    private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    private final Map<List<Object>, Counter> counters = new ConcurrentHashMap<>();
    // All delivery state below is touched only on `context`, so it needs no locks.
    private final ArrayDeque<Outgoing> pending = new ArrayDeque<>();
    private final Set<Outgoing> held = new LinkedHashSet<>();
    private final AtomicInteger buffered = new AtomicInteger();
    private final AtomicInteger inFlight = new AtomicInteger();
    private long started;
    private long ticks;
    private long generated;
    private long skippedSinceLog;
    private long lastSkipLog;
    private long sent;
    private long skipped;
    private long failures;
    private long ticker = -1;
    private long waitingForSink = -1;
    private volatile boolean draining;
    private final Promise<Void> drained = Promise.promise();
    private final BearerToken token;

    producer(Config config) {
        this.config = config;
        this.token = new BearerToken(config.oidcTokenFile());
        this.vertx = Vertx.builder()
                // Netty's epoll transport where its library loads (Linux on amd64 and arm64): fewer system calls per
                // event than Java's NIO selector (tests/benchmark/TUNING.md); NIO elsewhere, said in the "started" line.
                .with(new VertxOptions().setEventLoopPoolSize(1).setPreferNativeTransport(true)
                        .setMetricsOptions(new MicrometerMetricsOptions().setEnabled(true).setJvmMetricsEnabled(true)
                                // per-request meters of the HTTP client cost CPU on every send (TUNING.md);
                                // the producer_* meters count every outcome already
                                .addDisabledMetricsCategory(MetricsDomain.HTTP_CLIENT)
                                .addDisabledMetricsCategory(MetricsDomain.NET_CLIENT)))
                .withMetrics(new MicrometerMetricsFactory(registry))
                .build();
        this.context = vertx.getOrCreateContext();
        WebClientOptions options = new WebClientOptions().setKeepAlive(true).setConnectTimeout((int) config.sendTimeoutMs());
        if (!config.caCerts().isEmpty()) options.setTrustOptions(trusting(config.caCerts()));
        this.client = WebClient.create(vertx, options, new PoolOptions().setHttp1MaxSize(config.maxInFlight()));
        CloudEventBuilder builder = CloudEventBuilder.v1().withSource(URI.create(config.source()))
                .withDataContentType("application/json");
        config.extensions().forEach(builder::withExtension);
        this.template = builder;
        registry.gauge("producer.buffered.events", buffered);
        registry.gauge("producer.in.flight", inFlight);
    }

    /** K_CA_CERTS adds to the JDK's trust store, as Knative's own senders add it to the system pool; it replaces nothing. */
    static TrustOptions trusting(List<X509Certificate> caCerts) {
        try {
            TrustManagerFactory jdk = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            jdk.init((KeyStore) null);
            List<X509Certificate> trusted = new ArrayList<>(caCerts);
            for (TrustManager manager : jdk.getTrustManagers())
                if (manager instanceof X509TrustManager x509) trusted.addAll(List.of(x509.getAcceptedIssuers()));
            KeyStore store = KeyStore.getInstance(KeyStore.getDefaultType());
            store.load(null, null);
            for (int i = 0; i < trusted.size(); i++) store.setCertificateEntry("ca-" + i, trusted.get(i));
            TrustManagerFactory both = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            both.init(store);
            return TrustOptions.wrap(both);
        } catch (GeneralSecurityException | IOException e) {
            throw new IllegalStateException("cannot build the trust store: " + e.getMessage(), e);
        }
    }

    // Vert.x registers a few of its gauges twice; Micrometer's warning about that is noise, not a problem.
    private static final Logger MICROMETER_LOG = Logger.getLogger("io.micrometer");

    public static void main(String[] args) {
        MICROMETER_LOG.setLevel(Level.SEVERE);
        Config config;
        try {
            Settings settings = new Settings(SETTINGS, System.getenv(), args);
            if (settings.helpWanted()) {
                System.out.print(settings.help(USAGE));
                System.exit(0);
            }
            config = Config.from(settings);
        } catch (BadSetting e) {
            System.err.println("producer: " + e.getMessage());
            System.exit(2);
            return;
        }
        if (config.sinkFrom().equals("default"))
            log("warn", "no sink set (K_SINK, --sink, BROKER_URL)", new JsonObject().put("using", config.sink().toString()));
        producer app = new producer(config);
        app.start().onSuccess(port -> {
            log("info", "started", new JsonObject().put("sink", Objects.toString(config.sink(), null))
                    .put("sink_from", config.sinkFrom()).put("port", port).put("rate", config.rate())
                    .put("source", config.source()).put("mode", config.structured() ? "structured" : "binary")
                    .put("transport", app.vertx.isNativeTransportEnabled() ? "epoll" : "nio"));
            if (!app.vertx.isNativeTransportEnabled())
                log("info", "native transport not in use, Java NIO instead", new JsonObject()
                        .put("reason", String.valueOf(app.vertx.unavailableNativeTransportCause())));
            // SIGTERM/SIGINT run shutdown hooks; halt() then ends the JVM with the drain's own exit code.
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                int code = app.drain().toCompletionStage().toCompletableFuture().join();
                STDOUT.flush();
                Runtime.getRuntime().halt(code);
            }));
        }).onFailure(e -> {
            log("error", "start failed", new JsonObject().put("error", String.valueOf(e.getMessage())));
            STDOUT.flush();
            System.exit(1);
        });
        // A bounded run (--once, --count) ends by itself once everything it generated is settled.
        // System.exit runs the shutdown hook, which needs the event loop: call it from a thread of its own.
        if (config.count() > 0)
            app.drained.future().onComplete(done -> new Thread(() -> System.exit(app.exitCode())).start());
    }

    Future<Integer> start() {
        Promise<Integer> ready = Promise.promise();
        context.runOnContext(v -> {
            started = System.nanoTime();
            // Ticks catch up with the clock, so the rate holds whatever the timer's jitter. At most 100 ticks a second:
            // every wake-up of the loop costs CPU, and above 100 ev/s a tick generates what came due since the last one
            // (tests/benchmark/TUNING.md); at most 100 ms apart, so a slow rate is not bunched.
            long period = Math.max(10, Math.min(100, (long) (1000 / config.rate())));
            if (config.sink() != null) ticker = vertx.setPeriodic(0, period, id -> tick());
            else waitForSink();
            if (config.port() < 0) ready.complete(-1);
            else serveHealthAndMetrics().onComplete(ready);
        });
        return ready.future();
    }

    private Future<Integer> serveHealthAndMetrics() {
        Router router = Router.router(vertx);
        router.get("/healthz").handler(ctx -> ctx.response().end("ok"));
        router.get("/readyz").handler(ctx -> ctx.response().setStatusCode(draining || config.sink() == null ? 503 : 200)
                .end(draining ? "draining" : config.sink() == null ? "waiting for K_SINK" : "ready"));
        router.get("/metrics").handler(ctx -> ctx.response()
                .putHeader("content-type", "text/plain; version=0.0.4; charset=utf-8").end(registry.scrape()));
        return vertx.createHttpServer().requestHandler(router).listen(config.port()).map(s -> s.actualPort());
    }

    // A pod started before its SinkBinding had the Broker's address: the SinkBinding sets K_SINK in the Deployment
    // once it has one, and that rolls a new pod. Until then this one generates nothing and is not ready.
    private void waitForSink() {
        waitingForSink = vertx.setPeriodic(0, 30_000, id -> log("warn", "waiting for the SinkBinding to inject K_SINK",
                new JsonObject().put("hint", "kubectl describe sinkbinding: the Deployment rolls once it is Ready")));
    }

    // ---- The send path: one direction of flow on one event loop, no locks ----

    private void tick() {
        long due = (long) ((System.nanoTime() - started) / 1e9 * config.rate()) + 1;
        if (config.count() > 0) due = Math.min(due, config.count());
        for (; ticks < due; ticks++) {
            String type = config.mix().get((int) (ticks % config.mix().size()));
            if (buffered.get() >= config.maxBuffered()) {
                // Back-pressure: the event is never created, so nothing is lost; the skip is counted.
                counter("producer.events.skipped", "type", type).increment();
                skipped++;
                skippedSinceLog++;
            } else {
                enqueue(newEvent(type));
            }
        }
        if (System.nanoTime() - lastSkipLog > 1_000_000_000L) logSkips();
        if (config.count() > 0 && ticks >= config.count()) stopGenerating();
        pump();
    }

    // At most one line a second while the buffer is full, so a long outage cannot flood the log.
    private void logSkips() {
        if (skippedSinceLog == 0) return;
        lastSkipLog = System.nanoTime();
        log("warn", "buffer full, generation skipped", new JsonObject().put("skipped", skippedSinceLog)
                .put("buffered", buffered.get()).put("max_buffered", config.maxBuffered()));
        skippedSinceLog = 0;
    }

    private CloudEvent newEvent(String type) {
        long seq = ++generated;
        Sample sample = sample(type);
        JsonObject data = config.data() != null ? config.data() : sample.data().apply(seq);
        // W3C trace context as the CloudEvents distributed-tracing extension: one trace per event, kept on retries.
        ThreadLocalRandom random = ThreadLocalRandom.current();
        String traceparent = "00-" + hex16(random.nextLong()) + hex16(random.nextLong() | 1) + "-"
                + hex16(random.nextLong() | 1) + "-01";
        CloudEventBuilder event = template.newBuilder().withId(UUID.randomUUID().toString()).withType(type)
                .withDataSchema(sample.dataschema())
                .withTime(OffsetDateTime.now(ZoneOffset.UTC)).withExtension("traceparent", traceparent);
        if (type.equals("order.placed")) event.withExtension("priority", priority(data));
        return event.withData(data.toBuffer().getBytes()).build();
    }

    /**
     * An order's priority, as the extension attribute {@code priority}: "high" from an amount of HIGH_PRIORITY_AMOUNT
     * on, else "normal". An attribute, not only a field of the data, so that a Trigger can route on it
     * (k8s/components/priority-routing).
     */
    static String priority(JsonObject order) {
        return order.getValue("amount") instanceof Number amount && amount.doubleValue() >= HIGH_PRIORITY_AMOUNT
                ? "high" : "normal";
    }

    // 16 lower-case hex digits, leading zeros kept: what "%016x" gives, without parsing a format per event.
    private static String hex16(long value) {
        String digits = Long.toHexString(value);
        return "0".repeat(16 - digits.length()) + digits;
    }

    static Sample sample(String type) {
        Sample sample = SAMPLES.get(type);
        if (sample == null) throw new IllegalArgumentException(type);
        return sample;
    }

    private void enqueue(CloudEvent event) {
        Outgoing outgoing = new Outgoing(event);
        held.add(outgoing);
        buffered.set(held.size());
        pending.addLast(outgoing);
    }

    private void pump() {
        while (inFlight.get() < config.maxInFlight() && !pending.isEmpty()) send(pending.pollFirst());
        if (held.isEmpty() && ticker < 0) drained.tryComplete();
    }

    private void send(Outgoing outgoing) {
        int attempt = ++outgoing.attempts;
        inFlight.incrementAndGet();
        String traceparent = String.valueOf(outgoing.event.getExtension("traceparent"));
        var request = client.postAbs(config.sink().toString()).timeout(config.sendTimeoutMs())
                .putHeader("traceparent", traceparent);
        String authorization = token.header();
        if (authorization != null) request.putHeader("Authorization", authorization);
        var writer = VertxMessageFactory.createWriter(request);
        Future<HttpResponse<Buffer>> response = config.structured()
                ? writer.writeStructured(outgoing.event, JsonFormat.CONTENT_TYPE)
                : CloudEventUtils.toReader(outgoing.event).read(version -> new PercentEncoded<>(writer.create(version)));
        response.onComplete(result -> {
            inFlight.decrementAndGet();
            settle(outgoing, attempt, result);
            pump();
        });
    }

    /** Knative's own rule: 404, 408, 409, 429, 5xx and transport errors are worth another try; other 4xx never. */
    private void settle(Outgoing outgoing, int attempt, AsyncResult<HttpResponse<Buffer>> result) {
        CloudEvent event = outgoing.event;
        int status = result.succeeded() ? result.result().statusCode() : 0;
        // The event's time is when it was created: scripts/find-event.sh starts an event's story with it.
        JsonObject line = new JsonObject().put("id", event.getId()).put("type", event.getType())
                .put("time", event.getTime().toInstant().toString())
                .put("trace_id", String.valueOf(event.getExtension("traceparent")).substring(3, 35));
        if (status >= 200 && status < 300) {
            release(outgoing);
            sent++;
            counter("producer.events.sent", "type", event.getType()).increment();
            log("info", "sent", line.put("attempts", attempt).put("status", status));
            return;
        }
        boolean retryable = status == 0 || status == 404 || status == 408 || status == 409 || status == 429
                || status >= 500;
        String reason = result.succeeded() ? result.result().bodyAsString() : failure(result.cause());
        if (!retryable || (config.maxAttempts() > 0 && attempt >= config.maxAttempts())) {
            release(outgoing);
            failures++;
            counter("producer.events.failed", "type", event.getType(), "status", String.valueOf(status)).increment();
            log("error", "failed", line.put("attempts", attempt).put("status", status).put("reason", reason)
                    .put("retryable", retryable));
            return;
        }
        long delay = backoff(attempt, result.succeeded() ? result.result().getHeader("Retry-After") : null);
        counter("producer.events.retried", "type", event.getType()).increment();
        log("warn", "retry", line.put("attempt", attempt).put("status", status).put("reason", reason)
                .put("delay_ms", delay));
        vertx.setTimer(delay, t -> {
            pending.addFirst(outgoing);
            pump();
        });
    }

    // A TLS failure says so, with the JDK's reason: Vert.x wraps it in a bare "Failed to create SSL connection".
    private static String failure(Throwable cause) {
        SSLException tls = null;
        for (Throwable t = cause; t != null; t = t.getCause()) if (t instanceof SSLException e) tls = e;
        return tls != null ? "TLS handshake with the sink failed: " + tls.getMessage() : String.valueOf(cause.getMessage());
    }

    // Exponential backoff with "equal jitter"; a server's Retry-After wins when it asks for longer.
    private long backoff(int attempt, String retryAfter) {
        long ceiling = Math.min(config.retryMaxMs(), config.retryInitialMs() << Math.min(attempt - 1, 20));
        long delay = ceiling / 2 + ThreadLocalRandom.current().nextLong(ceiling / 2 + 1);
        return Math.max(delay, Math.min(config.retryAfterMaxMs(), retryAfterMillis(retryAfter)));
    }

    static long retryAfterMillis(String header) {
        if (header == null || header.isBlank()) return 0;
        try {
            return Math.max(0, Long.parseLong(header.trim()) * 1000);
        } catch (NumberFormatException notSeconds) {
            try {
                ZonedDateTime at = ZonedDateTime.parse(header.trim(), DateTimeFormatter.RFC_1123_DATE_TIME);
                return Math.max(0, Duration.between(Instant.now(), at.toInstant()).toMillis());
            } catch (DateTimeParseException neither) {
                return 0;
            }
        }
    }

    private void release(Outgoing outgoing) {
        held.remove(outgoing);
        buffered.set(held.size());
    }

    private void stopGenerating() {
        if (ticker >= 0) vertx.cancelTimer(ticker);
        ticker = -1;
    }

    private int exitCode() {
        return failures == 0 && held.isEmpty() ? 0 : 1;
    }

    /**
     * Binary mode as the HTTP binding writes header values (3.1.3.2): space, '"', '%' and every character outside
     * printable ASCII percent-encoded as UTF-8. The SDK's writer puts values into headers as they are, so they are
     * encoded on their way to it; Content-Type, the datacontenttype, is no ce- header and stays as it is.
     */
    record PercentEncoded<R>(CloudEventWriter<R> headers) implements CloudEventWriter<R> {
        private static final char[] HEX = "0123456789ABCDEF".toCharArray();

        @Override
        public CloudEventWriter<R> withContextAttribute(String name, String value) {
            headers.withContextAttribute(name, name.equals("datacontenttype") ? value : encode(value));
            return this;
        }

        @Override
        public R end(CloudEventData data) {
            return headers.end(data);
        }

        @Override
        public R end() {
            return headers.end();
        }

        static String encode(String value) {
            int plain = 0;
            while (plain < value.length() && !encoded(value.charAt(plain))) plain++;
            if (plain == value.length()) return value;
            StringBuilder out = new StringBuilder(value.length() + 16).append(value, 0, plain);
            for (byte b : value.substring(plain).getBytes(StandardCharsets.UTF_8)) {
                char c = (char) (b & 0xff);
                if (encoded(c)) out.append('%').append(HEX[c >> 4]).append(HEX[c & 15]);
                else out.append(c);
            }
            return out.toString();
        }

        private static boolean encoded(char c) {
            return c <= ' ' || c == '"' || c == '%' || c >= 0x7f;
        }
    }

    // ---- Shutdown ----

    /** SIGTERM: stop generating, keep delivering what is buffered until it is empty or the grace period ends. */
    Future<Integer> drain() {
        Promise<Integer> exit = Promise.promise();
        context.runOnContext(v -> {
            draining = true;
            stopGenerating();
            vertx.cancelTimer(waitingForSink);
            log("info", "draining", new JsonObject().put("buffered", held.size()).put("in_flight", inFlight.get()));
            long timer = vertx.setTimer(Math.max(1, config.shutdownGraceMs()), t -> drained.tryComplete());
            pump();
            drained.future().onComplete(done -> {
                vertx.cancelTimer(timer);
                logSkips();
                // Whatever the grace period could not deliver is named, one line each: never lost silently.
                for (Outgoing o : held)
                    log("error", "undelivered", new JsonObject().put("id", o.event.getId())
                            .put("type", o.event.getType()).put("attempts", o.attempts));
                // The books balance: generated = sent + failed + undelivered; every tick is generated or skipped.
                log("info", "stopped", new JsonObject().put("ticks", ticks).put("generated", generated)
                        .put("skipped", skipped).put("sent", sent).put("failed", failures)
                        .put("undelivered", held.size()));
                int code = exitCode();
                vertx.close().onComplete(closed -> exit.complete(code));
            });
        });
        return exit.future();
    }

    // ---- Helpers ----

    /**
     * The token a SinkBinding mounts at /oidc/token when Knative's authentication-oidc feature is on; the Broker then
     * answers 401 without it. Tokens rotate (Kubernetes renews them long before they expire), so the file is read
     * again whenever it changes, looked at no more than once a second: a stat per request, and an exception per
     * request while there is no file, cost more CPU than sending the event (tests/benchmark/TUNING.md).
     */
    static final class BearerToken {
        private static final long RECHECK_NANOS = 1_000_000_000L;
        private final Path file;
        private List<Object> version;
        private String header;
        private long checkedAt;
        private boolean checked;

        BearerToken(Path file) {
            this.file = file;
        }

        String header() {
            long now = System.nanoTime();
            if (checked && now - checkedAt < RECHECK_NANOS) return header;
            checked = true;
            checkedAt = now;
            try {
                BasicFileAttributes attributes = Files.readAttributes(file, BasicFileAttributes.class);
                // Kubernetes swaps a new file in (a new inode), an editor may write in place: either changes the version.
                List<Object> current = Arrays.asList(attributes.fileKey(), attributes.lastModifiedTime(), attributes.size());
                if (!current.equals(version)) {
                    String text = Files.readString(file).strip();
                    header = text.isEmpty() ? null : "Bearer " + text;
                    version = current;
                    log("info", "oidc token read", new JsonObject().put("file", file.toString()).put("empty", text.isEmpty()));
                }
            } catch (NoSuchFileException absent) {
                version = null;
                header = null;
            } catch (IOException e) {
                // Said once per failure, not once per event: without the token the Broker answers 401.
                if (!List.of(e.toString()).equals(version))
                    log("error", "oidc token unreadable", new JsonObject().put("file", file.toString()).put("error", e.toString()));
                version = List.of(e.toString());
                header = null;
            }
            return header;
        }
    }

    private Counter counter(String name, String... tags) {
        return counters.computeIfAbsent(List.of(name, List.of(tags)),
                k -> Counter.builder(name).tags(tags).register(registry));
    }

    // UTF-8 whatever the locale: a JDK 17 without one would print every non-ASCII character of a line as '?'.
    // A write(2) per line is a system call per event (it cost the consumer 5 % of its throughput, tests/benchmark/
    // TUNING.md): on the event loop the lines of one turn go out in one write at its end; elsewhere (start, stop) at once.
    private static final PrintStream STDOUT = new PrintStream(
            new BufferedOutputStream(new FileOutputStream(FileDescriptor.out), 64 * 1024), false, StandardCharsets.UTF_8);
    private static boolean stdoutFlushQueued;

    static void log(String level, String msg, JsonObject fields) {
        JsonObject line = new JsonObject().put("ts", Instant.now().toString()).put("level", level).put("msg", msg);
        fields.forEach(e -> line.put(e.getKey(), e.getValue()));
        STDOUT.println(line.encode());
        Context loop = Context.isOnEventLoopThread() ? Vertx.currentContext() : null;
        if (loop == null) {
            STDOUT.flush();
        } else if (!stdoutFlushQueued) {
            // The producer has one event loop, so only its thread reads and writes the flag. Tasks queued from the
            // loop's own thread run after this turn's I/O, before it waits for more.
            stdoutFlushQueued = true;
            loop.runOnContext(flush -> {
                stdoutFlushQueued = false;
                STDOUT.flush();
            });
        }
    }

    // ---- Settings: the same text in producer.java and consumer.java (ProgramSettingsTest compares the two) ----

    /** One setting as the user sees it: variable, flag, default, meaning; a switch is a flag without a value. */
    record Setting(String env, String flag, String fallback, String meaning, String switchValue) {
        static Setting of(String env, String flag, String fallback, String meaning) {
            return new Setting(env, flag, fallback, meaning, null);
        }

        static Setting toggle(String env, String flag, String switchValue, String fallback, String meaning) {
            return new Setting(env, flag, fallback, meaning, switchValue);
        }

        String name() {
            return env != null ? env : "--" + flag;
        }
    }

    /** A setting given a value it cannot take: the message names the setting, the value and what is allowed. */
    static final class BadSetting extends RuntimeException {
        BadSetting(String message) {
            super(message, null, false, false);
        }
    }

    /**
     * Values from flags ({@code --name value} or {@code --name=value}) and the environment. Knative's contract is set
     * by the platform, so there the variable wins over the flag; for every other setting the flag wins.
     */
    static final class Settings {
        static final Set<String> KNATIVE_CONTRACT = Set.of("K_SINK", "K_CE_OVERRIDES", "PORT", "POD_NAME", "POD_NAMESPACE");

        private record Value(String origin, String text) {}

        private final List<Setting> table;
        private final Map<String, String> env;
        private final Map<String, String> flags = new HashMap<>();
        private boolean help;

        Settings(List<Setting> table, Map<String, String> env, String[] args) {
            this.table = table;
            this.env = env;
            for (int i = 0; i < args.length; i++) {
                String arg = args[i];
                if (arg.equals("-h") || arg.equals("--help")) {
                    help = true;
                    continue;
                }
                if (!arg.startsWith("--")) throw new BadSetting("unexpected argument '" + arg + "' (--help lists the settings)");
                String[] nameValue = arg.substring(2).split("=", 2);
                Setting setting = table.stream().filter(s -> nameValue[0].equals(s.flag())).findFirst()
                        .orElseThrow(() -> new BadSetting("unknown flag --" + nameValue[0] + " (--help lists the settings)"));
                if (setting.switchValue() != null) {
                    if (nameValue.length == 2) throw new BadSetting("--" + setting.flag() + " takes no value");
                    flags.put(setting.flag(), setting.switchValue());
                } else if (nameValue.length == 2) {
                    flags.put(setting.flag(), nameValue[1]);
                } else if (i + 1 < args.length) {
                    flags.put(setting.flag(), args[++i]);
                } else {
                    throw new BadSetting("--" + setting.flag() + " needs a value");
                }
            }
        }

        boolean helpWanted() {
            return help;
        }

        /** Given by the user (a flag or a variable), not left to its default. */
        boolean isSet(String name) {
            Value value = value(name);
            return value != null && !value.origin().startsWith("default");
        }

        boolean fromFlag(String name) {
            Value value = value(name);
            return value != null && value.origin().startsWith("--");
        }

        String text(String name) {
            Value value = value(name);
            return value == null ? null : value.text();
        }

        long integer(String name, long min, long max) {
            return check(name, "an integer from " + min + " to " + max, text -> {
                long n = Long.parseLong(text.trim());
                if (n < min || n > max) throw new IllegalArgumentException("out of range");
                return n;
            });
        }

        double number(String name, double above, double max) {
            return check(name, "a number above " + plain(above) + " and at most " + plain(max), text -> {
                double n = Double.parseDouble(text.trim());
                if (!(n > above && n <= max)) throw new IllegalArgumentException("out of range");
                return n;
            });
        }

        String choice(String name, List<String> allowed) {
            return check(name, "one of " + String.join(", ", allowed), text -> {
                if (!allowed.contains(text)) throw new IllegalArgumentException("not allowed");
                return text;
            });
        }

        private static String plain(double n) {
            return n == Math.rint(n) ? Long.toString((long) n) : Double.toString(n);
        }

        /** The parsed value, or null when the setting has neither a value nor a default. */
        <T> T check(String name, String allowed, Function<String, T> parse) {
            Value value = value(name);
            if (value == null) return null;
            try {
                return parse.apply(value.text());
            } catch (RuntimeException e) {
                throw new BadSetting(value.origin() + "='" + value.text() + "' is not valid: expected " + allowed);
            }
        }

        private Value value(String name) {
            Setting setting = table.stream().filter(s -> s.name().equals(name)).findFirst()
                    .orElseThrow(() -> new IllegalStateException("no setting " + name));
            String fromEnv = setting.env() == null ? null : env.get(setting.env());
            if (fromEnv != null && fromEnv.isBlank()) fromEnv = null;
            String fromFlag = setting.flag() == null ? null : flags.get(setting.flag());
            if (fromEnv != null && KNATIVE_CONTRACT.contains(setting.env())) return new Value(setting.env(), fromEnv);
            if (fromFlag != null) return new Value("--" + setting.flag(), fromFlag);
            if (fromEnv != null) return new Value(setting.env(), fromEnv);
            return setting.fallback() == null ? null : new Value("default of " + name, setting.fallback());
        }

        /** The --help text: two lines per setting, straight from the table. */
        String help(String usage) {
            StringBuilder out = new StringBuilder(usage).append("\n\nSettings (variable, flag, default):\n");
            for (Setting s : table) {
                String flag = s.flag() == null ? "" : "--" + s.flag() + (s.switchValue() == null ? " VALUE" : "");
                String names = s.env() == null ? flag : s.flag() == null ? s.env() : s.env() + ", " + flag;
                out.append("  ").append(names).append(s.fallback() == null ? "" : "  [" + s.fallback() + "]").append('\n')
                        .append("      ").append(s.meaning()).append('\n');
            }
            return out.append("\nA flag wins over its variable, except for Knative's contract (")
                    .append(String.join(", ", KNATIVE_CONTRACT.stream().sorted().toList()))
                    .append("), which the platform sets. A bad value stops the program with exit code 2.\n").toString();
        }
    }
}
