// Just enough CSV (RFC 4180) to read a watchlist file's header row in the browser, so the search
// key can be picked from its columns before anything is sent. The server parses the whole file.

/** The first record after `skip` lines: quoted fields may hold commas, doubled quotes and newlines. */
export function csvHeader(text: string, skip: number): string[] {
  let rest = text.replace(/^\uFEFF/, "");
  for (let i = 0; i < skip; i++) {
    const end = rest.indexOf("\n");
    rest = end < 0 ? "" : rest.slice(end + 1);
  }
  const fields: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < rest.length; i++) {
    const c = rest[i];
    if (quoted) {
      if (c === '"' && rest[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"' && field.trim() === "") {
      quoted = true;
      field = "";
    } else if (c === ",") {
      fields.push(field.trim());
      field = "";
    } else if (c === "\n" || c === "\r") {
      break;
    } else field += c;
  }
  fields.push(field.trim());
  return fields.length === 1 && fields[0] === "" ? [] : fields;
}

/** Lines in the text that hold data after the header (a rough count for the form's summary). */
export function csvLineCount(text: string): number {
  return text.split(/\r?\n/).filter((line) => line.trim() !== "").length;
}
