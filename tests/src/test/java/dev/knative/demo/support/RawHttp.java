package dev.knative.demo.support;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * HTTP/1.1 written byte by byte over a plain socket: for requests no HTTP client library would send
 * (broken framing, invalid bytes in headers, uploads that stall or stop half-way).
 */
public final class RawHttp implements AutoCloseable {

    public static final int READ_TIMEOUT_MS = 15_000;

    /** One response as it came off the wire. */
    public record Response(int status, String reasonPhrase, Map<String, String> headers, byte[] body) {
        public String text() {
            return new String(body, StandardCharsets.UTF_8);
        }
    }

    /**
     * What a request got: the response (null when none came), whether the server closed the connection
     * after it, and the transport error if there was one.
     */
    public record Outcome(Response response, boolean closedByServer, String error) {
    }

    private final int port;
    private Socket socket;
    private InputStream in;

    public RawHttp(int port) {
        this.port = port;
    }

    /** Sends a complete request on this kept-alive connection (opened on first use) and reads the response. */
    public Outcome exchange(byte[] request) {
        try {
            if (socket == null) {
                socket = open(port);
                in = new BufferedInputStream(socket.getInputStream());
            }
            socket.getOutputStream().write(request);
            Response response = read(in);
            if (response == null) {
                close();
                return new Outcome(null, true, "connection closed without a response");
            }
            return new Outcome(response, false, null);
        } catch (IOException e) {
            close();
            return new Outcome(null, false, e.toString());
        }
    }

    /**
     * Sends the request on a connection of its own, in pieces with a pause before each (a slow upload), and
     * reads the response. With watchForClose it then waits (up to READ_TIMEOUT_MS, a bound for a server that
     * never closes, which is a failure) to see whether the server closes the connection; without, closedByServer
     * stays false.
     */
    public static Outcome once(int port, byte[] request, int pieces, long pauseMs, boolean watchForClose) {
        try (Socket socket = open(port)) {
            InputStream in = new BufferedInputStream(socket.getInputStream());
            int step = Math.max(1, (request.length + pieces - 1) / pieces);
            try {
                for (int offset = 0; offset < request.length; offset += step) {
                    if (pauseMs > 0 && offset > 0) Thread.sleep(pauseMs);
                    socket.getOutputStream().write(request, offset, Math.min(step, request.length - offset));
                }
            } catch (IOException refusedMidway) {
                // A server may answer and close before reading everything (a header section over its limit):
                // its answer is still waiting to be read.
            }
            Response response = read(in);
            if (response == null) return new Outcome(null, true, "connection closed without a response");
            return new Outcome(response, watchForClose && closedByServer(socket, in), null);
        } catch (IOException e) {
            return new Outcome(null, false, e.toString());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new Outcome(null, false, e.toString());
        }
    }

    /**
     * Sends only the first `sent` bytes, then ends the connection: with a FIN (the client closed its side)
     * or with a RST (the client vanished). Whatever the server sends back before the connection ends is read.
     */
    public static Outcome abandon(int port, byte[] request, int sent, boolean reset) {
        try (Socket socket = open(port)) {
            socket.getOutputStream().write(request, 0, sent);
            if (reset) {
                socket.setSoLinger(true, 0);
                return new Outcome(null, false, null);
            }
            socket.shutdownOutput();
            InputStream in = new BufferedInputStream(socket.getInputStream());
            Response response = read(in);
            return new Outcome(response, response == null || closedByServer(socket, in), null);
        } catch (IOException e) {
            return new Outcome(null, false, e.toString());
        }
    }

    private static Socket open(int port) throws IOException {
        Socket socket = new Socket();
        socket.setTcpNoDelay(true);
        socket.setSoTimeout(READ_TIMEOUT_MS);
        socket.connect(new InetSocketAddress("127.0.0.1", port), READ_TIMEOUT_MS);
        return socket;
    }

    private static boolean closedByServer(Socket socket, InputStream in) throws IOException {
        try {
            return in.read() < 0;
        } catch (SocketTimeoutException stillOpen) {
            return false;
        } catch (IOException reset) {
            return true;
        }
    }

    /** Reads one response (Content-Length or chunked body); null when the stream ends before a status line. */
    public static Response read(InputStream in) throws IOException {
        String statusLine = line(in);
        if (statusLine == null) return null;
        String[] parts = statusLine.split(" ", 3);
        if (parts.length < 2 || !parts[0].startsWith("HTTP/"))
            throw new IOException("not an HTTP status line: " + statusLine);
        Map<String, String> headers = new TreeMap<>();
        for (String header = line(in); header != null && !header.isEmpty(); header = line(in)) {
            int colon = header.indexOf(':');
            if (colon > 0)
                headers.put(header.substring(0, colon).trim().toLowerCase(Locale.ROOT), header.substring(colon + 1).trim());
        }
        byte[] body;
        if ("chunked".equalsIgnoreCase(headers.get("transfer-encoding"))) {
            ByteArrayOutputStream chunks = new ByteArrayOutputStream();
            for (int size = Integer.parseInt(line(in).trim(), 16); size > 0; size = Integer.parseInt(line(in).trim(), 16)) {
                chunks.write(in.readNBytes(size));
                line(in);
            }
            line(in);
            body = chunks.toByteArray();
        } else {
            body = in.readNBytes(Integer.parseInt(headers.getOrDefault("content-length", "0")));
        }
        return new Response(Integer.parseInt(parts[1]), parts.length == 3 ? parts[2] : "", headers, body);
    }

    private static String line(InputStream in) throws IOException {
        ByteArrayOutputStream line = new ByteArrayOutputStream();
        for (int b = in.read(); b >= 0; b = in.read()) {
            if (b == '\n') return line.toString(StandardCharsets.ISO_8859_1).replaceFirst("\r$", "");
            line.write(b);
        }
        return line.size() == 0 ? null : line.toString(StandardCharsets.ISO_8859_1);
    }

    @Override
    public void close() {
        if (socket == null) return;
        try {
            socket.close();
        } catch (IOException ignored) {
            // Closing a socket that already failed: nothing left to release.
        }
        socket = null;
        in = null;
    }
}
