/** A part of a workbook the console does not render, said plainly instead of failing. */
export function Unsupported({ what }: { what: string }) {
  return <div class="wb-unsupported">{what}</div>;
}
