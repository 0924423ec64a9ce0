import { ApiError } from "../api";
import { t } from "../i18n";

/** One problem the server found in a rule: the YAML field path and what is wrong. */
export interface Problem {
  field: string;
  message: string;
}

interface ErrorBody {
  error?: { details?: Problem[]; innererror?: { problems?: Problem[] } };
}

/** The server's per-field problems with a rule (400 InvalidRule); empty for other errors. */
export function problemsOf(error: unknown): Problem[] {
  if (!(error instanceof ApiError) || error.code !== "InvalidRule") return [];
  const body = (error.body ?? {}) as ErrorBody;
  return body.error?.details ?? body.error?.innererror?.problems ?? [];
}

export function ProblemList({ problems }: { problems: Problem[] }) {
  if (!problems.length) return null;
  return (
    <div class="banner banner-error" role="alert">
      <strong>{t("rules.editor.problems", { count: problems.length })}</strong>
      <ul class="problem-list">
        {problems.map((problem, index) => (
          <li key={index}>
            <code>{problem.field}</code>: {problem.message}
          </li>
        ))}
      </ul>
    </div>
  );
}
