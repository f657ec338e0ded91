package dev.knative.demo.support;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Facts the manifests must agree with, read from the scripts' source text.
 *
 * <p>Event types: a script declares them either as constants of an enum whose name contains
 * {@code Type}, each with the type string as its first argument ({@code DEMO_EVENT("demo.event", ...)}),
 * or as string literals in the initializer of a {@code static final} field whose name contains
 * {@code TYPE} ({@code TYPES = List.of("demo.event", ...)}). Only literals shaped like a CloudEvents
 * type ({@code lower.dotted-words}) count, so a {@code CONTENT_TYPE = "application/json"} does not.
 */
public final class ScriptDeclarations {

    private static final Pattern EVENT_TYPE = Pattern.compile("[a-z][a-z0-9-]*(\\.[a-z][a-z0-9-]*)+");
    private static final Pattern TYPE_ENUM = Pattern.compile("\\benum\\s+\\w*Type\\w*\\s*(implements[^{]*)?\\{");
    private static final Pattern TYPE_FIELD = Pattern.compile("\\bstatic\\s+final\\s+[^=;(){}]*?\\b\\w*TYPE\\w*\\s*=");
    private static final Pattern ENUM_CONSTANT = Pattern.compile("^\\s*[A-Z][A-Z0-9_]*\\s*\\(\\s*\"((?:[^\"\\\\]|\\\\.)*)\"");
    private static final Pattern STRING_LITERAL = Pattern.compile("\"((?:[^\"\\\\\\n]|\\\\.)*)\"");

    private ScriptDeclarations() {}

    /** The event types the Java script declares, in order of appearance, duplicates kept. */
    public static List<String> declaredEventTypes(Path script) {
        String code = withoutComments(Kustomize.read(script));
        List<String> types = new ArrayList<>();

        Matcher enums = TYPE_ENUM.matcher(code);
        while (enums.find()) {
            String constants = code.substring(enums.end(), endOfTopLevel(code, enums.end(), ';'));
            for (String constant : splitTopLevel(constants)) {
                Matcher literal = ENUM_CONSTANT.matcher(constant);
                if (literal.find() && EVENT_TYPE.matcher(literal.group(1)).matches()) types.add(literal.group(1));
            }
        }
        Matcher fields = TYPE_FIELD.matcher(code);
        while (fields.find()) {
            Matcher literals = STRING_LITERAL.matcher(code.substring(fields.end(), endOfTopLevel(code, fields.end(), ';')));
            while (literals.find()) {
                if (EVENT_TYPE.matcher(literals.group(1)).matches()) types.add(literals.group(1));
            }
        }
        return types;
    }

    /**
     * Names of the files a POSIX launcher reads from its own directory: the variable assigned from
     * {@code dirname "$0"} followed by {@code /name}.
     */
    public static List<String> filesBesideLauncher(Path launcher) {
        String text = Kustomize.read(launcher);
        Matcher directory = Pattern.compile("(?m)^\\s*(\\w+)=\\$\\(.*dirname.*\"\\$0\"").matcher(text);
        Set<String> files = new LinkedHashSet<>();
        while (directory.find()) {
            String variable = Pattern.quote(directory.group(1));
            Matcher use = Pattern.compile("\\$\\{?" + variable + "\\}?/([\\w.-]+)").matcher(text);
            while (use.find()) files.add(use.group(1));
        }
        return List.copyOf(files);
    }

    /**
     * The files a JBang script includes with {@code //SOURCES} and {@code //FILES} (an entry of FILES may read
     * target=source), as paths relative to the script.
     */
    public static List<String> includedFiles(Path script) {
        List<String> files = new ArrayList<>();
        for (String line : Kustomize.read(script).split("\n")) {
            if (!line.startsWith("//SOURCES ") && !line.startsWith("//FILES ")) continue;
            for (String entry : line.substring(line.indexOf(' ') + 1).trim().split("\\s+")) {
                files.add(entry.substring(entry.indexOf('=') + 1));
            }
        }
        return files;
    }

    /** Java source with comments blanked out, string and char literals left intact. */
    public static String withoutComments(String source) {
        StringBuilder out = new StringBuilder(source.length());
        int i = 0;
        while (i < source.length()) {
            char c = source.charAt(i);
            if (source.startsWith("//", i)) {
                while (i < source.length() && source.charAt(i) != '\n') i++;
            } else if (source.startsWith("/*", i)) {
                int end = source.indexOf("*/", i + 2);
                i = end < 0 ? source.length() : end + 2;
                out.append(' ');
            } else if (c == '"' || c == '\'') {
                int end = endOfLiteral(source, i);
                out.append(source, i, end);
                i = end;
            } else {
                out.append(c);
                i++;
            }
        }
        return out.toString();
    }

    /** Index just past the literal that starts at start (a "string", a """text block""" or a 'c'har). */
    private static int endOfLiteral(String code, int start) {
        if (code.startsWith("\"\"\"", start)) {
            int end = code.indexOf("\"\"\"", start + 3);
            return end < 0 ? code.length() : end + 3;
        }
        char quote = code.charAt(start);
        int i = start + 1;
        while (i < code.length() && code.charAt(i) != quote) i += code.charAt(i) == '\\' ? 2 : 1;
        return Math.min(i + 1, code.length());
    }

    /** Index of the first stop character outside brackets and literals from start, or of the closing bracket of the block. */
    private static int endOfTopLevel(String code, int start, char stop) {
        int depth = 0;
        for (int i = start; i < code.length(); i++) {
            char c = code.charAt(i);
            if (c == '"' || c == '\'') {
                i = endOfLiteral(code, i) - 1;
            } else if (c == '(' || c == '[' || c == '{') {
                depth++;
            } else if (c == ')' || c == ']' || c == '}') {
                if (depth == 0) return i;
                depth--;
            } else if (c == stop && depth == 0) {
                return i;
            }
        }
        return code.length();
    }

    /** The comma-separated parts of code, splitting only outside brackets and literals. */
    private static List<String> splitTopLevel(String code) {
        List<String> parts = new ArrayList<>();
        int from = 0;
        while (from <= code.length()) {
            int end = endOfTopLevel(code, from, ',');
            parts.add(code.substring(from, end));
            from = end + 1;
        }
        return parts;
    }
}
