import { autocompletion, closeBrackets, closeBracketsKeymap, completionKeymap } from "@codemirror/autocomplete";
import { defaultKeymap, history, historyKeymap } from "@codemirror/commands";
import { bracketMatching } from "@codemirror/language";
import { linter, lintKeymap, setDiagnostics } from "@codemirror/lint";
import { highlightSelectionMatches, searchKeymap } from "@codemirror/search";
import { Compartment, EditorState, Prec } from "@codemirror/state";
import {
  drawSelection,
  EditorView,
  highlightActiveLine,
  highlightActiveLineGutter,
  keymap,
  lineNumbers,
  placeholder,
} from "@codemirror/view";
import type { RefObject } from "preact";
import { useEffect, useRef } from "preact/hooks";
import type { Theme } from "../app/theme";
import { useTheme } from "../app/theme";
import { t, useLocale } from "../i18n";
import { kqlHighlighting, kqlLanguage } from "./kql";
import { checkSource, completionSource, diagnostic, offsetOf, wordEnd } from "./services";

/** What the page may do with the editor. */
export interface KqlEditorHandle {
  text(): string;
  setText(text: string): void;
  focus(): void;
  /** Replaces the selection (or inserts at the cursor) with `text`. */
  insert(text: string): void;
  /** Marks a run's error at the query API's 1-based line and character position. */
  markError(query: string, line: number, pos: number, message: string): void;
}

interface KqlEditorProps {
  initialText: string;
  workspace: string;
  onRun?: () => void;
  onChange?: (text: string) => void;
  handle?: RefObject<KqlEditorHandle | null>;
  /** Shown, selectable and copyable, not editable: no completion or lint (e.g. a saved function's body). */
  readOnly?: boolean;
  /**
   * Lint as the analyst types (default). Off for a function's body, whose parameters the check
   * endpoint does not know; the server checks the body when it is saved.
   */
  lint?: boolean;
  /** The editor's accessible name; the hunting query's by default. */
  label?: string;
  testId?: string;
  class?: string;
}

// Colours come from CSS variables; only `dark` (which picks CodeMirror's own defaults for
// selections and panels) needs the theme, through a compartment.
const editorTheme = (theme: Theme) =>
  EditorView.theme(
    {
      "&": { height: "100%", backgroundColor: "var(--surface)", color: "var(--text)", fontSize: "13px" },
      ".cm-scroller": { fontFamily: "var(--mono)", lineHeight: "1.5" },
      ".cm-content": { caretColor: "var(--text)" },
      ".cm-cursor": { borderLeftColor: "var(--text)" },
      ".cm-gutters": {
        backgroundColor: "var(--surface-2)",
        color: "var(--text-muted)",
        borderRight: "1px solid var(--border)",
      },
      ".cm-activeLine": { backgroundColor: "var(--row-hover)" },
      ".cm-activeLineGutter": { backgroundColor: "var(--row-selected)" },
      "&.cm-focused": { outline: "none" },
      ".cm-tooltip": { backgroundColor: "var(--surface)", color: "var(--text)", border: "1px solid var(--border)" },
      ".cm-tooltip-autocomplete > ul > li[aria-selected]": {
        backgroundColor: "var(--accent)",
        color: "var(--accent-text)",
      },
      ".cm-completionDetail": { color: "var(--text-muted)", fontStyle: "normal", marginLeft: "1em" },
      ".cm-tooltip-autocomplete > ul > li[aria-selected] .cm-completionDetail": { color: "inherit", opacity: "0.85" },
      ".cm-placeholder": { color: "var(--text-muted)" },
    },
    { dark: theme === "dark" },
  );

const localized = (label?: string) => [
  placeholder(t("hunting.placeholder")),
  EditorView.contentAttributes.of({ "aria-label": label ?? t("hunting.editorLabel") }),
];

export function KqlEditor(props: KqlEditorProps) {
  const { initialText, workspace, onRun, onChange, handle, readOnly = false, lint = true, label, testId = "kql-editor" } = props;
  const host = useRef<HTMLDivElement>(null);
  const theme = useTheme();
  const locale = useLocale();
  const themeSlot = useRef(new Compartment());
  const localeSlot = useRef(new Compartment());
  const view = useRef<EditorView | null>(null);
  // The editor is built once; these refs let its callbacks see the latest props.
  const latest = useRef({ workspace, onRun, onChange });
  latest.current = { workspace, onRun, onChange };

  useEffect(() => {
    const run = () => {
      latest.current.onRun?.();
      return true;
    };
    const currentWorkspace = () => latest.current.workspace;
    const editor = new EditorView({
      parent: host.current!,
      state: EditorState.create({
        doc: initialText,
        extensions: [
          Prec.highest(
            keymap.of([
              { key: "Mod-Enter", run },
              { key: "Shift-Enter", run },
            ]),
          ),
          lineNumbers(),
          highlightActiveLineGutter(),
          highlightActiveLine(),
          history(),
          drawSelection(),
          bracketMatching(),
          closeBrackets(),
          highlightSelectionMatches(),
          kqlLanguage,
          kqlHighlighting,
          ...(readOnly
            ? [EditorState.readOnly.of(true)]
            : [
                autocompletion({ override: [completionSource(currentWorkspace)], activateOnTypingDelay: 150 }),
                ...(lint ? [linter(checkSource(currentWorkspace), { delay: 400 })] : []),
              ]),
          // Tab is left to focus navigation, so keyboard users can leave the editor.
          keymap.of([
            ...closeBracketsKeymap,
            ...defaultKeymap,
            ...searchKeymap,
            ...historyKeymap,
            ...completionKeymap,
            ...lintKeymap,
          ]),
          localeSlot.current.of(localized(label)),
          EditorView.updateListener.of((update) => {
            if (update.docChanged) latest.current.onChange?.(update.state.doc.toString());
          }),
          themeSlot.current.of(editorTheme(theme)),
        ],
      }),
    });
    view.current = editor;
    const handleValue: KqlEditorHandle = {
      text: () => editor.state.doc.toString(),
      setText(text) {
        editor.dispatch({ changes: { from: 0, to: editor.state.doc.length, insert: text } });
      },
      focus: () => editor.focus(),
      insert(text) {
        editor.dispatch(editor.state.replaceSelection(text));
        editor.focus();
      },
      markError(query, line, pos, message) {
        const doc = editor.state.doc;
        // The text may have been edited while the query ran; a stale position would mislead.
        if (doc.toString() !== query) return;
        const from = offsetOf(doc, line, pos);
        editor.dispatch(setDiagnostics(editor.state, [diagnostic(doc, from, wordEnd(doc, from), message)]));
      },
    };
    if (handle) handle.current = handleValue;
    return () => {
      if (handle) handle.current = null;
      editor.destroy();
      view.current = null;
    };
  }, []);

  useEffect(() => {
    view.current?.dispatch({ effects: themeSlot.current.reconfigure(editorTheme(theme)) });
  }, [theme]);

  useEffect(() => {
    view.current?.dispatch({ effects: localeSlot.current.reconfigure(localized(label)) });
  }, [locale]);

  return <div ref={host} class={props.class ?? "hunt-editor"} data-testid={testId} />;
}
