package dev.knative.demo.programs;

import static org.assertj.core.api.Assertions.assertThat;

import dev.knative.demo.support.ScriptProcess;
import dev.knative.demo.support.TestSink;
import dev.knative.demo.support.TestSink.Received;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonObject;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** producer.java with settings other than the defaults, each doing what the README's Configuration table says. */
class ProducerSettingsBehaviourTest {

    static final Duration RUN = Duration.ofSeconds(180);
    static final String DATA = "{\"message\":\"hi\"}";

    @Test
    void eventMixWeightsSetHowManyEventsOfEachTypeEveryRound() {
        // One request at a time: the sink sees the events in the order the producer made them.
        try (TestSink sink = TestSink.start();
             ScriptProcess producer = ScriptProcess.start("producer.java", env(sink, "EVENT_MIX",
                     "demo.event=2,order.placed=1", "COUNT", "6", "RATE", "100", "MAX_IN_FLIGHT", "1"))) {
            assertThat(producer.awaitExit(RUN)).isZero();
            List<String> types = sink.received().stream().map(r -> r.event().getType()).toList();
            assertThat(types).hasSize(6);
            // Round-robin over the weights: each round of three is two demo.event and one order.placed.
            assertThat(types.subList(0, 3)).containsExactlyInAnyOrder("demo.event", "demo.event", "order.placed");
            assertThat(types.subList(3, 6)).containsExactlyInAnyOrder("demo.event", "demo.event", "order.placed");
        }
    }

    @Test
    void intervalMsSetsTheRateToOneEventEveryIntervalMs() {
        assertThat(rateOfARunOfTwoEvents("INTERVAL_MS", "250")).isEqualTo(4.0);
    }

    @Test
    void fractionalRateIsAllowedAndEveryCountedEventIsSent() {
        assertThat(rateOfARunOfTwoEvents("RATE", "0.5")).isEqualTo(0.5);
    }

    static Stream<Arguments> dataFlags() {
        return Stream.of(Arguments.of(List.of("--data", DATA)), Arguments.of(List.of("--data=" + DATA)));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("dataFlags")
    void dataFlagSetsTheDataOfTheEventSentOnce(List<String> dataFlag) {
        try (TestSink sink = TestSink.start();
             ScriptProcess producer = ScriptProcess.start("producer.java", env(sink),
                     Stream.concat(Stream.of("--once", "demo.event"), dataFlag.stream()).toArray(String[]::new))) {
            assertThat(producer.awaitExit(RUN)).isZero();
            assertThat(sink.received()).singleElement().satisfies(r -> assertThat(dataOf(r)).isEqualTo(new JsonObject(DATA)));
        }
    }

    @Test
    void dataFlagSetsTheDataOfEveryEvent() {
        try (TestSink sink = TestSink.start();
             ScriptProcess producer = ScriptProcess.start("producer.java",
                     env(sink, "EVENT_MIX", "demo.event=1", "COUNT", "3", "RATE", "100"), "--data", DATA)) {
            assertThat(producer.awaitExit(RUN)).isZero();
            assertThat(sink.received()).hasSize(3)
                    .allSatisfy(r -> assertThat(dataOf(r)).isEqualTo(new JsonObject(DATA)));
        }
    }

    /**
     * Runs the producer until it has sent two events and returns the rate its `started` line reports. Not the
     * spacing of the events: ticks catch up with a schedule that starts before the first event is made, so a
     * first event made late (class loading on a busy machine) is followed sooner than the interval.
     */
    private static double rateOfARunOfTwoEvents(String setting, String value) {
        try (TestSink sink = TestSink.start();
             ScriptProcess producer = ScriptProcess.start("producer.java", env(sink, setting, value, "COUNT", "2"))) {
            double rate = producer.awaitMessage("started", RUN).getDouble("rate");
            assertThat(producer.awaitExit(RUN)).isZero();
            assertThat(sink.received()).hasSize(2);
            return rate;
        }
    }

    private static JsonObject dataOf(Received received) {
        return new JsonObject(Buffer.buffer(received.event().getData().toBytes()));
    }

    /** The sink, any free port for /metrics, and the settings under test. */
    private static Map<String, String> env(TestSink sink, String... settings) {
        Map<String, String> env = new HashMap<>(Map.of("K_SINK", sink.url(), "PORT", "0"));
        for (int i = 0; i < settings.length; i += 2) env.put(settings[i], settings[i + 1]);
        return env;
    }
}
