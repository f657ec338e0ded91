package dev.knative.demo.support;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A certificate authority made for one test by the JDK's own keytool, and the server certificates it signs, as
 * the PEM files cert-manager would mount (tls.crt, tls.key): real TLS with nothing but a JDK, and no key in the
 * repository.
 */
public final class TestCertificates {

    private static final String PASSWORD = "test-only";
    private static final Path KEYTOOL = Path.of(System.getProperty("java.home"), "bin", "keytool");

    /** A signed server certificate and its private key (PKCS#8), each a PEM file. */
    public record Server(Path certFile, Path keyFile) {}

    private final Path dir;
    private final String name;

    private TestCertificates(Path dir, String name) {
        this.dir = dir;
        this.name = name;
    }

    /** A new self-signed CA named `name`, kept in `dir`. */
    public static TestCertificates authority(Path dir, String name) {
        TestCertificates ca = new TestCertificates(dir, name);
        ca.keytool("-genkeypair", "-alias", name, "-keyalg", "RSA", "-keysize", "2048", "-validity", "2",
                "-dname", "CN=" + name, "-ext", "bc:c", "-keystore", ca.store().toString());
        ca.keytool("-exportcert", "-rfc", "-alias", name, "-keystore", ca.store().toString(),
                "-file", ca.caFile().toString());
        return ca;
    }

    /** The CA's certificate as PEM text: what K_CA_CERTS or a Trigger's CACerts carry. */
    public String caPem() {
        return Kustomize.read(caFile());
    }

    /** A PKCS#12 trust store holding only this CA, for a JVM's javax.net.ssl.trustStore. */
    public Path trustStore() {
        Path trust = dir.resolve(name + "-trust.p12");
        keytool("-importcert", "-noprompt", "-alias", name, "-file", caFile().toString(), "-keystore", trust.toString());
        return trust;
    }

    public static String trustStorePassword() {
        return PASSWORD;
    }

    /** A server certificate for localhost and 127.0.0.1, signed by this CA. */
    public Server server(String serverName) {
        Path keys = dir.resolve(serverName + ".p12");
        Path request = dir.resolve(serverName + ".csr");
        Path cert = dir.resolve(serverName + "-tls.crt");
        keytool("-genkeypair", "-alias", serverName, "-keyalg", "RSA", "-keysize", "2048", "-validity", "2",
                "-dname", "CN=localhost", "-keystore", keys.toString());
        keytool("-certreq", "-alias", serverName, "-keystore", keys.toString(), "-file", request.toString());
        keytool("-gencert", "-rfc", "-alias", name, "-keystore", store().toString(), "-infile", request.toString(),
                "-outfile", cert.toString(), "-validity", "2", "-ext", "san=dns:localhost,ip:127.0.0.1",
                "-ext", "eku=serverAuth");
        Path key = dir.resolve(serverName + "-tls.key");
        Kustomize.write(key, pem("PRIVATE KEY", privateKey(keys, serverName)));
        return new Server(cert, key);
    }

    private Path store() {
        return dir.resolve(name + ".p12");
    }

    private Path caFile() {
        return dir.resolve(name + "-ca.crt");
    }

    private static byte[] privateKey(Path keys, String alias) {
        try (InputStream in = Files.newInputStream(keys)) {
            KeyStore store = KeyStore.getInstance("PKCS12");
            store.load(in, PASSWORD.toCharArray());
            return store.getKey(alias, PASSWORD.toCharArray()).getEncoded();
        } catch (IOException | GeneralSecurityException e) {
            throw new IllegalStateException("cannot read the key of " + alias, e);
        }
    }

    private static String pem(String type, byte[] der) {
        return "-----BEGIN " + type + "-----\n" + Base64.getMimeEncoder(64, "\n".getBytes(StandardCharsets.US_ASCII))
                .encodeToString(der) + "\n-----END " + type + "-----\n";
    }

    private void keytool(String... args) {
        List<String> command = new ArrayList<>(List.of(KEYTOOL.toString()));
        command.addAll(List.of(args));
        command.addAll(List.of("-storetype", "PKCS12", "-storepass", PASSWORD));
        try {
            Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
            String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!process.waitFor(120, TimeUnit.SECONDS) || process.exitValue() != 0)
                throw new IllegalStateException("keytool failed: " + command + "\n" + output);
        } catch (IOException e) {
            throw new IllegalStateException("cannot run " + KEYTOOL, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }
}
