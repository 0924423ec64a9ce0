import { useState } from "preact/hooks";
import { api, useWorkspace, workspacePath } from "../api";
import { Empty, ErrorBanner, PageHeader } from "../components/Feedback";
import { Icon } from "../components/Icon";
import { valueLabel } from "../components/labels";
import { SeverityChip } from "../components/SeverityChip";
import { Time } from "../components/Time";
import { formatNumber, t } from "../i18n";
import { formatDuration, useRules, type RuleSummary } from "./model";

/** An on/off switch that PATCHes the rule; the list reloads so the row shows the server's state. */
export function EnabledSwitch({ rule, onChanged }: { rule: RuleSummary; onChanged: () => Promise<void> }) {
  const workspace = useWorkspace();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const toggle = async (enabled: boolean) => {
    setBusy(true);
    setError(null);
    try {
      await api(workspacePath(workspace, `/rules/${encodeURIComponent(rule.id)}`), { method: "PATCH", body: { enabled } });
      await onChanged();
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <input
        type="checkbox"
        role="switch"
        class="switch"
        checked={rule.enabled}
        disabled={busy}
        aria-label={t("rules.enable", { name: rule.name })}
        onChange={(event) => toggle(event.currentTarget.checked)}
      />
      {!!error && <ErrorBanner error={error} />}
    </>
  );
}

function RuleRow({ rule, onChanged }: { rule: RuleSummary; onChanged: () => Promise<void> }) {
  return (
    <tr>
      <td>
        <EnabledSwitch rule={rule} onChanged={onChanged} />
      </td>
      <td class="truncate">
        <a href={`/rules/${encodeURIComponent(rule.id)}`}>{rule.name}</a>
      </td>
      <td>
        <SeverityChip value={rule.severity} />
      </td>
      <td>{valueLabel("ruleKind", rule.kind)}</td>
      <td>{rule.queryFrequency ? formatDuration(rule.queryFrequency) : "—"}</td>
      <td>{rule.lastRun ? <Time value={rule.lastRun} /> : <span class="muted">{t("common.never")}</span>}</td>
      <td class="num">{rule.lastResultCount === null ? "—" : formatNumber(rule.lastResultCount)}</td>
      <td class="num">
        {formatNumber(rule.runs)} / <span class={rule.failures ? "danger-text" : undefined}>{formatNumber(rule.failures)}</span>
      </td>
      <td class="truncate danger-text" title={rule.lastError ?? undefined}>
        {rule.lastError}
      </td>
    </tr>
  );
}

export function RulesPage() {
  const workspace = useWorkspace();
  const { rules, error, loading, reload } = useRules(workspace.id);
  const sorted = [...(rules ?? [])].sort((a, b) => a.name.localeCompare(b.name));
  return (
    <div class="page">
      <PageHeader title={t("rules.title")}>
        <a class="btn btn-primary" href="/rules/new">
          <Icon name="plus" />
          {t("rules.new")}
        </a>
      </PageHeader>
      <ErrorBanner error={error} />
      <div class="progress" data-active={loading ? "true" : "false"} />
      {rules && !rules.length ? (
        <Empty>{t("rules.empty")}</Empty>
      ) : (
        <div class="table-wrap">
          <table class="table">
            <caption class="visually-hidden">{t("rules.title")}</caption>
            <thead>
              <tr>
                <th scope="col">{t("rules.column.enabled")}</th>
                <th scope="col">{t("common.name")}</th>
                <th scope="col">{t("common.severity")}</th>
                <th scope="col">{t("rules.column.kind")}</th>
                <th scope="col">{t("rules.column.frequency")}</th>
                <th scope="col">{t("rules.column.lastRun")}</th>
                <th scope="col" class="num">{t("rules.column.lastResults")}</th>
                <th scope="col" class="num">{t("rules.column.runs")}</th>
                <th scope="col">{t("rules.column.lastError")}</th>
              </tr>
            </thead>
            <tbody>
              {sorted.map((rule) => (
                <RuleRow key={rule.id} rule={rule} onChanged={reload} />
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}
