package dev.knative.demo.support;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** README.md as the tests read it: its text, and the settings its "## Configuration" tables document. */
public final class Readme {

    private static final Pattern HEADING = Pattern.compile("(#{1,6})\\s+(.*)");
    private static final Pattern SETTING = Pattern.compile("`([A-Z][A-Z0-9_]+)`");

    private Readme() {}

    public static String text() {
        try {
            return Files.readString(ScriptProcess.REPO.resolve("README.md"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * The environment variables of consumer.java and producer.java: every backticked name in the first column of the
     * tables under "### consumer.java" and "### producer.java" in "## Configuration", plus the pod identity of
     * Knative's contract (POD_NAME, POD_NAMESPACE). Fails when either table is missing or names none.
     */
    public static Set<String> programSettings(String markdown) {
        Set<String> names = new TreeSet<>(List.of("POD_NAME", "POD_NAMESPACE"));
        for (String program : List.of("consumer.java", "producer.java")) {
            int before = names.size();
            for (List<String> row : tableRows(programTable(markdown, program))) {
                Matcher name = SETTING.matcher(row.get(0));
                while (name.find()) names.add(name.group(1));
            }
            if (names.size() == before) throw new IllegalStateException("README.md names no setting under ### " + program);
        }
        return Set.copyOf(names);
    }

    /** The lines under "### program" in "## Configuration": that program's settings table. */
    public static List<String> programTable(String markdown, String program) {
        return section(section(markdown.lines().toList(), 2, "Configuration"), 3, program);
    }

    /** The trimmed cells of every table row among the lines; header rows (those above a |--- line) left out. */
    public static List<List<String>> tableRows(List<String> lines) {
        List<List<String>> rows = new ArrayList<>();
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i);
            boolean header = i + 1 < lines.size() && lines.get(i + 1).startsWith("|---");
            if (!line.startsWith("| ") || header) continue;
            String inner = line.substring(1, line.endsWith("|") ? line.length() - 1 : line.length());
            rows.add(Arrays.stream(inner.split("\\|", -1)).map(String::trim).toList());
        }
        return rows;
    }

    /**
     * The lines under the first heading of that level whose title contains the text, up to the next heading of that
     * level or above; a line in a fenced code block is never a heading. Fails when there is no such heading.
     */
    public static List<String> section(List<String> lines, int level, String title) {
        List<String> section = null;
        boolean fenced = false;
        for (String line : lines) {
            if (line.startsWith("```")) fenced = !fenced;
            Matcher heading = HEADING.matcher(line);
            if (!fenced && heading.matches() && heading.group(1).length() <= level) {
                if (section != null) return section;
                if (heading.group(1).length() == level && heading.group(2).contains(title)) {
                    section = new ArrayList<>();
                    continue;
                }
            }
            if (section != null) section.add(line);
        }
        if (section == null) throw new IllegalStateException("README.md has no heading " + "#".repeat(level) + " " + title);
        return section;
    }
}
