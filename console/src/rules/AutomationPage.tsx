import { useState } from "preact/hooks";
import { api, useApi, useWorkspace, workspacePath } from "../api";
import { Empty, ErrorBanner, PageHeader } from "../components/Feedback";
import { valueLabel } from "../components/labels";
import { hasMessage, t } from "../i18n";
import { conditionText, type Condition } from "./conditions";
import { useRules } from "./model";
import { SuppressionSection } from "./SuppressionSection";

/** Serde's externally tagged form: `{"assignOwner": "ana"}`, `{"changeStatus": {...}}`. */
type Action = Record<string, unknown>;

interface AutomationRule {
  name: string;
  order: number;
  triggersOn: string;
  triggersWhen: string;
  conditions: Condition[];
  actions: Action[];
  enabled: boolean;
}

interface Playbook {
  name: string;
  kind: string;
  url?: string;
  host?: string;
  to?: string[];
}

interface Automation {
  playbooks: Playbook[];
  automationRules: AutomationRule[];
}

function actionText(action: Action): string {
  const [kind, value] = Object.entries(action)[0] ?? ["", ""];
  const detail =
    kind === "changeStatus" && value && typeof value === "object"
      ? valueLabel("status", String((value as { status?: string }).status))
      : kind === "changeSeverity"
        ? valueLabel("severity", String(value))
        : Array.isArray(value)
          ? value.join(", ")
          : String(value);
  const key = `automation.action.${kind}`;
  return hasMessage(key) ? t(key, { value: detail }) : `${kind}: ${detail}`;
}

function playbookTarget(playbook: Playbook): string {
  if (playbook.kind === "email") return `${playbook.to?.join(", ") ?? ""} (${playbook.host ?? ""})`;
  return playbook.url ?? "";
}

function AutomationRules({ rules, ruleNames }: { rules: AutomationRule[]; ruleNames: Map<string, string> }) {
  if (!rules.length) return <Empty>{t("automation.rules.empty")}</Empty>;
  return (
    <div class="table-wrap">
      <table class="table">
        <thead>
          <tr>
            <th scope="col" class="num">{t("automation.column.order")}</th>
            <th scope="col">{t("common.name")}</th>
            <th scope="col">{t("automation.column.trigger")}</th>
            <th scope="col">{t("automation.column.conditions")}</th>
            <th scope="col">{t("automation.column.actions")}</th>
            <th scope="col">{t("common.status")}</th>
          </tr>
        </thead>
        <tbody>
          {[...rules]
            .sort((a, b) => a.order - b.order)
            .map((rule) => (
              <tr key={rule.name}>
                <td class="num">{rule.order}</td>
                <td>{rule.name}</td>
                <td>{valueLabel("trigger", `${rule.triggersOn}.${rule.triggersWhen}`)}</td>
                <td class="wrap">{rule.conditions.map((c) => conditionText(c, ruleNames)).join("; ") || t("common.none")}</td>
                <td class="wrap">{rule.actions.map(actionText).join("; ")}</td>
                <td>{rule.enabled ? t("common.enabled") : t("common.disabled")}</td>
              </tr>
            ))}
        </tbody>
      </table>
    </div>
  );
}

function Playbooks({ playbooks }: { playbooks: Playbook[] }) {
  if (!playbooks.length) return <Empty>{t("automation.playbooks.empty")}</Empty>;
  return (
    <div class="table-wrap">
      <table class="table">
        <thead>
          <tr>
            <th scope="col">{t("common.name")}</th>
            <th scope="col">{t("automation.column.kind")}</th>
            <th scope="col">{t("automation.column.target")}</th>
          </tr>
        </thead>
        <tbody>
          {playbooks.map((playbook) => (
            <tr key={playbook.name}>
              <td>{playbook.name}</td>
              <td>{valueLabel("playbookKind", playbook.kind)}</td>
              <td class="mono truncate">{playbookTarget(playbook)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function ImportAutomation({ onImported }: { onImported: () => Promise<void> }) {
  const workspace = useWorkspace();
  const [text, setText] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState("");
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    setDone("");
    try {
      const result = await api<{ playbooks: number; automationRules: number }>(workspacePath(workspace, "/automation"), {
        method: "POST",
        text,
      });
      setDone(t("automation.import.done", { playbooks: result.playbooks, rules: result.automationRules }));
      setText("");
      await onImported();
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="panel" onSubmit={submit}>
      <h2>{t("automation.import")}</h2>
      <div class="panel-body stack">
        <div class="field">
          <label for="automation-yaml">{t("automation.import.label")}</label>
          <textarea
            id="automation-yaml"
            class="code"
            rows={10}
            spellcheck={false}
            placeholder={"playbooks:\n- name: notify-soc\n  kind: teams\n  url: https://...\nautomationRules:\n- name: ..."}
            value={text}
            onInput={(event) => setText(event.currentTarget.value)}
          />
        </div>
        <ErrorBanner error={error} />
        <div class="inline">
          <button type="submit" class="btn btn-primary" disabled={busy || !text.trim()}>
            {t("automation.import.submit")}
          </button>
          <span role="status" class="muted">
            {done}
          </span>
        </div>
      </div>
    </form>
  );
}

export function AutomationPage() {
  const workspace = useWorkspace();
  const { data, error, reload } = useApi<Automation>(workspacePath(workspace, "/automation"));
  const { rules } = useRules(workspace.id);
  const ruleNames = new Map((rules ?? []).map((rule) => [rule.id, rule.name]));
  return (
    <div class="page">
      <PageHeader title={t("automation.title")} />
      <ErrorBanner error={error} />
      <section class="stack" aria-labelledby="automation-rules">
        <h2 id="automation-rules">{t("automation.rules")}</h2>
        {data && <AutomationRules rules={data.automationRules} ruleNames={ruleNames} />}
      </section>
      <section class="stack" aria-labelledby="automation-playbooks">
        <h2 id="automation-playbooks">{t("automation.playbooks")}</h2>
        {data && <Playbooks playbooks={data.playbooks} />}
      </section>
      <ImportAutomation onImported={reload} />
      <SuppressionSection rules={rules ?? []} />
    </div>
  );
}
