// Load for scripts/benchmark.sh: binary-mode CloudEvents over keep-alive HTTP/1.1, on plain sockets with the
// JDK alone, so the benchmark runs wherever the consumer runs (wrk is faster for saturation, when installed).
//
//   java LoadGenerator.java fixed  --url=http://127.0.0.1:8080/ --rate=2000 --seconds=16 --warmup=1 --connections=32
//   java LoadGenerator.java closed --url=http://127.0.0.1:8080/ --seconds=15 --connections=32
//
// fixed is open loop: request i is due at start + i/rate whatever happened before, and its latency counts from
// that due time, so a consumer that falls behind shows its queue instead of slowing the sender down
// (no coordinated omission). closed keeps every connection busy and measures the consumer's saturation.
// Either prints one line, e.g.
//   LOAD mode=fixed requests=30000 seconds=15.000 rps=2000.0 p50_ms=0.210 p99_ms=0.840 max_ms=3.100
//        non2xx=0 sock_err=0 rate=2000 dropped=0 late_p99_ms=0.090
// late_p99_ms is how late the generator itself sent (its own timing error, part of every latency it reports).

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

public class LoadGenerator {

    public static void main(String[] args) throws Exception {
        if (args.length == 0 || !(args[0].equals("fixed") || args[0].equals("closed"))) {
            System.err.println("usage: java LoadGenerator.java fixed|closed --url=URL --seconds=S [--rate=R] [--warmup=S]"
                    + " [--connections=N]");
            System.exit(2);
        }
        Map<String, String> flags = new HashMap<>();
        for (String arg : Arrays.copyOfRange(args, 1, args.length)) {
            String[] kv = arg.replaceFirst("^--", "").split("=", 2);
            if (kv.length != 2) throw new IllegalArgumentException("expected --name=value, got " + arg);
            flags.put(kv[0], kv[1]);
        }
        boolean fixed = args[0].equals("fixed");
        Run run = new Run(URI.create(flags.getOrDefault("url", "http://127.0.0.1:8080/")),
                Double.parseDouble(flags.getOrDefault("seconds", "15")),
                Double.parseDouble(flags.getOrDefault("warmup", "0")),
                fixed ? Double.parseDouble(flags.getOrDefault("rate", "2000")) : 0,
                Integer.parseInt(flags.getOrDefault("connections", "32")));
        System.out.println(run.execute());
    }

    /** One load run: its settings, its clock and the slots (requests) its workers take in order. */
    static final class Run {
        final URI url;
        final double seconds;
        final double warmup;
        final double rate; // 0 = closed loop
        final int connections;
        final AtomicLong nextSlot = new AtomicLong();
        long start;
        long measureFrom;
        long end;
        long giveUpAt;

        Run(URI url, double seconds, double warmup, double rate, int connections) {
            this.url = url;
            this.seconds = seconds;
            this.warmup = warmup;
            this.rate = rate;
            this.connections = connections;
        }

        String execute() throws InterruptedException {
            List<Worker> workers = new ArrayList<>();
            for (int i = 0; i < connections; i++) workers.add(new Worker(this, i));
            start = System.nanoTime() + 200_000_000L; // every worker connected and waiting by then
            measureFrom = start + (long) (warmup * 1e9);
            end = start + (long) (seconds * 1e9);
            // Requests already due may still go out for a while, so a slow consumer's backlog is measured, not lost.
            giveUpAt = end + 5_000_000_000L;
            List<Thread> threads = new ArrayList<>();
            for (Worker worker : workers) {
                Thread thread = new Thread(worker, "load-" + threads.size());
                thread.start();
                threads.add(thread);
            }
            for (Thread thread : threads) thread.join();
            return report(workers);
        }

        long slots() {
            return rate > 0 ? (long) Math.floor(rate * seconds) : Long.MAX_VALUE;
        }

        long due(long slot) {
            return start + (long) (slot * 1e9 / rate);
        }

        private String report(List<Worker> workers) {
            Samples latency = new Samples();
            Samples late = new Samples();
            long non2xx = 0;
            long errors = 0;
            for (Worker w : workers) {
                latency.addAll(w.latency);
                late.addAll(w.late);
                non2xx += w.non2xx;
                errors += w.errors;
            }
            double measured = seconds - warmup;
            StringBuilder line = new StringBuilder(String.format(Locale.ROOT,
                    "LOAD mode=%s requests=%d seconds=%.3f rps=%.1f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f non2xx=%d sock_err=%d",
                    rate > 0 ? "fixed" : "closed", latency.size(), measured, latency.size() / measured,
                    latency.percentile(50) / 1e6, latency.percentile(99) / 1e6, latency.percentile(100) / 1e6,
                    non2xx, errors));
            if (rate > 0) {
                long dropped = Math.max(0, slots() - Math.min(nextSlot.get(), slots()));
                line.append(String.format(Locale.ROOT, " rate=%s dropped=%d late_p99_ms=%.3f",
                        rate == Math.rint(rate) ? String.valueOf((long) rate) : String.valueOf(rate), dropped,
                        late.percentile(99) / 1e6));
            }
            return line.toString();
        }
    }

    /** One connection and the thread that drives it; failed connections are replaced and counted. */
    static final class Worker implements Runnable {
        private static final long SPIN_NANOS = 100_000;
        private static final String[] TYPES = {"demo.event", "user.created", "order.placed"};
        final Run run;
        final String idPrefix;
        final Samples latency = new Samples();
        final Samples late = new Samples();
        long non2xx;
        long errors;
        private HttpConnection connection;
        private long sequence;

        Worker(Run run, int index) {
            this.run = run;
            this.idPrefix = "load-" + Long.toHexString(ThreadLocalRandom.current().nextLong() >>> 16) + "-" + index + "-";
        }

        @Override
        public void run() {
            sleepUntil(run.start);
            long slots = run.slots();
            while (true) {
                long due;
                if (run.rate > 0) {
                    long slot = run.nextSlot.getAndIncrement();
                    if (slot >= slots) return;
                    due = run.due(slot);
                    sleepUntil(due);
                    if (System.nanoTime() > run.giveUpAt) return;
                } else {
                    due = System.nanoTime();
                    if (due >= run.end) return;
                }
                long sent = System.nanoTime();
                int status = exchange();
                long done = System.nanoTime();
                if (due < run.measureFrom) continue;
                if (status < 0) errors++;
                else if (status >= 300) non2xx++;
                else {
                    latency.add(done - due);
                    late.add(sent - due);
                }
            }
        }

        private int exchange() {
            try {
                if (connection == null) connection = new HttpConnection(run.url);
                return connection.post(request());
            } catch (IOException e) {
                if (connection != null) connection.close();
                connection = null;
                return -1;
            }
        }

        // Data valid for each type the consumer handles (k8s/schemas; EventSamplesTest checks it), so every request
        // takes its full path to 202.
        static String data(String type, long n) {
            return switch (type) {
                case "demo.event" -> "{\"message\":\"benchmark event " + n + "\"}";
                case "user.created" -> "{\"user_id\":\"u-" + n + "\",\"username\":\"user" + n + "\",\"email\":\"user" + n
                        + "@example.com\"}";
                default -> "{\"order_id\":\"o-" + n + "\",\"user_id\":\"u-" + n % 997 + "\",\"amount\":" + (n % 500 + 1)
                        + ".25,\"items\":[{\"sku\":\"sku-" + n % 31 + "\",\"quantity\":1}]}";
            };
        }

        private byte[] request() {
            long n = ++sequence;
            String type = TYPES[(int) (n % TYPES.length)];
            byte[] body = data(type, n).getBytes(StandardCharsets.UTF_8);
            String head = "POST " + run.url.getRawPath() + " HTTP/1.1\r\nHost: " + run.url.getAuthority()
                    + "\r\nce-specversion: 1.0\r\nce-id: " + idPrefix + n + "\r\nce-source: /benchmark/loadgen\r\nce-type: "
                    + type + "\r\nce-time: 2026-01-01T00:00:00Z\r\ncontent-type: application/json\r\ncontent-length: "
                    + body.length + "\r\n\r\n";
            byte[] headBytes = head.getBytes(StandardCharsets.US_ASCII);
            byte[] request = Arrays.copyOf(headBytes, headBytes.length + body.length);
            System.arraycopy(body, 0, request, headBytes.length, body.length);
            return request;
        }

        // Parking wakes up tens of microseconds late: park until shortly before the deadline, then spin.
        private static void sleepUntil(long deadline) {
            for (long left; (left = deadline - System.nanoTime()) > SPIN_NANOS; ) LockSupport.parkNanos(left - SPIN_NANOS);
            while (System.nanoTime() < deadline) Thread.onSpinWait();
        }
    }

    /** Keep-alive HTTP/1.1 client connection: one request at a time, the response read fully and dropped. */
    static final class HttpConnection {
        private final Socket socket = new Socket();
        private final InputStream in;
        private final OutputStream out;
        private final byte[] buffer = new byte[16 * 1024];
        private int position;
        private int limit;
        private boolean reusable = true;

        HttpConnection(URI url) throws IOException {
            socket.setTcpNoDelay(true);
            socket.setSoTimeout(10_000);
            socket.connect(new InetSocketAddress(url.getHost(), url.getPort() < 0 ? 80 : url.getPort()), 5_000);
            in = socket.getInputStream();
            out = socket.getOutputStream();
        }

        /** Sends one request; returns the response's status code. */
        int post(byte[] request) throws IOException {
            if (!reusable) throw new IOException("the server closed the connection");
            out.write(request);
            out.flush();
            String statusLine = line();
            if (!statusLine.startsWith("HTTP/1.")) throw new IOException("not an HTTP response: " + statusLine);
            int status = Integer.parseInt(statusLine.substring(9, 12));
            long length = 0;
            boolean chunked = false;
            for (String header; !(header = line()).isEmpty(); ) {
                int colon = header.indexOf(':');
                if (colon < 0) continue;
                String name = header.substring(0, colon).trim().toLowerCase(Locale.ROOT);
                String value = header.substring(colon + 1).trim().toLowerCase(Locale.ROOT);
                switch (name) {
                    case "content-length" -> length = Long.parseLong(value);
                    case "transfer-encoding" -> chunked = value.contains("chunked");
                    case "connection" -> reusable = !value.contains("close");
                    default -> { }
                }
            }
            if (chunked) {
                for (long size; (size = Long.parseLong(line().split(";", 2)[0].trim(), 16)) > 0; line()) skip(size);
                while (!line().isEmpty()) { } // trailers
            } else {
                skip(length);
            }
            return status;
        }

        private String line() throws IOException {
            StringBuilder text = new StringBuilder();
            while (true) {
                if (position == limit) fill();
                byte b = buffer[position++];
                if (b == '\n') break;
                if (b != '\r') text.append((char) b);
            }
            return text.toString();
        }

        private void skip(long bytes) throws IOException {
            while (bytes > 0) {
                if (position == limit) fill();
                int n = (int) Math.min(bytes, limit - position);
                position += n;
                bytes -= n;
            }
        }

        private void fill() throws IOException {
            int n = in.read(buffer);
            if (n < 0) throw new IOException("connection closed by the server");
            position = 0;
            limit = n;
        }

        void close() {
            try {
                socket.close();
            } catch (IOException ignored) {
                // closing a broken connection: nothing left to do
            }
        }
    }

    /** A growable list of nanosecond samples with percentiles. */
    static final class Samples {
        private long[] values = new long[4096];
        private int size;

        void add(long value) {
            if (size == values.length) values = Arrays.copyOf(values, size * 2);
            values[size++] = value;
        }

        void addAll(Samples other) {
            for (int i = 0; i < other.size; i++) add(other.values[i]);
        }

        int size() {
            return size;
        }

        long percentile(double p) {
            if (size == 0) return 0;
            long[] sorted = Arrays.copyOf(values, size);
            Arrays.sort(sorted);
            int rank = (int) Math.ceil(p / 100 * size) - 1;
            return sorted[Math.max(0, Math.min(size - 1, rank))];
        }
    }
}
