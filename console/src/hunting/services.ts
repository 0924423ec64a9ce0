// The editor's questions to the server: what may be typed here (kql/complete) and what is
// wrong with the text (kql/check). Offsets on the wire are UTF-16 units, as CodeMirror counts.
import type { CompletionContext, CompletionResult, CompletionSource } from "@codemirror/autocomplete";
import type { Diagnostic, LintSource } from "@codemirror/lint";
import type { Text } from "@codemirror/state";
import { api } from "../api";

interface CompleteAnswer {
  from: number;
  items: { label: string; kind: string; detail?: string }[];
}

interface CheckProblem {
  code: string;
  message: string;
  severity?: "error" | "warning";
  help?: string | null;
  from?: number;
  to?: number;
}

interface CheckAnswer {
  error?: CheckProblem;
  diagnostics?: CheckProblem[];
}

const kqlPath = (workspace: string, action: string) =>
  `/api/workspaces/${encodeURIComponent(workspace)}/kql/${action}`;

/** Completions from the engine, which knows the workspace's tables and the cursor's context. */
export function completionSource(workspace: () => string): CompletionSource {
  return async (context: CompletionContext): Promise<CompletionResult | null> => {
    const word = context.matchBefore(/[\w$]+/);
    const afterPipe = context.matchBefore(/\|\s*/);
    // Typing spaces and punctuation would otherwise ask the server on every keystroke.
    if (!context.explicit && !word && !afterPipe) return null;
    const controller = new AbortController();
    context.addEventListener("abort", () => controller.abort());
    let answer: CompleteAnswer;
    try {
      answer = await api<CompleteAnswer>(kqlPath(workspace(), "complete"), {
        method: "POST",
        body: { query: context.state.doc.toString(), position: context.pos },
        signal: controller.signal,
      });
    } catch {
      return null;
    }
    if (!answer.items.length) return null;
    return {
      from: answer.from,
      options: answer.items.map((item) => ({ label: item.label, type: item.kind, detail: item.detail })),
      // Narrowing the same word is filtered locally instead of asking again.
      validFor: /^[\w$]*$/,
    };
  };
}

/** Every problem the engine finds, each marked where it is. */
export function checkSource(workspace: () => string): LintSource {
  return async (view): Promise<Diagnostic[]> => {
    const query = view.state.doc.toString();
    if (!query.trim()) return [];
    let answer: CheckAnswer;
    try {
      answer = await api<CheckAnswer>(kqlPath(workspace(), "check"), { method: "POST", body: { query } });
    } catch {
      return [];
    }
    const problems = answer.diagnostics ?? (answer.error ? [answer.error] : []);
    return problems.map(({ from = 0, to = from, message, code, help, severity }) => ({
      ...diagnostic(view.state.doc, from, to, help ? `${message} (${help})` : message, code),
      severity: severity ?? "error",
    }));
  };
}

/** An error diagnostic, widened to at least one character so that it can be seen and hovered. */
export function diagnostic(doc: Text, from: number, to: number, message: string, source?: string): Diagnostic {
  const start = Math.max(0, Math.min(from, doc.length));
  let end = Math.max(start, Math.min(to, doc.length));
  if (end === start && end < doc.length && doc.sliceString(end, end + 1) !== "\n") end += 1;
  return { from: start, to: end, severity: "error", message, source };
}

/**
 * The document offset of the query API's `line`/`pos`: 1-based, `pos` counting characters
 * (code points) where CodeMirror counts UTF-16 units, which differ past an emoji or astral CJK.
 */
export function offsetOf(doc: Text, line: number, pos: number): number {
  const target = doc.line(Math.max(1, Math.min(line, doc.lines)));
  let offset = 0;
  for (let chars = 1; chars < pos && offset < target.length; chars++) {
    offset += (target.text.codePointAt(offset) ?? 0) > 0xffff ? 2 : 1;
  }
  return target.from + offset;
}

/** The extent of the word at `offset` (at least one character), to underline a run error. */
export function wordEnd(doc: Text, offset: number): number {
  const line = doc.lineAt(offset);
  const rest = line.text.slice(offset - line.from);
  const word = /^[\w$]+/.exec(rest);
  return offset + (word ? word[0].length : Math.min(1, rest.length));
}
