package dev.knative.demo.support;

import io.cloudevents.CloudEvent;
import io.cloudevents.http.vertx.VertxMessageFactory;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.net.PemKeyCertOptions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

/**
 * A stand-in for the Broker's ingress: a real HTTP server reading requests with the CloudEvents SDK,
 * recording every delivery attempt and answering as the test scripts it, or holding every answer until the
 * test releases them.
 */
public final class TestSink implements AutoCloseable {

    /** One delivery attempt as it arrived. */
    public record Received(CloudEvent event, boolean structured, long arrivedNanos, Map<String, String> headers,
                    int attemptStatus) {
    }

    /** What to answer: a status, optional headers, and how long to wait before answering. */
    public record Answer(int status, Map<String, String> headers, long delayMs) {
        public static Answer of(int status) {
            return new Answer(status, Map.of(), 0);
        }
    }

    public interface Script {
        /** attempt counts the deliveries of this event id so far, starting at 1. */
        Answer answer(CloudEvent event, int attempt);
    }

    private final Vertx vertx = Vertx.vertx();
    private final List<Received> received = new ArrayList<>();
    private volatile Script script = (event, attempt) -> Answer.of(202);
    // Answers wait for the gate: open, unless the test holds them.
    private volatile Future<Void> gate = Future.succeededFuture();
    private Promise<Void> held;
    private HttpServer server;
    private String scheme = "http";

    public static TestSink start() {
        return startOn(0);
    }

    public static TestSink startOn(int port) {
        return listen(new HttpServerOptions(), port);
    }

    /** The Broker's ingress under transport-encryption: HTTPS with a certificate the test's CA signed. */
    public static TestSink startHttps(TestCertificates.Server certificate) {
        TestSink sink = listen(new HttpServerOptions().setSsl(true).setKeyCertOptions(new PemKeyCertOptions()
                .setCertPath(certificate.certFile().toString()).setKeyPath(certificate.keyFile().toString())), 0);
        sink.scheme = "https";
        return sink;
    }

    private static TestSink listen(HttpServerOptions options, int port) {
        TestSink sink = new TestSink();
        sink.server = CloudEventsHttp.await(sink.vertx.createHttpServer(options).requestHandler(sink::receive).listen(port));
        return sink;
    }

    public TestSink answering(Script script) {
        this.script = script;
        return this;
    }

    /**
     * Every answer to a request arriving from now on waits until release(): a slow sink whose pace the test
     * sets by what it has seen, where a fixed delay would guess how fast a busy machine gets there.
     */
    public synchronized TestSink hold() {
        held = Promise.promise();
        gate = held.future();
        return this;
    }

    public synchronized void release() {
        gate = Future.succeededFuture();
        if (held != null) held.tryComplete();
    }

    public int port() {
        return server.actualPort();
    }

    public String url() {
        return scheme + "://127.0.0.1:" + port() + "/";
    }

    private void receive(HttpServerRequest request) {
        long arrived = System.nanoTime();
        Context context = vertx.getOrCreateContext();
        Future<Void> open = gate;
        Map<String, String> headers = new java.util.HashMap<>();
        request.headers().forEach(h -> headers.put(h.getKey().toLowerCase(), h.getValue()));
        VertxMessageFactory.createReader(request).map(reader -> reader.toEvent()).onComplete(result -> {
            if (result.failed()) {
                request.response().setStatusCode(400).end("test sink could not read: " + result.cause());
                return;
            }
            CloudEvent event = result.result();
            Answer answer;
            synchronized (received) {
                int attempt = 1 + (int) received.stream().filter(r -> r.event().getId().equals(event.getId())).count();
                answer = script.answer(event, attempt);
                received.add(new Received(event, headers.getOrDefault("content-type", "")
                        .startsWith("application/cloudevents+json"), arrived, headers, answer.status()));
                received.notifyAll();
            }
            Runnable respond = () -> {
                answer.headers().forEach(request.response()::putHeader);
                request.response().setStatusCode(answer.status()).end(answer.status() >= 400 ? "scripted " + answer.status() : "");
            };
            // release() runs on the test's thread: the answer goes back to the request's own event loop.
            open.onComplete(released -> context.runOnContext(v -> {
                if (answer.delayMs() > 0) vertx.setTimer(answer.delayMs(), t -> respond.run());
                else respond.run();
            }));
        });
    }

    public List<Received> received() {
        synchronized (received) {
            return List.copyOf(received);
        }
    }

    /** Waits until at least `count` attempts matching the filter arrived. */
    public List<Received> await(int count, Predicate<Received> filter, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        synchronized (received) {
            while (received.stream().filter(filter).count() < count) {
                long left = deadline - System.nanoTime();
                if (left <= 0) throw new AssertionError("expected " + count + " deliveries, got "
                        + received.stream().filter(filter).count());
                try {
                    TimeUnit.NANOSECONDS.timedWait(received, left);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new AssertionError(e);
                }
            }
            return received.stream().filter(filter).toList();
        }
    }

    public List<Received> await(int count, Duration timeout) {
        return await(count, r -> true, timeout);
    }

    @Override
    public void close() {
        CloudEventsHttp.await(vertx.close());
    }
}
