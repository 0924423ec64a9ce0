// KQL highlighting as a stream tokenizer: enough structure to colour tabular operators after a
// pipe, functions, literals and comments. Meaning (tables, columns, errors) comes from the
// server's completion and check endpoints, not from here.
import { HighlightStyle, StreamLanguage, syntaxHighlighting } from "@codemirror/language";
import type { StringStream } from "@codemirror/language";
import { tags } from "@lezer/highlight";

const TABULAR = new Set(
  (
    "as consume count datatable distinct evaluate extend externaldata facet filter find fork getschema invoke " +
    "join limit lookup make-series mv-apply mv-expand order parse parse-kv parse-where partition print " +
    "project project-away project-keep project-rename project-reorder range reduce render sample " +
    "sample-distinct scan search serialize sort summarize take top top-hitters top-nested union where"
  ).split(" "),
);

const KEYWORDS = new Set(
  (
    "let set alias declare pattern restrict by on kind with asc desc nulls first last to step from of " +
    "inner outer leftouter rightouter fullouter leftanti rightanti leftsemi rightsemi innerunique anti semi " +
    "hint.strategy hint.shufflekey withsource isfuzzy typeof"
  ).split(" "),
);

// Word operators of the expression language (string and set predicates).
const WORD_OPERATORS = new Set(
  (
    "and or not in between has has_cs hasprefix hasprefix_cs hassuffix hassuffix_cs contains contains_cs " +
    "startswith startswith_cs endswith endswith_cs matches regex has_any has_all"
  ).split(" "),
);

const ATOMS = new Set(["true", "false", "null"]);

// Types, which also build literals: datetime(2024-01-01), timespan(1d), dynamic([1, 2]).
const TYPES = new Set(
  "bool boolean datetime date dynamic guid int long real double string timespan time decimal".split(" "),
);
const LITERAL_TYPES = new Set(["datetime", "date", "timespan", "time", "guid"]);

const TIMESPAN_UNIT =
  /^(?:days?|d|hours?|hrs?|h|minutes?|min|m|seconds?|sec|s|milliseconds?|milli|ms|microseconds?|micro|ticks?)\b/;

interface State {
  /** The next word follows a pipe, so it names a tabular operator. */
  afterPipe: boolean;
  /** Inside the parentheses of datetime(...) and its kin, read as one literal. */
  literal: boolean;
  /** Inside a ``` multi-line string. */
  multiline: boolean;
}

function token(stream: StringStream, state: State): string | null {
  if (state.multiline) {
    state.multiline = !stream.skipTo("```");
    if (!state.multiline) stream.pos += 3;
    else stream.skipToEnd();
    return "string";
  }
  if (state.literal) {
    if (stream.eatSpace()) return null;
    if (stream.eat("(")) return "punctuation";
    state.literal = false;
    if (stream.match(/^[^)]*/) && stream.current().length) return "string.special";
  }
  if (stream.eatSpace()) return null;

  if (stream.match("//")) {
    stream.skipToEnd();
    return "comment";
  }
  const afterPipe = state.afterPipe;
  state.afterPipe = false;
  if (stream.eat("|")) {
    state.afterPipe = true;
    return "operator";
  }
  if (stream.match("```")) {
    state.multiline = true;
    return "string";
  }
  // Verbatim (@"..", doubled quotes escape) and obfuscated (h"..") strings.
  if (stream.match(/^[hH]?@"(?:[^"]|"")*"?/) || stream.match(/^[hH]?@'(?:[^']|'')*'?/)) return "string";
  if (stream.match(/^[hH]?"(?:[^"\\]|\\.)*"?/) || stream.match(/^[hH]?'(?:[^'\\]|\\.)*'?/)) return "string";
  if (stream.match(/^0[xX][0-9a-fA-F]+/)) return "number";
  if (stream.match(/^\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/)) {
    return stream.match(TIMESPAN_UNIT) ? "unit" : "number";
  }
  if (stream.match(/^!(?:in~?|has(?:_cs|prefix|suffix)?|contains(?:_cs)?|startswith(?:_cs)?|endswith(?:_cs)?|between)\b/)) {
    return "operatorKeyword";
  }
  if (stream.match(/^[A-Za-z_][\w]*(?:\.[a-z]+)?/)) {
    let word = stream.current();
    if (afterPipe) {
      // Hyphenated operators (project-away, mv-expand) are one word after a pipe.
      const rest = /^-[a-z]+(?:-[a-z]+)?/.exec(stream.string.slice(stream.pos))?.[0];
      if (rest && TABULAR.has(word + rest)) {
        stream.pos += rest.length;
        word += rest;
      }
      if (TABULAR.has(word)) return "keyword";
    }
    const lower = word.toLowerCase();
    if (ATOMS.has(lower)) return "bool";
    if (WORD_OPERATORS.has(word)) return "operatorKeyword";
    if (KEYWORDS.has(word)) return "keyword";
    const call = stream.match(/^\s*\(/, false);
    if (TYPES.has(lower)) {
      if (call && LITERAL_TYPES.has(lower)) state.literal = true;
      return "typeName";
    }
    if (call) return "variableName.function";
    return "variableName";
  }
  if (stream.match(/^(?:==|!=|=~|!~|<>|<=|>=|=>|\.\.|[-+*/%<>=!])/)) return "operator";
  if (stream.match(/^[()[\]{}]/)) return "bracket";
  if (stream.match(/^[,;.:]/)) return "punctuation";
  stream.next();
  return null;
}

export const kqlLanguage = StreamLanguage.define<State>({
  name: "kql",
  startState: () => ({ afterPipe: false, literal: false, multiline: false }),
  copyState: (state) => ({ ...state }),
  token,
  languageData: {
    commentTokens: { line: "//" },
    closeBrackets: { brackets: ["(", "[", "{", "'", '"'] },
  },
});

// Colours are CSS variables (hunting.css) so that the editor follows the theme without a rebuild.
const kqlHighlightStyle = HighlightStyle.define([
  { tag: tags.keyword, color: "var(--kql-keyword)", fontWeight: "600" },
  { tag: tags.operatorKeyword, color: "var(--kql-operator)" },
  { tag: tags.operator, color: "var(--kql-operator)" },
  { tag: tags.function(tags.variableName), color: "var(--kql-function)" },
  { tag: tags.typeName, color: "var(--kql-type)" },
  { tag: tags.string, color: "var(--kql-string)" },
  { tag: tags.special(tags.string), color: "var(--kql-literal)" },
  { tag: [tags.number, tags.unit, tags.bool], color: "var(--kql-number)" },
  { tag: tags.comment, color: "var(--kql-comment)", fontStyle: "italic" },
]);

export const kqlHighlighting = syntaxHighlighting(kqlHighlightStyle);
