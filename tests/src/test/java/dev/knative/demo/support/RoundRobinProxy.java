package dev.knative.demo.support;

import io.vertx.core.MultiMap;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.http.RequestOptions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A stand-in for a Kubernetes Service in front of consumer replicas: each request goes to the next upstream in
 * turn, and a request whose upstream cannot be reached or dies mid-request is answered 502, which the sender
 * retries (as the broker's dispatcher does with a 5xx). Records what every request got. The upstreams can be
 * changed while it runs, as the endpoints of a Service change during a rollout.
 */
public final class RoundRobinProxy implements AutoCloseable {

    /** One forwarded request: the event id (ce-id), the index of the upstream, and the status relayed back. */
    public record Forwarded(String id, int upstream, int status) {
    }

    private final Vertx vertx = Vertx.vertx();
    private final HttpClient client = vertx.createHttpClient(new HttpClientOptions().setKeepAlive(true),
            new PoolOptions().setHttp1MaxSize(32));
    /** Where a Service's endpoint points: a pod's address and port. */
    public record Endpoint(String host, int port) {
    }

    private volatile List<Endpoint> upstreams;
    private final AtomicLong next = new AtomicLong();
    private final List<Forwarded> forwarded = new ArrayList<>();
    private HttpServer server;

    private RoundRobinProxy(List<Endpoint> upstreams) {
        this.upstreams = List.copyOf(upstreams);
    }

    public static RoundRobinProxy start(List<Integer> upstreamPorts) {
        return startTo(upstreamPorts.stream().map(port -> new Endpoint("127.0.0.1", port)).toList());
    }

    /** Listens on every address of this host, so that containers reach it at their network's gateway. */
    public static RoundRobinProxy startTo(List<Endpoint> upstreams) {
        RoundRobinProxy proxy = new RoundRobinProxy(upstreams);
        proxy.server = CloudEventsHttp.await(proxy.vertx.createHttpServer().requestHandler(proxy::forward).listen(0));
        return proxy;
    }

    public String url() {
        return url("127.0.0.1");
    }

    /** The URL at one of this host's addresses. */
    public String url(String host) {
        return "http://" + host + ":" + server.actualPort() + "/";
    }

    /** Later requests go to these upstreams only, as a Service's once a pod is ready or has begun to terminate. */
    public void route(List<Endpoint> endpoints) {
        upstreams = List.copyOf(endpoints);
    }

    private void forward(HttpServerRequest request) {
        List<Endpoint> endpoints = upstreams;
        int upstream = (int) (next.getAndIncrement() % endpoints.size());
        Endpoint endpoint = endpoints.get(upstream);
        String id = request.getHeader("ce-id");
        MultiMap headers = MultiMap.caseInsensitiveMultiMap().addAll(request.headers());
        List.of("host", "content-length", "connection", "transfer-encoding").forEach(headers::remove);
        request.body()
                .compose(body -> client.request(new RequestOptions().setMethod(HttpMethod.POST).setHost(endpoint.host())
                                .setPort(endpoint.port()).setURI(request.uri()).setHeaders(headers).setIdleTimeout(30_000))
                        .compose(outgoing -> outgoing.send(body)))
                .compose(response -> response.body().map(body -> new Answer(response.statusCode(),
                        response.getHeader("content-type"), body)))
                .onComplete(result -> relay(request, id, upstream, result.succeeded() ? result.result()
                        : new Answer(502, "text/plain", Buffer.buffer("upstream " + endpoint + " failed: "
                        + result.cause().getMessage()))));
    }

    private record Answer(int status, String contentType, Buffer body) {
    }

    private void relay(HttpServerRequest request, String id, int upstream, Answer answer) {
        synchronized (forwarded) {
            forwarded.add(new Forwarded(id, upstream, answer.status()));
        }
        if (answer.contentType() != null) request.response().putHeader("content-type", answer.contentType());
        request.response().setStatusCode(answer.status()).end(answer.body());
    }

    public List<Forwarded> forwarded() {
        synchronized (forwarded) {
            return List.copyOf(forwarded);
        }
    }

    @Override
    public void close() {
        CloudEventsHttp.await(vertx.close());
    }
}
