import type { Severity } from "../components/labels";
import { parseYaml, toYaml, YamlError } from "./yaml";

/** Sentinel's MITRE ATT&CK tactic names, as rule files write them. */
export const TACTICS = [
  "Reconnaissance",
  "ResourceDevelopment",
  "InitialAccess",
  "Execution",
  "Persistence",
  "PrivilegeEscalation",
  "DefenseEvasion",
  "CredentialAccess",
  "Discovery",
  "LateralMovement",
  "Collection",
  "CommandAndControl",
  "Exfiltration",
  "Impact",
  "ImpairProcessControl",
  "InhibitResponseFunction",
  "PreAttack",
] as const;

/** Entity types and their identifiers, as the server validates `entityMappings`. */
export const ENTITY_IDENTIFIERS: Record<string, readonly string[]> = {
  Account: ["FullName", "Name", "NTDomain", "DnsDomain", "UPNSuffix", "Sid", "AadTenantId", "AadUserId", "PUID", "IsDomainJoined", "DisplayName", "ObjectGuid"],
  Host: ["HostName", "FullName", "DnsDomain", "NTDomain", "NetBiosName", "AzureID", "OMSAgentID", "OSFamily", "OSVersion", "IsDomainJoined"],
  IP: ["Address"],
  URL: ["Url"],
  FileHash: ["Algorithm", "Value"],
  File: ["Directory", "Name"],
  Process: ["ProcessId", "CommandLine", "ElevationToken", "CreationTimeUtc"],
  CloudApplication: ["AppId", "Name", "InstanceName"],
  DNS: ["DomainName"],
  Mailbox: ["MailboxPrimaryAddress", "DisplayName", "Upn", "ExternalDirectoryObjectId", "RiskLevel"],
  AzureResource: ["ResourceId"],
  Malware: ["Name", "Category"],
  RegistryKey: ["Hive", "Key"],
  RegistryValue: ["Name", "Value", "ValueType"],
  SecurityGroup: ["DistinguishedName", "SID", "ObjectGuid"],
};

export const TRIGGER_OPERATORS = ["gt", "lt", "eq", "ne"] as const;
export const KINDS = ["Scheduled", "NRT"] as const;

export interface FieldMapping {
  identifier: string;
  columnName: string;
}

export interface EntityMapping {
  entityType: string;
  fieldMappings: FieldMapping[];
}

/** What the form edits; every other field of the document is kept as it was. */
export interface RuleForm {
  id: string;
  name: string;
  description: string;
  severity: Severity;
  kind: (typeof KINDS)[number];
  query: string;
  queryFrequency: string;
  queryPeriod: string;
  triggerOperator: (typeof TRIGGER_OPERATORS)[number];
  triggerThreshold: number;
  tactics: string[];
  relevantTechniques: string[];
  entityMappings: EntityMapping[];
}

export interface RuleDraft {
  form: RuleForm;
  /** Fields the form does not show (incidentConfiguration, alertDetailsOverride...). */
  rest: Record<string, unknown>;
}

export function newRule(): RuleDraft {
  return {
    form: {
      id: crypto.randomUUID(),
      name: "",
      description: "",
      severity: "Medium",
      kind: "Scheduled",
      query: "",
      queryFrequency: "PT1H",
      queryPeriod: "PT1H",
      triggerOperator: "gt",
      triggerThreshold: 0,
      tactics: [],
      relevantTechniques: [],
      entityMappings: [],
    },
    rest: {},
  };
}

const FORM_KEYS = new Set<string>(Object.keys(newRule().form));

const text = (value: unknown): string => (value === null || value === undefined ? "" : String(value));
const strings = (value: unknown): string[] => (Array.isArray(value) ? value.map(text) : []);

function operator(value: unknown): RuleForm["triggerOperator"] {
  const lower = text(value).toLowerCase();
  const long: Record<string, RuleForm["triggerOperator"]> = { greaterthan: "gt", lessthan: "lt", equal: "eq", notequal: "ne" };
  return (TRIGGER_OPERATORS as readonly string[]).includes(lower) ? (lower as RuleForm["triggerOperator"]) : (long[lower] ?? "gt");
}

function mappings(value: unknown): EntityMapping[] {
  if (!Array.isArray(value)) return [];
  return value.map((mapping: Record<string, unknown>) => ({
    entityType: text(mapping?.entityType),
    fieldMappings: Array.isArray(mapping?.fieldMappings)
      ? mapping.fieldMappings.map((field: Record<string, unknown>) => ({
          identifier: text(field?.identifier),
          columnName: text(field?.columnName),
        }))
      : [],
  }));
}

/** Parses rule YAML into the form; throws `YamlError` when it is not YAML the form can hold. */
export function draftFromYaml(yaml: string): RuleDraft {
  const document = parseYaml(yaml);
  if (typeof document !== "object" || document === null || Array.isArray(document)) {
    throw new YamlError("a rule is a mapping of fields", 1);
  }
  const d = document as Record<string, unknown>;
  const defaults = newRule().form;
  const rest = Object.fromEntries(Object.entries(d).filter(([key]) => !FORM_KEYS.has(key)));
  const kind = text(d.kind).toUpperCase() === "NRT" ? "NRT" : "Scheduled";
  return {
    form: {
      id: text(d.id) || defaults.id,
      name: text(d.name),
      description: text(d.description).replace(/\n$/, ""),
      severity: (text(d.severity) || defaults.severity) as Severity,
      kind,
      query: text(d.query).replace(/\n$/, ""),
      queryFrequency: text(d.queryFrequency) || (kind === "NRT" ? "" : defaults.queryFrequency),
      queryPeriod: text(d.queryPeriod) || (kind === "NRT" ? "" : defaults.queryPeriod),
      triggerOperator: operator(d.triggerOperator),
      triggerThreshold: Number(d.triggerThreshold ?? 0) || 0,
      tactics: strings(d.tactics),
      relevantTechniques: strings(d.relevantTechniques),
      entityMappings: mappings(d.entityMappings),
    },
    rest,
  };
}

/** The rule as YAML, form fields first in Sentinel's order, then the fields kept from the file. */
export function draftToYaml({ form, rest }: RuleDraft): string {
  const scheduled = form.kind === "Scheduled";
  const document: Record<string, unknown> = {
    id: form.id,
    name: form.name,
    description: form.description || undefined,
    severity: form.severity,
    kind: form.kind,
    query: form.query ? form.query.replace(/\n?$/, "\n") : "",
    queryFrequency: scheduled ? form.queryFrequency : undefined,
    queryPeriod: scheduled ? form.queryPeriod : undefined,
    triggerOperator: scheduled ? form.triggerOperator : undefined,
    triggerThreshold: scheduled ? form.triggerThreshold : undefined,
    tactics: form.tactics,
    relevantTechniques: form.relevantTechniques,
    entityMappings: form.entityMappings.length ? form.entityMappings : undefined,
    ...rest,
  };
  return toYaml(document);
}

/** The form field a server problem is about: `entityMappings[0].fieldMappings[1].identifier` → entityMappings. */
export function formFieldOf(field: string): string {
  const head = /^[A-Za-z]+/.exec(field)?.[0] ?? "";
  return FORM_KEYS.has(head) ? head : "";
}
