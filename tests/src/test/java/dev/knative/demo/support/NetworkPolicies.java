package dev.knative.demo.support;

import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.LabelSelector;
import io.fabric8.kubernetes.api.model.LabelSelectorRequirement;
import io.fabric8.kubernetes.api.model.networking.v1.IPBlock;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicy;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicyPeer;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicyPort;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Decides, as the NetworkPolicy API defines it, whether the rendered policies let one endpoint
 * reach another. Covers what this project uses: pod and namespace selectors (matchLabels and
 * matchExpressions), IPv4 ipBlocks, numeric and named ports. Traffic from a pod's own node
 * (kubelet probes) is outside the API and not modelled.
 */
public record NetworkPolicies(List<NetworkPolicy> policies, String namespace) {

    /** A pod (namespace labels, pod labels, named container ports) or, with an ip, an address outside the cluster. */
    public record Endpoint(String namespace, Map<String, String> podLabels, Map<String, Integer> namedPorts, String ip) {
        public static Endpoint pod(String namespace, Map<String, String> labels, Map<String, Integer> namedPorts) {
            return new Endpoint(namespace, labels, namedPorts, null);
        }

        public static Endpoint pod(String namespace, Map<String, String> labels) {
            return pod(namespace, labels, Map.of());
        }

        public static Endpoint external(String ip) {
            return new Endpoint(null, Map.of(), Map.of(), ip);
        }

        Map<String, String> namespaceLabels() {
            return Map.of("kubernetes.io/metadata.name", namespace);
        }
    }

    public boolean allowsIngress(Endpoint source, Endpoint target, String protocol, int port) {
        return allows(target, "Ingress", source, target, protocol, port);
    }

    public boolean allowsEgress(Endpoint source, Endpoint destination, String protocol, int port) {
        return allows(source, "Egress", destination, destination, protocol, port);
    }

    /** Whether the policies that select subject for this direction let traffic with peer through on port. */
    private boolean allows(Endpoint subject, String direction, Endpoint peer, Endpoint portOwner, String protocol, int port) {
        if (subject.ip() != null || !subject.namespace().equals(namespace)) return true; // not governed by these policies
        List<NetworkPolicy> selecting = policies.stream()
                .filter(policy -> policyTypes(policy).contains(direction))
                .filter(policy -> matches(policy.getSpec().getPodSelector(), subject.podLabels()))
                .toList();
        if (selecting.isEmpty()) return true; // a pod no policy isolates accepts everything
        return selecting.stream().anyMatch(policy -> direction.equals("Ingress")
                ? orEmpty(policy.getSpec().getIngress()).stream().anyMatch(rule ->
                        anyPeer(rule.getFrom(), peer) && anyPort(rule.getPorts(), portOwner, protocol, port))
                : orEmpty(policy.getSpec().getEgress()).stream().anyMatch(rule ->
                        anyPeer(rule.getTo(), peer) && anyPort(rule.getPorts(), portOwner, protocol, port)));
    }

    /** policyTypes, or the API's default when left out: Ingress, plus Egress if there are egress rules. */
    private static List<String> policyTypes(NetworkPolicy policy) {
        List<String> types = policy.getSpec().getPolicyTypes();
        if (types != null && !types.isEmpty()) return types;
        return orEmpty(policy.getSpec().getEgress()).isEmpty() ? List.of("Ingress") : List.of("Ingress", "Egress");
    }

    private static <T> List<T> orEmpty(List<T> list) {
        return list == null ? List.of() : list;
    }

    private boolean anyPeer(List<NetworkPolicyPeer> peers, Endpoint endpoint) {
        return peers == null || peers.isEmpty() || peers.stream().anyMatch(peer -> matches(peer, endpoint));
    }

    private boolean matches(NetworkPolicyPeer peer, Endpoint endpoint) {
        if (peer.getIpBlock() != null) return endpoint.ip() != null && contains(peer.getIpBlock(), endpoint.ip());
        if (endpoint.ip() != null) return false;
        boolean namespaceMatches = peer.getNamespaceSelector() == null
                ? endpoint.namespace().equals(namespace)
                : matches(peer.getNamespaceSelector(), endpoint.namespaceLabels());
        return namespaceMatches && (peer.getPodSelector() == null || matches(peer.getPodSelector(), endpoint.podLabels()));
    }

    private static boolean anyPort(List<NetworkPolicyPort> ports, Endpoint owner, String protocol, int port) {
        return ports == null || ports.isEmpty() || ports.stream().anyMatch(p -> {
            String policyProtocol = Optional.ofNullable(p.getProtocol()).orElse("TCP");
            return policyProtocol.equals(protocol) && (p.getPort() == null || resolves(p.getPort(), owner, port));
        });
    }

    private static boolean resolves(IntOrString policyPort, Endpoint owner, int port) {
        if (policyPort.getIntVal() != null) return policyPort.getIntVal() == port;
        return Integer.valueOf(port).equals(owner.namedPorts().get(policyPort.getStrVal()));
    }

    public static boolean matches(LabelSelector selector, Map<String, String> labels) {
        if (selector == null) return true;
        Map<String, String> required = selector.getMatchLabels() == null ? Map.of() : selector.getMatchLabels();
        if (!labels.entrySet().containsAll(required.entrySet())) return false;
        List<LabelSelectorRequirement> expressions = selector.getMatchExpressions() == null ? List.of() : selector.getMatchExpressions();
        return expressions.stream().allMatch(e -> switch (e.getOperator()) {
            case "In" -> labels.containsKey(e.getKey()) && e.getValues().contains(labels.get(e.getKey()));
            case "NotIn" -> !labels.containsKey(e.getKey()) || !e.getValues().contains(labels.get(e.getKey()));
            case "Exists" -> labels.containsKey(e.getKey());
            case "DoesNotExist" -> !labels.containsKey(e.getKey());
            default -> throw new IllegalArgumentException("unknown selector operator " + e.getOperator());
        });
    }

    private static boolean contains(IPBlock block, String ip) {
        if (!block.getCidr().contains(".") || !ip.contains(".")) throw new IllegalArgumentException("only IPv4 ipBlocks are modelled");
        boolean inside = inCidr(block.getCidr(), ip);
        return inside && (block.getExcept() == null || block.getExcept().stream().noneMatch(except -> inCidr(except, ip)));
    }

    private static boolean inCidr(String cidr, String ip) {
        String[] parts = cidr.split("/");
        int bits = Integer.parseInt(parts[1]);
        long mask = bits == 0 ? 0 : (0xFFFFFFFFL << (32 - bits)) & 0xFFFFFFFFL;
        return (ipv4(parts[0]) & mask) == (ipv4(ip) & mask);
    }

    private static long ipv4(String address) {
        long value = 0;
        for (String octet : address.split("\\.")) value = value << 8 | Integer.parseInt(octet);
        return value;
    }
}
