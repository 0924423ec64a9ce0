// What the signed-in principal may change, from its role assignments (`GET /api/me`). The server
// decides every request; this only keeps write controls away from people who would be refused.
import { useMe, useWorkspace, type Me } from "../api";

/** Roles that may change a workspace's content (Sentinel's Contributor and above). */
const WRITERS = new Set(["Owner", "Contributor"]);

/** Whether `me` holds Contributor or Owner on the tenant or on this workspace (`tenant:<id>`, `workspace:<id>`). */
export function canWrite(me: Me | null, workspace: { id: string; name: string }): boolean {
  if (!me) return false;
  return me.roles.some(({ role, scope }) => {
    if (!WRITERS.has(role)) return false;
    const [kind, target = ""] = scope.split(/[:/](.*)/s);
    if (kind === "tenant") return target === "" || target === me.tenant.id || target === me.tenant.name;
    if (kind === "workspace") return target === workspace.id || target === workspace.name;
    return false;
  });
}

/** Whether the chosen workspace's content may be changed; false until `/api/me` has answered. */
export function useCanWrite(): boolean {
  return canWrite(useMe(), useWorkspace());
}
