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
//RUNTIME_OPTIONS -XX:+UseSerialGC -Xms16m -Xmx64m -Xmn8m
// Serial GC and a 64 MiB heap (it holds at most MAX_BUFFERED events) stay well inside the Deployment's 384Mi
// limit; a small young generation keeps idle memory low at no cost in throughput (tests/benchmark/TUNING.md).

// Example log lines (stdout, one per delivered or failed event, one per retry):
// {"ts":"2026-11-26T10:00:00.123Z","level":"info","msg":"sent","id":"6f1c…","type":"user.created","attempts":1,"status":202}
// {"ts":"2026-11-26T10:00:01.456Z","level":"warn","msg":"retry","id":"7a2d…","type":"demo.event","attempt":1,"status":503,"delay_ms":212}

import io.cloudevents.CloudEvent;
import io.cloudevents.core.builder.CloudEventBuilder;
import io.cloudevents.http.vertx.VertxMessageFactory;
import io.cloudevents.jackson.JsonFormat;
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
import io.vertx.ext.web.Router;
import io.vertx.ext.web.client.HttpResponse;
import io.vertx.ext.web.client.WebClient;
import io.vertx.ext.web.client.WebClientOptions;
import io.vertx.micrometer.MicrometerMetricsFactory;
import io.vertx.micrometer.MicrometerMetricsOptions;
import java.net.URI;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;

class producer {

    static final List<String> TYPES = List.of("demo.event", "user.created", "order.placed");

    /** Settings: Knative's environment contract first (K_SINK, K_CE_OVERRIDES, POD_*), then flags, then defaults. */
    record Config(URI sink, String source, Map<String, String> extensions, double rate, List<String> mix,
                  long count, String data, boolean structured, int port, int maxInFlight, int maxBuffered,
                  long sendTimeoutMs, long retryInitialMs, long retryMaxMs, long retryAfterMaxMs,
                  int maxAttempts, long shutdownGraceMs) {

        static Config load(String[] args) {
            Map<String, String> env = new HashMap<>(System.getenv());
            Map<String, String> flags = new HashMap<>();
            for (int i = 0; i < args.length; i++) {
                String arg = args[i];
                if (!arg.startsWith("--")) throw new IllegalArgumentException("unexpected argument " + arg);
                String[] kv = arg.substring(2).split("=", 2);
                if (kv.length == 2) flags.put(kv[0], kv[1]);
                else if (kv[0].equals("structured")) flags.put("structured", "true");
                else if (i + 1 < args.length) flags.put(kv[0], args[++i]);
                else throw new IllegalArgumentException("flag " + arg + " needs a value");
            }
            boolean once = flags.containsKey("once");
            String sink = firstOf(env.get("K_SINK"), flags.get("sink"), env.get("BROKER_URL"), "http://localhost:8080");
            String namespace = env.getOrDefault("POD_NAMESPACE", "local");
            String pod = env.getOrDefault("POD_NAME", hostname());
            double rate = env.containsKey("INTERVAL_MS") && !flags.containsKey("rate")
                    ? 1000.0 / Double.parseDouble(env.get("INTERVAL_MS"))
                    : Double.parseDouble(firstOf(flags.get("rate"), env.get("RATE"), "1"));
            if (!(rate > 0)) throw new IllegalArgumentException("RATE must be positive");
            Config config = new Config(URI.create(sink), "/apis/v1/namespaces/" + namespace + "/pods/" + pod,
                    overrides(env.get("K_CE_OVERRIDES")), rate,
                    once ? mix(flags.get("once") + "=1") : mix(firstOf(flags.get("mix"), env.get("EVENT_MIX"),
                            "demo.event=1,user.created=1,order.placed=1")),
                    once ? 1 : Long.parseLong(firstOf(flags.get("count"), env.get("COUNT"), "0")),
                    flags.get("data"),
                    flags.containsKey("structured") || "structured".equals(env.get("CE_MODE")),
                    once ? -1 : Integer.parseInt(firstOf(flags.get("port"), env.get("PORT"), "8081")),
                    Integer.parseInt(env.getOrDefault("MAX_IN_FLIGHT", "16")),
                    Integer.parseInt(env.getOrDefault("MAX_BUFFERED", "1000")),
                    Long.parseLong(env.getOrDefault("SEND_TIMEOUT_MS", "5000")),
                    Long.parseLong(env.getOrDefault("RETRY_INITIAL_MS", "200")),
                    Long.parseLong(env.getOrDefault("RETRY_MAX_MS", "10000")),
                    Long.parseLong(env.getOrDefault("RETRY_AFTER_MAX_MS", "60000")),
                    Integer.parseInt(env.getOrDefault("MAX_ATTEMPTS", once ? "5" : "0")),
                    Long.parseLong(env.getOrDefault("SHUTDOWN_GRACE_MS", "20000")));
            if (config.sink().getScheme() == null || !config.sink().getScheme().startsWith("http"))
                throw new IllegalArgumentException("sink must be an http(s) URL, not '" + sink + "'");
            return config;
        }

        private static List<String> mix(String spec) {
            List<String> sequence = new ArrayList<>();
            for (String part : spec.split(",")) {
                String[] kv = part.trim().split("=", 2);
                if (!TYPES.contains(kv[0]))
                    throw new IllegalArgumentException("unknown event type '" + kv[0] + "' (use " + TYPES + ")");
                int weight = kv.length == 2 ? Integer.parseInt(kv[1]) : 1;
                for (int i = 0; i < weight; i++) sequence.add(kv[0]);
            }
            if (sequence.isEmpty()) throw new IllegalArgumentException("EVENT_MIX selects no event type");
            return List.copyOf(sequence);
        }

        // K_CE_OVERRIDES is {"extensions":{"name":"value",...}}, set by Knative sources and SinkBindings.
        private static Map<String, String> overrides(String json) {
            Map<String, String> extensions = new HashMap<>();
            if (json == null || json.isBlank()) return extensions;
            JsonObject overrides = new JsonObject(json).getJsonObject("extensions", new JsonObject());
            overrides.forEach(e -> extensions.put(e.getKey(), String.valueOf(e.getValue())));
            return extensions;
        }

        private static String firstOf(String... values) {
            for (String v : values) if (v != null && !v.isBlank()) return v;
            return null;
        }

        private static String hostname() {
            try {
                return java.net.InetAddress.getLocalHost().getHostName();
            } catch (java.net.UnknownHostException e) {
                return "local";
            }
        }
    }

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
    private final Map<String, Counter> counters = new ConcurrentHashMap<>();
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
    private volatile boolean draining;
    private final Promise<Void> drained = Promise.promise();

    producer(Config config) {
        this.config = config;
        this.vertx = Vertx.builder()
                .with(new VertxOptions().setEventLoopPoolSize(1)
                        .setMetricsOptions(new MicrometerMetricsOptions().setEnabled(true).setJvmMetricsEnabled(true)))
                .withMetrics(new MicrometerMetricsFactory(registry))
                .build();
        this.context = vertx.getOrCreateContext();
        this.client = WebClient.create(vertx, new WebClientOptions().setKeepAlive(true)
                .setConnectTimeout((int) config.sendTimeoutMs()), new PoolOptions().setHttp1MaxSize(config.maxInFlight()));
        CloudEventBuilder builder = CloudEventBuilder.v1().withSource(URI.create(config.source()))
                .withDataContentType("application/json");
        config.extensions().forEach(builder::withExtension);
        this.template = builder;
        registry.gauge("producer.buffered.events", buffered);
        registry.gauge("producer.in.flight", inFlight);
    }

    // Vert.x registers a few of its gauges twice; Micrometer's warning about that is noise, not a problem.
    private static final java.util.logging.Logger MICROMETER_LOG = java.util.logging.Logger.getLogger("io.micrometer");

    public static void main(String[] args) {
        MICROMETER_LOG.setLevel(java.util.logging.Level.SEVERE);
        Config config;
        try {
            config = Config.load(args);
        } catch (RuntimeException e) {
            System.err.println("producer: " + e.getMessage());
            System.exit(2);
            return;
        }
        producer app = new producer(config);
        app.start().onSuccess(port -> {
            log("info", "started", new JsonObject().put("sink", config.sink().toString()).put("port", port)
                    .put("rate", config.rate()).put("source", config.source())
                    .put("mode", config.structured() ? "structured" : "binary"));
            if (System.getenv("K_SINK") == null)
                log("warn", "K_SINK is not set", new JsonObject().put("using", config.sink().toString()));
            // SIGTERM/SIGINT run shutdown hooks; halt() then ends the JVM with the drain's own exit code.
            Runtime.getRuntime().addShutdownHook(new Thread(() ->
                    Runtime.getRuntime().halt(app.drain().toCompletionStage().toCompletableFuture().join())));
        }).onFailure(e -> {
            log("error", "start failed", new JsonObject().put("error", String.valueOf(e.getMessage())));
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
            // Ticks catch up with the clock, so the rate holds whatever the timer's jitter.
            long period = Math.max(1, Math.min(100, (long) (1000 / config.rate())));
            ticker = vertx.setPeriodic(0, period, id -> tick());
            if (config.port() < 0) ready.complete(-1);
            else serveHealthAndMetrics().onComplete(ready);
        });
        return ready.future();
    }

    private Future<Integer> serveHealthAndMetrics() {
        Router router = Router.router(vertx);
        router.get("/healthz").handler(ctx -> ctx.response().end("ok"));
        router.get("/readyz").handler(ctx -> ctx.response().setStatusCode(draining ? 503 : 200)
                .end(draining ? "draining" : "ready"));
        router.get("/metrics").handler(ctx -> ctx.response()
                .putHeader("content-type", "text/plain; version=0.0.4; charset=utf-8").end(registry.scrape()));
        return vertx.createHttpServer().requestHandler(router).listen(config.port()).map(s -> s.actualPort());
    }

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
        JsonObject data = config.data() != null ? new JsonObject(config.data()) : sampleData(type, seq);
        // W3C trace context as the CloudEvents distributed-tracing extension: one trace per event, kept on retries.
        ThreadLocalRandom random = ThreadLocalRandom.current();
        String traceparent = String.format("00-%016x%016x-%016x-01", random.nextLong(), random.nextLong() | 1,
                random.nextLong() | 1);
        return template.newBuilder().withId(UUID.randomUUID().toString()).withType(type)
                .withTime(OffsetDateTime.now(ZoneOffset.UTC)).withExtension("traceparent", traceparent)
                .withData(data.toBuffer().getBytes()).build();
    }

    static JsonObject sampleData(String type, long seq) {
        return switch (type) {
            case "demo.event" -> new JsonObject().put("message", "Hello from the producer, event " + seq)
                    .put("sequence", seq);
            case "user.created" -> new JsonObject().put("user_id", "user-" + seq).put("username", "user" + seq)
                    .put("email", "user" + seq + "@example.com");
            case "order.placed" -> new JsonObject().put("order_id", "order-" + seq).put("user_id", "user-" + seq % 97)
                    .put("amount", 10 + seq % 90 + 0.99).put("currency", "EUR")
                    .put("items", new JsonArray().add(new JsonObject().put("sku", "sku-" + seq % 13).put("quantity", 1)));
            default -> throw new IllegalArgumentException(type);
        };
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
        var writer = VertxMessageFactory.createWriter(client.postAbs(config.sink().toString())
                .timeout(config.sendTimeoutMs()).putHeader("traceparent", traceparent));
        Future<HttpResponse<Buffer>> response = config.structured()
                ? writer.writeStructured(outgoing.event, JsonFormat.CONTENT_TYPE)
                : writer.writeBinary(outgoing.event);
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
        JsonObject line = new JsonObject().put("id", event.getId()).put("type", event.getType())
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
        String reason = result.succeeded() ? result.result().bodyAsString() : String.valueOf(result.cause().getMessage());
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
            } catch (java.time.format.DateTimeParseException neither) {
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

    /** SIGTERM: stop generating, keep delivering what is buffered until it is empty or the grace period ends. */
    Future<Integer> drain() {
        Promise<Integer> exit = Promise.promise();
        context.runOnContext(v -> {
            draining = true;
            stopGenerating();
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

    private Counter counter(String name, String... tags) {
        return counters.computeIfAbsent(name + String.join(",", tags),
                k -> Counter.builder(name).tags(tags).register(registry));
    }

    static void log(String level, String msg, JsonObject fields) {
        JsonObject line = new JsonObject().put("ts", Instant.now().toString()).put("level", level).put("msg", msg);
        fields.forEach(e -> line.put(e.getKey(), e.getValue()));
        System.out.println(line.encode());
    }
}
