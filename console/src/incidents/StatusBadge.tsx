import { valueLabel } from "../components/labels";

export function StatusBadge({ status }: { status: string }) {
  return <span class={`badge badge-${status.toLowerCase()}`}>{valueLabel("status", status)}</span>;
}
