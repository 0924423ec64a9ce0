/**
 * The YAML that analytics rules are written in: an emitter for any JSON value, and a parser for
 * the block-style subset rule files use (mappings, sequences, plain and quoted scalars, `|` and
 * `>` block scalars, one-line `[a, b]` lists). Anything else is refused with `YamlError`, and the
 * editor then keeps the text as YAML rather than guessing.
 */

export class YamlError extends Error {
  constructor(
    message: string,
    readonly line: number,
  ) {
    super(`line ${line}: ${message}`);
  }
}

// ---- emitting

const PLAIN_UNSAFE = /^[\s\-?:,[\]{}#&*!|>'"%@`]|[\s]$|: | #|^(true|false|null|~|yes|no|on|off)$|^[-+]?(\d|\.\d)/i;

function scalar(value: unknown): string {
  if (value === null || value === undefined) return "null";
  if (typeof value === "boolean" || typeof value === "number") return String(value);
  const text = String(value);
  if (text === "" || PLAIN_UNSAFE.test(text) || /[\u0000-\u001f]/.test(text)) return JSON.stringify(text);
  return text;
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

function blockScalar(text: string, indent: string): string {
  const chomp = text.endsWith("\n") ? (text.endsWith("\n\n") ? "+" : "") : "-";
  const body = text.replace(/\n$/, "");
  return `|${chomp}\n${body
    .split("\n")
    .map((line) => (line ? indent + line : ""))
    .join("\n")}`;
}

function inline(value: unknown, indent: string): string | null {
  if (Array.isArray(value)) return value.length ? null : "[]";
  if (isObject(value)) return Object.keys(value).length ? null : "{}";
  if (typeof value === "string" && value.includes("\n") && !/^\s/.test(value)) return blockScalar(value, indent + "  ");
  return scalar(value);
}

function emit(value: unknown, indent: string): string[] {
  const lines: string[] = [];
  if (Array.isArray(value)) {
    for (const item of value) {
      const simple = inline(item, indent);
      if (simple !== null) {
        lines.push(`${indent}- ${simple}`);
        continue;
      }
      // A mapping item starts on the dash line, its other keys aligned under the first.
      const nested = emit(item, indent + "  ");
      lines.push(`${indent}- ${nested[0].slice(indent.length + 2)}`, ...nested.slice(1));
    }
  } else if (isObject(value)) {
    for (const [key, item] of Object.entries(value)) {
      if (item === undefined) continue;
      const simple = inline(item, indent);
      if (simple !== null) lines.push(`${indent}${scalar(key)}: ${simple}`);
      // Sequences under a key are not indented further, as Sentinel's rule files write them.
      else lines.push(`${indent}${scalar(key)}:`, ...emit(item, Array.isArray(item) ? indent : indent + "  "));
    }
  } else {
    lines.push(indent + (inline(value, indent) ?? ""));
  }
  return lines;
}

export function toYaml(value: unknown): string {
  return emit(value, "").join("\n") + "\n";
}

// ---- parsing

interface Line {
  indent: number;
  text: string;
  number: number;
}

/** The text without a trailing `# comment`, respecting quotes. */
function stripComment(text: string): string {
  let quote: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === quote) quote = null;
    } else if (c === '"' || c === "'") {
      quote = c;
    } else if (c === "#" && (i === 0 || /\s/.test(text[i - 1]))) {
      return text.slice(0, i).trimEnd();
    }
  }
  return text.trimEnd();
}

function parseScalar(raw: string, line: number): unknown {
  const text = raw.trim();
  if (text.startsWith('"')) {
    if (!text.endsWith('"') || text.length < 2) throw new YamlError("unterminated double-quoted string", line);
    try {
      return JSON.parse(text) as string;
    } catch {
      throw new YamlError("unsupported escape in a double-quoted string", line);
    }
  }
  if (text.startsWith("'")) {
    if (!text.endsWith("'") || text.length < 2) throw new YamlError("unterminated single-quoted string", line);
    return text.slice(1, -1).replace(/''/g, "'");
  }
  if (text.startsWith("[")) return parseFlowList(text, line);
  if (text === "{}") return {};
  if (/^[{&*!%@`]/.test(text)) throw new YamlError(`'${text[0]}' is not supported here`, line);
  if (text === "" || text === "~" || text === "null") return null;
  if (text === "true" || text === "false") return text === "true";
  if (/^-?\d+$/.test(text)) return Number(text);
  if (/^-?\d+\.\d+$/.test(text)) return Number(text);
  return text;
}

function parseFlowList(text: string, line: number): unknown[] {
  if (!text.endsWith("]")) throw new YamlError("a [list] must end on its line", line);
  const inner = text.slice(1, -1).trim();
  if (!inner) return [];
  const items: string[] = [];
  let quote: string | null = null;
  let start = 0;
  for (let i = 0; i < inner.length; i++) {
    const c = inner[i];
    if (quote) {
      if (c === quote) quote = null;
    } else if (c === '"' || c === "'") {
      quote = c;
    } else if (c === "[" || c === "{") {
      throw new YamlError("nested lists and maps in [ ] are not supported", line);
    } else if (c === ",") {
      items.push(inner.slice(start, i));
      start = i + 1;
    }
  }
  items.push(inner.slice(start));
  return items.map((item) => parseScalar(item, line));
}

/** `key: rest` (rest may be empty); null when the text is not a mapping entry. */
function splitKey(text: string): [string, string] | null {
  const quoted = /^("(?:[^"\\]|\\.)*"|'(?:[^']|'')*')\s*:(?:\s+|$)(.*)$/.exec(text);
  if (quoted) return [String(parseScalar(quoted[1], 0)), quoted[2]];
  const plain = /^([^\s#'"\-[\]{},][^:#]*?|-[^\s:#][^:#]*?)\s*:(?:\s+(.*))?$/.exec(text);
  return plain ? [plain[1], plain[2] ?? ""] : null;
}

class Parser {
  private index = 0;
  private readonly lines: Line[];

  constructor(private readonly raw: string[]) {
    this.lines = raw.map((text, i) => ({ indent: text.search(/\S|$/), text: text.trim(), number: i + 1 }));
  }

  private skipBlank() {
    while (this.index < this.lines.length) {
      const { text } = this.lines[this.index];
      if (text && !text.startsWith("#") && text !== "---") break;
      this.index++;
    }
  }

  private peek(): Line | undefined {
    this.skipBlank();
    return this.lines[this.index];
  }

  document(): unknown {
    const first = this.peek();
    if (!first) return null;
    const value = this.block(first.indent);
    const rest = this.peek();
    if (rest) throw new YamlError("unexpected indentation", rest.number);
    return value;
  }

  private block(indent: number): unknown {
    const line = this.peek()!;
    if (line.text === "-" || line.text.startsWith("- ")) return this.sequence(indent);
    if (splitKey(stripComment(line.text))) return this.mapping(indent);
    this.index++;
    return parseScalar(stripComment(line.text), line.number);
  }

  private mapping(indent: number): Record<string, unknown> {
    const result: Record<string, unknown> = {};
    for (let line = this.peek(); line && line.indent === indent; line = this.peek()) {
      if (line.text.startsWith("- ")) break;
      const entry = splitKey(stripComment(line.text));
      if (!entry) throw new YamlError(`expected 'key: value', found '${line.text}'`, line.number);
      const [key, rest] = entry;
      this.index++;
      result[key] = this.value(rest, indent, line.number);
    }
    const after = this.peek();
    if (after && after.indent > indent) throw new YamlError("unexpected indentation", after.number);
    return result;
  }

  private sequence(indent: number): unknown[] {
    const result: unknown[] = [];
    for (let line = this.peek(); line && line.indent === indent; line = this.peek()) {
      if (line.text !== "-" && !line.text.startsWith("- ")) break;
      const rest = line.text.slice(1).trimStart();
      if (!rest) {
        this.index++;
        const next = this.peek();
        result.push(next && next.indent > indent ? this.block(next.indent) : null);
      } else if (splitKey(stripComment(rest)) && !/^["'[]/.test(rest)) {
        // "- key: value": a mapping whose keys line up with the first one, after the dash.
        const offset = line.text.length - rest.length;
        this.lines[this.index] = { indent: indent + offset, text: rest, number: line.number };
        result.push(this.mapping(indent + offset));
      } else {
        this.index++;
        result.push(this.value(rest, indent, line.number));
      }
    }
    return result;
  }

  /** The value after `key:` or `- `: inline, a block scalar, or a nested block below. */
  private value(rest: string, indent: number, number: number): unknown {
    const text = stripComment(rest);
    const block = /^([|>])([+-]?)$/.exec(text);
    if (block) return this.blockScalar(indent, block[1] === ">", block[2]);
    if (text) return parseScalar(text, number);
    const next = this.peek();
    if (!next) return null;
    if (next.indent > indent) return this.block(next.indent);
    // A sequence may sit at its key's own indentation.
    if (next.indent === indent && (next.text === "-" || next.text.startsWith("- "))) return this.sequence(indent);
    return null;
  }

  private blockScalar(indent: number, folded: boolean, chomp: string): string {
    const body: string[] = [];
    let blockIndent = -1;
    while (this.index < this.raw.length) {
      const raw = this.raw[this.index];
      const lineIndent = raw.search(/\S/);
      if (lineIndent === -1) {
        body.push("");
        this.index++;
        continue;
      }
      if (lineIndent <= indent) break;
      if (blockIndent === -1) blockIndent = lineIndent;
      if (lineIndent < blockIndent) break;
      body.push(raw.slice(blockIndent));
      this.index++;
    }
    let trailing = 0;
    while (body.length && body[body.length - 1] === "") {
      body.pop();
      trailing++;
    }
    const text = folded ? body.join(" ").replace(/ ?\n ?/g, "\n") : body.join("\n");
    if (chomp === "-" || !text) return text;
    return text + (chomp === "+" ? "\n".repeat(trailing + 1) : "\n");
  }
}

export function parseYaml(text: string): unknown {
  if (/^\s*[[{]/.test(text)) {
    // JSON is YAML too, and some rules are kept as JSON.
    try {
      return JSON.parse(text);
    } catch {
      throw new YamlError("not valid JSON", 1);
    }
  }
  const tabbed = text.split("\n").findIndex((line) => /^ *\t/.test(line));
  if (tabbed >= 0) throw new YamlError("tabs cannot indent YAML", tabbed + 1);
  return new Parser(text.replace(/\r\n?/g, "\n").split("\n")).document();
}
