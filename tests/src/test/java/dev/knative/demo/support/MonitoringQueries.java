package dev.knative.demo.support;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.openshift.api.model.monitoring.v1.PrometheusRule;
import io.fabric8.openshift.api.model.monitoring.v1.Rule;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The PromQL of k8s/components/monitoring as Kubernetes receives it (rendered with the component
 * enabled): the rules' and the dashboard's expressions, and the series selectors inside them.
 */
public record MonitoringQueries(PrometheusRule rules, JsonNode dashboard) {

    public static final String JOB = "knative-eventing-demo";
    public static final String DASHBOARD_CONFIGMAP = "knative-eventing-demo-dashboard";
    public static final String DASHBOARD_FILE = "knative-eventing-demo.json";

    /** A series selector: a metric name and the label matchers written next to it (label to value). */
    public record Selector(String metric, Map<String, String> matchers) {}

    // Parts of PromQL that name no series: ranges and subqueries, offsets, label lists of
    // grouping and vector matching, and the binary operators spelled as words.
    private static final Pattern NOT_SERIES = Pattern.compile(
            "\\[[^\\]]*]|\\boffset\\s+\\S+|\\b(?:by|without|on|ignoring|group_left|group_right)\\s*\\([^)]*\\)");
    private static final Set<String> KEYWORDS = Set.of("and", "or", "unless", "bool", "by", "without", "on",
            "ignoring", "group_left", "group_right", "offset");
    private static final Pattern NAME_AND_MATCHERS = Pattern.compile("([a-zA-Z_:][a-zA-Z0-9_:]*)\\s*(\\{([^}]*)})?(\\s*\\()?");
    private static final Pattern MATCHER = Pattern.compile("([a-zA-Z_][a-zA-Z0-9_]*)\\s*(?:=~|!~|!=|=)\\s*\"([^\"]*)\"");
    private static final Pattern LABEL_VALUES = Pattern.compile("label_values\\((.+),\\s*[a-zA-Z_][a-zA-Z0-9_]*\\s*\\)");

    public static MonitoringQueries render(Path temp) {
        return of(Kustomize.renderWithComponent(temp, "monitoring"));
    }

    public static MonitoringQueries of(Manifests rendered) {
        ConfigMap dashboard = rendered.one(ConfigMap.class, DASHBOARD_CONFIGMAP);
        try {
            return new MonitoringQueries(rendered.one(PrometheusRule.class, JOB),
                    Kustomize.YAML.readTree(dashboard.getData().get(DASHBOARD_FILE)));
        } catch (JsonProcessingException e) {
            throw new AssertionError(DASHBOARD_FILE + " in ConfigMap " + DASHBOARD_CONFIGMAP + " is not JSON", e);
        }
    }

    public List<Rule> allRules() {
        return rules.getSpec().getGroups().stream().flatMap(group -> group.getRules().stream()).toList();
    }

    public List<Rule> alerts() {
        return allRules().stream().filter(rule -> rule.getAlert() != null).toList();
    }

    /** Names the recording rules define: series of Prometheus's own making, not of the programs. */
    public Set<String> recordedNames() {
        Set<String> names = new java.util.TreeSet<>();
        allRules().stream().filter(rule -> rule.getRecord() != null).forEach(rule -> names.add(rule.getRecord()));
        return names;
    }

    public List<String> ruleExpressions() {
        return allRules().stream().map(rule -> rule.getExpr().getStrVal()).toList();
    }

    /** Every panel target's expression, in panel order. */
    public List<String> panelExpressions() {
        List<String> expressions = new ArrayList<>();
        dashboard.path("panels").forEach(panel -> panel.path("targets").forEach(target -> expressions.add(target.path("expr").asText())));
        return expressions;
    }

    /** The series selectors of the dashboard's template variables (label_values(selector, label)). */
    public List<Selector> variableSelectors() {
        List<Selector> selectors = new ArrayList<>();
        dashboard.at("/templating/list").forEach(variable -> {
            if (!variable.path("type").asText().equals("query")) return;
            Matcher query = LABEL_VALUES.matcher(variable.at("/query/query").asText());
            assertThat(query.matches()).as("variable %s is a label_values query", variable.path("name").asText()).isTrue();
            selectors.addAll(selectors(query.group(1)));
        });
        return selectors;
    }

    /** Every selector of the rules and the dashboard. */
    public List<Selector> allSelectors() {
        List<Selector> all = new ArrayList<>();
        ruleExpressions().forEach(expression -> all.addAll(selectors(expression)));
        panelExpressions().forEach(expression -> all.addAll(selectors(expression)));
        all.addAll(variableSelectors());
        return all;
    }

    /** The series selectors of one PromQL expression, in order of appearance. */
    public static List<Selector> selectors(String expression) {
        String series = NOT_SERIES.matcher(expression).replaceAll(" ");
        List<Selector> found = new ArrayList<>();
        Matcher m = NAME_AND_MATCHERS.matcher(series);
        while (m.find()) {
            boolean call = m.group(4) != null && m.group(2) == null;
            if (call || KEYWORDS.contains(m.group(1))) continue;
            Map<String, String> matchers = new LinkedHashMap<>();
            if (m.group(3) != null) {
                Matcher matcher = MATCHER.matcher(m.group(3));
                while (matcher.find()) matchers.put(matcher.group(1), matcher.group(2));
            }
            found.add(new Selector(m.group(1), matchers));
        }
        return found;
    }
}
