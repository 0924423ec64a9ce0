import { useState } from "preact/hooks";
import { api, useActorName, useApi, useWorkspace, workspacePath } from "../api";
import { Empty, ErrorBanner } from "../components/Feedback";
import { Icon } from "../components/Icon";
import { valueLabel } from "../components/labels";
import { Time } from "../components/Time";
import { formatNumber, t } from "../i18n";
import { conditionText, type Condition } from "./conditions";
import type { RuleSummary } from "./model";

interface Suppression {
  id: string;
  name: string;
  reason: string;
  createdBy: string;
  createdAt: string;
  expiresAt: string | null;
  conditions: Condition[];
  hits: number;
  lastHit: string | null;
}

const ENTITY_PROPERTIES = [
  "IPAddress",
  "AccountUPN",
  "AccountName",
  "HostName",
  "Url",
  "DomainName",
  "FileHash",
  "FileName",
  "ProcessCommandLine",
  "MailboxPrimaryAddress",
  "CloudApplication",
  "AzureResourceId",
] as const;

const EXPIRIES = ["P1D", "P7D", "P30D", "never"] as const;

function AddSuppression({ rules, onAdded }: { rules: RuleSummary[]; onAdded: () => Promise<void> }) {
  const workspace = useWorkspace();
  const [name, setName] = useState("");
  const [rule, setRule] = useState("");
  const [property, setProperty] = useState<string>(ENTITY_PROPERTIES[0]);
  const [value, setValue] = useState("");
  const [expiry, setExpiry] = useState<string>("P7D");
  const [reason, setReason] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  const conditions: Condition[] = [];
  if (rule) conditions.push({ property: "AnalyticRuleId", operator: "Equals", values: [rule] });
  if (value.trim()) conditions.push({ property, operator: "Equals", values: [value.trim()] });

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await api(workspacePath(workspace, "/suppressionRules"), {
        method: "POST",
        body: { name: name.trim(), reason: reason.trim(), duration: expiry === "never" ? undefined : expiry, conditions },
      });
      setName("");
      setValue("");
      setReason("");
      await onAdded();
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form class="panel" onSubmit={submit}>
      <h2>{t("suppression.add")}</h2>
      <div class="panel-body stack">
        <div class="form-grid">
          <div class="field">
            <label for="suppression-name">{t("common.name")}</label>
            <input id="suppression-name" required value={name} onInput={(event) => setName(event.currentTarget.value)} />
          </div>
          <div class="field">
            <label for="suppression-rule">{t("suppression.rule")}</label>
            <select id="suppression-rule" value={rule} onChange={(event) => setRule(event.currentTarget.value)}>
              <option value="">{t("suppression.anyRule")}</option>
              {rules.map((r) => (
                <option key={r.id} value={r.id}>
                  {r.name}
                </option>
              ))}
            </select>
          </div>
          <div class="field">
            <label for="suppression-property">{t("suppression.entity")}</label>
            <select id="suppression-property" value={property} onChange={(event) => setProperty(event.currentTarget.value)}>
              {ENTITY_PROPERTIES.map((p) => (
                <option key={p} value={p}>
                  {valueLabel("conditionProperty", p)}
                </option>
              ))}
            </select>
          </div>
          <div class="field">
            <label for="suppression-value">{t("suppression.value")}</label>
            <input id="suppression-value" class="code" value={value} onInput={(event) => setValue(event.currentTarget.value)} />
          </div>
          <div class="field">
            <label for="suppression-expiry">{t("suppression.expiry")}</label>
            <select id="suppression-expiry" value={expiry} onChange={(event) => setExpiry(event.currentTarget.value)}>
              {EXPIRIES.map((e) => (
                <option key={e} value={e}>
                  {t(`suppression.expiry.${e}`)}
                </option>
              ))}
            </select>
          </div>
          <div class="field wide">
            <label for="suppression-reason">{t("suppression.reason")}</label>
            <input id="suppression-reason" required value={reason} onInput={(event) => setReason(event.currentTarget.value)} />
          </div>
        </div>
        {!conditions.length && <p class="field-hint">{t("suppression.needsCondition")}</p>}
        <ErrorBanner error={error} />
        <div>
          <button type="submit" class="btn btn-primary" disabled={busy || !conditions.length}>
            <Icon name="plus" />
            {t("suppression.submit")}
          </button>
        </div>
      </div>
    </form>
  );
}

export function SuppressionSection({ rules }: { rules: RuleSummary[] }) {
  const workspace = useWorkspace();
  const actorName = useActorName();
  const ruleNames = new Map(rules.map((rule) => [rule.id, rule.name]));
  const { data, error, reload } = useApi<Suppression[]>(workspacePath(workspace, "/suppressionRules"));
  const [deleteError, setDeleteError] = useState<unknown>(null);
  const remove = async (suppression: Suppression) => {
    if (!confirm(t("suppression.confirmDelete", { name: suppression.name }))) return;
    setDeleteError(null);
    try {
      await api(workspacePath(workspace, `/suppressionRules/${encodeURIComponent(suppression.id)}`), { method: "DELETE" });
      await reload();
    } catch (failure) {
      setDeleteError(failure);
    }
  };
  return (
    <section class="stack" aria-labelledby="suppression-title">
      <h2 id="suppression-title">{t("suppression.title")}</h2>
      <ErrorBanner error={error ?? deleteError} />
      {data && !data.length && <Empty>{t("suppression.empty")}</Empty>}
      {data && data.length > 0 && (
        <div class="table-wrap">
          <table class="table">
            <thead>
              <tr>
                <th scope="col">{t("common.name")}</th>
                <th scope="col">{t("automation.column.conditions")}</th>
                <th scope="col">{t("suppression.reason")}</th>
                <th scope="col">{t("suppression.createdBy")}</th>
                <th scope="col">{t("suppression.expires")}</th>
                <th scope="col" class="num">{t("suppression.hits")}</th>
                <th scope="col">
                  <span class="visually-hidden">{t("common.delete")}</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {data.map((suppression) => (
                <tr key={suppression.id}>
                  <td>{suppression.name}</td>
                  <td class="wrap">{suppression.conditions.map((c) => conditionText(c, ruleNames)).join("; ")}</td>
                  <td class="wrap">{suppression.reason}</td>
                  <td title={suppression.createdBy}>{actorName(suppression.createdBy)}</td>
                  <td>{suppression.expiresAt ? <Time value={suppression.expiresAt} /> : t("suppression.expiry.never")}</td>
                  <td class="num">{formatNumber(suppression.hits)}</td>
                  <td>
                    <button
                      type="button"
                      class="btn btn-small btn-icon btn-danger"
                      aria-label={t("suppression.delete", { name: suppression.name })}
                      title={t("suppression.delete", { name: suppression.name })}
                      onClick={() => remove(suppression)}
                    >
                      <Icon name="trash" />
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <AddSuppression rules={rules} onAdded={reload} />
    </section>
  );
}
