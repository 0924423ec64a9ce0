import type { IconName } from "../components/Icon";

export interface NavItem {
  id: "incidents" | "hunting" | "workbooks" | "rules" | "automation" | "watchlists" | "connectors" | "settings";
  href: string;
  icon: IconName;
}

export const NAV: readonly NavItem[] = [
  { id: "incidents", href: "/incidents", icon: "incidents" },
  { id: "hunting", href: "/hunting", icon: "hunting" },
  { id: "workbooks", href: "/workbooks", icon: "workbooks" },
  { id: "rules", href: "/rules", icon: "rules" },
  { id: "automation", href: "/automation", icon: "automation" },
  { id: "watchlists", href: "/watchlists", icon: "watchlists" },
  { id: "connectors", href: "/connectors", icon: "connectors" },
  { id: "settings", href: "/settings", icon: "settings" },
];

/** The nav item a path belongs to (`/incidents/42` is under Incidents). */
export function navItemOf(path: string): NavItem | undefined {
  return NAV.find((item) => path === item.href || path.startsWith(item.href + "/"));
}
