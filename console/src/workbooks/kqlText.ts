// Workbook query text as the query API should receive it.

const ESCAPES: Record<string, string> = { n: "\n", r: "\n", t: " " };

/**
 * Reads `\n`, `\r` and `\t` written as two characters outside string literals and comments as the
 * whitespace they stand for. Some gallery workbooks went through one JSON escaping too many (the
 * development set's BitwardenEventLogsOrganization has `BitwardenEventLogs\n| where ...`). A
 * backslash outside a string literal is never valid KQL, so this changes no query that was valid;
 * inside strings (`'a\n'`, `@"c:\new"`, ```...```) and comments the text is left alone.
 */
export function strayEscapesAsWhitespace(query: string): string {
  if (!query.includes("\\")) return query;
  let out = "";
  let i = 0;
  while (i < query.length) {
    const c = query[i];
    const next = query[i + 1];
    if (c === "/" && next === "/") {
      const end = query.indexOf("\n", i);
      const stop = end < 0 ? query.length : end;
      out += query.slice(i, stop);
      i = stop;
    } else if (c === "`" && query.startsWith("```", i)) {
      const end = query.indexOf("```", i + 3);
      const stop = end < 0 ? query.length : end + 3;
      out += query.slice(i, stop);
      i = stop;
    } else if ((c === "@" || c === "h" || c === "H") && (next === "'" || next === '"')) {
      // Verbatim (@'...') and obfuscated (h'...') literals; a verbatim one doubles its quote.
      const quote = next;
      let j = i + 2;
      while (j < query.length) {
        if (query[j] === quote && c === "@" && query[j + 1] === quote) j += 2;
        else if (query[j] === quote) break;
        else if (query[j] === "\\" && c !== "@") j += 2;
        else j++;
      }
      out += query.slice(i, j + 1);
      i = j + 1;
    } else if (c === "'" || c === '"') {
      let j = i + 1;
      while (j < query.length && query[j] !== c) j += query[j] === "\\" ? 2 : 1;
      out += query.slice(i, j + 1);
      i = j + 1;
    } else if (c === "\\" && next !== undefined && ESCAPES[next] !== undefined) {
      // `\r\n` is one line break.
      if (next === "r" && query[i + 2] === "\\" && query[i + 3] === "n") {
        out += "\n";
        i += 4;
      } else {
        out += ESCAPES[next];
        i += 2;
      }
    } else {
      out += c;
      i++;
    }
  }
  return out;
}
