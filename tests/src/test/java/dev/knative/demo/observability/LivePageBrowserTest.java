package dev.knative.demo.observability;

import static dev.knative.demo.support.CloudEventsHttp.event;
import static dev.knative.demo.support.CloudEventsHttp.validData;
import static org.assertj.core.api.Assertions.assertThat;

import dev.knative.demo.support.Await;
import dev.knative.demo.support.CloudEventsHttp;
import dev.knative.demo.support.ScriptProcess;
import dev.knative.demo.support.TestSink;
import io.cloudevents.CloudEvent;
import io.cloudevents.core.builder.CloudEventBuilder;
import io.vertx.core.json.JsonObject;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.WebSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The consumer's live page in a real browser: headless Chromium from Debian's packages, driven over the
 * DevTools protocol with the JDK's own WebSocket client. Events sent after the page loaded must appear on it.
 */
class LivePageBrowserTest {

    static final Duration WAIT = Duration.ofSeconds(60);

    @TempDir
    Path profile;

    @Test
    void eventsSentToTheConsumerAppearOnItsLivePage() throws Exception {
        try (ScriptProcess consumer = ScriptProcess.startListening("consumer.java",
                Map.of("PROCESSING_TIME_MS", "1", "POD_NAME", "consumer-live-page"));
             CloudEventsHttp http = new CloudEventsHttp(consumer.port());
             Browser browser = Browser.open("http://127.0.0.1:" + consumer.port() + "/", profile)) {
            Await.until("the page to connect its event stream", WAIT,
                    () -> "live".equals(browser.evaluate("document.getElementById('status').textContent")));

            List<CloudEvent> events = List.of(event("demo.event", validData("demo.event")),
                    event("user.created", validData("user.created")), event("order.placed", validData("order.placed")));
            events.forEach(http::binary);
            assertThat(http.binary(event("invoice.paid", validData("demo.event"))).statusCode()).isEqualTo(400);

            Await.until("all events on the page", WAIT, () -> {
                String table = browser.evaluate("document.getElementById('events').innerText");
                return events.stream().allMatch(e -> table.contains(e.getId())) && table.contains("unsupported type");
            });
            String table = browser.evaluate("document.getElementById('events').innerText");
            assertThat(table).contains("consumer-live-page").contains("processed").contains("rejected");
            String counts = browser.evaluate("document.getElementById('counts').innerText");
            assertThat(counts).contains("demo.event processed: 1").contains("user.created processed: 1")
                    .contains("order.placed processed: 1");

            Path screenshot = ScriptProcess.REPO.resolve("tests/target/live-page.png");
            Files.createDirectories(screenshot.getParent());
            Files.write(screenshot, browser.screenshot());
            assertThat(Files.size(screenshot)).isGreaterThan(1000);
        }
    }

    @Test
    void theDeadLetterDisplaysLivePageRedrivesAStoredDeadLetterWithItsButton(@TempDir Path store) throws Exception {
        CloudEvent stored = CloudEventBuilder.v1(event("order.placed", validData("order.placed")))
                .withExtension("knativeerrordest", "http://consumer.knative-demo.svc.cluster.local/")
                .withExtension("knativeerrorcode", "503").build();
        try (TestSink broker = TestSink.start()) {
            Map<String, String> settings = Map.of("DEAD_LETTER_STORE", store.toString(), "K_SINK", broker.url());
            try (ScriptProcess display = ScriptProcess.startListening("consumer.java", settings, "--dead-letter");
                 CloudEventsHttp http = new CloudEventsHttp(display.port())) {
                assertThat(http.binary(stored).statusCode()).isEqualTo(202);
            }
            // A new process on the same store: the dead letter is not in the stream's recent lines, only in the store.
            try (ScriptProcess display = ScriptProcess.startListening("consumer.java", settings, "--dead-letter");
                 Browser browser = Browser.open("http://127.0.0.1:" + display.port() + "/", profile)) {
                String button = "document.querySelector('#events button[data-key]')";
                Await.until("the stored dead letter's button", WAIT, () -> !"null".equals(browser.evaluate(button + "?.textContent ?? null")));
                assertThat(browser.evaluate("document.getElementById('events').innerText")).contains(stored.getId());

                browser.evaluate(button + ".click()");

                assertThat(broker.await(1, WAIT).get(0).event().getId()).isEqualTo(stored.getId());
                Await.until("the button to show the Broker's answer", WAIT, () -> browser.evaluate(button + ".textContent").equals("sent: 202"));
                browser.evaluate(button + ".click()");
                Await.until("the second click to say it was sent before", WAIT,
                        () -> browser.evaluate(button + ".textContent").equals("sent before: 202"));
                assertThat(broker.received()).hasSize(1);
                assertThat(browser.evaluate("document.querySelectorAll('#events button[data-key]').length")).isEqualTo("1");
            }
        }
    }

    /** Just enough of the Chrome DevTools protocol: evaluate an expression, take a screenshot. */
    static final class Browser implements AutoCloseable {
        private static final Pattern DEVTOOLS = Pattern.compile("DevTools listening on (ws://\\S+)");
        private final Process process;
        private final WebSocket socket;
        private final AtomicInteger ids = new AtomicInteger();
        private final Map<Integer, CompletableFuture<JsonObject>> pending = new ConcurrentHashMap<>();

        private Browser(Process process, WebSocket socket) {
            this.process = process;
            this.socket = socket;
        }

        static Browser open(String url, Path profile) throws Exception {
            Process process = new ProcessBuilder("chromium", "--headless", "--no-sandbox", "--disable-gpu",
                    "--disable-dev-shm-usage", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--disable-quic", "--window-size=1280,720",
                    "--user-data-dir=" + profile, "--remote-debugging-port=0", url)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            String browserSocket = null;
            BufferedReader stderr = new BufferedReader(new InputStreamReader(process.getErrorStream(), StandardCharsets.UTF_8));
            for (String line; browserSocket == null && (line = stderr.readLine()) != null; ) {
                Matcher m = DEVTOOLS.matcher(line);
                if (m.find()) browserSocket = m.group(1);
            }
            if (browserSocket == null) throw new AssertionError("chromium did not start its DevTools endpoint");
            Thread drain = new Thread(() -> stderr.lines().forEach(l -> { }), "chromium-stderr");
            drain.setDaemon(true);
            drain.start();

            URI devtools = URI.create(browserSocket);
            HttpClient client = HttpClient.newHttpClient();
            String[] pageSocket = new String[1];
            Await.until("chromium to open " + url, WAIT, () -> (pageSocket[0] = pageSocket(client, devtools, url)) != null);
            Browser[] self = new Browser[1];
            WebSocket socket = client.newWebSocketBuilder().buildAsync(URI.create(pageSocket[0]), new WebSocket.Listener() {
                private final StringBuilder message = new StringBuilder();

                @Override
                public CompletionStage<?> onText(WebSocket webSocket, CharSequence data, boolean last) {
                    message.append(data);
                    if (last) {
                        JsonObject reply = new JsonObject(message.toString());
                        message.setLength(0);
                        CompletableFuture<JsonObject> waiting = self[0].pending.remove(reply.getInteger("id", -1));
                        if (waiting != null) waiting.complete(reply);
                    }
                    webSocket.request(1);
                    return null;
                }
            }).get(WAIT.toSeconds(), TimeUnit.SECONDS);
            self[0] = new Browser(process, socket);
            return self[0];
        }

        /** The DevTools socket of the page showing url, once the browser lists it; null before. */
        private static String pageSocket(HttpClient client, URI devtools, String url) {
            try {
                String targets = client.send(HttpRequest.newBuilder(URI.create("http://" + devtools.getAuthority()
                        + "/json/list")).build(), HttpResponse.BodyHandlers.ofString()).body();
                for (Object target : new io.vertx.core.json.JsonArray(targets)) {
                    JsonObject t = (JsonObject) target;
                    if ("page".equals(t.getString("type")) && url.equals(t.getString("url")))
                        return t.getString("webSocketDebuggerUrl");
                }
                return null;
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            }
        }

        private JsonObject call(String method, JsonObject params) {
            int id = ids.incrementAndGet();
            CompletableFuture<JsonObject> reply = new CompletableFuture<>();
            pending.put(id, reply);
            socket.sendText(new JsonObject().put("id", id).put("method", method).put("params", params).encode(), true);
            try {
                JsonObject result = reply.get(WAIT.toSeconds(), TimeUnit.SECONDS);
                if (result.containsKey("error")) throw new AssertionError(method + " failed: " + result.getValue("error"));
                return result.getJsonObject("result");
            } catch (Exception e) {
                throw new AssertionError(method + " got no reply", e);
            }
        }

        String evaluate(String expression) {
            JsonObject result = call("Runtime.evaluate", new JsonObject().put("expression", expression)
                    .put("returnByValue", true)).getJsonObject("result");
            return String.valueOf(result.getValue("value"));
        }

        byte[] screenshot() {
            return Base64.getDecoder().decode(call("Page.captureScreenshot", new JsonObject().put("format", "png"))
                    .getString("data"));
        }

        @Override
        public void close() throws Exception {
            socket.abort();
            process.destroy();
            if (!process.waitFor(10, TimeUnit.SECONDS)) process.destroyForcibly();
        }
    }
}
