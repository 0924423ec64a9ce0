import { hasMessage, t } from "../i18n";
import { groupEntities, huntingLink } from "./entities";
import type { Alert } from "./types";

function typeLabel(type: string): string {
  const key = `value.entity.${type}`;
  return hasMessage(key) ? t(key) : type;
}

/** Entities by type; each opens Hunting with a search for it over the rule's tables. */
export function EntitiesPanel({ alerts, tables }: { alerts: Alert[]; tables: string[] }) {
  const groups = groupEntities(alerts);
  return (
    <section class="panel" aria-labelledby="incident-entities">
      <h2 id="incident-entities">{t("incident.entities")}</h2>
      <div class="panel-body">
        {groups.length === 0 && <p class="muted">{t("incident.entities.none")}</p>}
        {groups.map((group) => (
          <div key={group.type} class="entity-group">
            <h3>
              {typeLabel(group.type)} <span class="badge">{group.values.length}</span>
            </h3>
            <ul>
              {group.values.map(({ value, term }) => (
                <li key={value}>
                  <a href={huntingLink(term, tables)} title={t("incident.entities.hunt", { value })}>
                    {value}
                  </a>
                </li>
              ))}
            </ul>
          </div>
        ))}
      </div>
    </section>
  );
}
