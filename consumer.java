///usr/bin/env jbang "$0" "$@" ; exit $?
//DESCRIPTION Receives CloudEvents from a Knative Trigger (or records dead letters) and answers with the delivery contract.
//JAVA 17+
//DEPS io.vertx:vertx-stack-depchain:5.1.6@pom
//DEPS io.vertx:vertx-web
//DEPS io.vertx:vertx-web-client
//DEPS io.vertx:vertx-micrometer-metrics
//DEPS io.micrometer:micrometer-registry-prometheus:1.16.6
//DEPS io.cloudevents:cloudevents-core:4.0.1
//DEPS io.cloudevents:cloudevents-http-vertx:4.0.1
//DEPS io.cloudevents:cloudevents-json-jackson:4.0.1
//DEPS com.networknt:json-schema-validator:1.5.9
//DEPS org.slf4j:slf4j-nop:2.0.7
//DEPS io.netty:netty-transport-native-epoll:4.2.17.Final:linux-x86_64
//DEPS io.netty:netty-transport-native-epoll:4.2.17.Final:linux-aarch_64
//FILES live-page.html=k8s/live-page.html
//COMPILE_OPTIONS -encoding UTF-8
//RUNTIME_OPTIONS -XX:+UseSerialGC -Xms16m -Xmx48m -Xmn4m -Dio.netty.jfr.enabled=false
// Serial GC and a 48 MiB heap, four times what stays live at saturation, keep the peak RSS at saturation under
// 160 MiB; a small young generation keeps idle memory low at no cost in throughput (tests/benchmark/TUNING.md).
// Netty's allocator events would load the JDK's flight recorder (115 classes, 3 MiB) that nothing here records.
// Raise -Xmx along with MAX_BODY_BYTES: request bodies are held in the heap until answered.

// Example log line (one per event, stdout):
// {"ts":"2026-11-26T10:00:00.123Z","level":"info","msg":"event","id":"6f1c…","type":"order.placed",
//  "source":"/apis/v1/namespaces/knative-demo/pods/producer-7d9f","outcome":"processed","status":202,
//  "duration_ms":10.4,"pod":"consumer-5b7c-x2x9z"}

import io.cloudevents.CloudEvent;
import io.cloudevents.SpecVersion;
import io.cloudevents.core.builder.CloudEventBuilder;
import io.cloudevents.http.vertx.VertxMessageFactory;
import io.cloudevents.types.Time;
import io.cloudevents.CloudEventData;
import io.cloudevents.rw.CloudEventContextWriter;
import io.cloudevents.rw.CloudEventWriter;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.networknt.schema.JsonSchema;
import com.networknt.schema.JsonSchemaFactory;
import com.networknt.schema.ValidationMessage;
import io.micrometer.core.instrument.Clock;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Timer;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.tracer.common.SpanContext;
import io.vertx.core.Context;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.MultiMap;
import io.vertx.core.Promise;
import io.vertx.core.VerticleBase;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.json.DecodeException;
import io.vertx.core.json.Json;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.core.net.PemKeyCertOptions;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.client.HttpResponse;
import io.vertx.ext.web.client.WebClient;
import io.vertx.ext.web.client.WebClientOptions;
import io.vertx.ext.web.handler.BodyHandler;
import io.vertx.micrometer.MetricsDomain;
import io.vertx.micrometer.MicrometerMetricsFactory;
import io.vertx.micrometer.MicrometerMetricsOptions;
import java.io.BufferedOutputStream;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.UnknownHostException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.DateTimeException;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import java.util.logging.Level;
import java.util.logging.Logger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.zip.CRC32C;

/**
 * The consumer end of the event flow. A Knative Trigger POSTs each CloudEvent here and the HTTP status is the
 * delivery contract: 202 when handled (once per source and id), 4xx with the reason when no retry can help, 503 when
 * a retry can. With --dead-letter it is the dead-letter display instead: it records what the Broker gave up on.
 * Read top to bottom: configuration, the event types, start-up, the request path, dead letters, shutdown, helpers.
 */
class consumer {

    // ---- Configuration ----

    static final String USAGE = """
            usage: scripts/jbang consumer.java [--dead-letter] [--port N] [--name value | --name=value]...
            Receives CloudEvents (POST /) and answers with the delivery contract; with --dead-letter it records
            the dead letters a Broker sends instead. Every setting is a variable or a flag.""";

    static final List<Setting> SETTINGS = List.of(
            Setting.of("PORT", "port", "8080", "HTTP port of events, probes, metrics and the live page (0: any free port)"),
            Setting.of("POD_NAME", null, "host name", "written into every log line"),
            Setting.toggle("CONSUMER_MODE", "dead-letter", "dead-letter", "events",
                    "events, or dead-letter: accept every event and record its knativeerror* attributes"),
            Setting.of("PROCESSING_TIME_MS", "processing-time-ms", "10", "simulated work per event, on a timer (0: none)"),
            Setting.of("FAILURE_RATE", "failure-rate", "0", "share of events that fail transiently (503), 0 to 1"),
            Setting.of("DEDUPE_WINDOW", "dedupe-window", "10000", "recent (source, id) pairs remembered per replica"),
            Setting.of("MAX_BODY_BYTES", "max-body-bytes", "262144", "larger requests are answered 413"),
            Setting.of("MAX_IN_FLIGHT", "max-in-flight", "64",
                    "events handled at once; one more is answered 429 with Retry-After, before its body is read"),
            Setting.of("DRAIN_DELAY_MS", "drain-delay-ms", "0", "after SIGTERM, keep serving this long while endpoints update"),
            Setting.of("SHUTDOWN_GRACE_MS", "shutdown-grace-ms", "20000", "longest wait for in-flight events after the drain delay"),
            Setting.of("EVENT_LOOPS", "event-loops", "1", "Vert.x event-loop threads, one HTTP server each"),
            Setting.of("TLS_CERT_FILE", "tls-cert-file", null, "PEM certificate (chain): serve HTTPS on PORT instead of HTTP; needs TLS_KEY_FILE"),
            Setting.of("TLS_KEY_FILE", "tls-key-file", null, "PEM private key (PKCS#8 or PKCS#1) of TLS_CERT_FILE"),
            Setting.of("EVENT_SCHEMAS", "event-schemas", "k8s/schemas",
                    "directory of one JSON Schema per event type, <type>.json: the types handled and their data; read at start"),
            Setting.of("K_SINK", "sink", null, "dead-letter mode: where a redrive sends the event again (the Broker); a SinkBinding injects it"),
            Setting.of("DEAD_LETTER_STORE", "dead-letter-store", null,
                    "dead-letter mode: directory that keeps dead letters across restarts, each on disk before its 202 (unset: memory only)"),
            Setting.of("DEAD_LETTER_MAX_BYTES", "dead-letter-max-bytes", "8388608",
                    "dead letters kept, in bytes of their records (memory and store): beyond it the oldest are dropped and counted"));

    /** The checked settings this consumer runs with. */
    record Config(int port, String pod, boolean deadLetterMode, long processingMs, double failureRate,
                  int dedupeWindow, long maxBodyBytes, int maxInFlight, long drainDelayMs, long shutdownGraceMs,
                  int eventLoops, String tlsCertFile, String tlsKeyFile, EventSchemas eventSchemas, String sink,
                  Path deadLetterStore, long deadLetterMaxBytes) {
        static Config from(Settings settings) {
            if (settings.isSet("TLS_CERT_FILE") != settings.isSet("TLS_KEY_FILE"))
                throw new BadSetting("TLS_CERT_FILE and TLS_KEY_FILE go together: set both to serve HTTPS, or neither");
            return new Config(
                    (int) settings.integer("PORT", 0, 65535),
                    settings.isSet("POD_NAME") ? settings.text("POD_NAME") : hostname(),
                    settings.choice("CONSUMER_MODE", List.of("events", "dead-letter")).equals("dead-letter"),
                    settings.integer("PROCESSING_TIME_MS", 0, 3_600_000),
                    settings.check("FAILURE_RATE", "a number from 0 to 1", text -> {
                        double rate = Double.parseDouble(text.trim());
                        if (!(rate >= 0 && rate <= 1)) throw new IllegalArgumentException("out of range");
                        return rate;
                    }),
                    (int) settings.integer("DEDUPE_WINDOW", 1, 10_000_000),
                    settings.integer("MAX_BODY_BYTES", 1, Integer.MAX_VALUE),
                    (int) settings.integer("MAX_IN_FLIGHT", 1, 1_000_000),
                    settings.integer("DRAIN_DELAY_MS", 0, 3_600_000),
                    settings.integer("SHUTDOWN_GRACE_MS", 0, 3_600_000),
                    (int) settings.integer("EVENT_LOOPS", 1, 256),
                    settings.check("TLS_CERT_FILE", "a readable PEM file", Config::readable),
                    settings.check("TLS_KEY_FILE", "a readable PEM file", Config::readable),
                    EventSchemas.load(settings),
                    settings.check("K_SINK", "an http or https URL", text -> {
                        URI uri = URI.create(text.trim());
                        if (!Set.of("http", "https").contains(uri.getScheme()) || uri.getHost() == null)
                            throw new IllegalArgumentException("not an http(s) URL");
                        return uri.toString();
                    }),
                    settings.check("DEAD_LETTER_STORE", "a directory this user can write (created if missing)", text -> {
                        try {
                            Path dir = Files.createDirectories(Path.of(text));
                            if (!Files.isWritable(dir)) throw new IllegalArgumentException("not writable");
                            return dir;
                        } catch (IOException e) {
                            throw new UncheckedIOException(e);
                        }
                    }),
                    settings.integer("DEAD_LETTER_MAX_BYTES", 65_536, 1L << 40));
        }

        /**
         * Retry-After of a 429, in whole seconds as Knative reads it: an event admitted now is done within one
         * PROCESSING_TIME_MS, so by then a full replica surely has room again; at least a second.
         */
        long retryAfterSeconds() {
            return Math.max(1, (processingMs + 999) / 1000);
        }

        private static String readable(String path) {
            if (!Files.isReadable(Path.of(path))) throw new IllegalArgumentException("not readable");
            return path;
        }

        private static String hostname() {
            try {
                return InetAddress.getLocalHost().getHostName();
            } catch (UnknownHostException e) {
                return "local";
            }
        }
    }

    // ---- The event types and what their data must hold ----

    /**
     * The event contract: one Draft 2020-12 JSON Schema per event type, read from EVENT_SCHEMAS at start (k8s/schemas/
     * in the repository, mounted from a ConfigMap in the pods). A file's name is its type; each schema is compiled once
     * here, so an event only runs a ready validator (tests/benchmark/TUNING.md has the cost).
     */
    static final class EventSchemas {
        static final String DRAFT = "https://json-schema.org/draft/2020-12/schema";
        // Validators compiled once, patterns included: 0.4 us an event more than hand-written checks, about 2 % of the
        // throughput. Vert.x's vertx-json-schema walks the schema on every call: 12-18 us, half the throughput
        // (tests/benchmark/TUNING.md).
        private static final JsonSchemaFactory FACTORY =
                JsonSchemaFactory.getInstance(com.networknt.schema.SpecVersion.VersionFlag.V202012);
        static final ObjectMapper JSON = new ObjectMapper().enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

        private final Map<String, JsonSchema> byType;

        private EventSchemas(Map<String, JsonSchema> byType) {
            this.byType = byType;
        }

        static EventSchemas load(Settings settings) {
            List<Path> files = settings.check("EVENT_SCHEMAS", "a readable directory holding <type>.json schemas",
                    EventSchemas::schemaFiles);
            Map<String, JsonSchema> byType = new HashMap<>();
            for (Path file : files) {
                String name = file.getFileName().toString();
                try {
                    JsonNode schema = JSON.readTree(file.toFile());
                    if (!DRAFT.equals(schema.path("$schema").asText()))
                        throw new IllegalArgumentException("$schema must be " + DRAFT);
                    if (!java.net.URI.create(schema.path("$id").asText()).isAbsolute())
                        throw new IllegalArgumentException("$id must be an absolute URI (the events' dataschema)");
                    JsonSchema compiled = FACTORY.getSchema(schema);
                    compiled.initializeValidators();
                    byType.put(name.substring(0, name.length() - ".json".length()), compiled);
                } catch (IOException | RuntimeException e) {
                    throw new BadSetting(file + " is not a JSON Schema this consumer takes: " + firstLine(e.getMessage()));
                }
            }
            return new EventSchemas(Map.copyOf(byType));
        }

        // A mounted ConfigMap holds its keys as links beside hidden ..data folders: the regular files are the keys.
        private static List<Path> schemaFiles(String directory) {
            try (var listing = Files.list(Path.of(directory))) {
                List<Path> files = listing.filter(f -> f.getFileName().toString().endsWith(".json") && Files.isRegularFile(f))
                        .sorted().toList();
                if (files.isEmpty()) throw new IllegalArgumentException("no schema");
                return files;
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        Optional<JsonSchema> of(String type) {
            return Optional.ofNullable(byType.get(type));
        }

        List<String> types() {
            return byType.keySet().stream().sorted().toList();
        }

        /** The first rule the data breaks, naming the field (data.items[0].sku) and the schema's keyword. */
        static Optional<String> problem(String type, JsonSchema schema, JsonNode data) {
            Set<ValidationMessage> broken = schema.validate(data);
            if (broken.isEmpty()) return Optional.empty();
            ValidationMessage first = broken.iterator().next();
            String field = "data" + first.getInstanceLocation().toString().substring(1)
                    + ("required".equals(first.getType()) ? "." + first.getProperty() : "");
            return Optional.of(field + " breaks rule '" + first.getType() + "' of the " + type + " schema: "
                    + first.getError() + (broken.size() > 1 ? " (and " + (broken.size() - 1) + " more)" : ""));
        }
    }

    // ---- State and start-up ----

    private final Config config;
    private final Vertx vertx;
    private final PrometheusMeterRegistry registry;
    private final Map<String, Counter> counters = new ConcurrentHashMap<>();
    private final Map<String, Timer> timers = new ConcurrentHashMap<>();
    // (source, id), or (source, id, replay run), -> the outcome of its processing; bounded so memory stays flat.
    private final Map<String, Future<Outcome>> seen;
    private final DeadLetterStore deadLetters;
    // Dead-letter mode: the key of each redrive under way, so a second request waits for it instead of sending again.
    private final Map<Long, Future<JsonObject>> redriving = new ConcurrentHashMap<>();
    private WebClient sinkClient;
    private final AtomicInteger inFlight = new AtomicInteger();
    private final AtomicBoolean draining = new AtomicBoolean();
    private final LiveView live = new LiveView();
    private final Outcome throttled;
    private volatile boolean acceptingEvents = true;

    consumer(Config config) {
        this.config = config;
        this.throttled = Outcome.throttled(config);
        this.registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT, new PrometheusRegistry(), Clock.SYSTEM,
                new CurrentTrace());
        this.vertx = Vertx.builder()
                // Netty's epoll transport where its library loads (Linux on amd64 and arm64): less CPU per event than
                // Java's NIO selector (tests/benchmark/TUNING.md); NIO elsewhere, said in the "listening" line.
                .with(new VertxOptions().setEventLoopPoolSize(config.eventLoops()).setPreferNativeTransport(true)
                        .setMetricsOptions(new MicrometerMetricsOptions().setEnabled(true).setJvmMetricsEnabled(true)
                                // per-request HTTP meters cost about 10 % of the throughput (TUNING.md);
                                // the consumer_* meters count and time every event already
                                .addDisabledMetricsCategory(MetricsDomain.HTTP_SERVER)
                                .addDisabledMetricsCategory(MetricsDomain.NET_SERVER)))
                .withMetrics(new MicrometerMetricsFactory(registry))
                .build();
        this.seen = Collections.synchronizedMap(new LinkedHashMap<>(1024, 0.75f, false) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<String, Future<Outcome>> eldest) {
                return size() > config.dedupeWindow();
            }
        });
        registry.gauge("consumer.in.flight", inFlight);
        this.deadLetters = new DeadLetterStore(config.deadLetterStore(), config.deadLetterMaxBytes());
        if (config.deadLetterMode()) {
            registry.gauge("consumer.dead.letters.kept", deadLetters, DeadLetterStore::size);
            FunctionCounter.builder("consumer.dead.letters.dropped", deadLetters, DeadLetterStore::dropped)
                    .description("Dead letters dropped, oldest first, to stay within DEAD_LETTER_MAX_BYTES").register(registry);
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
            System.err.println("consumer: " + e.getMessage());
            System.exit(2);
            return;
        }
        consumer app = new consumer(config);
        app.start().onSuccess(port ->
                // SIGTERM/SIGINT run shutdown hooks; halt() then ends the JVM with the drain's own exit code.
                Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                    int code = app.drain().toCompletionStage().toCompletableFuture().join();
                    STDOUT.flush();
                    Runtime.getRuntime().halt(code);
                }))
        ).onFailure(e -> {
            log("error", "start failed", new JsonObject().put("error", String.valueOf(e.getMessage())));
            STDOUT.flush();
            System.exit(1);
        });
    }

    Future<Integer> start() {
        Router router = Router.router(vertx);
        // A route of its own: Vert.x lets nothing of a route run before its body handler, and admission must.
        router.post("/").handler(this::admit);
        router.post("/")
                .handler(BodyHandler.create(false).setBodyLimit(config.maxBodyBytes()))
                .handler(this::receive)
                .failureHandler(this::bodyFailure);
        router.get("/").handler(live::page);
        router.get("/live").handler(live::stream);
        router.get("/healthz").handler(ctx -> ctx.response().end("ok"));
        router.get("/readyz").handler(ctx -> ctx.response().setStatusCode(draining.get() ? 503 : 200)
                .end(draining.get() ? "draining" : "ready"));
        router.get("/metrics").handler(this::metrics);
        if (config.deadLetterMode()) {
            try {
                JsonObject opened = deadLetters.open().put("pod", config.pod());
                // A record cut short was never answered 2xx (it is forced before the answer): reported, not lost.
                log(opened.getJsonArray("torn_records").isEmpty() ? "info" : "warn", "dead-letter store opened", opened);
            } catch (IOException | UncheckedIOException e) {
                return Future.failedFuture(new IOException("dead-letter store " + config.deadLetterStore()
                        + " cannot be read: " + e.getMessage(), e));
            }
            if (config.sink() != null) sinkClient = WebClient.create(vertx, new WebClientOptions().setConnectTimeout(5000));
            router.get("/dead-letters").handler(this::listDeadLetters);
            router.post("/dead-letters/redrive").handler(this::redriveMatching);
            router.post("/dead-letters/:key/redrive").handler(this::redriveOne);
        }
        HttpServerOptions options = new HttpServerOptions().setCompressionSupported(false)
                .setMaxHeaderSize(16 * 1024).setIdleTimeout(60);
        // Knative's transport-encryption: the broker filter and the channel dispatcher call an https subscriber.
        // The files are read once, at start: a renewed certificate takes effect with the next pod.
        if (config.tlsCertFile() != null)
            options.setSsl(true).setKeyCertOptions(new PemKeyCertOptions().setCertPath(config.tlsCertFile())
                    .setKeyPath(config.tlsKeyFile()));
        // One server per event loop on the same port: Vert.x spreads the connections over them. It shares a port
        // only when asked for the same number, so "any free port" (0) is settled before the servers listen.
        int requested = config.port() == 0 && config.eventLoops() > 1 ? freePort() : config.port();
        // Each instance of this verticle runs on an event loop of its own; servers created straight from main()
        // would all share main's one context, and so one event loop, however many there are.
        AtomicInteger actualPort = new AtomicInteger();
        return vertx.deployVerticle(() -> new VerticleBase() {
                    @Override
                    public Future<?> start() {
                        return vertx.createHttpServer(options).requestHandler(router).listen(requested)
                                .onSuccess(server -> actualPort.set(server.actualPort()));
                    }
                }, new DeploymentOptions().setInstances(config.eventLoops()))
                .map(deployment -> actualPort.get())
                .onSuccess(port -> log("info", "listening", new JsonObject().put("port", port)
                        .put("scheme", config.tlsCertFile() != null ? "https" : "http")
                        .put("mode", config.deadLetterMode() ? "dead-letter" : "events")
                        .put("event_loops", config.eventLoops()).put("pod", config.pod())
                        .put("transport", vertx.isNativeTransportEnabled() ? "epoll" : "nio")))
                .onSuccess(port -> {
                    if (!vertx.isNativeTransportEnabled())
                        log("info", "native transport not in use, Java NIO instead", new JsonObject()
                                .put("reason", String.valueOf(vertx.unavailableNativeTransportCause())));
                });
    }

    // ---- The request path: read the event, check it, process it once, answer ----

    /** What became of one request: the outcome logged and counted, the HTTP status, and the reason a sender reads. */
    record Outcome(String name, int status, String reason) {
        static final Outcome PROCESSED = new Outcome("processed", 202, null);
        static final Outcome DUPLICATE = new Outcome("duplicate", 202, null);
        static final Outcome DEAD_LETTER = new Outcome("dead-letter", 202, null);
        // Knative retries 503, so an event that arrives after the listener drained goes to another replica.
        static final Outcome DEFERRED = new Outcome("deferred", 503, "shutting down");

        /** No retry can help (Knative sends the event to the dead-letter sink). */
        static Outcome rejected(int status, String reason) {
            return new Outcome("rejected", status, reason);
        }

        /** A retry may succeed. */
        static Outcome failed(String reason) {
            return new Outcome("failed", 503, reason);
        }

        /** This replica has MAX_IN_FLIGHT events in hand: a retry after the answer's Retry-After finds room. */
        static Outcome throttled(Config config) {
            return new Outcome("throttled", 429, "this replica is handling MAX_IN_FLIGHT=" + config.maxInFlight()
                    + " events: retry after " + config.retryAfterSeconds() + " s");
        }
    }

    /** The extension a replay's KafkaSource adds through ceOverrides, naming the replay run (scripts/replay.sh). */
    static final String REPLAY = "replay";

    /** One request on its way: the event (null when unreadable), its trace, and when it arrived. */
    record Delivery(CloudEvent event, Trace trace, long startedNanos) {}

    /**
     * Backpressure: at most MAX_IN_FLIGHT events per replica, counted from before the body is read until the answer.
     * One more is answered 429 at once, its body never read (Vert.x discards it as it arrives), so a flood costs
     * this replica neither memory nor work; Knative and the producer retry a 429 after its Retry-After.
     */
    private void admit(RoutingContext ctx) {
        // After the drain delay every request is answered 503 instead (receive): never counted, never throttled.
        if (acceptingEvents) {
            if (inFlight.incrementAndGet() > config.maxInFlight()) {
                inFlight.decrementAndGet();
                Delivery delivery = new Delivery(namedInHeaders(ctx.request().headers()),
                        Trace.childOf(ctx.request().getHeader("traceparent")), System.nanoTime());
                answer(ctx, delivery, throttled);
                return;
            }
            ctx.addEndHandler(done -> inFlight.decrementAndGet());
        }
        ctx.next();
    }

    /**
     * The event a binary-mode request names in its ce- headers, without its data: enough for the log line and the
     * metrics of an answer given before the body is read. Null when the headers name none (structured mode).
     */
    private static CloudEvent namedInHeaders(MultiMap headers) {
        try {
            MultiMap decoded = HeaderValues.decoded(headers);
            return CloudEventBuilder.v1().withId(decoded.get("ce-id")).withType(decoded.get("ce-type"))
                    .withSource(URI.create(decoded.get("ce-source"))).build();
        } catch (RuntimeException namesNone) {
            return null;
        }
    }

    private void receive(RoutingContext ctx) {
        long started = System.nanoTime();
        String traceparent = ctx.request().getHeader("traceparent");
        if (!acceptingEvents) {
            answer(ctx, new Delivery(null, Trace.childOf(traceparent), started), Outcome.DEFERRED);
            return;
        }
        Read read = read(ctx);
        CloudEvent event = read.event();
        // The broker forwards the HTTP traceparent with its own span; the event's extension is the producer's.
        Trace trace = Trace.childOf(traceparent != null || event == null ? traceparent : extension(event, "traceparent"));
        Delivery delivery = new Delivery(event, trace, started);
        if (read.refusal() != null) answer(ctx, delivery, read.refusal());
        else handle(event).onSuccess(outcome -> answer(ctx, delivery, outcome));
    }

    /** A request's CloudEvent, or the answer that says why it is none. */
    private record Read(CloudEvent event, Outcome refusal) {}

    /** Why a request holds no CloudEvent this consumer takes: 400, or 415 for a content mode or format it never takes. */
    static final class NotACloudEvent extends RuntimeException {
        final int status;

        NotACloudEvent(int status, String reason) {
            super(reason, null, false, false);
            this.status = status;
        }

        NotACloudEvent(String reason) {
            this(400, reason);
        }
    }

    /**
     * Reads one CloudEvent 1.0 as the HTTP binding tells a receiver to (http-protocol-binding 3): the Content-Type
     * chooses the content mode, binary mode goes to the SDK's reader with its header values decoded first, the JSON
     * format is read here; then every attribute is checked against the core specification.
     */
    private static Read read(RoutingContext ctx) {
        Buffer body = Optional.ofNullable(ctx.body().buffer()).orElseGet(Buffer::buffer);
        try {
            MultiMap headers = ctx.request().headers();
            String contentType = headers.get("content-type");
            MediaType media = contentType == null ? null : MediaType.parse(contentType);
            if (contentType != null && media == null)
                throw new NotACloudEvent("Content-Type '" + contentType + "' is not a media type (RFC 2046)");
            CloudEvent event;
            if (media != null && media.essence().startsWith("application/cloudevents-batch"))
                throw new NotACloudEvent(415, "batched mode (" + media.essence() + ") is not accepted: this consumer"
                        + " takes one event per request, in binary mode or as application/cloudevents+json");
            else if (media != null && media.essence().equals("application/cloudevents+json"))
                event = CloudEventsJson.read(body);
            else if (media != null && media.essence().startsWith("application/cloudevents"))
                throw new NotACloudEvent(415, "event format " + media.essence() + " is not supported: send"
                        + " application/cloudevents+json or binary mode");
            else
                event = VertxMessageFactory.createReader(HeaderValues.decoded(headers), body).read(TimeReadOnce::new);
            check(event);
            return new Read(event, null);
        } catch (NotACloudEvent e) {
            return new Read(null, Outcome.rejected(e.status, e.getMessage()));
        } catch (RuntimeException e) {
            // The request is the SDK's only input here, so whatever it cannot read is the sender's mistake.
            return new Read(null, Outcome.rejected(400, "not a valid CloudEvent: " + firstLine(e.getMessage())));
        }
    }

    /** The core specification's rules on attribute values that neither reader checks (spec.md 2, 3). */
    private static void check(CloudEvent event) {
        if (event.getSpecVersion() != SpecVersion.V1)
            throw new NotACloudEvent("specversion must be 1.0, not " + event.getSpecVersion());
        requireText("id", event.getId());
        requireText("type", event.getType());
        requireText("source", event.getSource().toString());
        if (event.getSubject() != null) requireText("subject", event.getSubject());
        if (event.getDataSchema() != null && !event.getDataSchema().isAbsolute())
            throw new NotACloudEvent("attribute dataschema must be an absolute URI, not '" + event.getDataSchema() + "'");
        if (event.getDataContentType() != null && MediaType.parse(event.getDataContentType()) == null)
            throw new NotACloudEvent("attribute datacontenttype must be a media type (RFC 2046), not '"
                    + event.getDataContentType() + "'");
        for (String name : event.getExtensionNames())
            if (event.getExtension(name) instanceof String value) requireString(name, value);
    }

    // Stricter than the letter (a non-empty String): an id, type or subject of only spaces identifies nothing.
    private static void requireText(String name, String value) {
        if (value.isBlank()) throw new NotACloudEvent("attribute " + name + " must not be empty");
        requireString(name, value);
    }

    /** A String of the type system (spec.md 2.4): no control characters, noncharacters or unpaired surrogates. */
    private static void requireString(String name, String value) {
        for (int i = 0; i < value.length(); ) {
            int c = value.codePointAt(i);
            i += Character.charCount(c);
            String problem = c < 0x20 || c >= 0x7f && c <= 0x9f ? "a control character"
                    : c >= 0xd800 && c <= 0xdfff ? "an unpaired surrogate"
                    : c >= 0xfdd0 && c <= 0xfdef || (c & 0xfffe) == 0xfffe ? "a noncharacter" : null;
            if (problem != null)
                throw new NotACloudEvent("attribute " + name + " holds " + problem + String.format(" (U+%04X)", c));
        }
    }

    /** Dead-letter mode records every event; otherwise a known type with valid data is processed once. */
    private Future<Outcome> handle(CloudEvent event) {
        if (config.deadLetterMode()) return recordDeadLetter(event);
        Optional<JsonSchema> schema = config.eventSchemas().of(event.getType());
        if (schema.isEmpty()) return Future.succeededFuture(Outcome.rejected(400, "unsupported type '" + event.getType()
                + "': this consumer handles " + String.join(", ", config.eventSchemas().types())));
        return dataProblem(schema.get(), event)
                .map(problem -> Future.succeededFuture(Outcome.rejected(400, problem)))
                .orElseGet(() -> processOnce(event));
    }

    /** Why the event's data does not meet its type's contract, if it does not. */
    private static Optional<String> dataProblem(JsonSchema schema, CloudEvent event) {
        String contentType = event.getDataContentType();
        if (contentType != null && !MediaType.parse(contentType).json())
            return Optional.of("datacontenttype must be JSON (application/json, */json or */*+json), not '"
                    + contentType + "'");
        if (event.getData() == null) return Optional.of("data is required");
        JsonNode data;
        try {
            data = EventSchemas.JSON.readTree(event.getData().toBytes());
        } catch (IOException e) {
            return Optional.of("data is not valid JSON: " + firstLine(e.getMessage()));
        }
        if (data.isMissingNode()) return Optional.of("data is not valid JSON: no content");
        return data.isObject() ? EventSchemas.problem(event.getType(), schema, data) : Optional.of("data must be a JSON object");
    }

    /**
     * A retry or redelivery of an event already processed is answered, not processed again. A replay (scripts/replay.sh)
     * marks its copies with the extension replay=<run>: each run is processed once more, and once only, as its own key.
     */
    private Future<Outcome> processOnce(CloudEvent event) {
        String replay = extension(event, REPLAY);
        // A control character cannot occur in an id (check()), so "\n" keeps a replay's key apart from any plain one.
        String key = event.getSource() + " " + event.getId() + (replay == null ? "" : "\n" + replay);
        Promise<Outcome> mine = Promise.promise();
        Future<Outcome> earlier = seen.putIfAbsent(key, mine.future());
        if (earlier != null) {
            // The same event while its first delivery is under way: wait for that one instead of repeating it.
            return earlier.compose(first -> first == Outcome.PROCESSED
                    ? Future.succeededFuture(Outcome.DUPLICATE) : processOnce(event));
        }
        // A failed attempt is forgotten before anyone waiting hears of it, so the retry is processed.
        return process().andThen(done -> {
            if (done.result() != Outcome.PROCESSED) seen.remove(key, mine.future());
        }).onComplete(mine);
    }

    /** Simulated work: a timer, so the event loop is never blocked while an event is "processed". */
    private Future<Outcome> process() {
        Promise<Outcome> done = Promise.promise();
        Runnable finish = () -> done.complete(ThreadLocalRandom.current().nextDouble() < config.failureRate()
                ? Outcome.failed("simulated transient failure") : Outcome.PROCESSED);
        if (config.processingMs() > 0) vertx.setTimer(config.processingMs(), t -> finish.run());
        else finish.run();
        return done.future();
    }

    /** The one place an outcome becomes the metrics, the HTTP answer and the log line. */
    private void answer(RoutingContext ctx, Delivery delivery, Outcome outcome) {
        double millis = (System.nanoTime() - delivery.startedNanos()) / 1e6;
        count(delivery, outcome, millis);
        HttpServerResponse response = ctx.response().setStatusCode(outcome.status());
        if (outcome == throttled) response.putHeader("retry-after", String.valueOf(config.retryAfterSeconds()));
        if (outcome.reason() == null) response.end();
        else response.putHeader("content-type", "text/plain; charset=utf-8").end(outcome.reason());
        live.publish(log(outcome.status() >= 400 ? "warn" : "info", "event", logFields(delivery, outcome, millis)));
    }

    private void count(Delivery delivery, Outcome outcome, double millis) {
        String type = delivery.event() == null ? "unknown" : typeLabel(delivery.event().getType());
        CurrentTrace.CURRENT.set(delivery.trace());
        try {
            eventCounter(type, outcome.name()).increment();
            if (outcome == Outcome.PROCESSED) timer(type).record((long) (millis * 1e6), TimeUnit.NANOSECONDS);
        } finally {
            CurrentTrace.CURRENT.remove();
        }
    }

    private JsonObject logFields(Delivery delivery, Outcome outcome, double millis) {
        CloudEvent event = delivery.event();
        Trace trace = delivery.trace();
        JsonObject line = new JsonObject()
                .put("id", event == null ? null : event.getId())
                .put("type", event == null ? null : event.getType())
                .put("source", event == null ? null : event.getSource().toString())
                .put("outcome", outcome.name()).put("status", outcome.status())
                .put("duration_ms", Math.round(millis * 100) / 100.0).put("pod", config.pod())
                .put("trace_id", trace.traceId()).put("span_id", trace.spanId());
        if (trace.parentSpanId() != null) line.put("parent_span_id", trace.parentSpanId());
        if (event != null && extension(event, REPLAY) != null) line.put("replay", extension(event, REPLAY));
        if (outcome.reason() != null) line.put("reason", outcome.reason());
        return line;
    }

    private void bodyFailure(RoutingContext ctx) {
        // BodyHandler reports a request body that broke off (bad chunk framing, connection closed mid-upload) as
        // status 200: that is the sender's failure and must never be answered or counted as a success.
        int status = ctx.statusCode() >= 400 ? ctx.statusCode() : ctx.statusCode() > 0 ? 400 : 500;
        String reason = status == 413 ? "body larger than " + config.maxBodyBytes() + " bytes (MAX_BODY_BYTES)"
                : ctx.failure() != null ? String.valueOf(ctx.failure().getMessage()) : "request failed";
        Delivery delivery = new Delivery(null, Trace.childOf(ctx.request().getHeader("traceparent")), System.nanoTime());
        answer(ctx, delivery, status >= 500 ? new Outcome("failed", status, reason) : Outcome.rejected(status, reason));
    }

    // ---- CloudEvents 1.0.2 where the SDK (4.0.1) reads it otherwise: media types, header values, JSON, time ----

    /** A media type (RFC 2046; syntax RFC 9110 8.3.1): type and subtype in any case, whitespace around parameters. */
    record MediaType(String essence) {
        private static final String TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+";
        private static final Pattern SYNTAX = Pattern.compile("^(" + TOKEN + "/" + TOKEN + ")(?:[ \\t]*;[ \\t]*(?:"
                + TOKEN + "=(?:" + TOKEN + "|\"(?:[^\"\\\\]|\\\\.)*\"))?)*[ \\t]*$");

        // Each event's Content-Type is parsed up to three times (content mode, check(), the data's format), and
        // senders use a handful of them: each is matched once, not per event (9 % of the allocations before:
        // tests/benchmark/TUNING.md). Only media types are kept, at most 64, so no sender can make the map grow.
        private static final Map<String, MediaType> PARSED = new ConcurrentHashMap<>();

        /** The media type, or null when the text is none. */
        static MediaType parse(String text) {
            MediaType known = PARSED.get(text);
            if (known != null) return known;
            Matcher m = SYNTAX.matcher(text);
            MediaType media = m.matches() ? new MediaType(m.group(1).toLowerCase(Locale.ROOT)) : null;
            if (media != null && PARSED.size() < 64) PARSED.put(text, media);
            return media;
        }

        /** JSON-formatted content: a subtype json or ending in +json (json-format 3.1.1). */
        boolean json() {
            return essence.endsWith("/json") || essence.endsWith("+json");
        }
    }

    /**
     * Binary-mode header values as the HTTP binding writes them (3.1.3.2): a double-quoted value is unquoted, then
     * percent-decoded once into UTF-8. The SDK's reader takes header values as they came, so they are decoded here
     * first; only headers with a '%' or a leading '"' are touched. ce-time is read by TimeReadOnce.
     */
    static final class HeaderValues {
        static MultiMap decoded(MultiMap headers) {
            if (headers.contains("ce-datacontenttype"))
                throw new NotACloudEvent("ce-datacontenttype must not be sent in binary mode: Content-Type carries the"
                        + " datacontenttype (http-protocol-binding 3.1.1)");
            MultiMap decoded = headers;
            for (Map.Entry<String, String> header : headers) {
                String name = header.getKey();
                String value = header.getValue();
                boolean encoded = value.indexOf('%') >= 0 || value.startsWith("\"");
                if (!encoded || name.length() <= 3 || !name.regionMatches(true, 0, "ce-", 0, 3)) continue;
                String attribute = decode(name, value);
                if (attribute.equals(value)) continue;
                if (decoded == headers) decoded = MultiMap.caseInsensitiveMultiMap().addAll(headers);
                decoded.set(name, attribute);
            }
            return decoded;
        }

        static String decode(String name, String value) {
            String text = value.startsWith("\"") ? unquote(name, value) : value;
            if (text.indexOf('%') < 0) return text;
            byte[] bytes = new byte[text.length()];
            int length = 0;
            for (int i = 0; i < text.length(); i++) {
                char c = text.charAt(i);
                if (c != '%') {
                    bytes[length++] = (byte) c;
                    continue;
                }
                int high = i + 2 < text.length() ? hex(text.charAt(i + 1)) : -1;
                int low = high < 0 ? -1 : hex(text.charAt(i + 2));
                if (low < 0) throw new NotACloudEvent("header " + name + " has a '%' that starts no percent-encoding (%XX)");
                bytes[length++] = (byte) (high << 4 | low);
                i += 2;
            }
            try {
                return StandardCharsets.UTF_8.newDecoder().decode(ByteBuffer.wrap(bytes, 0, length)).toString();
            } catch (CharacterCodingException e) {
                throw new NotACloudEvent("header " + name + " is not UTF-8 once percent-decoded");
            }
        }

        /** A quoted-string (RFC 7230 3.2.6): its text between the quotes, each backslash escape resolved. */
        private static String unquote(String name, String value) {
            StringBuilder text = new StringBuilder(value.length());
            int i = 1;
            for (; i < value.length() && value.charAt(i) != '"'; i++)
                text.append(value.charAt(value.charAt(i) == '\\' && i + 1 < value.length() ? ++i : i));
            if (i != value.length() - 1) throw new NotACloudEvent("header " + name + " is not one complete quoted string");
            return text.toString();
        }

        private static int hex(char c) {
            return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        }
    }

    /**
     * The time attribute as RFC 3339 defines a date-time (5.6), which OffsetDateTime.parse, the SDK's reader, is not:
     * it takes "17:31Z" and "+01" and refuses fractions over nine digits and leap seconds.
     */
    static final class Timestamp {
        // RFC 3339's date-time (5.6) read by hand, what the regular expression before it took:
        // dddd-dd-dd, T or t, dd:dd:dd, an optional fraction of one or more digits, then Z, z or +hh:mm / -hh:mm.
        // The expression took 4 % of the event loop (tests/benchmark/TUNING.md).
        static OffsetDateTime parse(String text) {
            try {
                int n = text.length();
                if (n >= 20 && number(text, 0, 4) >= 0 && text.charAt(4) == '-' && number(text, 5, 7) >= 0
                        && text.charAt(7) == '-' && number(text, 8, 10) >= 0 && (text.charAt(10) | 0x20) == 't'
                        && number(text, 11, 13) >= 0 && text.charAt(13) == ':' && number(text, 14, 16) >= 0
                        && text.charAt(16) == ':' && number(text, 17, 19) >= 0) {
                    int zone = 19, nanos = 0;
                    if (text.charAt(19) == '.') {
                        for (zone = 20; zone < n && digit(text.charAt(zone)); ) zone++;
                        // Nine digits are as far as java.time goes: more are cut off, fewer are scaled up.
                        for (int i = 20, scale = 100_000_000; i < zone && scale > 0; i++, scale /= 10)
                            nanos += (text.charAt(i) - '0') * scale;
                        if (zone == 20) zone = -1;
                    }
                    ZoneOffset offset = zone < 0 ? null : offset(text, zone);
                    if (offset != null) {
                        int second = number(text, 17, 19);
                        // A leap second (5.7) has no place in java.time: it becomes the last nanosecond before it.
                        return OffsetDateTime.of(number(text, 0, 4), number(text, 5, 7), number(text, 8, 10),
                                number(text, 11, 13), number(text, 14, 16), Math.min(second, 59),
                                second == 60 ? 999_999_999 : nanos, offset);
                    }
                }
            } catch (DateTimeException outOfRange) {
                // Falls through to the answer below: a day or an hour that does not exist.
            }
            throw new NotACloudEvent("attribute time must be an RFC 3339 timestamp, not '" + text + "'");
        }

        /** [Zz] or [+-]hh:mm, and nothing after it; null when the text holds none. */
        private static ZoneOffset offset(String text, int at) {
            int n = text.length();
            if (n == at + 1 && (text.charAt(at) | 0x20) == 'z') return ZoneOffset.UTC;
            if (n != at + 6 || text.charAt(at) != '+' && text.charAt(at) != '-' || text.charAt(at + 3) != ':') return null;
            int hours = number(text, at + 1, at + 3), minutes = number(text, at + 4, at + 6);
            if (hours < 0 || minutes < 0) return null;
            int sign = text.charAt(at) == '-' ? -1 : 1;
            return ZoneOffset.ofHoursMinutes(sign * hours, sign * minutes);
        }

        /** The decimal number of the ASCII digits from start to end, or -1 when one is no digit. */
        private static int number(String text, int start, int end) {
            int value = 0;
            for (int i = start; i < end; i++) {
                char c = text.charAt(i);
                if (!digit(c)) return -1;
                value = value * 10 + c - '0';
            }
            return value;
        }

        private static boolean digit(char c) {
            return c >= '0' && c <= '9';
        }
    }

    /**
     * The SDK's builder, fed by its binary-mode reader, with ce-time read by Timestamp (RFC 3339) instead of the SDK's
     * OffsetDateTime.parse: the time is read once, and the SDK's parse took 6 % of the event loop and 13 % of the
     * allocations (tests/benchmark/TUNING.md).
     */
    static final class TimeReadOnce implements CloudEventWriter<CloudEvent> {
        private final CloudEventBuilder builder;

        TimeReadOnce(SpecVersion version) {
            builder = CloudEventBuilder.fromSpecVersion(version);
        }

        @Override
        public CloudEventContextWriter withContextAttribute(String name, String value) {
            if (name.equals("time")) builder.withContextAttribute(name, Timestamp.parse(value));
            else builder.withContextAttribute(name, value);
            return this;
        }

        @Override
        public CloudEvent end(CloudEventData data) {
            return builder.end(data);
        }

        @Override
        public CloudEvent end() {
            return builder.end();
        }
    }

    /**
     * The JSON event format (json-format 2, 3), read here: the SDK's reader takes data as JSON only for a
     * datacontenttype of application or text and a subtype of letters, turns a null extension into the string "null"
     * and an object into its text, and reads time as java.time does.
     */
    static final class CloudEventsJson {
        private static final Set<String> STRING_ATTRIBUTES =
                Set.of("id", "source", "type", "datacontenttype", "dataschema", "subject", "time");

        static CloudEvent read(Buffer body) {
            JsonObject json;
            try {
                json = body.toJsonObject();
            } catch (DecodeException | ClassCastException e) {
                throw new NotACloudEvent("not a valid CloudEvent: the body is not one JSON object: " + firstLine(e.getMessage()));
            }
            if (json.containsKey("data") && json.containsKey("data_base64"))
                throw new NotACloudEvent("data and data_base64 must not both be present (json-format 3.1.1)");
            if (!"1.0".equals(json.getValue("specversion")))
                throw new NotACloudEvent("specversion must be 1.0, not " + json.getValue("specversion"));
            CloudEventBuilder event = CloudEventBuilder.v1();
            for (Map.Entry<String, Object> member : json) {
                String name = member.getKey();
                Object value = member.getValue();
                // A member that is null is an attribute left unset (json-format 2.2).
                if (value == null || name.equals("specversion") || name.equals("data") || name.equals("data_base64")) continue;
                if (value instanceof String text) {
                    if (name.equals("time")) event.withTime(Timestamp.parse(text));
                    else event.withContextAttribute(name, text);
                } else if (STRING_ATTRIBUTES.contains(name)) {
                    throw new NotACloudEvent("attribute " + name + " must be a JSON string, not " + value);
                } else if (value instanceof Boolean flag) {
                    event.withExtension(name, flag);
                } else if (value instanceof Integer || value instanceof Long n && n == n.intValue()) {
                    event.withExtension(name, ((Number) value).intValue());
                } else {
                    throw new NotACloudEvent("extension " + name + " must be a string, a boolean or a 32-bit integer"
                            + " (json-format 2.2), not " + value);
                }
            }
            String contentType = json.getValue("datacontenttype") instanceof String text ? text : null;
            if (json.getValue("data_base64") instanceof String base64) {
                try {
                    event.withData(Base64.getDecoder().decode(base64));
                } catch (IllegalArgumentException e) {
                    throw new NotACloudEvent("data_base64 is not Base64: " + e.getMessage());
                }
            } else if (json.containsKey("data")) {
                Object data = json.getValue("data");
                MediaType media = contentType == null ? null : MediaType.parse(contentType);
                if (media == null || media.json()) event.withData(Json.encodeToBuffer(data).getBytes());
                else if (data instanceof String text) event.withData(text.getBytes(StandardCharsets.UTF_8));
                else throw new NotACloudEvent("data must be a string when datacontenttype is not JSON (json-format 3.1.2)");
            }
            return event.build();
        }
    }

    // ---- Dead letters (--dead-letter) ----

    /** Stores the dead letter; the answer (202, or 503 so Knative tries again) waits until it is stored. */
    private Future<Outcome> recordDeadLetter(CloudEvent event) {
        JsonObject json = DeadLetterStore.toJson(event);
        return deadLetters.add(json).map(entry -> {
            JsonObject line = summary(entry, json);
            counter("consumer.dead.letters", "type", typeLabel(event.getType()),
                    "code", String.valueOf(extension(event, "knativeerrorcode"))).increment();
            live.publish(log("info", "dead letter", line.put("pod", config.pod())));
            return Outcome.DEAD_LETTER;
        }).otherwise(e -> Outcome.failed("dead letter not stored: " + e.getMessage()));
    }

    /** A dead letter as the display shows it: what failed, decoded, and the original event. */
    private static JsonObject view(DeadLetterStore.Entry entry) {
        JsonObject record = entry.record();
        JsonObject event = record.getJsonObject("event");
        JsonObject view = summary(entry, event).put("received", record.getString("received")).put("event", event);
        JsonObject redrive = entry.redrive();
        if (redrive != null) view.put("redrive", redrive);
        return view;
    }

    private static JsonObject summary(DeadLetterStore.Entry entry, JsonObject event) {
        return new JsonObject().put("key", entry.key()).put("id", event.getString("id"))
                .put("type", event.getString("type")).put("source", event.getString("source"))
                .mergeIn(failure(event));
    }

    // The filter's wrapper, possibly cut short: Knative stores at most 1024 bytes of a response.
    private static final Pattern WRAPPED_DESTINATION = Pattern.compile("\"errdestination\":\"((?:[^\"\\\\]|\\\\.)*)\"");
    private static final Pattern WRAPPED_BODY = Pattern.compile("\"errresponsebody\":\"([A-Za-z0-9+/=]*)");

    /**
     * What failed, in the shapes Knative's dispatchers send. knativeerrordest is the subscriber, knativeerrorcode its
     * status and knativeerrordata its response body in base64. A KafkaChannel behind a Broker calls the broker filter,
     * which answers a failed delivery with {"errdestination": url, "errresponsebody": base64}: the Go dispatcher
     * unwraps that, the Kafka dispatcher passes it on, so it is unwrapped here and the filter named as "via". The Kafka
     * dispatcher sends only knativeerrordest when no response came at all.
     */
    static JsonObject failure(JsonObject event) {
        String destination = text(event, "knativeerrordest");
        String code = text(event, "knativeerrorcode");
        String data = base64Text(text(event, "knativeerrordata"));
        JsonObject failure = new JsonObject().put("knativeerrordest", destination).put("knativeerrorcode", code)
                .put("knativeerrordata", data);
        if (data != null && data.startsWith("{\"errdestination\"")) {
            Matcher wrappedDestination = WRAPPED_DESTINATION.matcher(data);
            Matcher wrappedBody = WRAPPED_BODY.matcher(data);
            failure.put("via", destination)
                    .put("knativeerrordest", wrappedDestination.find() ? (String) Json.decodeValue("\"" + wrappedDestination.group(1) + "\"") : null)
                    .put("knativeerrordata", wrappedBody.find() ? base64Text(wrappedBody.group(1)) : null);
        }
        if (destination != null && code == null)
            failure.put("reason", "no response from " + failure.getString("knativeerrordest") + " (refused, reset or timed out)");
        return failure;
    }

    /** An attribute of an event in the JSON format as text (an extension may also be a boolean or a number). */
    private static String text(JsonObject event, String name) {
        Object value = event.getValue(name);
        return value == null ? null : String.valueOf(value);
    }

    /** Base64 as text; a value cut short is decoded as far as it goes, one that is not Base64 is shown as it came. */
    private static String base64Text(String value) {
        if (value == null) return null;
        try {
            return new String(Base64.getDecoder().decode(value.substring(0, value.length() - value.length() % 4)),
                    StandardCharsets.UTF_8);
        } catch (IllegalArgumentException e) {
            return value;
        }
    }

    /** Which dead letters a request means: ?type=, ?code= (none: without one) and ?text= (in any field, any case). */
    private record Filter(String type, String code, String text) {
        static Filter of(RoutingContext ctx) {
            String text = ctx.queryParams().get("text");
            return new Filter(ctx.queryParams().get("type"), ctx.queryParams().get("code"),
                    text == null ? null : text.toLowerCase(Locale.ROOT));
        }

        boolean matches(DeadLetterStore.Entry entry) {
            if (type != null && !type.equals(entry.type())) return false;
            if (code != null && !code.equals(entry.code() == null ? "none" : entry.code())) return false;
            return text == null || view(entry).encode().toLowerCase(Locale.ROOT).contains(text);
        }
    }

    /** GET /dead-letters: newest first, ?limit= (1 to 1000, 50) from ?cursor= (the next_cursor of the page before). */
    private void listDeadLetters(RoutingContext ctx) {
        long limit;
        Long cursor;
        try {
            limit = Long.parseLong(Optional.ofNullable(ctx.queryParams().get("limit")).orElse("50"));
            cursor = ctx.queryParams().contains("cursor") ? Long.valueOf(ctx.queryParams().get("cursor")) : null;
            if (limit < 1 || limit > 1000) throw new NumberFormatException();
        } catch (NumberFormatException e) {
            ctx.response().setStatusCode(400).end("limit must be an integer from 1 to 1000 and cursor a key");
            return;
        }
        Filter filter = Filter.of(ctx);
        JsonArray page = new JsonArray();
        String next = null;
        for (DeadLetterStore.Entry entry : deadLetters.newestFirst(cursor)) {
            if (!filter.matches(entry)) continue;
            if (page.size() == limit) {
                next = page.getJsonObject(page.size() - 1).getString("key");
                break;
            }
            page.add(view(entry));
        }
        ctx.json(new JsonObject().put("dead_letters", page).put("next_cursor", next)
                .put("kept", deadLetters.size()).put("dropped", deadLetters.dropped()));
    }

    /** POST /dead-letters/{key}/redrive[?force=true]: 200 once the sink accepted it, now or before; 502 if it did not. */
    private void redriveOne(RoutingContext ctx) {
        DeadLetterStore.Entry entry;
        try {
            entry = deadLetters.get(Long.parseLong(ctx.pathParam("key")));
        } catch (NumberFormatException e) {
            entry = null;
        }
        if (entry == null) {
            ctx.response().setStatusCode(404).end("no dead letter with key " + ctx.pathParam("key"));
            return;
        }
        if (refuseWithoutSink(ctx)) return;
        redrive(entry, "true".equals(ctx.queryParams().get("force")))
                .onSuccess(result -> ctx.response().setStatusCode(accepted(result) ? 200 : 502)
                        .putHeader("content-type", "application/json").end(result.encode()))
                .onFailure(ctx::fail);
    }

    /** POST /dead-letters/redrive[?type=&code=&text=&force=true]: every match, oldest first, one after the other. */
    private void redriveMatching(RoutingContext ctx) {
        if (refuseWithoutSink(ctx)) return;
        Filter filter = Filter.of(ctx);
        boolean force = "true".equals(ctx.queryParams().get("force"));
        List<DeadLetterStore.Entry> matching = new ArrayList<>(deadLetters.newestFirst(null).stream().filter(filter::matches).toList());
        Collections.reverse(matching);
        JsonArray results = new JsonArray();
        Future<Void> all = Future.succeededFuture();
        for (DeadLetterStore.Entry entry : matching)
            all = all.compose(v -> redrive(entry, force).map(result -> {
                results.add(new JsonObject().put("key", entry.key()).put("sent", result.getBoolean("sent"))
                        .put("status", result.getJsonObject("redrive").getValue("status")));
                return null;
            }));
        all.onSuccess(v -> {
            long accepted = results.stream().map(JsonObject.class::cast).filter(consumer::accepted).count();
            ctx.response().setStatusCode(accepted == results.size() ? 200 : 502).putHeader("content-type", "application/json")
                    .end(new JsonObject().put("matched", results.size())
                            .put("sent", results.stream().map(JsonObject.class::cast).filter(r -> r.getBoolean("sent")).count())
                            .put("accepted", accepted).put("results", results).encode());
        }).onFailure(ctx::fail);
    }

    private boolean refuseWithoutSink(RoutingContext ctx) {
        if (sinkClient != null) return false;
        ctx.response().setStatusCode(503).end("no sink to redrive to: set K_SINK (in Kubernetes the dead-letter SinkBinding does)");
        return true;
    }

    /** A redrive's status, or a bulk result's, is 2xx. */
    private static boolean accepted(JsonObject result) {
        Object status = result.containsKey("redrive") ? result.getJsonObject("redrive").getValue("status") : result.getValue("status");
        return status instanceof Integer code && code / 100 == 2;
    }

    /**
     * Sends the original event to the sink again (its id, source, type, data and extensions, without knativeerror*)
     * unless it was accepted before and not forced, and stores when and with what answer. A request for a key whose
     * redrive is under way gets that redrive's result.
     */
    private Future<JsonObject> redrive(DeadLetterStore.Entry entry, boolean force) {
        if (!force && entry.redrive() != null && accepted(entry.redrive()))
            return Future.succeededFuture(view(entry).put("sent", false));
        CloudEventBuilder original = CloudEventBuilder.v1(CloudEventsJson.read(entry.record().getJsonObject("event").toBuffer()));
        for (String name : List.of("knativeerrordest", "knativeerrorcode", "knativeerrordata")) original.withoutExtension(name);
        CloudEvent event = original.build();
        Promise<JsonObject> mine = Promise.promise();
        Future<JsonObject> running = redriving.putIfAbsent(entry.seq(), mine.future());
        if (running != null) return running.map(result -> result.copy().put("sent", false));
        String at = Instant.now().toString();
        VertxMessageFactory.createWriter(sinkClient.postAbs(config.sink()).timeout(30_000)).writeBinary(event)
                .map(response -> new JsonObject().put("at", at).put("sink", config.sink()).put("status", response.statusCode())
                        .put("answer", answerText(response)).put("forced", force))
                .otherwise(e -> new JsonObject().put("at", at).put("sink", config.sink()).put("status", (Integer) null)
                        .put("answer", "no answer: " + e.getMessage()).put("forced", force))
                .compose(result -> deadLetters.redriven(entry, result).map(v -> {
                    counter("consumer.dead.letters.redriven", "accepted", String.valueOf(accepted(result))).increment();
                    live.publish(log(accepted(result) ? "info" : "warn", "redriven", new JsonObject().put("key", entry.key())
                            .put("id", event.getId()).put("type", event.getType()).put("source", event.getSource().toString())
                            .put("status", result.getValue("status")).put("answer", result.getString("answer"))
                            .put("pod", config.pod())));
                    return view(entry).put("sent", true);
                }))
                .onComplete(done -> redriving.remove(entry.seq()))
                .onComplete(mine);
        return mine.future();
    }

    private static String answerText(HttpResponse<Buffer> response) {
        String body = response.bodyAsString();
        return body == null || body.isEmpty() ? null : firstLine(body.length() > 500 ? body.substring(0, 500) : body);
    }

    /**
     * The dead letters kept, oldest first, within DEAD_LETTER_MAX_BYTES. Given a directory (DEAD_LETTER_STORE), each
     * record is also appended to a segment file and forced to disk before its append completes, so whatever was
     * answered 2xx survives a kill at any point; a start reads the segments back and skips, truncates and reports a
     * record cut short. Segments rotate at an eighth of the bound and the oldest goes whole, its dead letters counted
     * as dropped. One writer thread does every append, in order, and forces once for all that queued meanwhile: a
     * burst costs one fsync per batch, not one per dead letter.
     * A record on disk: its length (4 bytes), its CRC-32C (4 bytes), then JSON: {"kind":"segment","next_key":n} first
     * in each segment, {"kind":"dead-letter","key":n,"received":time,"event":{JSON format}} and
     * {"kind":"redrive","key":n,"redrive":{at,sink,status,answer,forced}}.
     */
    static final class DeadLetterStore {
        /** One dead letter: a key that no later start reuses, where it is stored, its record, its last redrive. */
        static final class Entry {
            private final long seq;
            private final long segment;
            private final byte[] record;
            private final String type;
            private final String code;
            private volatile JsonObject redrive;

            Entry(long seq, long segment, JsonObject record) {
                this.seq = seq;
                this.segment = segment;
                this.record = record.toBuffer().getBytes();
                JsonObject event = record.getJsonObject("event");
                this.type = event.getString("type");
                this.code = text(event, "knativeerrorcode");
            }

            long seq() { return seq; }
            String key() { return Long.toString(seq); }
            String type() { return type; }
            String code() { return code; }
            JsonObject record() { return new JsonObject(Buffer.buffer(record)); }
            JsonObject redrive() { return redrive; }
        }

        private static final class Segment {
            final long number;
            final Path file;
            long bytes;

            Segment(long number, Path file, long bytes) {
                this.number = number;
                this.file = file;
                this.bytes = bytes;
            }
        }

        private record Pending(JsonObject record, Promise<Entry> done, Context context) {}

        private static final Pattern SEGMENT_FILE = Pattern.compile("segment-(\\d{16})\\.log");

        private final Path dir;
        private final long maxBytes;
        private final TreeMap<Long, Entry> entries = new TreeMap<>();
        private final ArrayDeque<Segment> segments = new ArrayDeque<>();
        private final LinkedBlockingQueue<Pending> queue = new LinkedBlockingQueue<>();
        private FileChannel channel;
        private FileChannel lock;
        private long nextSeq = 1;
        private long dropped;

        DeadLetterStore(Path dir, long maxBytes) {
            this.dir = dir;
            this.maxBytes = maxBytes;
        }

        /** Reads what the directory holds, starts a new segment and the writer; what it found, for the log. */
        synchronized JsonObject open() throws IOException {
            JsonObject found = new JsonObject().put("store", dir == null ? "memory" : dir.toString());
            JsonArray torn = new JsonArray();
            if (dir != null) {
                // One process per directory: a second writer would interleave its records with ours.
                lock = FileChannel.open(dir.resolve("lock"), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
                if (lock.tryLock() == null) throw new IOException("another process holds " + dir.resolve("lock"));
                List<Path> files;
                try (var listing = Files.list(dir)) {
                    files = listing.filter(f -> SEGMENT_FILE.matcher(f.getFileName().toString()).matches()).sorted().toList();
                }
                for (Path file : files) {
                    Segment segment = new Segment(Long.parseLong(SEGMENT_FILE.matcher(file.getFileName().toString())
                            .replaceFirst("$1")), file, 0);
                    segments.addLast(segment);
                    segment.bytes = load(segment, torn);
                }
            }
            startSegment();
            dropOldest();
            Thread writer = new Thread(this::write, "dead-letter-store");
            writer.setDaemon(true);
            writer.start();
            return found.put("dead_letters", size()).put("segments", segments.size()).put("bytes", bytes())
                    .put("torn_records", torn).put("dropped", dropped);
        }

        /** Applies every whole record of a segment file; a record cut short ends it and is cut off, and reported. */
        private long load(Segment segment, JsonArray torn) throws IOException {
            ByteBuffer data = ByteBuffer.wrap(Files.readAllBytes(segment.file));
            while (data.remaining() > 0) {
                int start = data.position();
                JsonObject record = data.remaining() < 8 ? null : readRecord(data);
                if (record == null) {
                    torn.add(new JsonObject().put("file", segment.file.getFileName().toString()).put("offset", start)
                            .put("bytes", data.limit() - start));
                    try (FileChannel file = FileChannel.open(segment.file, StandardOpenOption.WRITE)) {
                        file.truncate(start);
                        file.force(true);
                    }
                    return start;
                }
                apply(record, segment.number);
            }
            return data.limit();
        }

        private static JsonObject readRecord(ByteBuffer data) {
            int length = data.getInt();
            int crc = data.getInt();
            if (length < 0 || length > data.remaining()) return null;
            byte[] payload = new byte[length];
            data.get(payload);
            CRC32C check = new CRC32C();
            check.update(payload);
            if ((int) check.getValue() != crc) return null;
            try {
                return new JsonObject(Buffer.buffer(payload));
            } catch (DecodeException e) {
                return null;
            }
        }

        private void apply(JsonObject record, long segment) {
            long key = record.getLong("key", record.getLong("next_key", 0L));
            switch (record.getString("kind")) {
                case "segment" -> nextSeq = Math.max(nextSeq, key);
                case "dead-letter" -> {
                    entries.put(key, new Entry(key, segment, record));
                    nextSeq = Math.max(nextSeq, key + 1);
                }
                case "redrive" -> {
                    Entry entry = entries.get(key);
                    if (entry != null) entry.redrive = record.getJsonObject("redrive");
                }
                default -> throw new IllegalStateException("unknown record kind " + record.getString("kind"));
            }
        }

        /** Stores the event (JSON format) as a new dead letter; completes once it is on disk, on the caller's context. */
        Future<Entry> add(JsonObject event) {
            return enqueue(new JsonObject().put("kind", "dead-letter").put("received", Instant.now().toString()).put("event", event));
        }

        /** Stores the answer a redrive got as the dead letter's last redrive. */
        Future<Void> redriven(Entry entry, JsonObject result) {
            return enqueue(new JsonObject().put("kind", "redrive").put("key", entry.seq).put("redrive", result)).mapEmpty();
        }

        private Future<Entry> enqueue(JsonObject record) {
            Promise<Entry> done = Promise.promise();
            queue.add(new Pending(record, done, Vertx.currentContext()));
            return done.future();
        }

        /** The writer thread: takes what queued up, writes it, forces it to disk once, then applies and answers it. */
        private void write() {
            List<Pending> batch = new ArrayList<>();
            while (true) {
                try {
                    batch.add(queue.take());
                } catch (InterruptedException e) {
                    return;
                }
                queue.drainTo(batch);
                List<Long> segmentOf = new ArrayList<>();
                Throwable failure = null;
                long before = segments.getLast().bytes;
                try {
                    for (Pending pending : batch) {
                        if (segments.getLast().bytes >= Math.max(1, maxBytes / 8)) {
                            sync();
                            startSegment();
                            before = segments.getLast().bytes;
                        }
                        if (pending.record().getString("kind").equals("dead-letter")) pending.record().put("key", nextSeq++);
                        append(pending.record());
                        segmentOf.add(segments.getLast().number);
                    }
                    sync();
                } catch (IOException | RuntimeException e) {
                    failure = e;
                    rollBack(before);
                }
                for (int i = 0; i < batch.size(); i++) {
                    Pending pending = batch.get(i);
                    Entry entry = null;
                    if (failure == null) {
                        synchronized (this) {
                            apply(pending.record(), segmentOf.get(i));
                            entry = entries.get(pending.record().getLong("key"));
                        }
                    }
                    Throwable failed = failure;
                    Entry stored = entry;
                    Runnable answer = () -> {
                        if (failed == null) pending.done().complete(stored);
                        else pending.done().fail(failed);
                    };
                    if (pending.context() == null) answer.run();
                    else pending.context().runOnContext(v -> answer.run());
                }
                if (failure == null) {
                    synchronized (this) {
                        dropOldest();
                    }
                }
                batch.clear();
            }
        }

        private void append(JsonObject record) throws IOException {
            byte[] payload = record.toBuffer().getBytes();
            CRC32C crc = new CRC32C();
            crc.update(payload);
            ByteBuffer frame = ByteBuffer.allocate(8 + payload.length).putInt(payload.length).putInt((int) crc.getValue())
                    .put(payload).flip();
            if (channel != null) while (frame.hasRemaining()) channel.write(frame);
            segments.getLast().bytes += 8 + payload.length;
        }

        private void sync() throws IOException {
            if (channel != null) channel.force(false);
        }

        /** After a failed write: what the batch wrote is cut off, and later appends go to a new segment. */
        private void rollBack(long size) {
            try {
                if (channel != null) channel.truncate(size);
                segments.getLast().bytes = size;
                startSegment();
            } catch (IOException e) {
                log("error", "dead-letter store: cannot write", new JsonObject().put("error", e.getMessage()));
            }
        }

        /** A new segment that begins with the next key, so no later start hands out a key again. */
        private void startSegment() throws IOException {
            long number = segments.isEmpty() ? 1 : segments.getLast().number + 1;
            Path file = dir == null ? null : dir.resolve(String.format("segment-%016d.log", number));
            if (channel != null) channel.close();
            channel = file == null ? null : FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
            segments.addLast(new Segment(number, file, 0));
            append(new JsonObject().put("kind", "segment").put("next_key", nextSeq));
            sync();
            syncDirectory();
        }

        /** The oldest segments go, whole, while the store holds more than its bound; their dead letters are counted. */
        private void dropOldest() {
            while (bytes() > maxBytes && segments.size() > 1) {
                Segment oldest = segments.removeFirst();
                while (!entries.isEmpty() && entries.firstEntry().getValue().segment == oldest.number) {
                    entries.pollFirstEntry();
                    dropped++;
                }
                try {
                    if (oldest.file != null) Files.deleteIfExists(oldest.file);
                    syncDirectory();
                } catch (IOException e) {
                    // Already gone from the list; a file left behind is dropped again at the next start.
                    log("error", "dead-letter store: cannot delete a dropped segment", new JsonObject()
                            .put("file", String.valueOf(oldest.file)).put("error", e.getMessage()));
                }
            }
        }

        // A new or deleted file is durable once its directory entry is.
        private void syncDirectory() throws IOException {
            if (dir == null) return;
            try (FileChannel directory = FileChannel.open(dir, StandardOpenOption.READ)) {
                directory.force(true);
            }
        }

        private long bytes() {
            return segments.stream().mapToLong(s -> s.bytes).sum();
        }

        synchronized Entry get(long key) {
            return entries.get(key);
        }

        /** The entries, newest first, with keys below the cursor (all when it is null). */
        synchronized List<Entry> newestFirst(Long cursor) {
            return List.copyOf((cursor == null ? entries : entries.headMap(cursor, false)).descendingMap().values());
        }

        synchronized int size() {
            return entries.size();
        }

        synchronized long dropped() {
            return dropped;
        }

        /** The event in the JSON format, data always as data_base64: it holds whatever bytes came. */
        static JsonObject toJson(CloudEvent event) {
            JsonObject json = new JsonObject().put("specversion", event.getSpecVersion().toString())
                    .put("id", event.getId()).put("source", event.getSource().toString()).put("type", event.getType());
            if (event.getDataContentType() != null) json.put("datacontenttype", event.getDataContentType());
            if (event.getDataSchema() != null) json.put("dataschema", event.getDataSchema().toString());
            if (event.getSubject() != null) json.put("subject", event.getSubject());
            if (event.getTime() != null) json.put("time", Time.writeTime(event.getTime()));
            for (String name : event.getExtensionNames()) {
                Object value = event.getExtension(name);
                json.put(name, value instanceof Boolean || value instanceof Integer ? value : String.valueOf(value));
            }
            if (event.getData() != null) json.put("data_base64", Base64.getEncoder().encodeToString(event.getData().toBytes()));
            return json;
        }
    }

    // ---- Shutdown ----

    /**
     * SIGTERM: readiness fails first so Kubernetes stops routing here, the listener keeps serving for
     * DRAIN_DELAY_MS while endpoints update, then in-flight events finish (bounded by SHUTDOWN_GRACE_MS).
     */
    Future<Integer> drain() {
        Promise<Integer> exitCode = Promise.promise();
        draining.set(true);
        log("info", "draining", new JsonObject().put("in_flight", inFlight.get())
                .put("drain_delay_ms", config.drainDelayMs()).put("pod", config.pod()));
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(config.drainDelayMs() + config.shutdownGraceMs());
        vertx.setTimer(Math.max(1, config.drainDelayMs()), t -> {
            acceptingEvents = false;
            // The state change itself, logged once it holds: from here on new events are answered 503.
            log("info", "refusing new events", new JsonObject().put("in_flight", inFlight.get()).put("pod", config.pod()));
            vertx.setPeriodic(1, 10, id -> {
                boolean expired = System.nanoTime() > deadline;
                if (inFlight.get() > 0 && !expired) return;
                vertx.cancelTimer(id);
                log(expired ? "warn" : "info", "stopped", new JsonObject().put("in_flight", inFlight.get())
                        .put("pod", config.pod()));
                vertx.close().onComplete(closed -> exitCode.complete(expired ? 1 : 0));
            });
        });
        return exitCode.future();
    }

    // ---- Helpers: metrics, logging, trace context, the live page ----

    // Prometheus asking for OpenMetrics also gets the exemplars: a trace id on counters and histogram buckets.
    private void metrics(RoutingContext ctx) {
        String accept = Optional.ofNullable(ctx.request().getHeader("accept")).orElse("");
        boolean openMetrics = accept.contains("application/openmetrics-text");
        ctx.response().putHeader("content-type", openMetrics ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
                : "text/plain; version=0.0.4; charset=utf-8").end(registry.scrape(accept));
    }

    /** The trace of the event being counted, handed to Prometheus as the exemplar of that sample. */
    static final class CurrentTrace implements SpanContext {
        static final ThreadLocal<Trace> CURRENT = new ThreadLocal<>();

        @Override
        public String getCurrentTraceId() {
            Trace trace = CURRENT.get();
            return trace == null ? null : trace.traceId();
        }

        @Override
        public String getCurrentSpanId() {
            Trace trace = CURRENT.get();
            return trace == null ? null : trace.spanId();
        }

        @Override
        public boolean isCurrentSpanSampled() {
            return CURRENT.get() != null;
        }

        @Override
        public void markCurrentSpanAsExemplar() {
        }
    }

    // Unknown types become "other" so a misbehaving sender cannot blow up the label cardinality.
    private String typeLabel(String type) {
        return config.eventSchemas().of(type).isPresent() ? type : "other";
    }

    private Counter counter(String name, String... tags) {
        return counters.computeIfAbsent(name + String.join(",", tags),
                k -> Counter.builder(name).tags(tags).register(registry));
    }

    // consumer_events_total by type label, then outcome: two look-ups of strings the event already holds, where
    // counter() joins the tags into a new key and passes a new array for every event.
    private final Map<String, Map<String, Counter>> eventCounters = new ConcurrentHashMap<>();

    private Counter eventCounter(String type, String outcome) {
        Map<String, Counter> byOutcome = eventCounters.get(type);
        if (byOutcome == null) byOutcome = eventCounters.computeIfAbsent(type, t -> new ConcurrentHashMap<>());
        Counter counter = byOutcome.get(outcome);
        return counter != null ? counter
                : byOutcome.computeIfAbsent(outcome, o -> counter("consumer.events", "type", type, "outcome", o));
    }

    private Timer timer(String type) {
        Timer known = timers.get(type);
        if (known != null) return known;
        return timers.computeIfAbsent(type, t -> Timer.builder("consumer.processing")
                .description("Time from receiving an event to answering it").tags("type", t)
                .publishPercentileHistogram().register(registry));
    }

    private static String extension(CloudEvent event, String name) {
        Object value = event.getExtension(name);
        return value == null ? null : value.toString();
    }

    private static int freePort() {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String firstLine(String message) {
        return message == null ? "" : message.lines().findFirst().orElse("");
    }

    // A write(2) per line cost about 5 % of the throughput (tests/benchmark/TUNING.md): on an event loop the lines
    // of one turn of the loop go out in one write at its end; elsewhere (start, drain, stop) at once.
    private static final PrintStream STDOUT = new PrintStream(
            new BufferedOutputStream(new FileOutputStream(FileDescriptor.out), 64 * 1024), false, StandardCharsets.UTF_8);
    private static final AtomicBoolean STDOUT_FLUSH_QUEUED = new AtomicBoolean();

    /** Prints one JSON line and returns it, encoded once for every reader (stdout, the live page). */
    static String log(String level, String msg, JsonObject fields) {
        String encoded = LogLine.encode(level, msg, fields.getMap());
        byte[] bytes = encoded.getBytes(StandardCharsets.UTF_8);
        // One lock for the line and its end, as println holds: lines of other threads never interleave.
        synchronized (STDOUT) {
            STDOUT.write(bytes, 0, bytes.length);
            STDOUT.write('\n');
        }
        Context loop = Context.isOnEventLoopThread() ? Vertx.currentContext() : null;
        if (loop == null) {
            STDOUT.flush();
        } else if (STDOUT_FLUSH_QUEUED.compareAndSet(false, true)) {
            // Tasks queued from the loop's own thread run after this turn's I/O, before it waits for more.
            loop.runOnContext(flush -> {
                STDOUT_FLUSH_QUEUED.set(false);
                STDOUT.flush();
            });
        }
        return encoded;
    }

    /**
     * A log line's JSON, written here: ts, level, msg, then the fields in their order, as Vert.x's Json.encode
     * (Jackson) wrote them; strings, whole numbers, booleans and finite doubles directly, anything else through
     * Json.encode. Copying the fields into a map for Jackson's serialiser took 9 % of the event loop
     * (tests/benchmark/TUNING.md).
     */
    static final class LogLine {
        private static final char[] HEX = "0123456789ABCDEF".toCharArray();

        static String encode(String level, String msg, Map<String, Object> fields) {
            if (fields.containsKey("ts") || fields.containsKey("level") || fields.containsKey("msg")) {
                // A field of the same name takes the place of ts, level or msg, as in a map: rare, left to Jackson.
                Map<String, Object> line = new LinkedHashMap<>(32);
                line.put("ts", Instant.now().toString());
                line.put("level", level);
                line.put("msg", msg);
                line.putAll(fields);
                return Json.encode(line);
            }
            StringBuilder json = instant(new StringBuilder(384).append("{\"ts\":\""), Instant.now()).append('"');
            member(json, "level", level);
            member(json, "msg", msg);
            for (Map.Entry<String, Object> field : fields.entrySet()) member(json, field.getKey(), field.getValue());
            return json.append('}').toString();
        }

        // The date and time to the second, as Instant.toString writes them (without its Z): they change once a second,
        // so DateTimeFormatter runs once a second instead of for every line.
        private record Second(long epochSecond, String text) {}

        private static volatile Second second = new Second(Long.MIN_VALUE, "");

        /** Appends the instant as Instant.toString writes it: the fraction in groups of three digits, then Z. */
        static StringBuilder instant(StringBuilder json, Instant now) {
            Second known = second;
            if (known.epochSecond() != now.getEpochSecond()) {
                String whole = Instant.ofEpochSecond(now.getEpochSecond()).toString();
                second = known = new Second(now.getEpochSecond(), whole.substring(0, whole.length() - 1));
            }
            json.append(known.text());
            int nanos = now.getNano();
            if (nanos > 0) {
                int digits = nanos % 1_000_000 == 0 ? 3 : nanos % 1000 == 0 ? 6 : 9;
                json.append('.');
                for (int place = digits - 1, scale = 100_000_000; place >= 0; place--, scale /= 10)
                    json.append((char) ('0' + nanos / scale % 10));
            }
            return json.append('Z');
        }

        private static void member(StringBuilder json, String name, Object value) {
            quoted(json.append(','), name).append(':');
            if (value == null) json.append("null");
            else if (value instanceof String text) quoted(json, text);
            else if (value instanceof Integer || value instanceof Long || value instanceof Boolean) json.append(value);
            else if (value instanceof Double number && Double.isFinite(number)) json.append(number.doubleValue());
            else json.append(Json.encode(value));
        }

        /** A JSON string as Jackson escapes it: quote, backslash and control characters, nothing else. */
        private static StringBuilder quoted(StringBuilder json, String text) {
            json.append('"');
            for (int i = 0; i < text.length(); i++) {
                char c = text.charAt(i);
                if (c >= 0x20 && c != '"' && c != '\\') json.append(c);
                else if (c == '"' || c == '\\') json.append('\\').append(c);
                else if (c == '\n') json.append("\\n");
                else if (c == '\t') json.append("\\t");
                else if (c == '\r') json.append("\\r");
                else if (c == '\b') json.append("\\b");
                else if (c == '\f') json.append("\\f");
                else json.append("\\u00").append(HEX[c >> 4]).append(HEX[c & 0xf]);
            }
            return json.append('"');
        }
    }

    /** W3C trace context: this consumer's span continues the sender's trace, or starts one when none came. */
    record Trace(String traceId, String spanId, String parentSpanId) {
        private static final Pattern TRACEPARENT = Pattern.compile("^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$");
        // The all-zero ids W3C declares invalid; the pattern fixes their lengths, so equality is enough (no regex per event).
        private static final String ZERO_TRACE_ID = "0".repeat(32), ZERO_SPAN_ID = "0".repeat(16);

        static Trace childOf(String traceparent) {
            Matcher m = traceparent == null ? null : TRACEPARENT.matcher(traceparent.trim());
            if (m != null && m.matches() && !m.group(1).equals(ZERO_TRACE_ID) && !m.group(2).equals(ZERO_SPAN_ID))
                return new Trace(m.group(1), randomHex(16), m.group(2));
            return new Trace(randomHex(32), randomHex(16), null);
        }

        private static final byte[] HEX_DIGITS = "0123456789abcdef".getBytes(StandardCharsets.US_ASCII);

        private static String randomHex(int digits) { // 16 or 32: the digits of whole random longs
            byte[] hex = new byte[digits];
            ThreadLocalRandom random = ThreadLocalRandom.current();
            for (int i = 0; i < digits; i += 16) {
                long bits = random.nextLong();
                for (int j = i + 15; j >= i; j--, bits >>>= 4) hex[j] = HEX_DIGITS[(int) bits & 0xf];
            }
            return new String(hex, StandardCharsets.US_ASCII);
        }
    }

    /**
     * The live page: GET / serves a small HTML view, GET /live streams every event line as server-sent events.
     * Best effort by design: a viewer that cannot keep up misses lines; event handling never waits for it.
     */
    static final class LiveView {
        private final ArrayDeque<String> recent = new ArrayDeque<>();
        private final Set<HttpServerResponse> viewers = ConcurrentHashMap.newKeySet();
        // k8s/live-page.html, which //FILES puts into the jar; read once: the page never changes while the JVM runs.
        private final String page = pageResource();

        void publish(String line) {
            synchronized (recent) {
                recent.addLast(line);
                if (recent.size() > 50) recent.removeFirst();
            }
            // Most of the time nobody watches: the server-sent event is built only for viewers.
            if (viewers.isEmpty()) return;
            String message = message(line);
            for (var viewer : viewers) if (!viewer.writeQueueFull()) viewer.write(message);
        }

        private static String message(String line) {
            return "data: " + line + "\n\n";
        }

        void stream(RoutingContext ctx) {
            if (viewers.size() >= 20) {
                ctx.response().setStatusCode(503).end("too many viewers");
                return;
            }
            var response = ctx.response().setChunked(true).putHeader("content-type", "text/event-stream")
                    .putHeader("cache-control", "no-cache");
            // A comment line sends the headers at once, so the browser reports the stream open.
            response.write(": connected\n\n");
            synchronized (recent) {
                recent.forEach(line -> response.write(message(line)));
            }
            viewers.add(response);
            response.closeHandler(closed -> viewers.remove(response));
        }

        void page(RoutingContext ctx) {
            ctx.response().putHeader("content-type", "text/html; charset=utf-8").end(page);
        }

        private static String pageResource() {
            try (InputStream in = consumer.class.getResourceAsStream("/live-page.html")) {
                if (in == null) throw new IllegalStateException("live-page.html is not in the jar: consumer.java's "
                        + "//FILES names it, so run the script with k8s/live-page.html at that path, or beside it");
                return new String(in.readAllBytes(), StandardCharsets.UTF_8);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
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
