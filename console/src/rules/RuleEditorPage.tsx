import { useEffect, useState } from "preact/hooks";
import { api, useApi, useWorkspace, workspacePath } from "../api";
import { navigate } from "../app/router";
import { ErrorBanner, Loading, PageHeader } from "../components/Feedback";
import { t } from "../i18n";
import { normalizeRule } from "./model";
import { ProblemList, problemsOf, type Problem } from "./problems";
import { RuleFormView } from "./RuleForm";
import { draftFromYaml, draftToYaml, formFieldOf, newRule, type RuleDraft, type RuleForm } from "./ruleDocument";
import { EnabledSwitch } from "./RulesPage";
import { RuleTest } from "./RuleTest";
import { YamlError } from "./yaml";

type Mode = "form" | "yaml";

function ModeTabs({ mode, onMode }: { mode: Mode; onMode: (mode: Mode) => void }) {
  return (
    <div class="tabs" role="tablist" aria-label={t("rules.editor.mode")}>
      {(["form", "yaml"] as const).map((value) => (
        <button
          key={value}
          type="button"
          role="tab"
          id={`rule-tab-${value}`}
          aria-selected={mode === value}
          aria-controls="rule-editor-panel"
          onClick={() => onMode(value)}
        >
          {t(`rules.editor.${value}`)}
        </button>
      ))}
    </div>
  );
}

export function RuleEditorPage({ id }: { id: string }) {
  const isNew = id === "new";
  const workspace = useWorkspace();
  const rulePath = workspacePath(workspace, `/rules/${encodeURIComponent(id)}`);
  const status = useApi<Record<string, unknown>>(isNew ? null : rulePath);
  const [draft, setDraft] = useState<RuleDraft | null>(isNew ? newRule : null);
  const [yaml, setYaml] = useState("");
  const [mode, setMode] = useState<Mode>("form");
  const [loadError, setLoadError] = useState<unknown>(null);
  const [notice, setNotice] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [saving, setSaving] = useState(false);

  useEffect(() => {
    if (isNew) return;
    api<string>(rulePath, { accept: "application/yaml" }).then((text) => {
      setYaml(text);
      try {
        setDraft(draftFromYaml(text));
      } catch (failure) {
        // The form cannot hold every YAML; such rules are edited as text.
        setMode("yaml");
        setNotice(failure instanceof YamlError ? t("rules.editor.yamlOnly", { reason: failure.message }) : "");
      }
    }, setLoadError);
  }, [rulePath]);

  const currentYaml = () => (mode === "form" && draft ? draftToYaml(draft) : yaml);

  const switchMode = (next: Mode) => {
    if (next === mode) return;
    setNotice("");
    if (next === "yaml") {
      if (draft) setYaml(draftToYaml(draft));
      setMode("yaml");
      return;
    }
    try {
      setDraft(draftFromYaml(yaml));
      setMode("form");
    } catch (failure) {
      setNotice(failure instanceof YamlError ? t("rules.editor.yamlOnly", { reason: failure.message }) : String(failure));
    }
  };

  const save = async (event: Event) => {
    event.preventDefault();
    setSaving(true);
    setError(null);
    setNotice("");
    try {
      const saved = await api<Record<string, unknown>>(workspacePath(workspace, "/rules"), { method: "POST", text: currentYaml() });
      const savedId = normalizeRule(saved).id;
      if (savedId && savedId !== id) navigate(`/rules/${encodeURIComponent(savedId)}`, { replace: true });
      else {
        await status.reload();
        setNotice(t("rules.editor.saved"));
      }
    } catch (failure) {
      setError(failure);
    } finally {
      setSaving(false);
    }
  };

  const remove = async () => {
    if (!confirm(t("rules.editor.confirmDelete"))) return;
    try {
      await api(rulePath, { method: "DELETE" });
      navigate("/rules");
    } catch (failure) {
      setError(failure);
    }
  };

  if (loadError) return <div class="page"><ErrorBanner error={loadError} /></div>;
  if (!isNew && !yaml) return <Loading />;

  const problems = problemsOf(error);
  const byField: Record<string, Problem[]> = {};
  const unplaced: Problem[] = [];
  for (const problem of problems) {
    const field = formFieldOf(problem.field);
    if (mode === "form" && field) (byField[field] ??= []).push(problem);
    else unplaced.push(problem);
  }
  const summary = status.data ? normalizeRule(status.data) : null;
  const title = draft?.form.name || summary?.name || t("rules.new");

  return (
    <form class="page" onSubmit={save}>
      <nav aria-label={t("incident.breadcrumb")} class="breadcrumb">
        <a href="/rules">{t("nav.rules")}</a>
        <span aria-hidden="true">/</span>
      </nav>
      <PageHeader title={isNew ? t("rules.new") : title}>
        {summary && (
          <label class="inline">
            <EnabledSwitch rule={summary} onChanged={status.reload} />
            {summary.enabled ? t("common.enabled") : t("common.disabled")}
          </label>
        )}
        {!isNew && (
          <button type="button" class="btn btn-danger" onClick={remove}>
            {t("common.delete")}
          </button>
        )}
        <button type="submit" class="btn btn-primary" disabled={saving}>
          {saving ? t("incident.saving") : t("common.save")}
        </button>
      </PageHeader>
      {summary?.lastError && <div class="banner banner-error">{t("rules.editor.lastError", { error: summary.lastError })}</div>}
      <ModeTabs mode={mode} onMode={switchMode} />
      {notice && (
        <div class="banner banner-warning" role="status">
          {notice}
        </div>
      )}
      <ProblemList problems={unplaced} />
      {!problems.length && <ErrorBanner error={error} />}
      <div id="rule-editor-panel" role="tabpanel" aria-labelledby={`rule-tab-${mode}`}>
        {mode === "form" && draft ? (
          <RuleFormView
            form={draft.form}
            problems={byField}
            onChange={(change: Partial<RuleForm>) => setDraft({ ...draft, form: { ...draft.form, ...change } })}
          />
        ) : (
          <div class="field">
            <label for="rule-yaml">{t("rules.editor.yaml")}</label>
            <textarea
              id="rule-yaml"
              class="code yaml-editor"
              rows={28}
              spellcheck={false}
              value={yaml}
              onInput={(event) => setYaml(event.currentTarget.value)}
            />
          </div>
        )}
      </div>
      <RuleTest yaml={currentYaml} />
    </form>
  );
}
