package dev.knative.demo.support;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * A stand-in kubectl for the cluster scripts (given to them as KUBECTL): it records the arguments
 * of every call and the stdin of {@code kubectl run}, and answers as a cluster with a ready Broker
 * would. With {@link #runningPodCommandsHere()}, {@code kubectl run ... -- CMD} runs CMD on this
 * machine instead, with the same stdin.
 */
public final class FakeKubectl {

    public record Result(int exitCode, String output) {}

    private static final String SCRIPT = """
            #!/usr/bin/env bash
            set -euo pipefail
            dir="$(dirname "$0")"
            n=$(($(cat "$dir/count" 2>/dev/null || echo 0) + 1))
            echo "$n" >"$dir/count"
            printf '%s\\0' "$@" >"$dir/call-$n"
            case "$1 $2" in
              'wait broker')
                [[ ! -e $dir/broker-not-ready ]] || { echo "error: timed out waiting for the condition on brokers/$3" >&2; exit 1; }
                echo "broker.eventing.knative.dev/$3 condition met" ;;
              'get brokers.eventing.knative.dev') cat "$dir/brokers" ;;
              'get broker')
                case "$*" in
                  *audience*) [[ ! -e $dir/broker-audience ]] || cat "$dir/broker-audience" ;;
                  *) cat "$dir/broker-url" ;;
                esac ;;
              'delete pod') ;;
              'wait pod') echo 'pod/consumer-7d9f-abcde condition met' ;;
              'logs --namespace')
                if [[ -e $dir/logs ]]; then cat "$dir/logs"
                else echo '[pod/consumer-7d9f-abcde/app] {"msg":"event","outcome":"processed"}'; fi ;;
              run\\ *)
                cat >"$dir/call-$n.stdin"
                if [[ -e $dir/run-here ]]; then
                  for ((i = 1; i <= $#; i++)); do [[ ${!i} == -- ]] && break; done
                  exec "${@:i+1}" <"$dir/call-$n.stdin"
                fi
                echo 'broker answered HTTP 202' ;;
              *) echo "stand-in kubectl: unexpected: $*" >&2; exit 1 ;;
            esac
            """;

    private final Path dir;

    public FakeKubectl(Path dir) {
        this.dir = dir;
        Path kubectl = dir.resolve("kubectl");
        Kustomize.write(kubectl, SCRIPT);
        try {
            Files.setPosixFilePermissions(kubectl, PosixFilePermissions.fromString("rwxr-xr-x"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        withBrokerUrl("http://broker-ingress.knative-eventing.svc.cluster.local/knative-demo/default");
        withBrokers("default");
    }

    /** The Brokers of the namespace, as {@code kubectl get brokers} lists their names. */
    public FakeKubectl withBrokers(String... names) {
        Kustomize.write(dir.resolve("brokers"), String.join(" ", names));
        return this;
    }

    public FakeKubectl withBrokerUrl(String url) {
        Kustomize.write(dir.resolve("broker-url"), url);
        return this;
    }

    /** As Knative with authentication-oidc enabled: the Broker has an audience, tokens for it are required. */
    public FakeKubectl withOidcAuthentication() {
        Kustomize.write(dir.resolve("broker-audience"), "eventing.knative.dev/broker/knative-demo/default");
        return this;
    }

    public FakeKubectl withBrokerNotReady() {
        Kustomize.write(dir.resolve("broker-not-ready"), "");
        return this;
    }

    /** What kubectl logs prints, e.g. lines prefixed [pod/NAME/CONTAINER] as with --prefix. */
    public FakeKubectl withLogs(String lines) {
        Kustomize.write(dir.resolve("logs"), lines);
        return this;
    }

    public FakeKubectl runningPodCommandsHere() {
        Kustomize.write(dir.resolve("run-here"), "");
        return this;
    }

    /** Runs a script of scripts/ with this kubectl; NAMESPACE of the developer's shell does not leak in. */
    public Result run(String script, Map<String, String> env, String... args) {
        return runWith(dir.resolve("kubectl"), script, env, args);
    }

    /** Runs a script of scripts/ with the given kubectl stand-in (any fake, not only this one). */
    public static Result runWith(Path kubectl, String script, Map<String, String> env, String... args) {
        List<String> command = new ArrayList<>(List.of("bash", Kustomize.REPO_ROOT.resolve(script).toString()));
        command.addAll(List.of(args));
        ProcessBuilder builder = new ProcessBuilder(command);
        builder.environment().remove("NAMESPACE");
        builder.environment().putAll(env);
        builder.environment().put("KUBECTL", kubectl.toString());
        return runToEnd(builder);
    }

    /** Runs a script with stand-ins to its end, with no stdin: its exit code and its stdout and stderr together. */
    public static Result runToEnd(ProcessBuilder builder) {
        try {
            Process process = builder.redirectErrorStream(true).start();
            process.getOutputStream().close();
            String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertThat(process.waitFor(60, TimeUnit.SECONDS)).as(String.join(" ", builder.command()) + " finished").isTrue();
            return new Result(process.exitValue(), output);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    public static boolean onPath(String program) {
        return Stream.of(System.getenv("PATH").split(":")).anyMatch(dir -> Files.isExecutable(Path.of(dir, program)));
    }

    /** The arguments of every call, in order. */
    public List<List<String>> calls() {
        return callsIn(dir);
    }

    /** The arguments of every call a stand-in kubectl in dir recorded, in order (FakeCluster records the same way). */
    public static List<List<String>> callsIn(Path dir) {
        List<List<String>> calls = new ArrayList<>();
        for (int n = 1; Files.exists(dir.resolve("call-" + n)); n++) {
            String recorded = Kustomize.read(dir.resolve("call-" + n));
            calls.add(List.of(recorded.substring(0, recorded.length() - 1).split("\0", -1)));
        }
        return calls;
    }

    /** What the script piped into the n-th call (counting from 1). */
    public String stdinOf(int call) {
        return Kustomize.read(dir.resolve("call-" + call + ".stdin"));
    }
}
