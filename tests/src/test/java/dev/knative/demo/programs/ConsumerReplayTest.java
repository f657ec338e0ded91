package dev.knative.demo.programs;

import static dev.knative.demo.support.CloudEventsHttp.event;
import static dev.knative.demo.support.CloudEventsHttp.validData;
import static org.assertj.core.api.Assertions.assertThat;

import dev.knative.demo.support.CloudEventsHttp;
import dev.knative.demo.support.ScriptProcess;
import io.cloudevents.CloudEvent;
import io.cloudevents.core.builder.CloudEventBuilder;
import io.vertx.core.json.JsonObject;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A replay (scripts/replay.sh) sends stored events again with their original source and id, marked with the
 * extension replay=<run> by its KafkaSource's ceOverrides: one running consumer.java processes each replay run once
 * more, and still answers a redelivery, of the original or of a replayed copy, as a duplicate.
 */
class ConsumerReplayTest {

    static final Duration WAIT = Duration.ofSeconds(60);
    static ScriptProcess consumer;
    static CloudEventsHttp http;

    @BeforeAll
    static void startConsumer() {
        consumer = ScriptProcess.startListening("consumer.java", Map.of("PROCESSING_TIME_MS", "1", "POD_NAME", "consumer-replay"));
        http = new CloudEventsHttp(consumer.port());
    }

    @AfterAll
    static void stopConsumer() {
        http.close();
        consumer.close();
    }

    @Test
    void aReplayedCopyIsProcessedOncePerReplayRunWhileARedeliveryOfItOrOfTheOriginalIsADuplicate() {
        CloudEvent original = event("order.placed", validData("order.placed"));
        CloudEvent replayed = replayCopy(original, "r1", 17);
        CloudEvent replayedAgain = replayCopy(original, "r2", 17);

        List<CloudEvent> deliveries = List.of(original, original, replayed, replayed, replayedAgain, original);
        for (CloudEvent delivery : deliveries) assertThat(http.binary(delivery).statusCode()).isEqualTo(202);

        List<JsonObject> lines = consumer.awaitLogs(line -> original.getId().equals(line.getString("id")), deliveries.size(), WAIT);
        assertThat(lines).extracting(line -> line.getString("outcome") + " " + line.getString("replay"))
                .containsExactly("processed null", "duplicate null", "processed r1", "duplicate r1", "processed r2",
                        "duplicate null");
        assertThat(lines).allSatisfy(line -> assertThat(line.getString("source")).isEqualTo("/tests/consumer"));
    }

    @Test
    void aReplayedCopyOfAnEventThisReplicaNeverSawIsProcessedOnceAndItsLineNamesTheReplay() {
        CloudEvent original = event("demo.event", validData("demo.event"));
        CloudEvent replayed = replayCopy(original, "r1", 3);

        assertThat(http.structured(replayed).statusCode()).isEqualTo(202);
        assertThat(http.binary(replayed).statusCode()).isEqualTo(202);

        List<JsonObject> lines = consumer.awaitLogs(line -> original.getId().equals(line.getString("id")), 2, WAIT);
        assertThat(lines).extracting(line -> line.getString("outcome")).containsExactly("processed", "duplicate");
        assertThat(lines).allSatisfy(line -> assertThat(line.getString("replay")).isEqualTo("r1"));
    }

    /** The copy a replay's KafkaSource delivers: the stored event, its ceOverrides extension, and the Kafka position. */
    private static CloudEvent replayCopy(CloudEvent stored, String run, int offset) {
        return CloudEventBuilder.v1(stored).withExtension("replay", run).withExtension("knativekafkapartition", 0)
                .withExtension("knativekafkaoffset", offset).build();
    }
}
