package dev.knative.demo.reliability;

import static dev.knative.demo.support.CloudEventsHttp.event;
import static dev.knative.demo.support.CloudEventsHttp.validData;
import static org.assertj.core.api.Assertions.assertThat;

import dev.knative.demo.support.Await;
import dev.knative.demo.support.CloudEventsHttp;
import dev.knative.demo.support.ScriptProcess;
import dev.knative.demo.support.TestSink;
import io.cloudevents.CloudEvent;
import io.cloudevents.core.builder.CloudEventBuilder;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.client.HttpResponse;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The dead-letter display with a store (DEAD_LETTER_STORE): a real consumer.java in dead-letter mode, dead letters
 * sent to it over HTTP as Knative's dispatchers send them, restarts on the same directory, kills, and redrives into a
 * recording sink (TestSink in the Broker's place).
 */
class ReliabilityDeadLetterStoreTest {

    static final Duration WAIT = Duration.ofSeconds(60);

    @TempDir
    Path store;

    @Test
    void storedDeadLettersAreListedNewestFirstWithStableKeysAndSurviveARestartOnTheSameDirectory() {
        List<CloudEvent> sent = List.of(deadLetter("demo.event", "400", "data.message must be a non-empty string"),
                deadLetter("user.created", "503", "simulated transient failure"),
                deadLetter("order.placed", "400", "data.amount must be a positive number"));
        JsonArray before;
        try (ScriptProcess display = startDisplay(Map.of()); CloudEventsHttp http = new CloudEventsHttp(display.port())) {
            sent.forEach(event -> assertThat(http.binary(event).statusCode()).isEqualTo(202));
            before = list(http, "").getJsonArray("dead_letters");
        }
        try (ScriptProcess display = startDisplay(Map.of()); CloudEventsHttp http = new CloudEventsHttp(display.port())) {
            assertThat(display.awaitMessage("dead-letter store opened", WAIT).getInteger("dead_letters")).isEqualTo(3);
            JsonArray after = list(http, "").getJsonArray("dead_letters");

            assertThat(after).isEqualTo(before);
            assertThat(ids(after)).containsExactly(sent.get(2).getId(), sent.get(1).getId(), sent.get(0).getId());
            assertThat(after.getJsonObject(2).getString("knativeerrordata")).isEqualTo("data.message must be a non-empty string");
            assertThat(after.stream().map(e -> ((JsonObject) e).getString("key")).distinct()).hasSize(3);
        }
    }

    @Test
    void theListIsPagedByCursorAndFilteredByTypeCodeOrText() {
        try (ScriptProcess display = startDisplay(Map.of()); CloudEventsHttp http = new CloudEventsHttp(display.port())) {
            List<CloudEvent> sent = List.of(deadLetter("demo.event", "400", "data.message must be a non-empty string"),
                    deadLetter("user.created", "400", "data.email must be an e-mail address"),
                    deadLetter("user.created", "503", "simulated transient failure"),
                    deadLetter("order.placed", "400", "data.items must be a non-empty array"),
                    deadLetter("demo.event", "503", "simulated transient failure"));
            sent.forEach(event -> assertThat(http.binary(event).statusCode()).isEqualTo(202));

            JsonObject first = list(http, "?limit=2");
            JsonObject second = list(http, "?limit=2&cursor=" + first.getString("next_cursor"));
            JsonObject last = list(http, "?limit=2&cursor=" + second.getString("next_cursor"));
            assertThat(ids(first.getJsonArray("dead_letters"))).containsExactly(sent.get(4).getId(), sent.get(3).getId());
            assertThat(ids(second.getJsonArray("dead_letters"))).containsExactly(sent.get(2).getId(), sent.get(1).getId());
            assertThat(ids(last.getJsonArray("dead_letters"))).containsExactly(sent.get(0).getId());
            assertThat(last.getValue("next_cursor")).isNull();

            assertThat(ids(list(http, "?type=user.created").getJsonArray("dead_letters")))
                    .containsExactly(sent.get(2).getId(), sent.get(1).getId());
            assertThat(ids(list(http, "?code=503").getJsonArray("dead_letters")))
                    .containsExactly(sent.get(4).getId(), sent.get(2).getId());
            // The text is found in the decoded reason, whatever its case.
            assertThat(ids(list(http, "?text=E-MAIL").getJsonArray("dead_letters"))).containsExactly(sent.get(1).getId());
            assertThat(ids(list(http, "?type=demo.event&code=400").getJsonArray("dead_letters"))).containsExactly(sent.get(0).getId());
            assertThat(http.get("/dead-letters?limit=0").statusCode()).isEqualTo(400);
        }
    }

    @Test
    void redriveSendsTheOriginalEventToTheSinkWithoutTheKnativeErrorAttributesAndRecordsWhenAndWithWhatAnswer() {
        try (TestSink broker = TestSink.start();
             ScriptProcess display = startDisplay(Map.of("K_SINK", broker.url()));
             CloudEventsHttp http = new CloudEventsHttp(display.port())) {
            CloudEvent original = CloudEventBuilder.v1(event("user.created", validData("user.created")))
                    .withSubject("u-1").withExtension("tenant", "acme").build();
            assertThat(http.binary(withFailure(original, "http://consumer.knative-demo.svc.cluster.local/", "400",
                    "data.email must be an e-mail address")).statusCode()).isEqualTo(202);
            String key = onlyKey(http);
            Instant before = Instant.now();

            HttpResponse<Buffer> answer = http.post("/dead-letters/" + key + "/redrive");

            assertThat(answer.statusCode()).isEqualTo(200);
            CloudEvent redriven = broker.await(1, WAIT).get(0).event();
            assertThat(redriven.getId()).isEqualTo(original.getId());
            assertThat(redriven.getSource()).isEqualTo(original.getSource());
            assertThat(redriven.getType()).isEqualTo(original.getType());
            assertThat(redriven.getSubject()).isEqualTo("u-1");
            assertThat(redriven.getDataContentType()).isEqualTo("application/json");
            assertThat(redriven.getData().toBytes()).isEqualTo(original.getData().toBytes());
            assertThat(redriven.getExtensionNames()).contains("tenant").noneMatch(name -> name.startsWith("knativeerror"));
            assertThat(redriven.getExtension("tenant")).isEqualTo("acme");
            JsonObject record = answer.bodyAsJsonObject();
            assertThat(record.getBoolean("sent")).isTrue();
            assertThat(record.getJsonObject("redrive").getInteger("status")).isEqualTo(202);
            assertThat(record.getJsonObject("redrive").getString("sink")).isEqualTo(broker.url());
            assertThat(Instant.parse(record.getJsonObject("redrive").getString("at"))).isAfterOrEqualTo(before.minusSeconds(1));
            assertThat(display.awaitMessage("redriven", WAIT).getString("id")).isEqualTo(original.getId());
        }
    }

    @Test
    void aSecondRedriveSendsNothingAndAnswersWithTheRecordEvenAfterARestartWhileForceSendsAgain() {
        try (TestSink broker = TestSink.start()) {
            String key;
            JsonObject first;
            try (ScriptProcess display = startDisplay(Map.of("K_SINK", broker.url()));
                 CloudEventsHttp http = new CloudEventsHttp(display.port())) {
                assertThat(http.binary(deadLetter("demo.event", "503", "simulated transient failure")).statusCode()).isEqualTo(202);
                key = onlyKey(http);
                first = http.post("/dead-letters/" + key + "/redrive").bodyAsJsonObject().getJsonObject("redrive");
                HttpResponse<Buffer> again = http.post("/dead-letters/" + key + "/redrive");

                assertThat(again.statusCode()).isEqualTo(200);
                assertThat(again.bodyAsJsonObject().getBoolean("sent")).isFalse();
                assertThat(again.bodyAsJsonObject().getJsonObject("redrive")).isEqualTo(first);
            }
            try (ScriptProcess display = startDisplay(Map.of("K_SINK", broker.url()));
                 CloudEventsHttp http = new CloudEventsHttp(display.port())) {
                assertThat(list(http, "").getJsonArray("dead_letters").getJsonObject(0).getJsonObject("redrive")).isEqualTo(first);
                assertThat(http.post("/dead-letters/" + key + "/redrive").bodyAsJsonObject().getBoolean("sent")).isFalse();
                assertThat(broker.received()).hasSize(1);

                HttpResponse<Buffer> forced = http.post("/dead-letters/" + key + "/redrive?force=true");

                assertThat(forced.statusCode()).isEqualTo(200);
                assertThat(forced.bodyAsJsonObject().getBoolean("sent")).isTrue();
                assertThat(forced.bodyAsJsonObject().getJsonObject("redrive").getBoolean("forced")).isTrue();
                assertThat(broker.await(2, WAIT)).hasSize(2);
                assertThat(http.post("/dead-letters/unknown/redrive").statusCode()).isEqualTo(404);
            }
        }
    }

    @Test
    void aRedriveTheSinkRefusesIsAnswered502AndRecordedAndTheNextCallSendsAgain() {
        try (TestSink broker = TestSink.start().answering((event, attempt) -> TestSink.Answer.of(attempt == 1 ? 400 : 202));
             ScriptProcess display = startDisplay(Map.of("K_SINK", broker.url()));
             CloudEventsHttp http = new CloudEventsHttp(display.port())) {
            assertThat(http.binary(deadLetter("demo.event", "400", "unsupported type")).statusCode()).isEqualTo(202);
            String key = onlyKey(http);

            HttpResponse<Buffer> refused = http.post("/dead-letters/" + key + "/redrive");

            assertThat(refused.statusCode()).isEqualTo(502);
            assertThat(refused.bodyAsJsonObject().getJsonObject("redrive").getInteger("status")).isEqualTo(400);
            assertThat(refused.bodyAsJsonObject().getJsonObject("redrive").getString("answer")).isEqualTo("scripted 400");
            assertThat(http.post("/dead-letters/" + key + "/redrive").statusCode()).isEqualTo(200);
            assertThat(broker.await(2, WAIT)).hasSize(2);
        }
    }

    @Test
    void withoutASinkARedriveIsRefusedWith503NamingKSink() {
        try (ScriptProcess display = startDisplay(Map.of()); CloudEventsHttp http = new CloudEventsHttp(display.port())) {
            assertThat(http.binary(deadLetter("demo.event", "400", "unsupported type")).statusCode()).isEqualTo(202);
            HttpResponse<Buffer> refused = http.post("/dead-letters/" + onlyKey(http) + "/redrive");
            assertThat(refused.statusCode()).isEqualTo(503);
            assertThat(refused.bodyAsString()).contains("K_SINK");
        }
    }

    @Test
    void bulkRedriveSendsEveryMatchingDeadLetterOldestFirstAndOnlyOnce() {
        try (TestSink broker = TestSink.start();
             ScriptProcess display = startDisplay(Map.of("K_SINK", broker.url()));
             CloudEventsHttp http = new CloudEventsHttp(display.port())) {
            List<CloudEvent> sent = List.of(deadLetter("user.created", "400", "data.email must be an e-mail address"),
                    deadLetter("demo.event", "400", "data.message must be a non-empty string"),
                    deadLetter("user.created", "503", "simulated transient failure"),
                    deadLetter("user.created", "400", "data.user_id must be a non-empty string"));
            sent.forEach(event -> assertThat(http.binary(event).statusCode()).isEqualTo(202));

            JsonObject bulk = http.post("/dead-letters/redrive?type=user.created").bodyAsJsonObject();

            assertThat(bulk.getInteger("matched")).isEqualTo(3);
            assertThat(bulk.getInteger("sent")).isEqualTo(3);
            assertThat(bulk.getInteger("accepted")).isEqualTo(3);
            assertThat(broker.await(3, WAIT)).extracting(r -> r.event().getId())
                    .containsExactly(sent.get(0).getId(), sent.get(2).getId(), sent.get(3).getId());
            JsonObject again = http.post("/dead-letters/redrive?type=user.created").bodyAsJsonObject();
            assertThat(again.getInteger("matched")).isEqualTo(3);
            assertThat(again.getInteger("sent")).isZero();
            assertThat(http.post("/dead-letters/redrive?code=400&text=non-empty").bodyAsJsonObject().getInteger("sent")).isEqualTo(1);
            assertThat(broker.await(4, WAIT).get(3).event().getId()).isEqualTo(sent.get(1).getId());
        }
    }

    @Test
    void beyondTheSizeBoundTheOldestDeadLettersAreDroppedAndCounted() throws IOException {
        long bound = 65_536;
        int count = 120;
        try (ScriptProcess display = startDisplay(Map.of("DEAD_LETTER_MAX_BYTES", String.valueOf(bound)));
             CloudEventsHttp http = new CloudEventsHttp(display.port())) {
            List<String> sent = new ArrayList<>();
            for (int i = 0; i < count; i++) {
                // About 1.7 KiB stored each: the data (in base64) plus the reason.
                CloudEvent event = withFailure(event("demo.event", new JsonObject().put("message", "x".repeat(1024))),
                        "http://consumer/", "400", "dead letter " + i);
                assertThat(http.binary(event).statusCode()).isEqualTo(202);
                sent.add(event.getId());
            }
            JsonObject page = list(http, "?limit=1000");
            int kept = page.getInteger("kept");
            long dropped = page.getLong("dropped");

            assertThat(dropped).isPositive();
            assertThat(kept + dropped).isEqualTo(count);
            List<String> newestFirst = new ArrayList<>(sent.subList((int) dropped, count));
            java.util.Collections.reverse(newestFirst);
            assertThat(ids(page.getJsonArray("dead_letters"))).isEqualTo(newestFirst);
            assertThat(http.metric("consumer_dead_letters_dropped_total")).isEqualTo(dropped);
            // On disk: the bound, plus at most the segment being written (an eighth of the bound) and one record.
            long onDisk;
            try (Stream<Path> files = Files.list(store)) {
                onDisk = files.filter(f -> f.getFileName().toString().startsWith("segment-")).mapToLong(f -> f.toFile().length()).sum();
            }
            assertThat(onDisk).isLessThanOrEqualTo(bound + bound / 8 + 4096);
        }
    }

    @Test
    void aSigkillDuringABurstOfDeadLettersLosesNoneThatWasAcknowledged() {
        Set<String> acknowledged = ConcurrentHashMap.newKeySet();
        AtomicInteger unanswered = new AtomicInteger();
        try (ScriptProcess display = startDisplay(Map.of()); CloudEventsHttp http = new CloudEventsHttp(display.port())) {
            AtomicBoolean sending = new AtomicBoolean(true);
            // 16 senders, each sending its next dead letter as soon as the last one is answered, until the kill.
            for (int i = 0; i < 16; i++) sendUntilStopped(http, sending, acknowledged, unanswered);
            Await.until("200 dead letters acknowledged", WAIT, () -> acknowledged.size() >= 200);
            display.close();
            assertThat(display.awaitExit(WAIT)).as("killed by SIGKILL").isEqualTo(137);
            Await.until("the senders to notice the kill", WAIT, () -> unanswered.get() >= 1);
            sending.set(false);
        }
        try (ScriptProcess display = startDisplay(Map.of()); CloudEventsHttp http = new CloudEventsHttp(display.port())) {
            List<String> stored = new ArrayList<>();
            String cursor = "";
            do {
                JsonObject page = list(http, "?limit=1000" + cursor);
                stored.addAll(ids(page.getJsonArray("dead_letters")));
                cursor = page.getValue("next_cursor") == null ? null : "&cursor=" + page.getString("next_cursor");
            } while (cursor != null);

            assertThat(stored).containsAll(acknowledged).doesNotHaveDuplicates();
        }
    }

    @Test
    void aRecordCutShortAtTheEndOfASegmentIsSkippedReportedAndCutOffAndEveryWholeOneIsKept() throws IOException {
        List<String> sent = new ArrayList<>();
        try (ScriptProcess display = startDisplay(Map.of()); CloudEventsHttp http = new CloudEventsHttp(display.port())) {
            for (int i = 0; i < 3; i++) {
                CloudEvent event = deadLetter("demo.event", "400", "unsupported type");
                assertThat(http.binary(event).statusCode()).isEqualTo(202);
                sent.add(event.getId());
            }
        }
        // What a write cut off by a crash leaves: a length that promises more bytes than follow.
        Path segment = newestSegment();
        long whole = Files.size(segment);
        Files.write(segment, ByteBuffer.allocate(12).putInt(500).putInt(0).put("{\"ki".getBytes(StandardCharsets.UTF_8)).array(),
                StandardOpenOption.APPEND);

        try (ScriptProcess display = startDisplay(Map.of()); CloudEventsHttp http = new CloudEventsHttp(display.port())) {
            JsonObject opened = display.awaitMessage("dead-letter store opened", WAIT);
            assertThat(opened.getString("level")).isEqualTo("warn");
            assertThat(opened.getJsonArray("torn_records")).singleElement().satisfies(torn -> {
                assertThat(((JsonObject) torn).getString("file")).isEqualTo(segment.getFileName().toString());
                assertThat(((JsonObject) torn).getLong("offset")).isEqualTo(whole);
                assertThat(((JsonObject) torn).getLong("bytes")).isEqualTo(12);
            });
            assertThat(Files.size(segment)).isEqualTo(whole);
            assertThat(ids(list(http, "").getJsonArray("dead_letters"))).containsExactlyInAnyOrderElementsOf(sent);
        }
        try (ScriptProcess display = startDisplay(Map.of())) {
            assertThat(display.awaitMessage("dead-letter store opened", WAIT).getJsonArray("torn_records")).isEmpty();
        }
    }

    @Test
    void aDeadLetterFromTheKafkaChannelShowsTheDestinationAndReasonTheBrokerFilterWrapped() {
        String filter = "http://broker-filter.knative-eventing.svc.cluster.local/triggers/knative-demo/user-created/0c4c";
        String consumer = "http://consumer.knative-demo.svc.cluster.local/";
        String reason = "data.email must be an e-mail address";
        try (ScriptProcess display = startDisplay(Map.of()); CloudEventsHttp http = new CloudEventsHttp(display.port())) {
            CloudEvent wrapped = withFailure(event("user.created", validData("user.created")), filter, "400",
                    filterWrapper(consumer, reason));
            // The Kafka dispatcher keeps at most 1024 bytes of a response: a long reason cuts the wrapper short.
            String longReason = "unsupported type '" + "x".repeat(1500) + "'";
            byte[] cut = Arrays.copyOf(filterWrapper(consumer, longReason).getBytes(StandardCharsets.UTF_8), 1024);
            CloudEvent truncated = CloudEventBuilder.v1(event("user.created", validData("user.created")))
                    .withExtension("knativeerrordest", filter).withExtension("knativeerrorcode", "400")
                    .withExtension("knativeerrordata", Base64.getEncoder().encodeToString(cut)).build();
            assertThat(http.binary(wrapped).statusCode()).isEqualTo(202);
            assertThat(http.binary(truncated).statusCode()).isEqualTo(202);

            JsonObject shown = entry(http, wrapped);
            assertThat(shown.getString("knativeerrordest")).isEqualTo(consumer);
            assertThat(shown.getString("knativeerrordata")).isEqualTo(reason);
            assertThat(shown.getString("via")).isEqualTo(filter);
            assertThat(display.awaitLog(l -> wrapped.getId().equals(l.getString("id")) && "dead letter".equals(l.getString("msg")), WAIT)
                    .getString("knativeerrordata")).isEqualTo(reason);
            JsonObject cutShort = entry(http, truncated);
            assertThat(cutShort.getString("knativeerrordest")).isEqualTo(consumer);
            assertThat(cutShort.getString("knativeerrordata")).startsWith("unsupported type 'xxxx");
        }
    }

    @Test
    void aDeadLetterWithoutAnyResponseShowsItsDestinationAndNoResponseAsTheReason() {
        try (ScriptProcess display = startDisplay(Map.of()); CloudEventsHttp http = new CloudEventsHttp(display.port())) {
            // The Kafka dispatcher's shape when the subscriber never answered: knativeerrordest alone.
            CloudEvent unanswered = CloudEventBuilder.v1(event("order.placed", validData("order.placed")))
                    .withExtension("knativeerrordest", "http://consumer.knative-demo.svc.cluster.local/").build();
            assertThat(http.binary(unanswered).statusCode()).isEqualTo(202);

            JsonObject shown = entry(http, unanswered);
            assertThat(shown.getString("knativeerrordest")).isEqualTo("http://consumer.knative-demo.svc.cluster.local/");
            assertThat(shown.getValue("knativeerrorcode")).isNull();
            assertThat(shown.getValue("knativeerrordata")).isNull();
            assertThat(shown.getString("reason")).isEqualTo(
                    "no response from http://consumer.knative-demo.svc.cluster.local/ (refused, reset or timed out)");
            assertThat(ids(list(http, "?code=none").getJsonArray("dead_letters"))).containsExactly(unanswered.getId());
        }
    }

    // ---- helpers ----

    private ScriptProcess startDisplay(Map<String, String> env) {
        Map<String, String> settings = new HashMap<>(env);
        settings.put("DEAD_LETTER_STORE", store.toString());
        return ScriptProcess.startListening("consumer.java", settings, "--dead-letter");
    }

    /** A valid event of the type, as the broker forwards it after the consumer refused it with the reason. */
    private static CloudEvent deadLetter(String type, String code, String reason) {
        return withFailure(event(type, validData(type)), "http://consumer.knative-demo.svc.cluster.local/", code, reason);
    }

    private static CloudEvent withFailure(CloudEvent event, String destination, String code, String body) {
        return CloudEventBuilder.v1(event).withExtension("knativeerrordest", destination)
                .withExtension("knativeerrorcode", code)
                .withExtension("knativeerrordata", Base64.getEncoder().encodeToString(body.getBytes(StandardCharsets.UTF_8)))
                .build();
    }

    /** The broker filter's answer to a failed delivery, as its Go JSON encoding writes it (the body as base64). */
    private static String filterWrapper(String destination, String body) {
        return "{\"errdestination\":\"" + destination + "\",\"errresponsebody\":\""
                + Base64.getEncoder().encodeToString(body.getBytes(StandardCharsets.UTF_8)) + "\"}";
    }

    private static void sendUntilStopped(CloudEventsHttp http, AtomicBoolean sending, Set<String> acknowledged,
                                         AtomicInteger unanswered) {
        if (!sending.get()) return;
        CloudEvent event = deadLetter("demo.event", "503", "simulated transient failure");
        http.send(event).onComplete(result -> {
            if (result.succeeded() && result.result().statusCode() == 202) acknowledged.add(event.getId());
            else unanswered.incrementAndGet();
            if (result.succeeded()) sendUntilStopped(http, sending, acknowledged, unanswered);
        });
    }

    private static JsonObject list(CloudEventsHttp http, String query) {
        HttpResponse<Buffer> response = http.get("/dead-letters" + query);
        assertThat(response.statusCode()).as(response.bodyAsString()).isEqualTo(200);
        return response.bodyAsJsonObject();
    }

    private static JsonObject entry(CloudEventsHttp http, CloudEvent event) {
        return list(http, "?limit=1000").getJsonArray("dead_letters").stream().map(JsonObject.class::cast)
                .filter(e -> event.getId().equals(e.getString("id"))).findFirst()
                .orElseThrow(() -> new AssertionError("not listed: " + event.getId()));
    }

    private static String onlyKey(CloudEventsHttp http) {
        JsonArray all = list(http, "").getJsonArray("dead_letters");
        assertThat(all).hasSize(1);
        return all.getJsonObject(0).getString("key");
    }

    private static List<String> ids(JsonArray entries) {
        return entries.stream().map(e -> ((JsonObject) e).getString("id")).toList();
    }

    private Path newestSegment() throws IOException {
        try (Stream<Path> files = Files.list(store)) {
            return files.filter(f -> f.getFileName().toString().startsWith("segment-")).sorted()
                    .reduce((older, newer) -> newer).orElseThrow();
        }
    }
}
