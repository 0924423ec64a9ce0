import { valueLabel } from "./labels";

export function SeverityChip({ value }: { value: string }) {
  return (
    <span class={`sev sev-${value.toLowerCase()}`}>
      <span class="sev-dot" aria-hidden="true" />
      {valueLabel("severity", value)}
    </span>
  );
}
