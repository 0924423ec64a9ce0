import { withQuery } from "../app/router";
import type { Alert, Entity } from "./types";

const first = (...values: (string | null | undefined)[]) => values.find((v) => v) ?? "";

/** The value that names an entity, by Defender's entity shape. */
function entityValue(entity: Entity): string {
  switch (entity.entityType) {
    case "User":
      return first(
        entity.userPrincipalName,
        entity.domainName && entity.accountName ? `${entity.domainName}\\${entity.accountName}` : null,
        entity.accountName,
        entity.aadUserId,
        entity.userSid,
      );
    case "Machine":
      return first(entity.deviceDnsName);
    case "Ip":
      return first(entity.ipAddress);
    case "Url":
      return first(entity.url);
    case "File":
      return first(entity.fileName, entity.sha256, entity.sha1, entity.md5, entity.filePath);
    case "Process":
      return first(entity.processCommandLine, entity.processId);
    case "MailBox":
      return first(entity.mailboxAddress, entity.mailboxDisplayName);
    case "CloudApplication":
      return first(entity.applicationName, entity.applicationId);
    case "AzureResource":
      return first(entity.resourceId);
    default:
      return first(...Object.entries(entity).filter(([key]) => key !== "entityType").map(([, v]) => v));
  }
}

/** What to search the logs for: the raw value a query column held (an account's name as mapped). */
function searchTerm(entity: Entity): string {
  if (entity.entityType === "User") return first(entity.userPrincipalName, entity.accountName, entity.aadUserId);
  return entityValue(entity);
}

export interface EntityGroup {
  type: string;
  values: { value: string; term: string }[];
}

/** The alerts' entities, without repeats, grouped by type in order of first appearance. */
export function groupEntities(alerts: Alert[]): EntityGroup[] {
  const groups = new Map<string, Map<string, string>>();
  for (const alert of alerts) {
    for (const entity of alert.entities ?? []) {
      const value = entityValue(entity);
      if (!value) continue;
      let group = groups.get(entity.entityType);
      if (!group) groups.set(entity.entityType, (group = new Map()));
      group.set(value, searchTerm(entity) || value);
    }
  }
  return [...groups].map(([type, values]) => ({
    type,
    values: [...values].map(([value, term]) => ({ value, term })),
  }));
}

const NOT_TABLES = new Set(["let", "union", "search", "find", "datatable", "print", "range", "set", "declare", "evaluate"]);

/** The table a rule's query starts from, if it starts from one. */
export function sourceTable(query: string): string | null {
  const code = query.replace(/\/\/[^\n]*/g, "");
  const name = /^\s*([A-Za-z_][\w]*)/.exec(code)?.[1];
  return name && !NOT_TABLES.has(name.toLowerCase()) ? name : null;
}

const kqlString = (text: string) => `"${text.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;

/**
 * A hunting link for an entity: a search over the tables the incident's rules read (where the
 * value came from), or over every table when those are unknown, for the last 7 days.
 */
export function huntingLink(term: string, tables: string[]): string {
  const scope = tables.length ? `in (${tables.join(", ")}) ` : "";
  return withQuery("/hunting", { q: `search ${scope}${kqlString(term)}\n| take 100`, t: "P7D" });
}
