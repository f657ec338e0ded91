package dev.knative.demo.programs;

import static org.assertj.core.api.Assertions.assertThat;

import dev.knative.demo.support.RawHttp;
import dev.knative.demo.support.ScriptProcess;
import io.vertx.core.json.JsonObject;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * CloudEvents 1.0.2 to the letter, as a receiver: every rule of the core specification (spec.md), the HTTP protocol
 * binding and the JSON event format that applies to consumer.java is one row here, sent as raw HTTP to a running
 * consumer, with the status and the part of the reason it must answer. A row names its rule and the section it
 * comes from.
 */
class CloudEventsConformanceTest {

    static ScriptProcess consumer;

    @BeforeAll
    static void startConsumer() {
        consumer = ScriptProcess.startListening("consumer.java", Map.of("PROCESSING_TIME_MS", "0"));
    }

    @AfterAll
    static void stopConsumer() {
        consumer.close();
    }

    /** One rule: what it says, where, the request that tests it, and the answer it must get. */
    record Rule(String rule, String section, Request request, int status, String reason) {
        @Override
        public String toString() {
            return section + ": " + rule;
        }
    }

    /** A request as it goes on the wire: header lines exactly as written, then the body. */
    record Request(List<String> headers, byte[] body) {}

    static final String BODY = "{\"message\":\"hi\"}";

    /** A valid binary-mode demo.event; each "name: value" replaces the header of that name, "name:" alone drops it. */
    static Request binary(String... changes) {
        Map<String, String> headers = new LinkedHashMap<>();
        for (String header : List.of("ce-specversion: 1.0", "ce-id: $ID", "ce-source: /tests/conformance",
                "ce-type: demo.event", "Content-Type: application/json")) put(headers, header);
        for (String change : changes) put(headers, change);
        return new Request(new ArrayList<>(headers.values()), BODY.getBytes(StandardCharsets.UTF_8));
    }

    private static void put(Map<String, String> headers, String line) {
        String name = line.substring(0, line.indexOf(':')).toLowerCase(Locale.ROOT);
        if (line.endsWith(":")) headers.remove(name);
        else headers.put(name, line);
    }

    /** A valid structured-mode demo.event; pairs of member and value change it (null: the member is JSON null). */
    static Request structured(Object... members) {
        JsonObject event = new JsonObject().put("specversion", "1.0").put("id", "$ID").put("source", "/tests/conformance")
                .put("type", "demo.event").put("datacontenttype", "application/json").put("data", new JsonObject(BODY));
        for (int i = 0; i < members.length; i += 2) event.put((String) members[i], members[i + 1]);
        return json("Content-Type: application/cloudevents+json; charset=utf-8", event.encode());
    }

    /** The valid structured-mode event without one member, then with the pairs of member and value given. */
    static Request structuredWithout(String member, Object... members) {
        JsonObject event = new JsonObject(new String(structured().body(), StandardCharsets.UTF_8));
        event.remove(member);
        for (int i = 0; i < members.length; i += 2) event.put((String) members[i], members[i + 1]);
        return json("Content-Type: application/cloudevents+json", event.encode());
    }

    static Request json(String contentType, String body, String... headers) {
        List<String> lines = new ArrayList<>(List.of(headers));
        lines.add(contentType);
        return new Request(lines, body.getBytes(StandardCharsets.UTF_8));
    }

    static Rule accepted(String rule, String section, Request request) {
        return new Rule(rule, section, request, 202, "");
    }

    static Rule rejected(String rule, String section, Request request, int status, String reason) {
        return new Rule(rule, section, request, status, reason);
    }

    static final String BINDING = "http-protocol-binding ";
    static final String CORE = "spec ";
    static final String FORMAT = "json-format ";

    static Stream<Rule> rules() {
        return Stream.of(
                // HTTP protocol binding: content modes and Content-Type
                accepted("ce- header names are case-insensitive", BINDING + "3.1.3.1",
                        binary("CE-SpecVersion: 1.0", "Ce-Id: $ID", "CE-SOURCE: /tests/conformance", "ce-Type: demo.event")),
                accepted("Content-Type media type compares case-insensitively", BINDING + "3.1.1, RFC 2045 5.1",
                        binary("Content-Type: Application/JSON")),
                accepted("Content-Type allows whitespace around its parameters", BINDING + "3.1.1, RFC 7231 3.1.1.1",
                        binary("Content-Type: application/json ; charset=utf-8")),
                accepted("JSON data is recognised for any */json", FORMAT + "3.1.1", binary("Content-Type: text/json")),
                accepted("JSON data is recognised for any */*+json, subtype in any case", FORMAT + "3.1.1",
                        binary("Content-Type: application/vnd.demo.v1+JSON")),
                rejected("datacontenttype must be an RFC 2046 media type", CORE + "3.2 datacontenttype",
                        binary("Content-Type: json"), 400, "media type"),
                rejected("binary mode: ce-datacontenttype must not be sent beside Content-Type", BINDING + "3.1.1",
                        binary("ce-datacontenttype: application/json"), 400, "ce-datacontenttype"),
                accepted("structured mode: media type in any case, whitespace around parameters", BINDING + "3.1",
                        json("Content-Type: Application/CloudEvents+JSON ; Charset=UTF-8",
                                new String(structured().body(), StandardCharsets.UTF_8))),
                accepted("structured mode wins over ce- headers", BINDING + "3.1, 3.2.3",
                        json("Content-Type: application/cloudevents+json", new String(structured().body(),
                                StandardCharsets.UTF_8), "ce-specversion: 0.3", "ce-type: invoice.paid")),
                rejected("batched mode is not accepted (it must not be used unless solicited): a clear 4xx, never retried",
                        BINDING + "3, 3.3", json("Content-Type: application/cloudevents-batch+json",
                                "[" + new String(structured().body(), StandardCharsets.UTF_8) + "]"), 415, "batch"),
                rejected("an empty batch is refused the same way", FORMAT + "4",
                        json("Content-Type: application/cloudevents-batch+json; charset=utf-8", "[]"), 415, "batch"),
                rejected("an event format other than JSON is refused", BINDING + "1.4, 3.2.1",
                        json("Content-Type: application/cloudevents+avro", "{}"), 415, "application/cloudevents+json"),

                // HTTP protocol binding: header values
                accepted("header values: percent-decoded once", BINDING + "3.1.3.2", binary("ce-type: demo%2Eevent")),
                accepted("header values: lower-case hex accepted", BINDING + "3.1.3.2", binary("ce-type: demo%2eevent")),
                accepted("header values: needless encoding accepted", BINDING + "3.1.3.2", binary("ce-type: %64emo.event")),
                rejected("header values: exactly one round of percent-decoding", BINDING + "3.1.3.2",
                        binary("ce-type: demo%252Eevent"), 400, "'demo%2Eevent'"),
                rejected("header values: an overlong UTF-8 sequence is rejected", BINDING + "3.1.3.2",
                        binary("ce-subject: %C0%A0"), 400, "UTF-8"),
                rejected("header values: a truncated UTF-8 sequence is rejected", BINDING + "3.1.3.2",
                        binary("ce-subject: caf%C3"), 400, "UTF-8"),
                rejected("header values: a % that starts no escape is rejected", BINDING + "3.1.3.2",
                        binary("ce-subject: 100%"), 400, "percent-encoding"),
                accepted("header values: a double-quoted value is unquoted", BINDING + "3.1.3.2, RFC 7230 3.2.6",
                        binary("ce-type: \"demo.event\"")),
                accepted("header values: backslash escapes inside quotes", BINDING + "3.1.3.2, RFC 7230 3.2.6",
                        binary("ce-type: \"demo\\.event\"")),
                accepted("header values: unquoted, then percent-decoded", BINDING + "3.1.3.2",
                        binary("ce-type: \"demo%2Eevent\"")),
                rejected("header values: an unterminated quoted string is rejected", BINDING + "3.1.3.2",
                        binary("ce-subject: \"open"), 400, "quoted"),
                rejected("decoded values are Strings: no control characters", CORE + "2.4 String, " + BINDING + "3.1.3.2",
                        binary("ce-subject: line%0Abreak"), 400, "control character"),
                rejected("decoded values are Strings: no noncharacters", CORE + "2.4 String",
                        binary("ce-subject: %EF%BF%BE"), 400, "noncharacter"),

                // Core: required attributes
                rejected("specversion is required", CORE + "3.1 specversion", binary("ce-specversion:"), 400, "spec version"),
                rejected("specversion must be 1.0", CORE + "3.1 specversion", binary("ce-specversion: 0.3"), 400, "1.0"),
                rejected("specversion must be 1.0 (structured)", CORE + "3.1 specversion",
                        structured("specversion", "1.1"), 400, "1.0"),
                rejected("id must be a non-empty string", CORE + "3.1 id", binary("ce-id: "), 400, "id"),
                rejected("id is required (a JSON null is no value)", FORMAT + "2.2", structured("id", null), 400, "id"),
                rejected("id must be a JSON string", FORMAT + "2.2", structured("id", 42), 400, "id"),
                rejected("source must be a non-empty URI-reference", CORE + "3.1 source", binary("ce-source: "), 400,
                        "source"),
                rejected("source must be a URI-reference (a decoded space is not one)", CORE + "3.1 source, 2.4 URI-reference",
                        binary("ce-source: /tests%20conformance"), 400, "source"),
                rejected("type must be a non-empty string", CORE + "3.1 type", structured("type", ""), 400, "type"),
                rejected("type is required", CORE + "3.1 type", structuredWithout("type"), 400, "type"),

                // Core: optional attributes
                rejected("subject, when present, must be non-empty", CORE + "3.2 subject", binary("ce-subject: "), 400,
                        "subject"),
                rejected("subject, when present, must be non-empty (structured)", CORE + "3.2 subject",
                        structured("subject", ""), 400, "subject"),
                accepted("an optional attribute that is JSON null is unset", FORMAT + "2.2", structured("subject", null)),
                rejected("dataschema, when present, must be non-empty", CORE + "3.2 dataschema", binary("ce-dataschema: "),
                        400, "dataschema"),
                rejected("dataschema must be an absolute URI", CORE + "3.2 dataschema, 2.4 URI",
                        structured("dataschema", "schemas/demo.json"), 400, "absolute URI"),
                accepted("dataschema as an absolute URI", CORE + "3.2 dataschema",
                        binary("ce-dataschema: https://example.com/schemas/demo.json")),
                rejected("time without seconds is not RFC 3339", CORE + "3.2 time, RFC 3339 5.6",
                        binary("ce-time: 2018-04-05T17:31Z"), 400, "RFC 3339"),
                rejected("time with an hour-only offset is not RFC 3339", CORE + "3.2 time, RFC 3339 5.6",
                        binary("ce-time: 2018-04-05T17:31:00+01"), 400, "RFC 3339"),
                rejected("time with an offset in seconds is not RFC 3339", CORE + "3.2 time, RFC 3339 5.6",
                        structured("time", "2018-04-05T17:31:00+01:00:30"), 400, "RFC 3339"),
                rejected("time with a space for T is not RFC 3339's date-time", CORE + "3.2 time, RFC 3339 5.6",
                        structured("time", "2018-04-05 17:31:00Z"), 400, "RFC 3339"),
                rejected("time on a day that does not exist", CORE + "3.2 time, RFC 3339 5.7",
                        binary("ce-time: 2018-02-30T17:31:00Z"), 400, "RFC 3339"),
                accepted("time with a fraction of any length", CORE + "3.2 time, RFC 3339 5.6",
                        binary("ce-time: 2018-04-05T17:31:00.123456789012Z")),
                accepted("time with a fraction of any length (structured)", CORE + "3.2 time, RFC 3339 5.6",
                        structured("time", "2018-04-05T17:31:00.1234567890123+02:00")),
                accepted("time with lower-case t and z", CORE + "3.2 time, RFC 3339 5.6",
                        binary("ce-time: 2018-04-05t17:31:00z")),
                accepted("time on a leap second", CORE + "3.2 time, RFC 3339 5.7",
                        binary("ce-time: 2016-12-31T23:59:60Z")),
                accepted("datacontenttype as a vendor +json subtype with a dot (structured)", FORMAT + "3.1.1",
                        structured("datacontenttype", "application/vnd.demo.v1+json")),
                accepted("datacontenttype in any case (structured)", FORMAT + "3.1.2",
                        structured("datacontenttype", "Application/JSON; charset=UTF-8")),
                accepted("no datacontenttype: the data is JSON", FORMAT + "3.1.2", structuredWithout("datacontenttype")),
                rejected("datacontenttype must be a media type (structured)", CORE + "3.2 datacontenttype",
                        structured("datacontenttype", "application/"), 400, "media type"),

                // Core: extension attributes
                accepted("an unknown extension is kept, not refused", CORE + "3.3", binary("ce-someextension: value")),
                accepted("an extension name over 20 characters is only discouraged (SHOULD NOT)", CORE + "3 naming",
                        binary("ce-averylongextensionname: value")),
                rejected("extension names are lower-case a-z and 0-9 only", CORE + "3 naming",
                        binary("ce-my_ext: value"), 400, "my_ext"),
                rejected("extension names are lower-case a-z and 0-9 only (structured)", CORE + "3 naming",
                        structured("myExt", "value"), 400, "myExt"),
                accepted("extension values may be Boolean and Integer", FORMAT + "2.2",
                        structured("flag", true, "count", -2147483648)),
                rejected("an extension value must not be an object", FORMAT + "2.2, " + CORE + "2.4",
                        structured("nested", new JsonObject().put("a", 1)), 400, "nested"),
                rejected("an Integer extension stays within 32 bits", CORE + "2.4 Integer",
                        structured("count", 2147483648L), 400, "count"),
                rejected("an Integer extension has no fraction", FORMAT + "2.2", structured("count", 1.5), 400, "count"),
                rejected("a String value holds no control characters", CORE + "2.4 String",
                        structured("note", "bell\u0007"), 400, "control character"),
                rejected("a String value holds no unpaired surrogate", CORE + "2.4 String",
                        json("Content-Type: application/cloudevents+json", new String(structured().body(),
                                StandardCharsets.UTF_8).replace("\"id\"", "\"note\":\"\\ud800\",\"id\"")), 400, "surrogate"),

                // JSON format: data
                rejected("data and data_base64 are mutually exclusive", FORMAT + "3.1.1",
                        structured("data_base64", "eyJtZXNzYWdlIjoiaGkifQ=="), 400, "data_base64"),
                accepted("data_base64 is decoded, then read as the datacontenttype says", FORMAT + "3.1.2",
                        structuredWithout("data", "data_base64", "eyJtZXNzYWdlIjoiaGkifQ==")),
                rejected("data that is a JSON string is a string, never parsed again", FORMAT + "3.1.2",
                        structured("data", BODY), 400, "JSON object"),

                // Core: size
                accepted("events of 64 KB are accepted", CORE + "4 size limits",
                        structured("data", new JsonObject().put("message", "x".repeat(64 * 1024 - 400)))));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("rules")
    void theConsumerFollowsTheRule(Rule rule) {
        RawHttp.Response response = RawHttp.once(consumer.port(), wire(rule.request()), 1, 0, false).response();
        assertThat(response).as("an answer").isNotNull();
        assertThat(response.status()).as(response.text()).isEqualTo(rule.status());
        assertThat(response.text()).contains(rule.reason());
    }

    private static byte[] wire(Request request) {
        String id = "conformance-" + UUID.randomUUID();
        byte[] body = new String(request.body(), StandardCharsets.UTF_8).replace("$ID", id).getBytes(StandardCharsets.UTF_8);
        StringBuilder head = new StringBuilder("POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
        for (String header : request.headers()) head.append(header.replace("$ID", id)).append("\r\n");
        head.append("Content-Length: ").append(body.length).append("\r\n\r\n");
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(head.toString().getBytes(StandardCharsets.UTF_8));
        out.writeBytes(body);
        return out.toByteArray();
    }
}
