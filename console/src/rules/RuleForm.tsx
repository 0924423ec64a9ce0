import type { ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";
import { SEVERITIES, valueLabel } from "../components/labels";
import { Icon } from "../components/Icon";
import { t } from "../i18n";
import type { Problem } from "./problems";
import { ENTITY_IDENTIFIERS, KINDS, TACTICS, TRIGGER_OPERATORS, type EntityMapping, type RuleForm } from "./ruleDocument";

const DURATIONS = ["PT5M", "PT15M", "PT30M", "PT1H", "PT6H", "PT12H", "P1D", "P7D", "P14D"];

function Field({
  id,
  label,
  problems,
  hint,
  wide,
  children,
}: {
  id: string;
  label: string;
  problems: Problem[];
  hint?: string;
  wide?: boolean;
  children: ComponentChildren;
}) {
  return (
    <div class={wide ? "field wide" : "field"}>
      <label for={id}>{label}</label>
      {children}
      {hint && <span class="field-hint">{hint}</span>}
      {problems.map((problem, index) => (
        <span key={index} class="field-error" id={`${id}-error-${index}`}>
          {problem.field.includes("[") ? `${problem.field}: ${problem.message}` : problem.message}
        </span>
      ))}
    </div>
  );
}

const splitList = (text: string) => text.split(",").map((item) => item.trim()).filter(Boolean);

/** A comma-separated list; the text is kept as typed, so a trailing ", " is not eaten. */
function ListInput({
  values,
  onChange,
  ...rest
}: {
  id: string;
  values: string[];
  onChange: (values: string[]) => void;
  "aria-invalid"?: boolean;
  "aria-describedby"?: string;
}) {
  const [text, setText] = useState(values.join(", "));
  useEffect(() => {
    if (splitList(text).join() !== values.join()) setText(values.join(", "));
  }, [values]);
  return (
    <input
      {...rest}
      class="code"
      value={text}
      onInput={(event) => {
        setText(event.currentTarget.value);
        onChange(splitList(event.currentTarget.value));
      }}
    />
  );
}

function errorProps(id: string, problems: Problem[]) {
  return problems.length
    ? { "aria-invalid": true, "aria-describedby": problems.map((_, index) => `${id}-error-${index}`).join(" ") }
    : {};
}

function EntityMappingEditor({
  mapping,
  index,
  onChange,
  onRemove,
}: {
  mapping: EntityMapping;
  index: number;
  onChange: (mapping: EntityMapping) => void;
  onRemove: () => void;
}) {
  const identifiers = ENTITY_IDENTIFIERS[mapping.entityType] ?? [];
  const setField = (position: number, change: Partial<EntityMapping["fieldMappings"][number]>) =>
    onChange({
      ...mapping,
      fieldMappings: mapping.fieldMappings.map((field, i) => (i === position ? { ...field, ...change } : field)),
    });
  const typeId = `rule-entity-${index}`;
  return (
    <fieldset class="entity-mapping">
      <legend>{t("rules.form.entity", { n: index + 1 })}</legend>
      <div class="inline">
        <label for={typeId}>{t("rules.form.entityType")}</label>
        <select
          id={typeId}
          value={mapping.entityType}
          onChange={(event) => {
            const entityType = event.currentTarget.value;
            const first = ENTITY_IDENTIFIERS[entityType]?.[0] ?? "";
            onChange({ entityType, fieldMappings: mapping.fieldMappings.map((f) => ({ ...f, identifier: first })) });
          }}
        >
          {Object.keys(ENTITY_IDENTIFIERS).map((type) => (
            <option key={type} value={type}>
              {type}
            </option>
          ))}
        </select>
        <button type="button" class="btn btn-small btn-danger" onClick={onRemove}>
          <Icon name="trash" />
          {t("rules.form.removeEntity")}
        </button>
      </div>
      {mapping.fieldMappings.map((field, position) => (
        <div key={position} class="inline">
          <select
            aria-label={t("rules.form.identifier")}
            value={field.identifier}
            onChange={(event) => setField(position, { identifier: event.currentTarget.value })}
          >
            {identifiers.map((identifier) => (
              <option key={identifier} value={identifier}>
                {identifier}
              </option>
            ))}
          </select>
          <span aria-hidden="true">←</span>
          <input
            class="code"
            aria-label={t("rules.form.column")}
            placeholder={t("rules.form.column")}
            value={field.columnName}
            onInput={(event) => setField(position, { columnName: event.currentTarget.value })}
          />
          <button
            type="button"
            class="btn btn-small btn-icon"
            aria-label={t("rules.form.removeIdentifier")}
            title={t("rules.form.removeIdentifier")}
            disabled={mapping.fieldMappings.length === 1}
            onClick={() => onChange({ ...mapping, fieldMappings: mapping.fieldMappings.filter((_, i) => i !== position) })}
          >
            <Icon name="trash" />
          </button>
        </div>
      ))}
      <div>
        <button
          type="button"
          class="btn btn-small"
          onClick={() =>
            onChange({ ...mapping, fieldMappings: [...mapping.fieldMappings, { identifier: identifiers[0] ?? "", columnName: "" }] })
          }
        >
          <Icon name="plus" />
          {t("rules.form.addIdentifier")}
        </button>
      </div>
    </fieldset>
  );
}

/** The rule's main fields; `problems` are the server's, shown under the field they concern. */
export function RuleFormView({
  form,
  problems,
  onChange,
}: {
  form: RuleForm;
  problems: Record<string, Problem[]>;
  onChange: (change: Partial<RuleForm>) => void;
}) {
  const of = (field: string) => problems[field] ?? [];
  const scheduled = form.kind === "Scheduled";
  return (
    <div class="form-grid rule-form">
      <Field id="rule-name" label={t("common.name")} problems={of("name")} wide>
        <input
          id="rule-name"
          required
          value={form.name}
          onInput={(event) => onChange({ name: event.currentTarget.value })}
          {...errorProps("rule-name", of("name"))}
        />
      </Field>
      <Field id="rule-description" label={t("common.description")} problems={of("description")} wide>
        <textarea
          id="rule-description"
          rows={2}
          value={form.description}
          onInput={(event) => onChange({ description: event.currentTarget.value })}
        />
      </Field>
      <Field id="rule-severity" label={t("common.severity")} problems={of("severity")}>
        <select
          id="rule-severity"
          value={form.severity}
          onChange={(event) => onChange({ severity: event.currentTarget.value as RuleForm["severity"] })}
          {...errorProps("rule-severity", of("severity"))}
        >
          {SEVERITIES.map((severity) => (
            <option key={severity} value={severity}>
              {valueLabel("severity", severity)}
            </option>
          ))}
        </select>
      </Field>
      <Field id="rule-kind" label={t("rules.column.kind")} problems={of("kind")}>
        <select
          id="rule-kind"
          value={form.kind}
          onChange={(event) => onChange({ kind: event.currentTarget.value as RuleForm["kind"] })}
        >
          {KINDS.map((kind) => (
            <option key={kind} value={kind}>
              {valueLabel("ruleKind", kind)}
            </option>
          ))}
        </select>
      </Field>
      <Field id="rule-query" label={t("rules.form.query")} problems={of("query")} wide>
        <textarea
          id="rule-query"
          class="code"
          rows={10}
          spellcheck={false}
          value={form.query}
          onInput={(event) => onChange({ query: event.currentTarget.value })}
          {...errorProps("rule-query", of("query"))}
        />
      </Field>
      {scheduled && (
        <>
          <datalist id="rule-durations">
            {DURATIONS.map((duration) => (
              <option key={duration} value={duration} />
            ))}
          </datalist>
          <Field id="rule-frequency" label={t("rules.form.frequency")} problems={of("queryFrequency")} hint={t("rules.form.durationHint")}>
            <input
              id="rule-frequency"
              class="code"
              list="rule-durations"
              value={form.queryFrequency}
              onInput={(event) => onChange({ queryFrequency: event.currentTarget.value })}
              {...errorProps("rule-frequency", of("queryFrequency"))}
            />
          </Field>
          <Field id="rule-period" label={t("rules.form.period")} problems={of("queryPeriod")} hint={t("rules.form.durationHint")}>
            <input
              id="rule-period"
              class="code"
              list="rule-durations"
              value={form.queryPeriod}
              onInput={(event) => onChange({ queryPeriod: event.currentTarget.value })}
              {...errorProps("rule-period", of("queryPeriod"))}
            />
          </Field>
          <Field id="rule-operator" label={t("rules.form.trigger")} problems={[...of("triggerOperator"), ...of("triggerThreshold")]}>
            <div class="inline">
              <select
                id="rule-operator"
                value={form.triggerOperator}
                onChange={(event) => onChange({ triggerOperator: event.currentTarget.value as RuleForm["triggerOperator"] })}
              >
                {TRIGGER_OPERATORS.map((operator) => (
                  <option key={operator} value={operator}>
                    {t(`rules.form.operator.${operator}`)}
                  </option>
                ))}
              </select>
              <input
                type="number"
                min={0}
                class="threshold"
                aria-label={t("rules.form.threshold")}
                value={form.triggerThreshold}
                onInput={(event) => onChange({ triggerThreshold: Number(event.currentTarget.value) || 0 })}
              />
            </div>
          </Field>
        </>
      )}
      <fieldset class="wide">
        <legend>{t("rules.form.tactics")}</legend>
        <div class="checkbox-grid">
          {TACTICS.map((tactic) => (
            <label key={tactic}>
              <input
                type="checkbox"
                checked={form.tactics.includes(tactic)}
                onChange={(event) =>
                  onChange({
                    tactics: event.currentTarget.checked
                      ? TACTICS.filter((known) => known === tactic || form.tactics.includes(known))
                      : form.tactics.filter((known) => known !== tactic),
                  })
                }
              />
              {valueLabel("tactic", tactic)}
            </label>
          ))}
        </div>
        {of("tactics").map((problem, index) => (
          <span key={index} class="field-error">
            {problem.field}: {problem.message}
          </span>
        ))}
      </fieldset>
      <Field id="rule-techniques" label={t("rules.form.techniques")} problems={of("relevantTechniques")} hint={t("rules.form.techniquesHint")} wide>
        <ListInput
          id="rule-techniques"
          values={form.relevantTechniques}
          onChange={(relevantTechniques) => onChange({ relevantTechniques })}
          {...errorProps("rule-techniques", of("relevantTechniques"))}
        />
      </Field>
      <div class="field wide">
        <span class="label">{t("rules.form.entities")}</span>
        {form.entityMappings.map((mapping, index) => (
          <EntityMappingEditor
            key={index}
            index={index}
            mapping={mapping}
            onChange={(changed) =>
              onChange({ entityMappings: form.entityMappings.map((m, i) => (i === index ? changed : m)) })
            }
            onRemove={() => onChange({ entityMappings: form.entityMappings.filter((_, i) => i !== index) })}
          />
        ))}
        {of("entityMappings").map((problem, index) => (
          <span key={index} class="field-error">
            {problem.field}: {problem.message}
          </span>
        ))}
        <div>
          <button
            type="button"
            class="btn btn-small"
            onClick={() =>
              onChange({
                entityMappings: [...form.entityMappings, { entityType: "Account", fieldMappings: [{ identifier: "FullName", columnName: "" }] }],
              })
            }
          >
            <Icon name="plus" />
            {t("rules.form.addEntity")}
          </button>
        </div>
      </div>
    </div>
  );
}
