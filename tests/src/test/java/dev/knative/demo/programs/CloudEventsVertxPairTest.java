package dev.knative.demo.programs;

import static org.assertj.core.api.Assertions.assertThat;

import dev.knative.demo.support.CloudEventsHttp;
import io.cloudevents.CloudEvent;
import io.cloudevents.core.builder.CloudEventBuilder;
import io.cloudevents.http.vertx.VertxMessageFactory;
import io.cloudevents.jackson.JsonFormat;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.ext.web.client.WebClient;
import java.net.URI;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.temporal.ChronoUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * cloudevents-http-vertx 4.0.1 was built against Vert.x 4.5; the scripts pin it with Vert.x 5.1.6. This proves the
 * pair: the SDK's writer on the Vert.x 5 web client and its reader on the Vert.x 5 server round-trip every attribute.
 */
class CloudEventsVertxPairTest {

    private final Vertx vertx = Vertx.vertx();

    @AfterEach
    void close() {
        CloudEventsHttp.await(vertx.close());
    }

    private final CloudEvent original = CloudEventBuilder.v1().withId("pair-1")
            .withSource(URI.create("/tests/pair")).withType("order.placed").withSubject("orders/42")
            .withTime(OffsetDateTime.now(ZoneOffset.UTC).truncatedTo(ChronoUnit.MILLIS))
            .withDataContentType("application/json").withDataSchema(URI.create("https://example.com/order"))
            .withExtension("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
            .withExtension("partitionkey", "user-7")
            .withData("{\"order_id\":\"o-1\",\"amount\":12.5}".getBytes()).build();

    private CloudEvent roundTrip(boolean structured) {
        Promise<CloudEvent> received = Promise.promise();
        HttpServer server = CloudEventsHttp.await(vertx.createHttpServer().requestHandler(request ->
                VertxMessageFactory.createReader(request).map(reader -> reader.toEvent()).onComplete(result -> {
                    received.handle(result);
                    request.response().setStatusCode(202).end();
                })).listen(0));
        var writer = VertxMessageFactory.createWriter(WebClient.create(vertx)
                .postAbs("http://127.0.0.1:" + server.actualPort() + "/"));
        Future<?> sent = structured ? writer.writeStructured(original, JsonFormat.CONTENT_TYPE)
                : writer.writeBinary(original);
        CloudEventsHttp.await(sent);
        return CloudEventsHttp.await(received.future());
    }

    @Test
    void binaryModeRoundTripsEveryAttributeExtensionAndTheData() {
        assertThat(roundTrip(false)).isEqualTo(original);
    }

    @Test
    void structuredModeRoundTripsEveryAttributeExtensionAndTheData() {
        CloudEvent received = roundTrip(true);
        CloudEvent expected = original;
        assertThat(received.getAttributeNames()).containsExactlyInAnyOrderElementsOf(expected.getAttributeNames());
        for (String name : expected.getAttributeNames())
            assertThat(received.getAttribute(name)).as(name).isEqualTo(expected.getAttribute(name));
        assertThat(received.getExtensionNames()).containsExactlyInAnyOrderElementsOf(expected.getExtensionNames());
        assertThat(new String(received.getData().toBytes())).isEqualTo(new String(expected.getData().toBytes()));
    }
}
