import { useState } from "preact/hooks";
import { api, useWorkspace, workspacePath } from "../api";
import { ErrorBanner } from "../components/Feedback";
import { SeverityChip } from "../components/SeverityChip";
import { Time } from "../components/Time";
import { formatNumber, t } from "../i18n";
import { ProblemList, problemsOf } from "./problems";

interface TestAlert {
  title: string;
  severity: string;
  resultRows?: number;
  firstEventTime?: string | null;
  entities?: unknown[];
}

interface TestResult {
  resultCount?: number;
  rows?: number;
  alerts: TestAlert[];
}

const SHOWN_ALERTS = 20;
const HISTORY_MS = 7 * 86_400_000;

/** Runs the rule as written over the last 7 days of data, storing nothing. */
export function RuleTest({ yaml }: { yaml: () => string }) {
  const workspace = useWorkspace();
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<TestResult | null>(null);
  const [error, setError] = useState<unknown>(null);
  const run = async () => {
    setBusy(true);
    setError(null);
    setResult(null);
    const to = new Date();
    const from = new Date(to.getTime() - HISTORY_MS);
    try {
      setResult(
        await api<TestResult>(workspacePath(workspace, "/rules/test"), {
          method: "POST",
          body: { rule: yaml(), from: from.toISOString(), to: to.toISOString() },
        }),
      );
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };
  const problems = problemsOf(error);
  const rows = result?.resultCount ?? result?.rows ?? 0;
  return (
    <section class="panel" aria-labelledby="rule-test">
      <h2 id="rule-test">
        {t("rules.test.title")}
        <span class="topbar-spacer" />
        <button type="button" class="btn" onClick={run} disabled={busy}>
          {busy ? t("rules.test.running") : t("rules.test.run")}
        </button>
      </h2>
      <div class="panel-body stack" aria-live="polite">
        {!result && !error && <p class="muted hint">{t("rules.test.hint")}</p>}
        {problems.length ? <ProblemList problems={problems} /> : <ErrorBanner error={error} />}
        {result && (
          <>
            <p class="test-summary">{t("rules.test.summary", { alerts: result.alerts.length, rows })}</p>
            {result.alerts.length > 0 && (
              <div class="table-wrap">
                <table class="table">
                  <thead>
                    <tr>
                      <th scope="col">{t("common.severity")}</th>
                      <th scope="col">{t("rules.test.alertTitle")}</th>
                      <th scope="col" class="num">{t("rules.test.rows")}</th>
                      <th scope="col" class="num">{t("rules.test.entities")}</th>
                      <th scope="col">{t("rules.test.firstEvent")}</th>
                    </tr>
                  </thead>
                  <tbody>
                    {result.alerts.slice(0, SHOWN_ALERTS).map((alert, index) => (
                      <tr key={index}>
                        <td>
                          <SeverityChip value={alert.severity} />
                        </td>
                        <td class="truncate">{alert.title}</td>
                        <td class="num">{formatNumber(alert.resultRows ?? 0)}</td>
                        <td class="num">{formatNumber(alert.entities?.length ?? 0)}</td>
                        <td>
                          <Time value={alert.firstEventTime} />
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            )}
            {result.alerts.length > SHOWN_ALERTS && (
              <p class="muted hint">{t("rules.test.more", { shown: SHOWN_ALERTS, total: result.alerts.length })}</p>
            )}
          </>
        )}
      </div>
    </section>
  );
}
