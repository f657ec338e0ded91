package dev.knative.demo.support;

import static java.nio.charset.StandardCharsets.ISO_8859_1;
import static java.nio.charset.StandardCharsets.UTF_8;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Supplier;

/**
 * Requests the consumer must refuse, each built from a valid event and then broken in exactly one way. A seeded
 * java.util.Random draws the variants, so a run is reproduced by its seed and every request's expected answer is
 * known when it is built, which lets the test count answers and log lines exactly. A property-based library
 * (jqwik) was not needed: the properties hold for one process over the whole corpus (its memory, its log, its
 * concurrency), where per-try shrinking has nothing isolated to shrink.
 */
public final class MalformedCorpus {

    /** The consumer's default MAX_BODY_BYTES. */
    public static final int BODY_LIMIT = 262_144;
    /** HttpServerOptions.setMaxHeaderSize in consumer.java, and Netty's default longest request line. */
    public static final int HEADER_LIMIT = 16 * 1024;
    public static final int REQUEST_LINE_LIMIT = 4096;

    public enum Category {
        MISSING_ATTRIBUTE, INVALID_ATTRIBUTE, WRONG_SPECVERSION, CONTENT_TYPE, INVALID_JSON, INVALID_UTF8,
        OVERSIZED_BODY, ABSURD_HEADERS, BROKEN_FRAMING, SLOW_UPLOAD, TRUNCATED_UPLOAD
    }

    /** What the consumer must do with a request. */
    public enum Expect {
        /** 400 (415 for a content mode or event format never taken) with the reason as text; one "event" log line with that status. */
        REJECTED,
        /** 413 naming the limit; one log line with status 413. */
        TOO_LARGE,
        /** Refused by Vert.x's HTTP parser before any consumer code: 400/414/431, reason phrase, no body, connection closed. */
        REFUSED_BY_PARSER,
        /** The client leaves in the middle of the body: nobody to answer; one log line with status 400. */
        ABANDONED
    }

    public enum Delivery { KEEP_ALIVE, OWN_CONNECTION, SLOW, CUT_WITH_FIN, CUT_WITH_RST }

    /**
     * One request: its bytes, how they are sent (sendBytes for a cut upload, pieces and pauseMs for a slow one)
     * and the answer it must get (status 0 for an abandoned upload).
     */
    public record Request(int index, Category category, String variant, Expect expect, int status, byte[] bytes,
                   Delivery delivery, int sendBytes, int pieces, long pauseMs) {
        @Override
        public String toString() {
            return "#" + index + " " + category + " (" + variant + ")";
        }
    }

    private static final List<String> TYPES = List.of("demo.event", "user.created", "order.placed");
    private static final List<String> ATTRIBUTES = List.of("specversion", "id", "source", "type");
    private static final byte[][] INVALID_UTF8 = {
            {(byte) 0xFF}, {(byte) 0xFE}, {(byte) 0x80}, {(byte) 0xBF}, {(byte) 0xC3}, {(byte) 0xE2, (byte) 0x82},
            {(byte) 0xED, (byte) 0xA0, (byte) 0x80}, {(byte) 0xF8, (byte) 0x88, (byte) 0x80, (byte) 0x80, (byte) 0x80}};

    private final Random random;
    private int index;

    private MalformedCorpus(long seed) {
        this.random = new Random(seed);
    }

    /** The corpus: `counts` requests of each category, shuffled so that the categories interleave. */
    public static List<Request> generate(long seed, Map<Category, Integer> counts) {
        MalformedCorpus corpus = new MalformedCorpus(seed);
        List<Request> requests = new ArrayList<>();
        counts.forEach((category, count) -> {
            for (int i = 0; i < count; i++) requests.add(corpus.next(category));
        });
        Collections.shuffle(requests, corpus.random);
        return requests;
    }

    private Request next(Category category) {
        index++;
        return switch (category) {
            case MISSING_ATTRIBUTE -> rejected(category, missingAttribute());
            case INVALID_ATTRIBUTE -> rejected(category, invalidAttribute());
            case WRONG_SPECVERSION -> rejected(category, wrongSpecversion());
            case CONTENT_TYPE -> rejected(category, contentType());
            case INVALID_JSON -> rejected(category, invalidJson());
            case INVALID_UTF8 -> rejected(category, invalidUtf8());
            case OVERSIZED_BODY -> oversized();
            case ABSURD_HEADERS -> absurdHeaders();
            case BROKEN_FRAMING -> brokenFraming();
            case SLOW_UPLOAD -> slowUpload();
            case TRUNCATED_UPLOAD -> truncatedUpload();
        };
    }

    /** A request body and how it was broken, before it is given a category and a delivery. */
    private record Broken(String variant, byte[] bytes, int status) {
        /** Refused 400; a content mode or event format the consumer never takes is refused 415. */
        Broken(String variant, byte[] bytes) {
            this(variant, bytes, 400);
        }
    }

    private Request rejected(Category category, Broken broken) {
        return new Request(index, category, broken.variant(), Expect.REJECTED, broken.status(), broken.bytes(), Delivery.KEEP_ALIVE,
                broken.bytes().length, 1, 0);
    }

    private Broken missingAttribute() {
        List<String> missing = new ArrayList<>();
        while (missing.isEmpty()) for (String a : ATTRIBUTES) if (random.nextInt(10) < 4) missing.add(a);
        String type = pick(TYPES);
        if (random.nextBoolean()) {
            Map<String, String> headers = binaryHeaders(type);
            missing.forEach(a -> headers.remove("ce-" + a));
            return new Broken("binary without " + missing, post(headers, json(validData(type))));
        }
        JsonObject envelope = envelope(type);
        missing.forEach(envelope::remove);
        return structured("structured without " + missing, envelope);
    }

    private Broken invalidAttribute() {
        String type = pick(TYPES);
        return switch (random.nextInt(7)) {
            case 0 -> withAttribute("empty id", type, "id", pick(List.of("", " ", "\t ")));
            case 1 -> withAttribute("empty type", type, "type", "");
            case 2 -> withAttribute("empty source", type, "source", "");
            case 3 -> withAttribute("source not a URI reference", type, "source",
                    pick(List.of("/a b", "%zz", "/{", "/a\\b", "^")) + token(8));
            case 4 -> withAttribute("invalid time", type, "time",
                    pick(List.of("yesterday", "2026-13-45T25:61:61Z", "2026-01-01 10:00", "x" + token(12))));
            case 5 -> withAttribute("unknown type", type, "type", "x." + token(10));
            default -> invalidData(type);
        };
    }

    /** Valid JSON that breaks the rules of its type (see the README's table). */
    private Broken invalidData(String type) {
        JsonObject data = validData(type);
        String field = switch (type) {
            case "demo.event" -> "message";
            case "user.created" -> pick(List.of("user_id", "username", "email"));
            default -> pick(List.of("order_id", "user_id", "amount", "items"));
        };
        Object wrong = switch (field) {
            case "amount" -> pick(List.of(-1, 0, "12.50", new JsonArray()));
            case "items" -> pick(List.of(new JsonArray(), "sku-1", 3));
            case "email" -> pick(List.of("no-at-sign-" + token(5), "a@b", ""));
            default -> pick(List.of("", "   ", 42, new JsonObject()));
        };
        if (random.nextInt(4) == 0) data.remove(field);
        else data.put(field, wrong);
        String variant = "invalid data." + field;
        if (random.nextBoolean()) return new Broken("binary " + variant, post(binaryHeaders(type), json(data)));
        return structured("structured " + variant, envelope(type).put("data", data));
    }

    private Broken withAttribute(String variant, String type, String attribute, String value) {
        if (random.nextBoolean()) {
            Map<String, String> headers = binaryHeaders(type);
            headers.put("ce-" + attribute, value);
            return new Broken("binary " + variant, post(headers, json(validData(type))));
        }
        return structured("structured " + variant, envelope(type).put(attribute, value));
    }

    private Broken wrongSpecversion() {
        String version = pick(List.of("0.3", "1.1", "2.0", "0.1", "1", "1.0.0", "v1.0", "1.O", "",
                token(1 + random.nextInt(6))));
        return withAttribute("specversion '" + version + "'", pick(TYPES), "specversion", version);
    }

    private Broken contentType() {
        String type = pick(TYPES);
        return switch (random.nextInt(6)) {
            case 0 -> {
                String contentType = pick(List.of("text/plain", "text/csv", "application/xml", "text/html; charset=utf-8",
                        "application/octet-stream", "image/png", "x-" + token(6) + "/" + token(6)));
                Map<String, String> headers = binaryHeaders(type);
                headers.put("content-type", contentType);
                yield new Broken("binary content-type " + contentType, post(headers, json(validData(type))));
            }
            case 1 -> {
                Map<String, String> headers = binaryHeaders(type);
                headers.remove("content-type");
                byte[] body = json(validData(type));
                yield new Broken("binary, no content-type, data cut short",
                        post(headers, Arrays.copyOf(body, 1 + random.nextInt(body.length - 1))));
            }
            case 2 -> new Broken("no content-type, no ce- headers", post(new LinkedHashMap<>(), json(validData(type))));
            case 3 -> {
                String contentType = pick(List.of("text/plain", "application/json", "application/cloudevents"));
                yield new Broken("structured event sent as " + contentType,
                        post(new LinkedHashMap<>(Map.of("content-type", contentType)), json(envelope(type))),
                        contentType.startsWith("application/cloudevents") ? 415 : 400);
            }
            case 4 -> new Broken("batch mode", post(new LinkedHashMap<>(Map.of("content-type",
                    "application/cloudevents-batch+json")), json(new JsonArray().add(envelope(type)))), 415);
            default -> structured("structured, datacontenttype text/plain", envelope(type)
                    .put("datacontenttype", "text/plain").put("data", "plain text " + token(8)));
        };
    }

    private Broken invalidJson() {
        String type = pick(TYPES);
        String data = validData(type).encode();
        Map<String, String> headers = binaryHeaders(type);
        return switch (random.nextInt(9)) {
            case 0 -> new Broken("data cut short", post(headers, utf8(data.substring(0, 1 + random.nextInt(data.length() - 1)))));
            case 1 -> new Broken("stray character", post(headers, utf8("{" + pick(List.of("@", ",", ":", "#", "'")) + data.substring(1))));
            case 2 -> new Broken("single quotes", post(headers, utf8(data.replace('"', '\''))));
            case 3 -> new Broken("trailing comma", post(headers, utf8(data.substring(0, data.length() - 1) + ",}")));
            case 4 -> {
                String value = pick(List.of("[]", "[1,2]", "42", "-1.5e3", "\"text\"", "true", "null",
                        new JsonArray().add(validData(type)).encode()));
                yield new Broken("data is JSON " + value.charAt(0) + "…, not an object", post(headers, utf8(value)));
            }
            case 5 -> new Broken("empty body", post(headers, new byte[0]));
            case 6 -> {
                String envelope = envelope(type).encode();
                yield new Broken("structured envelope cut short", post(new LinkedHashMap<>(Map.of("content-type",
                        "application/cloudevents+json")), utf8(envelope.substring(0, 1 + random.nextInt(envelope.length() - 1)))));
            }
            case 7 -> new Broken("nested deeper than 1000", post(headers, utf8("[".repeat(1001 + random.nextInt(4000)))));
            default -> new Broken("garbage", post(headers, utf8("#" + token(1 + random.nextInt(200)))));
        };
    }

    private Broken invalidUtf8() {
        String type = pick(TYPES);
        byte[] bad = INVALID_UTF8[random.nextInt(INVALID_UTF8.length)];
        return switch (random.nextInt(4)) {
            case 0 -> new Broken("binary data with invalid UTF-8", post(binaryHeaders("demo.event"),
                    concat(utf8("{\"message\":\"" + token(4)), bad, utf8(token(4) + "\"}"))));
            case 1 -> {
                String envelope = envelope(type).put("id", "@@").encode();
                int at = envelope.indexOf("@@");
                yield new Broken("structured id with invalid UTF-8", post(new LinkedHashMap<>(Map.of("content-type",
                        "application/cloudevents+json")), concat(utf8(envelope.substring(0, at)), bad,
                        utf8(envelope.substring(at + 2)))));
            }
            case 2 -> {
                Map<String, String> headers = binaryHeaders(type);
                headers.put("ce-type", type + highBytes());
                yield new Broken("ce-type with bytes over 0x7F", post(headers, json(validData(type))));
            }
            default -> {
                Map<String, String> headers = binaryHeaders(type);
                headers.put("ce-specversion", "1.0" + highBytes());
                yield new Broken("ce-specversion with bytes over 0x7F", post(headers, json(validData(type))));
            }
        };
    }

    private Request oversized() {
        Map<String, String> headers = binaryHeaders("demo.event");
        int size = BODY_LIMIT + 1 + (random.nextInt(3) == 0 ? 0 : random.nextInt(3 * BODY_LIMIT));
        byte[] body = utf8("{\"message\":\"" + "x".repeat(size - 14) + "\"}");
        Broken broken = switch (random.nextInt(3)) {
            case 0 -> new Broken("body of " + body.length + " bytes", post(headers, body));
            case 1 -> new Broken("chunked body of " + body.length + " bytes", chunked(headers, body, true));
            default -> {
                // Only the headers are sent: the declared length alone is enough to refuse it.
                long declared = BODY_LIMIT + 1L + (long) (random.nextDouble() * 1e12);
                yield new Broken("declares content-length " + declared, concat(head(headers),
                        utf8("content-length: " + declared + "\r\n\r\n")));
            }
        };
        return new Request(index, Category.OVERSIZED_BODY, broken.variant(), Expect.TOO_LARGE, 413, broken.bytes(),
                Delivery.OWN_CONNECTION, broken.bytes().length, 1, 0);
    }

    private Request absurdHeaders() {
        Map<String, String> headers = binaryHeaders(pick(TYPES));
        byte[] body = json(validData(headers.get("ce-type")));
        int size = HEADER_LIMIT + 1 + random.nextInt(1 << 20);
        return switch (random.nextInt(4)) {
            case 0 -> {
                headers.put("x-padding", "v".repeat(size));
                yield refusedByParser(Category.ABSURD_HEADERS, "one header of " + size + " bytes", 431, post(headers, body));
            }
            case 1 -> {
                int count = 0;
                for (int total = 0; total <= HEADER_LIMIT + random.nextInt(4 * HEADER_LIMIT); count++) {
                    String value = token(10 + random.nextInt(190));
                    headers.put("x-h" + count, value);
                    total += value.length() + 8;
                }
                yield refusedByParser(Category.ABSURD_HEADERS, count + " headers", 431, post(headers, body));
            }
            case 2 -> {
                headers.put("x-" + "n".repeat(size), "v");
                yield refusedByParser(Category.ABSURD_HEADERS, "header name of " + size + " bytes", 431, post(headers, body));
            }
            default -> {
                int length = REQUEST_LINE_LIMIT + 1 + random.nextInt(1 << 18);
                byte[] request = post(headers, body);
                yield refusedByParser(Category.ABSURD_HEADERS, "request line of " + length + " bytes", 414,
                        concat(utf8("POST /" + "p".repeat(length)), Arrays.copyOfRange(request, 6, request.length)));
            }
        };
    }

    private Request brokenFraming() {
        Map<String, String> headers = binaryHeaders(pick(TYPES));
        byte[] body = json(validData(headers.get("ce-type")));
        return switch (random.nextInt(7)) {
            case 0 -> {
                // The headers are fine, so the consumer's own code sees the request and reports the broken body.
                byte[] request = concat(head(headers), utf8("transfer-encoding: chunked\r\n\r\n" + pick(List.of("zz", "-1", "0x10", "g"))
                        + "\r\n"), body, utf8("\r\n0\r\n\r\n"));
                yield new Request(index, Category.BROKEN_FRAMING, "chunk size not hexadecimal", Expect.REJECTED, 400,
                        request, Delivery.OWN_CONNECTION, request.length, 1, 0);
            }
            case 1 -> refusedByParser(Category.BROKEN_FRAMING, "content-length not a number", 400,
                    concat(head(headers), utf8("content-length: " + pick(List.of("abc", "1e3", "0x10", "")) + "\r\n\r\n"), body));
            case 2 -> refusedByParser(Category.BROKEN_FRAMING, "negative content-length", 400,
                    concat(head(headers), utf8("content-length: -" + (1 + random.nextInt(1000)) + "\r\n\r\n"), body));
            case 3 -> refusedByParser(Category.BROKEN_FRAMING, "two different content-lengths", 400,
                    concat(head(headers), utf8("content-length: " + body.length + "\r\ncontent-length: " + (body.length + 1)
                            + "\r\n\r\n"), body));
            case 4 -> refusedByParser(Category.BROKEN_FRAMING, "content-length and chunked", 400, concat(head(headers),
                    utf8("content-length: " + body.length + "\r\n"), chunkedBody(body, true)));
            case 5 -> {
                headers.put(pick(List.of("x y", "x\u0001y", "(x)", "x@y")), "v");
                yield refusedByParser(Category.BROKEN_FRAMING, "invalid header name", 400, post(headers, body));
            }
            default -> refusedByParser(Category.BROKEN_FRAMING, "not an HTTP request line", 400,
                    utf8(token(1 + random.nextInt(60)).toUpperCase() + "\r\n\r\n"));
        };
    }

    private Request refusedByParser(Category category, String variant, int status, byte[] request) {
        return new Request(index, category, variant, Expect.REFUSED_BY_PARSER, status, request, Delivery.OWN_CONNECTION,
                request.length, 1, 0);
    }

    /** One of the rejected kinds above, trickled in over a second or so. */
    private Request slowUpload() {
        List<Supplier<Broken>> kinds = List.of(this::missingAttribute, this::invalidAttribute, this::wrongSpecversion,
                this::contentType, this::invalidJson, this::invalidUtf8);
        Broken broken = kinds.get(random.nextInt(kinds.size())).get();
        int pieces = 4 + random.nextInt(9);
        long pause = 20 + random.nextInt(130);
        return new Request(index, Category.SLOW_UPLOAD, broken.variant() + ", " + pieces + " pieces " + pause + " ms apart",
                Expect.REJECTED, broken.status(), broken.bytes(), Delivery.SLOW, broken.bytes().length, pieces, pause);
    }

    /** Complete headers, then only part of the body, then the client is gone (FIN or RST). */
    private Request truncatedUpload() {
        String type = pick(TYPES);
        Map<String, String> headers = binaryHeaders(type);
        byte[] body = utf8(validData(type).put("padding", token(random.nextInt(50_000))).encode());
        boolean chunked = random.nextBoolean();
        byte[] request = chunked ? chunked(headers, body, false) : post(headers, body);
        int headerEnd = indexOf(request, utf8("\r\n\r\n")) + 4;
        int sent = chunked ? request.length : headerEnd + random.nextInt(body.length);
        Delivery delivery = random.nextBoolean() ? Delivery.CUT_WITH_FIN : Delivery.CUT_WITH_RST;
        String variant = (chunked ? "chunked, no last chunk" : "content-length " + body.length + ", " + (sent - headerEnd)
                + " bytes sent") + ", then " + (delivery == Delivery.CUT_WITH_FIN ? "FIN" : "RST");
        return new Request(index, Category.TRUNCATED_UPLOAD, variant, Expect.ABANDONED, 0, request, delivery, sent, 1, 0);
    }

    // --- valid ingredients ---

    private Map<String, String> binaryHeaders(String type) {
        Map<String, String> headers = new LinkedHashMap<>();
        headers.put("ce-specversion", "1.0");
        headers.put("ce-id", "fuzz-" + index);
        headers.put("ce-source", "/tests/fuzz");
        headers.put("ce-type", type);
        headers.put("content-type", "application/json");
        return headers;
    }

    private JsonObject envelope(String type) {
        return new JsonObject().put("specversion", "1.0").put("id", "fuzz-" + index).put("source", "/tests/fuzz")
                .put("type", type).put("datacontenttype", "application/json").put("data", validData(type));
    }

    private static JsonObject validData(String type) {
        return CloudEventsHttp.validData(type);
    }

    private Broken structured(String variant, JsonObject envelope) {
        return new Broken(variant, post(new LinkedHashMap<>(Map.of("content-type", "application/cloudevents+json")),
                json(envelope)));
    }

    // --- bytes on the wire ---

    private static byte[] head(Map<String, String> headers) {
        StringBuilder head = new StringBuilder("POST / HTTP/1.1\r\nhost: 127.0.0.1\r\n");
        headers.forEach((name, value) -> head.append(name).append(": ").append(value).append("\r\n"));
        return head.toString().getBytes(ISO_8859_1);
    }

    private static byte[] post(Map<String, String> headers, byte[] body) {
        return concat(head(headers), utf8("content-length: " + body.length + "\r\n\r\n"), body);
    }

    private byte[] chunked(Map<String, String> headers, byte[] body, boolean complete) {
        return concat(head(headers), chunkedBody(body, complete));
    }

    /** The transfer-encoding header, the end of the headers, then the body in chunks of random sizes. */
    private byte[] chunkedBody(byte[] body, boolean complete) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(utf8("transfer-encoding: chunked\r\n\r\n"));
        for (int offset = 0; offset < body.length; ) {
            int size = Math.min(body.length - offset, 1 + random.nextInt(64 * 1024));
            out.writeBytes(utf8(Integer.toHexString(size) + "\r\n"));
            out.write(body, offset, size);
            out.writeBytes(utf8("\r\n"));
            offset += size;
        }
        if (complete) out.writeBytes(utf8("0\r\n\r\n"));
        return out.toByteArray();
    }

    private static byte[] json(Object value) {
        return utf8(value instanceof JsonObject o ? o.encode() : ((JsonArray) value).encode());
    }

    private static byte[] utf8(String text) {
        return text.getBytes(UTF_8);
    }

    private static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] part : parts) out.writeBytes(part);
        return out.toByteArray();
    }

    private static int indexOf(byte[] haystack, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= haystack.length; i++) {
            for (int j = 0; j < needle.length; j++) if (haystack[i + j] != needle[j]) continue outer;
            return i;
        }
        return -1;
    }

    // --- random pieces ---

    private <T> T pick(List<T> choices) {
        return choices.get(random.nextInt(choices.size()));
    }

    private String token(int length) {
        StringBuilder token = new StringBuilder(length);
        for (int i = 0; i < length; i++) token.append((char) ('a' + random.nextInt(26)));
        return token.toString();
    }

    private String highBytes() {
        StringBuilder bytes = new StringBuilder();
        for (int i = 1 + random.nextInt(4); i > 0; i--) bytes.append((char) (0x80 + random.nextInt(0x80)));
        return bytes.toString();
    }
}
