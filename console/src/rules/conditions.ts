import { valueLabel } from "../components/labels";

/** A condition of an automation or suppression rule, as the server writes it. */
export interface Condition {
  property: string;
  operator: string;
  values: string[];
}

/** `Property operator values`; `ruleNames` turns AnalyticRuleId values into the rules' names. */
export function conditionText(condition: Condition, ruleNames?: Map<string, string>): string {
  const values = /AnalyticRuleId$/.test(condition.property)
    ? condition.values.map((id) => ruleNames?.get(id) ?? id)
    : condition.values;
  return `${condition.property} ${valueLabel("operator", condition.operator)} ${values.join(", ")}`;
}
