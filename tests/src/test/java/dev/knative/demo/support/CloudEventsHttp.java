package dev.knative.demo.support;

import io.cloudevents.CloudEvent;
import io.cloudevents.core.builder.CloudEventBuilder;
import io.cloudevents.http.vertx.VertxMessageFactory;
import io.cloudevents.jackson.JsonFormat;
import io.vertx.core.Future;
import io.vertx.core.MultiMap;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.json.JsonObject;
import io.vertx.core.net.PemTrustOptions;
import io.vertx.ext.web.client.HttpResponse;
import io.vertx.ext.web.client.WebClient;
import io.vertx.ext.web.client.WebClientOptions;
import java.net.URI;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

/** The test side of the wire: the real CloudEvents SDK over a real Vert.x HTTP client. */
public final class CloudEventsHttp implements AutoCloseable {

    public final Vertx vertx = Vertx.vertx();
    // Enough connections for the requests a test keeps in flight together (Vert.x's default is 5).
    private final WebClient client;
    private final String url;

    public CloudEventsHttp(int port) {
        this("http://127.0.0.1:" + port, new WebClientOptions());
    }

    private CloudEventsHttp(String url, WebClientOptions options) {
        this.url = url;
        this.client = WebClient.create(vertx, options, new PoolOptions().setHttp1MaxSize(32));
    }

    /** A client of an HTTPS server that trusts only the CA given as PEM text. */
    public static CloudEventsHttp overHttps(int port, String caPem) {
        return new CloudEventsHttp("https://localhost:" + port, new WebClientOptions()
                .setTrustOptions(new PemTrustOptions().addCertValue(Buffer.buffer(caPem))));
    }

    public static CloudEvent event(String type, JsonObject data) {
        return CloudEventBuilder.v1().withId(UUID.randomUUID().toString()).withSource(URI.create("/tests/consumer"))
                .withType(type).withTime(OffsetDateTime.now(ZoneOffset.UTC)).withDataContentType("application/json")
                .withData(data.toBuffer().getBytes()).build();
    }

    public static JsonObject validData(String type) {
        return switch (type) {
            case "demo.event" -> new JsonObject().put("message", "hello");
            case "user.created" -> new JsonObject().put("user_id", "u-1").put("username", "ada")
                    .put("email", "ada@example.com");
            case "order.placed" -> new JsonObject().put("order_id", "o-1").put("user_id", "u-1").put("amount", 12.5)
                    .put("items", new io.vertx.core.json.JsonArray().add(new JsonObject().put("sku", "s").put("quantity", 1)));
            default -> throw new IllegalArgumentException(type);
        };
    }

    public HttpResponse<Buffer> binary(CloudEvent event) {
        return await(send(event));
    }

    /** Sends in binary mode without waiting for the answer: for events meant to be in flight while the test goes on. */
    public Future<HttpResponse<Buffer>> send(CloudEvent event) {
        return VertxMessageFactory.createWriter(client.postAbs(url + "/")).writeBinary(event);
    }

    public HttpResponse<Buffer> structured(CloudEvent event) {
        return await(VertxMessageFactory.createWriter(client.postAbs(url + "/"))
                .writeStructured(event, JsonFormat.CONTENT_TYPE));
    }

    /** A hand-made request, for input the SDK would refuse to produce. */
    public HttpResponse<Buffer> raw(Map<String, String> headers, Buffer body) {
        return await(client.postAbs(url + "/").putHeaders(MultiMap.caseInsensitiveMultiMap().addAll(headers))
                .sendBuffer(body));
    }

    public HttpResponse<Buffer> get(String path) {
        return await(client.getAbs(url + path).send());
    }

    /** A POST without a body, as a button or curl -X POST sends it. */
    public HttpResponse<Buffer> post(String path) {
        return await(client.postAbs(url + path).send());
    }

    /** The value of one Prometheus sample, 0 when the series does not exist yet. */
    public double metric(String series) {
        for (String line : get("/metrics").bodyAsString().split("\n"))
            if (line.startsWith(series + " ")) return Double.parseDouble(line.substring(series.length() + 1).trim());
        return 0;
    }

    /** The result, or a failure when none comes within a minute (a bound for a stuck test, not a measurement). */
    public static <T> T await(Future<T> future) {
        try {
            return future.toCompletionStage().toCompletableFuture().get(60, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new AssertionError("request failed: " + e, e);
        }
    }

    @Override
    public void close() {
        await(vertx.close());
    }
}
