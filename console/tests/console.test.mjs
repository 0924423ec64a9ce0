// The console in a real browser (Debian's chromium through playwright-core), against `vigil demo`.
// Environment: VIGIL_URL, VIGIL_CREDENTIAL (owner-credential.json), VIGIL_SCREENSHOTS (a folder),
// VIGIL_LOCALE (en | ja). tests/ui/run.sh sets them. Each acceptance point of the console is one
// named test; a test whose prerequisite failed fails as well. Timings are printed as `TIMING name ms`.
import fs from "node:fs";
import path from "node:path";
import {
  Api,
  check,
  consoleDir,
  env,
  launch,
  newContext,
  readCredential,
  repoDir,
  runner,
  stats,
  timing,
  until,
} from "./lib.mjs";

const BASE = env("VIGIL_URL").replace(/\/+$/, "");
const credential = readCredential(env("VIGIL_CREDENTIAL"));
const SHOTS = env("VIGIL_SCREENSHOTS");
const LOCALE = env("VIGIL_LOCALE", "en");
if (LOCALE !== "en" && LOCALE !== "ja") {
  console.error(`VIGIL_LOCALE must be en or ja, not ${LOCALE}`);
  process.exit(2);
}
const OTHER = LOCALE === "ja" ? "en" : "ja";
fs.mkdirSync(SHOTS, { recursive: true });

// ---------------------------------------------------------------------------------------------
// What the tests compare against: the console's own catalogs and the Keeper content pack.

function catalogs() {
  const merged = { en: {}, ja: {} };
  const walk = (dir) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      const match = /^messages\.(en|ja)\.json$/.exec(entry.name);
      if (match) Object.assign(merged[match[1]], JSON.parse(fs.readFileSync(full, "utf8")));
    }
  };
  walk(path.join(consoleDir, "src"));
  return merged;
}
const MESSAGES = catalogs();
const msg = (key, locale = LOCALE) => {
  const text = MESSAGES[locale][key];
  if (text === undefined) throw new Error(`no message ${key} in the ${locale} catalog`);
  return text;
};

const PACK = path.join(repoDir, "content", "keeper-security");

/** Incident titles the Keeper rules produce: their alertDisplayNameFormat over the events they match. */
function keeperTitlePattern() {
  const dir = path.join(PACK, "Analytic Rules");
  const alternatives = [];
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith(".yaml"))) {
    const yaml = fs.readFileSync(path.join(dir, file), "utf8");
    const format = /alertDisplayNameFormat:\s*"([^"]+)"/.exec(yaml)?.[1];
    const query = /query:\s*\|\n((?:[ \t]+.*\n?)+)/.exec(yaml)?.[1] ?? "";
    const events = [...query.matchAll(/AuditEvent\s*(?:==|in)\s*\(?([^)\n]+)/g)].flatMap((m) =>
      [...m[1].matchAll(/"([^"]+)"/g)].map((q) => q[1]),
    );
    if (!format || !events.length) throw new Error(`cannot read the display name or events of ${file}`);
    const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    const pattern = format
      .split(/(\{\{\w+\}\})/)
      .map((part) => {
        if (part === "{{AuditEvent}}") return `(?:${events.map(escape).join("|")})`;
        if (part === "{{RemoteAddress}}") return "\\d{1,3}(?:\\.\\d{1,3}){3}";
        if (/^\{\{\w+\}\}$/.test(part)) return ".+";
        return escape(part);
      })
      .join("");
    alternatives.push(pattern);
  }
  return new RegExp(`^(?:${alternatives.join("|")})$`);
}
const KEEPER_TITLE = keeperTitlePattern();

const CHART_KINDS = new Set(["timechart", "areachart", "barchart", "columnchart", "piechart", "scatterchart", "linechart"]);

// The pack is laid out as a Sentinel solution; a workbook's name is its file's stem.
const KEEPER_WORKBOOK = "KeeperSecurityActivity";

/** The workbook's tabs and, per tab, how many charts and tiles queries it holds. */
function dashboardTabs() {
  const notebook = JSON.parse(fs.readFileSync(path.join(PACK, "Workbooks", `${KEEPER_WORKBOOK}.json`), "utf8"));
  const all = [];
  const walk = (items) => {
    for (const item of items ?? []) {
      all.push(item);
      walk(item.content?.items);
    }
  };
  walk(notebook.items);
  const tabs = all.find((item) => item.type === 11 && item.content?.style === "tabs");
  if (!tabs) throw new Error(`the Keeper workbook ${KEEPER_WORKBOOK} has no tab strip`);
  return tabs.content.links.map((link) => {
    const group = all.find((item) => item.type === 12 && item.conditionalVisibility?.value === link.subTarget);
    const inside = [];
    const collect = (items) => {
      for (const item of items ?? []) {
        inside.push(item);
        collect(item.content?.items);
      }
    };
    collect(group?.content?.items);
    const queries = inside.filter((item) => item.type === 3);
    return {
      label: link.linkLabel,
      slug: link.linkLabel.toLowerCase().replace(/[^a-z0-9]+/g, "-"),
      charts: queries.filter((item) => CHART_KINDS.has(item.content.visualization)).length,
      tiles: queries.filter((item) => item.content.visualization === "tiles").length,
      dropdown: inside.some((item) => item.type === 9 && item.content.parameters?.some((p) => p.type === 2 && p.query)),
    };
  });
}
const TABS = dashboardTabs();

// ---------------------------------------------------------------------------------------------
// The browser and what every visited page is checked for.

const api = new Api(BASE, credential);
const browser = await launch();
const context = await newContext(browser, LOCALE);
// Keys the console reports as untranslated, across full reloads as well (the app appends to this array).
const missingKeys = new Map();
await context.exposeBinding("__vigilReportMissing", ({ page }, key) => {
  if (!missingKeys.has(key)) missingKeys.set(key, page.url());
});
await context.addInitScript(() => {
  const missing = [];
  const push = missing.push;
  missing.push = function (...keys) {
    for (const key of keys) window.__vigilReportMissing?.(key);
    return push.apply(this, keys);
  };
  window.__vigilMissing = missing;
});
const page = await context.newPage();
page.setDefaultTimeout(15_000);
const consoleErrors = [];
page.on("pageerror", (error) => consoleErrors.push(`${page.url()}: ${error.message}`));

const shots = new Set();
const a11yOffenders = new Map();
const englishOffenders = new Map();
const visited = [];

/** Every input, select, textarea and button on the page that has no accessible name. */
async function unnamedControls() {
  return page.evaluate(() => {
    const clean = (text) => (text ?? "").replace(/\s+/g, " ").trim();
    const textOf = (element) => {
      // Text as a screen reader reads it: text nodes plus alt/aria-label of what is inside.
      let text = "";
      for (const node of element.childNodes) {
        if (node.nodeType === Node.TEXT_NODE) text += node.textContent;
        else if (node.nodeType === Node.ELEMENT_NODE) {
          if (node.getAttribute("aria-hidden") === "true") continue;
          text += " " + (node.getAttribute("aria-label") || node.getAttribute("alt") || textOf(node));
        }
      }
      return clean(text);
    };
    const nameOf = (element) => {
      const labelledBy = element.getAttribute("aria-labelledby");
      if (labelledBy) {
        const text = clean(labelledBy.split(/\s+/).map((id) => document.getElementById(id)?.textContent ?? "").join(" "));
        if (text) return text;
      }
      const aria = clean(element.getAttribute("aria-label"));
      if (aria) return aria;
      const labels = element.labels ? [...element.labels].map(textOf).join(" ").trim() : "";
      if (labels) return labels;
      const isButton =
        element.tagName === "BUTTON" ||
        element.tagName === "SUMMARY" ||
        element.getAttribute("role") === "button" ||
        (element.tagName === "INPUT" && ["button", "submit", "reset"].includes(element.type));
      if (isButton) {
        const text = element.tagName === "INPUT" ? clean(element.value) : textOf(element);
        if (text) return text;
      }
      return clean(element.getAttribute("title"));
    };
    const describe = (element) => {
      const id = element.id ? `#${element.id}` : "";
      const testId = element.dataset.testid ? `[data-testid=${element.dataset.testid}]` : "";
      const cls = element.className && typeof element.className === "string" ? `.${element.className.trim().split(/\s+/).join(".")}` : "";
      return `${element.tagName.toLowerCase()}${id}${testId}${cls}: ${element.outerHTML.slice(0, 160)}`;
    };
    const controls = document.querySelectorAll(
      "input:not([type=hidden]), select, textarea, button, summary, [role=button], [contenteditable=true]",
    );
    return [...controls]
      .filter((element) => element.checkVisibility({ visibilityProperty: true }) || element.type === "radio" || element.type === "checkbox")
      .filter((element) => !element.closest("[hidden], [aria-hidden=true]"))
      .filter((element) => !nameOf(element))
      .map(describe);
  });
}

/**
 * Visible UI text that is only ASCII words, i.e. English left in the Japanese console. Data is
 * excluded: table cells, the grid, code and the editor, incident titles and history details,
 * workbook content (its titles, tabs and parameter labels come from the workbook JSON), the user.
 */
async function untranslatedText() {
  return page.evaluate(() => {
    const DATA = [
      "td",
      "[role=grid]",
      "code",
      "pre",
      "kbd",
      "samp",
      ".mono",
      ".cm-editor",
      ".cm-tooltip",
      "option",
      "[data-testid=incident-title]",
      ".timeline-detail",
      ".timeline-actor",
      ".who",
      ".brand",
      ".wb-body",
      ".wb-page > .page-header h1",
      "textarea.code",
      "[data-testid=results-chart]",
      ".hunt-error-text",
      ".hunt-loaded",
      ".saved-query-name",
      "dd",
      "[translate=no]",
      "[lang=en]",
    ].join(", ");
    // Words that are the same in Japanese UIs: product and format names, units.
    const ALLOWED = new Set([
      "Vigil", "KQL", "Keeper", "Security", "English", "OData", "CSV", "JSON", "YAML", "UTC", "OIDC", "ID", "IP",
      "URL", "DCR", "API", "HTTP", "HTTPS", "PKCE", "NRT", "MITRE", "ATT", "CK", "Sentinel", "Microsoft", "Azure",
      "Defender", "Teams", "Slack", "Webhook", "Owner", "Contributor", "Responder", "Reader", "Monitoring", "Metrics",
      "Publisher", "ms", "s", "h", "m", "d", "UUID", "GUID", "SIEM", "Ctrl", "Enter", "Shift", "Esc",
    ]);
    const offenders = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    const english = (text) => /^[A-Za-z][A-Za-z'’.,:;!?&()/-]*(?:\s+[A-Za-z'’.,:;!?&()/-]+)*$/.test(text);
    const allowed = (text) => text.split(/[^A-Za-z]+/).filter(Boolean).every((word) => ALLOWED.has(word));
    const where = (element) => {
      const parts = [];
      for (let e = element; e && e !== document.body && parts.length < 4; e = e.parentElement) {
        parts.unshift(e.tagName.toLowerCase() + (e.className && typeof e.className === "string" ? `.${e.className.trim().split(/\s+/)[0]}` : ""));
      }
      return parts.join(" > ");
    };
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const text = node.textContent.replace(/\s+/g, " ").trim();
      if (!text || !english(text) || allowed(text)) continue;
      const element = node.parentElement;
      if (!element || element.closest(DATA)) continue;
      if (!element.checkVisibility({ visibilityProperty: true }) && !element.closest(".visually-hidden")) continue;
      offenders.push(`"${text}" in ${where(element)}`);
    }
    // Attributes that are read out or shown as tooltips are UI text too.
    for (const element of document.querySelectorAll("[aria-label], [placeholder], [title]")) {
      if (element.closest(DATA) || !element.checkVisibility({ visibilityProperty: true })) continue;
      for (const attribute of ["aria-label", "placeholder", "title"]) {
        const text = (element.getAttribute(attribute) ?? "").trim();
        if (text && english(text) && !allowed(text)) offenders.push(`${attribute}="${text}" on ${where(element)}`);
      }
    }
    return offenders;
  });
}

async function theme() {
  return page.evaluate(() => document.documentElement.dataset.theme);
}

/** Waits until the page has no loading placeholders or busy tables. */
async function settled(what = "the page to finish loading", timeout = 30_000) {
  await until(
    async () =>
      (await page.locator(".loading:visible, .wb-loading:visible, [aria-busy=true]:visible, .progress[data-active=true]").count()) === 0,
    { timeout, message: what },
  );
}

/**
 * Checks the page (accessible names; in Japanese, English left over), then takes its screenshot in
 * the current theme, switches theme with theme-switch, takes the other, and switches back.
 */
async function capture(name, { settle = 400 } = {}) {
  visited.push(name);
  const unnamed = await unnamedControls();
  if (unnamed.length) a11yOffenders.set(name, unnamed);
  if (LOCALE === "ja") {
    const english = await untranslatedText();
    if (english.length) englishOffenders.set(name, english);
  }
  for (let round = 0; round < 2; round++) {
    const current = await theme();
    await page.waitForTimeout(settle);
    const file = path.join(SHOTS, `${LOCALE}-${current}-${name}.png`);
    await page.screenshot({ path: file, animations: "disabled", caret: "hide" });
    shots.add(`${current}-${name}`);
    // Behind an open modal dialog the page is inert and takes no pointer clicks: the switch then
    // gets the click event directly, which is what its handler listens to.
    const modal = (await page.locator("dialog[open]").count()) > 0;
    if (modal) await page.getByTestId("theme-switch").dispatchEvent("click");
    else await page.getByTestId("theme-switch").click();
    await until(async () => (await theme()) !== current, { timeout: 5000, message: `theme-switch to leave ${current}` });
  }
}

/** The share of a canvas that is drawn on (not its most common colour), and how many colours it has. */
async function canvasInk(host) {
  return host.evaluate((element) => {
    const canvas = element.querySelector("canvas");
    if (!canvas || !canvas.width || !canvas.height) return { canvas: false, ink: 0, colours: 0 };
    const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    const counts = new Map();
    for (let i = 0; i < data.length; i += 4) {
      const key = data[i + 3] === 0 ? -1 : ((data[i] >> 3) << 10) | ((data[i + 1] >> 3) << 5) | (data[i + 2] >> 3);
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    const total = data.length / 4;
    const background = Math.max(...counts.values());
    return { canvas: true, ink: (total - background) / total, colours: counts.size };
  });
}

// ---------------------------------------------------------------------------------------------
// The editor.

const editor = () => page.getByTestId("kql-editor");
const editorText = () =>
  editor().evaluate((host) => [...host.querySelectorAll(".cm-content > .cm-line")].map((line) => line.textContent).join("\n"));

/** Clicks the editor, selects all, and types `lines` (Escape closes a completion before Enter). */
async function typeQuery(lines, { closeCompletion = true } = {}) {
  const content = editor().locator(".cm-content");
  await content.click();
  await page.keyboard.press("ControlOrMeta+a");
  await page.keyboard.press("Delete");
  for (const [index, line] of lines.entries()) {
    if (index) {
      await page.keyboard.press("Escape");
      await page.keyboard.press("Enter");
    }
    await page.keyboard.type(line);
  }
  if (closeCompletion) await page.keyboard.press("Escape");
  const typed = await editorText();
  check(typed === lines.join("\n"), () => `the editor holds ${JSON.stringify(typed)} after typing ${JSON.stringify(lines.join("\n"))}`);
}

async function workspaceId() {
  const workspaces = await api.get("/api/workspaces");
  check(workspaces.length > 0, "GET /api/workspaces is empty");
  return workspaces[0].id;
}

// ---------------------------------------------------------------------------------------------

const suite = runner({
  label: LOCALE,
  onFailure: async (name) => {
    const file = path.join(SHOTS, `${LOCALE}-FAIL-${name.replace(/[^A-Za-z0-9]+/g, "-").slice(0, 60)}.png`);
    await page.screenshot({ path: file }).catch(() => undefined);
    console.log(`  at ${page.url()}; screenshot ${file}`);
  },
});
const test = suite.test;

const LOGIN = "1. log in through the login page and switch the language";
const QUEUE = "2. the queue shows the Keeper incidents of the demo";
const state = {};

test(LOGIN, async () => {
  await page.goto(`${BASE}/login`);
  const submit = page.getByTestId("login-submit");
  await submit.waitFor();
  // Through the other language and back, so that the switch is seen to change the page.
  for (const locale of [OTHER, LOCALE]) {
    await page.getByTestId("locale-switch").selectOption(locale);
    await until(async () => (await submit.textContent())?.trim() === msg("login.submit", locale), {
      timeout: 5000,
      message: () => `the sign-in button to read "${msg("login.submit", locale)}" after choosing ${locale}`,
    });
    const lang = await page.evaluate(() => document.documentElement.lang);
    check(lang === locale, `<html lang> is ${lang} after choosing ${locale} in locale-switch`);
  }
  await capture("login");

  await page.getByTestId("login-tenant").fill(credential.tenant_id);
  await page.getByTestId("login-client-id").fill(credential.client_id);
  await page.getByTestId("login-secret").fill(credential.client_secret);
  const started = performance.now();
  await submit.click();
  await page.waitForURL(/\/incidents(\?|$)/, { timeout: 20_000 }).catch(async () => {
    const banner = await page.locator("[role=alert]").allTextContents();
    throw new Error(`sign-in did not reach /incidents (at ${page.url()}; ${banner.join(" ") || "no error shown"})`);
  });
  await page.getByTestId("nav-incidents").waitFor();
  timing("login", performance.now() - started);
  await page.getByTestId("incident-row").first().waitFor({ timeout: 30_000 });
  timing("login-to-first-rows", performance.now() - started);

  const stored = await page.evaluate(() => JSON.stringify({ ...sessionStorage, ...localStorage }));
  check(!stored.includes(credential.client_secret), "the client secret is kept in browser storage");
  const selected = await page.getByTestId("locale-switch").inputValue();
  check(selected === LOCALE, `locale-switch shows ${selected} after sign-in, not ${LOCALE}`);
  const nav = (await page.getByTestId("nav-incidents").textContent())?.trim();
  check(nav === msg("nav.incidents"), `the navigation reads "${nav}", not "${msg("nav.incidents")}"`);
});

test(
  QUEUE,
  async () => {
    const rows = page.getByTestId("incident-row");
    const titles = () => rows.evaluateAll((elements) => elements.map((row) => row.querySelector("a")?.textContent?.trim() ?? ""));
    const deadline = Date.now() + 60_000;
    let seen = [];
    for (;;) {
      seen = await titles().catch(() => []);
      if (seen.some((title) => KEEPER_TITLE.test(title))) break;
      check(Date.now() < deadline, () => `no incident from the Keeper rules within 60 s (titles: ${JSON.stringify(seen.slice(0, 5))}; expected ${KEEPER_TITLE})`);
      await page.waitForTimeout(2000);
      await page.reload();
      await page.getByTestId("nav-incidents").waitFor();
      await rows.first().waitFor({ timeout: 5000 }).catch(() => undefined);
    }
    const foreign = seen.filter((title) => !KEEPER_TITLE.test(title));
    check(!foreign.length, `queue rows whose titles are not from the Keeper rules: ${JSON.stringify(foreign.slice(0, 5))}`);

    // A cold load of the queue page.
    const started = performance.now();
    await page.reload();
    await rows.first().waitFor({ timeout: 30_000 });
    timing("queue-page", performance.now() - started);
    await settled("the queue to load");
    const ids = await rows.evaluateAll((elements) => elements.map((row) => row.dataset.incidentId));
    check(ids.every((id) => /^\d+$/.test(id ?? "")), `incident rows without a numeric data-incident-id: ${JSON.stringify(ids.slice(0, 5))}`);
    const listed = await api.get("/api/incidents?$top=1&$count=true");
    check(listed["@odata.count"] >= ids.length, `the API counts ${listed["@odata.count"]} incidents but the queue shows ${ids.length} rows`);
    console.log(`  ${ids.length} rows on the first page, ${listed["@odata.count"]} incidents in all; e.g. "${seen[0]}"`);
    await capture("incidents");
  },
  { requires: [LOGIN] },
);

const INCIDENT = "3. open an incident with the keyboard, change its status and owner, and save";
test(
  INCIDENT,
  async () => {
    const rows = page.getByTestId("incident-row");
    await rows.first().focus();
    const activeId = () => page.evaluate(() => document.activeElement?.getAttribute("data-incident-id"));
    // Down the queue with the keyboard to an incident that is New and unassigned.
    let chosen;
    const count = await rows.count();
    for (let index = 0; index < count; index++) {
      const id = await activeId();
      check(id, `keyboard focus left the incident rows at row ${index}`);
      const incident = await api.get(`/api/incidents/${id}`);
      if (incident.incidentStatus === "New" && !incident.assignedTo) {
        chosen = incident;
        break;
      }
      await page.keyboard.press("ArrowDown");
    }
    check(chosen, `none of the ${count} incidents on the first page is New and unassigned`);
    await page.keyboard.press("Enter");
    await page.waitForURL(new RegExp(`/incidents/${chosen.incidentId}$`));
    const heading = page.getByTestId("incident-title");
    await heading.waitFor();
    check((await heading.textContent())?.trim() === chosen.incidentName, `the incident page shows "${await heading.textContent()}", not "${chosen.incidentName}"`);

    const history = page.getByTestId("incident-history").locator("li");
    const before = await history.count();
    const owner = `analyst.${LOCALE}.${Date.now()}@example.com`;
    const started = new Date(Date.now() - 1000).toISOString();
    await page.getByTestId("incident-status").selectOption("Active");
    await page.getByTestId("incident-owner").fill(owner);
    const save = page.getByTestId("incident-save");
    check(await save.isEnabled(), "incident-save is disabled after changing the status and owner");
    const clicked = performance.now();
    await save.click();
    await until(async () => (await history.count()) >= before + 2, {
      timeout: 10_000,
      message: () => `incident-history to gain the status and owner changes (it had ${before} entries)`,
    });
    timing("incident-save", performance.now() - clicked);
    const errors = await page.locator(".incident-side [role=alert]").allTextContents();
    check(!errors.length, `saving shows an error: ${errors.join(" ")}`);

    const saved = await api.get(`/api/incidents/${chosen.incidentId}`);
    check(saved.incidentStatus === "Active", `GET /api/incidents/${chosen.incidentId}: incidentStatus is ${saved.incidentStatus}, not Active`);
    check(saved.status === "InProgress", `GET /api/incidents/${chosen.incidentId}: status is ${saved.status}, not InProgress`);
    check(saved.assignedTo === owner, `GET /api/incidents/${chosen.incidentId}: assignedTo is ${saved.assignedTo}, not ${owner}`);
    const recent = (saved.history ?? []).filter((entry) => entry.at >= started);
    const statusChange = recent.find((entry) => entry.action === "StatusChanged" && /New → Active/.test(entry.detail));
    const ownerChange = recent.find((entry) => entry.action === "OwnerChanged" && entry.detail.endsWith(`→ ${owner}`));
    check(statusChange, `the API's history has no "New → Active" StatusChanged entry: ${JSON.stringify(recent)}`);
    check(ownerChange, `the API's history has no OwnerChanged entry to ${owner}: ${JSON.stringify(recent)}`);
    check(statusChange.actor === credential.client_id, `the status change is recorded as by ${statusChange.actor}, not ${credential.client_id}`);

    const shown = await page.getByTestId("incident-history").innerText();
    check(shown.includes(owner), `incident-history does not show the new owner ${owner}:\n${shown.slice(0, 500)}`);
    const activeLabel = msg("value.status.Active");
    check(shown.includes(activeLabel), `incident-history does not show the new status "${activeLabel}"`);
    state.incident = chosen.incidentId;
    await capture("incident");
  },
  { requires: [LOGIN, QUEUE] },
);

const HUNTING = "4. hunting marks a KQL syntax error where the server places it, and completes columns";
test(
  HUNTING,
  async () => {
    await page.getByTestId("nav-hunting").click();
    await page.waitForURL(/\/hunting/);
    await editor().locator(".cm-content").waitFor();

    // A syntax error on the third line: `==` has no right-hand side, so the `|` there is unexpected.
    const lines = ["KeeperSecurityEventNewLogs_CL", "| where Username == ", "| take 10"];
    const query = lines.join("\n");
    const expectedFrom = query.indexOf("\n| take") + 1;
    const expectedLine = 3;
    const expectedColumn = 0;
    const server = await api.call("POST", `/api/workspaces/${await workspaceId()}/kql/check`, { body: { query } });
    check(server?.error, `the server finds no error in ${JSON.stringify(query)}: ${JSON.stringify(server)}`);
    check(
      server.error.from === expectedFrom && server.error.line === expectedLine && server.error.column === expectedColumn + 1,
      `the server places the error at from=${server.error.from} line ${server.error.line} column ${server.error.column}, expected from=${expectedFrom} line ${expectedLine} column ${expectedColumn + 1}`,
    );

    await typeQuery(lines);
    await page.keyboard.press("Control+Enter");
    const failure = page.locator(".hunt-error[role=alert]");
    await failure.waitFor({ timeout: 15_000 });
    const failureText = await failure.innerText();
    check(/SyntaxError|KS001|'\|'/.test(failureText), `the results pane does not show the syntax error: ${failureText}`);
    const mark = editor().locator(".cm-lintRange-error").first();
    await mark.waitFor({ timeout: 10_000 });
    const placed = await mark.evaluate((element) => {
      const host = element.closest("[data-testid=kql-editor]");
      const line = element.closest(".cm-line");
      const lines = [...host.querySelectorAll(".cm-content > .cm-line")];
      const before = document.createRange();
      before.setStart(line, 0);
      before.setEndBefore(element);
      const box = element.getBoundingClientRect();
      const lineBox = line.getBoundingClientRect();
      const padding = parseFloat(getComputedStyle(line).paddingLeft);
      return {
        text: element.textContent,
        line: lines.indexOf(line) + 1,
        column: before.toString().length,
        box: { left: box.left, top: box.top, bottom: box.bottom, width: box.width },
        lineBox: { left: lineBox.left + padding, top: lineBox.top, bottom: lineBox.bottom },
      };
    });
    check(placed.text === "|", `the error mark covers ${JSON.stringify(placed.text)}, not "|"`);
    check(
      placed.line === expectedLine && placed.column === expectedColumn,
      `the error mark is at line ${placed.line} column ${placed.column + 1}, the server says line ${expectedLine} column ${expectedColumn + 1}`,
    );
    const charWidth = placed.box.width;
    check(charWidth > 3 && charWidth < 20, `the error mark is ${charWidth}px wide for one character`);
    check(
      placed.box.top >= placed.lineBox.top - 1 && placed.box.bottom <= placed.lineBox.bottom + 1,
      `the error mark's box (${placed.box.top}–${placed.box.bottom}) is not on line ${expectedLine} (${placed.lineBox.top}–${placed.lineBox.bottom})`,
    );
    const expectedLeft = placed.lineBox.left + expectedColumn * charWidth;
    check(
      Math.abs(placed.box.left - expectedLeft) < charWidth / 2,
      `the error mark starts at x=${placed.box.left}, expected x≈${expectedLeft} (column ${expectedColumn + 1})`,
    );
    // The diagnostic itself, as the editor shows it on hover.
    await mark.hover();
    const tooltip = page.locator(".cm-tooltip-lint, .cm-tooltip-hover .cm-diagnostic");
    await tooltip.first().waitFor({ timeout: 5000 });
    const diagnostic = (await tooltip.first().innerText()).trim();
    check(diagnostic.includes(server.error.message), `the editor's diagnostic reads "${diagnostic}", not the server's "${server.error.message}"`);
    await page.mouse.move(0, 0);

    // Completion: the engine offers the table's columns after `where`.
    await typeQuery(["KeeperSecurityEventNewLogs_CL | where Us"], { closeCompletion: false });
    const list = page.locator(".cm-tooltip-autocomplete");
    await until(async () => (await list.locator(".cm-completionLabel").allTextContents()).includes("Username"), {
      timeout: 10_000,
      message: async () => `"Username" in the completion list (it shows ${JSON.stringify(await list.locator(".cm-completionLabel").allTextContents().catch(() => []))})`,
    });
    await page.keyboard.press("Escape");
  },
  { requires: [LOGIN] },
);

const CHART = "5. a timechart query draws a non-empty chart";
test(
  CHART,
  async () => {
    if (!page.url().includes("/hunting")) {
      await page.getByTestId("nav-hunting").click();
      await editor().locator(".cm-content").waitFor();
    }
    // A table result first (for the screenshot and the query timing).
    await typeQuery(["KeeperSecurityEventNewLogs_CL | project TimeGenerated, Username, AuditEvent, Category, RemoteAddress | take 200"]);
    let started = performance.now();
    await page.getByTestId("run-query").click();
    const grid = page.getByTestId("results-grid");
    const count = grid.locator(".vg-grid-count");
    await until(async () => /\b200\b/.test((await count.textContent().catch(() => "")) ?? ""), {
      timeout: 20_000,
      message: async () => `results-grid to report 200 rows (${await page.locator(".hunt-results-wrap").innerText().catch(() => "")})`,
    });
    timing("query", performance.now() - started);
    const cells = await grid.locator("[role=gridcell]").count();
    check(cells > 0, "results-grid reports rows but shows no cells");
    await capture("hunting-results");

    await typeQuery(["KeeperSecurityEventNewLogs_CL | summarize count() by bin(TimeGenerated, 1h), Category | render timechart"]);
    started = performance.now();
    await page.getByTestId("run-query").click();
    const chart = page.getByTestId("results-chart");
    await chart.waitFor({ timeout: 20_000 }).catch(async () => {
      throw new Error(`results-chart did not appear (${await page.locator(".hunt-results-wrap").innerText().catch(() => "")})`);
    });
    timing("chart-query", performance.now() - started);
    const ink = await until(
      async () => {
        const measured = await canvasInk(chart);
        return measured.canvas && measured.ink > 0.01 && measured.colours >= 4 ? measured : false;
      },
      { timeout: 10_000, message: async () => `a drawn chart canvas (measured ${JSON.stringify(await canvasInk(chart))})` },
    );
    const box = await chart.boundingBox();
    check(box && box.width > 300 && box.height > 150, `results-chart is only ${box?.width}×${box?.height}`);
    console.log(`  chart ${Math.round(box.width)}×${Math.round(box.height)}, ${(ink.ink * 100).toFixed(1)}% drawn, ${ink.colours} colours`);
    await capture("hunting-chart", { settle: 1200 });
  },
  { requires: [LOGIN] },
);

const WORKBOOKS = "6. the Keeper Security activity workbook shows data on every tab";
test(
  WORKBOOKS,
  async () => {
    await page.getByTestId("nav-workbooks").click();
    const link = page.locator(`[data-testid=workbook-link][data-name="${KEEPER_WORKBOOK}"]`);
    await link.waitFor({ timeout: 15_000 });
    await settled("the workbook list");
    await capture("workbooks");
    await link.click();
    await page.waitForURL(new RegExp(`/workbooks/${KEEPER_WORKBOOK}$`));
    const tabs = page.getByTestId("workbook-tab");
    await tabs.first().waitFor({ timeout: 15_000 });
    const labels = (await tabs.allTextContents()).map((label) => label.trim());
    check(
      JSON.stringify(labels) === JSON.stringify(TABS.map((tab) => tab.label)),
      `the workbook's tabs are ${JSON.stringify(labels)}, its JSON has ${JSON.stringify(TABS.map((tab) => tab.label))}`,
    );
    const charts = page.getByTestId("workbook-chart");
    for (const [index, tab] of TABS.entries()) {
      await tabs.nth(index).click();
      await until(async () => (await tabs.nth(index).getAttribute("aria-selected")) === "true", { message: `tab ${tab.label} to be selected` });
      if (tab.dropdown) {
        const select = page.locator(".wb-body").getByRole("combobox", { name: /^Select User/ });
        await select.waitFor({ timeout: 15_000 });
        const options = await until(
          async () => {
            const values = await select.locator("option").evaluateAll((all) => all.map((o) => o.value).filter(Boolean));
            return values.length ? values : false;
          },
          { timeout: 30_000, message: "users in the Select User dropdown" },
        );
        await select.selectOption(options[0]);
        console.log(`  ${tab.label}: picked ${options[0]} of ${options.length} users`);
      }
      const started = performance.now();
      await until(async () => (await charts.count()) >= tab.charts && (await page.locator(".wb-loading:visible").count()) === 0, {
        timeout: 45_000,
        message: async () => `${tab.charts} charts on ${tab.label} (${await charts.count()} shown; notes: ${JSON.stringify(await page.locator(".wb-note:visible, .wb-error:visible").allInnerTexts())})`,
      });
      const shown = await charts.count();
      check(shown === tab.charts, `${tab.label} shows ${shown} charts, the workbook has ${tab.charts}`);
      const empty = await page.locator('[data-testid=workbook-chart][data-empty="true"]').count();
      check(empty === 0, `${tab.label}: ${empty} of ${shown} charts have no rows`);
      for (let i = 0; i < shown; i++) {
        const chart = charts.nth(i);
        const title = await chart.evaluate((element) => element.closest(".wb-query")?.querySelector(".wb-query-title")?.textContent ?? "");
        await until(
          async () => {
            const measured = await canvasInk(chart);
            return measured.canvas && measured.ink > 0.005 && measured.colours >= 3;
          },
          { timeout: 10_000, message: async () => `a drawn chart for "${title}" on ${tab.label} (${JSON.stringify(await canvasInk(chart))})` },
        );
      }
      const errors = await page.locator(".wb-body .wb-error:visible").allInnerTexts();
      check(!errors.length, `${tab.label} shows query errors: ${errors.join(" | ")}`);
      const tiles = page.getByTestId("workbook-tile");
      if (tab.tiles) {
        const values = await tiles.locator(".wb-tile-value").allTextContents();
        check(values.length >= tab.tiles, `${tab.label} shows ${values.length} tiles, the workbook has ${tab.tiles} tile queries`);
        const numbers = values.map((text) => Number.parseFloat(text.replace(/[^\d.]/g, "")));
        check(numbers.every((n) => n > 0), `${tab.label}: tiles without a number above 0: ${JSON.stringify(values)}`);
        console.log(`  ${tab.label}: tiles ${JSON.stringify(values)}`);
      }
      timing(`workbook-tab-${tab.slug}`, performance.now() - started);
      await capture(`workbook-${tab.slug}`, { settle: 1200 });
    }
  },
  { requires: [LOGIN] },
);

// ---------------------------------------------------------------------------------------------
// Watchlists, functions, and what a Reader sees.

/** A CSV for a watchlist: a title line to skip, a header, and rows (one field quoted with a comma). */
function watchlistCsv(rows) {
  const lines = ["Servers that matter (exported by the console test)", "Host,Owner,Criticality"];
  for (const [host, owner, criticality] of rows) lines.push(`${host},"${owner}",${criticality}`);
  return lines.join("\r\n") + "\r\n";
}
const SERVERS = [
  ["web-01", "Alice Example", "high"],
  ["db-01", "Bob, Jr.", "critical"],
  ["mail-01", "Carol Example", "medium"],
  ["vpn-01", "Dan Example", "high"],
];
const SERVERS_REPLACED = [
  ["web-01", "Alice Example", "low"],
  ["dc-01", "Erin Example", "critical"],
];

/** The number a results grid reports ("4 rows"), or null. */
async function gridCount(grid) {
  const text = (await grid.locator(".vg-grid-count").textContent().catch(() => "")) ?? "";
  const digits = text.replace(/[^\d]/g, "");
  return digits ? Number(digits) : null;
}

/** Chooses a file in an `<input type=file>` as a user would, from bytes the test makes. */
async function chooseFile(testId, name, text) {
  await page.getByTestId(testId).setInputFiles({ name, mimeType: "text/csv", buffer: Buffer.from(text, "utf8") });
}

const WATCHLISTS = "7. watchlists: create from a CSV file, its items, a refused CSV names its field, replace and delete";
test(
  WATCHLISTS,
  async () => {
    const workspace = await workspaceId();
    const alias = `servers-${LOCALE}-${Date.now().toString(36)}`;
    await page.getByTestId("nav-watchlists").click();
    await page.waitForURL(/\/watchlists$/);
    await page.locator("main h1").first().waitFor();
    await settled("the watchlists page");

    // Create: the search key is picked from the CSV's header, after the line to skip.
    await page.getByTestId("watchlist-new").click();
    const dialog = page.locator("dialog[open]");
    await dialog.waitFor();
    await page.getByTestId("watchlist-alias").fill(alias);
    await page.getByTestId("watchlist-display-name").fill(`Servers ${LOCALE}`);
    await page.getByTestId("watchlist-description").fill("Servers whose alerts matter most");
    await page.getByTestId("watchlist-skip").fill("1");
    await chooseFile("watchlist-file", "servers.csv", watchlistCsv(SERVERS));
    const keySelect = page.getByTestId("watchlist-search-key");
    await until(async () => JSON.stringify(await keySelect.locator("option").allTextContents()) === JSON.stringify(["Host", "Owner", "Criticality"]), {
      timeout: 5000,
      message: async () => `the search key choices to be the header's columns (they are ${JSON.stringify(await keySelect.locator("option").allTextContents())})`,
    });
    await keySelect.selectOption("Host");
    await capture("watchlist-new");
    await page.getByTestId("watchlist-save").click();
    await page.waitForURL(new RegExp(`/watchlists/${alias}$`), { timeout: 15_000 }).catch(async () => {
      throw new Error(`saving did not open the watchlist (errors: ${JSON.stringify(await dialog.locator("[role=alert]").allInnerTexts().catch(() => []))})`);
    });
    const grid = page.getByTestId("watchlist-items").getByTestId("results-grid");
    await until(async () => (await gridCount(grid)) === SERVERS.length, {
      timeout: 15_000,
      message: async () => `the items grid to show ${SERVERS.length} rows (it says ${await gridCount(grid)})`,
    });
    const cells = await grid.locator("[role=gridcell]").allTextContents();
    check(cells.includes("Bob, Jr."), `the grid does not show the quoted owner "Bob, Jr.": ${JSON.stringify(cells.slice(0, 12))}`);
    const saved = await api.get(`/api/workspaces/${workspace}/watchlists/${alias}`);
    check(saved.itemsSearchKey === "Host" && saved.itemCount === SERVERS.length, `GET watchlist: ${JSON.stringify(saved)}`);
    check(JSON.stringify(saved.columns) === JSON.stringify(["Host", "Owner", "Criticality"]), `the watchlist's columns are ${JSON.stringify(saved.columns)}`);
    // The updated time is shown as the time it was saved (whatever unit the server counts in).
    const shown = await page.getByTestId("watchlist-facts").locator("time").first().getAttribute("datetime");
    check(shown && Math.abs(Date.parse(shown) - Date.now()) < 10 * 60_000, `the watchlist's time reads ${shown}, not about now`);
    const rows = await api.query(workspace, `_GetWatchlist('${alias}') | project SearchKey, Owner, Criticality | sort by SearchKey asc`);
    const keys = rows.map((row) => row.SearchKey);
    check(
      JSON.stringify(keys) === JSON.stringify(SERVERS.map((row) => row[0]).sort()),
      `_GetWatchlist('${alias}') returns SearchKeys ${JSON.stringify(keys)}`,
    );
    await capture("watchlist");

    // A CSV whose row is narrower than its header: the server names rawContent, shown at the file field.
    await page.getByTestId("watchlist-replace").click();
    await dialog.waitFor();
    await chooseFile("watchlist-file", "broken.csv", "Host,Owner,Criticality\r\nweb-01,Alice\r\n");
    await page.getByTestId("watchlist-save").click();
    const fileError = dialog.locator('.field-error[data-field="file"]');
    await fileError.waitFor({ timeout: 10_000 }).catch(async () => {
      throw new Error(`no error at the file field for a malformed CSV (shown: ${JSON.stringify(await dialog.locator("[role=alert]").allInnerTexts())})`);
    });
    const fileErrorText = await fileError.innerText();
    check(/rawContent/.test(fileErrorText) && /line 2/.test(fileErrorText), `the file field's error reads "${fileErrorText}"`);
    const described = await page.getByTestId("watchlist-file").getAttribute("aria-describedby");
    check(described && (await fileError.getAttribute("id")) === described, "the file input is not described by its error");
    const unchanged = await api.get(`/api/workspaces/${workspace}/watchlists/${alias}`);
    check(unchanged.itemCount === SERVERS.length, `a refused CSV changed the watchlist: ${unchanged.itemCount} items`);

    // Replace with a good CSV (no title line this time).
    await page.getByTestId("watchlist-skip").fill("0");
    await chooseFile("watchlist-file", "servers-2.csv", watchlistCsv(SERVERS_REPLACED).split("\r\n").slice(1).join("\r\n"));
    check((await page.getByTestId("watchlist-search-key").inputValue()) === "Host", "the search key did not stay Host for a file that has that column");
    await page.getByTestId("watchlist-save").click();
    await dialog.waitFor({ state: "detached", timeout: 10_000 }).catch(async () => {
      throw new Error(`the replace dialog stayed open: ${JSON.stringify(await dialog.locator("[role=alert]").allInnerTexts().catch(() => []))}`);
    });
    await until(async () => (await gridCount(grid)) === SERVERS_REPLACED.length, {
      timeout: 15_000,
      message: async () => `the grid to show the ${SERVERS_REPLACED.length} replaced items (it says ${await gridCount(grid)})`,
    });
    const replaced = await api.get(`/api/workspaces/${workspace}/watchlists/${alias}/items`);
    const hosts = replaced.value.map((item) => item.Host).sort();
    check(JSON.stringify(hosts) === JSON.stringify(["dc-01", "web-01"]), `after replacing, the items are ${JSON.stringify(replaced.value)}`);

    // Delete, confirmed in the browser's dialog.
    page.once("dialog", (prompt) => prompt.accept());
    await page.getByTestId("watchlist-delete").click();
    await page.waitForURL(/\/watchlists$/, { timeout: 10_000 });
    await until(async () => (await page.locator(`[data-testid=watchlist-row][data-alias="${alias}"]`).count()) === 0, {
      timeout: 10_000,
      message: `${alias} to leave the list`,
    });
    const gone = await api.request("GET", `/api/workspaces/${workspace}/watchlists/${alias}`);
    check(gone.status === 404, `GET the deleted watchlist answers ${gone.status}`);
    // A watchlist to list in the screenshot, made through the API.
    await api.call("PUT", `/api/workspaces/${workspace}/watchlists/vip-${LOCALE}`, {
      body: { properties: { displayName: `VIP users ${LOCALE}`, description: "People whose sign-ins are watched", provider: "Custom", source: "vip.csv", itemsSearchKey: "Upn", rawContent: "Upn,Name\r\nalice@example.com,Alice\r\n", numberOfLinesToSkip: 0, contentType: "text/csv", labels: [] } },
    });
    await page.reload();
    await page.locator(`[data-testid=watchlist-row][data-alias="vip-${LOCALE}"]`).waitFor({ timeout: 10_000 });
    await settled("the watchlists list");
    await capture("watchlists");
  },
  { requires: [LOGIN] },
);

const FUNCTIONS = "8. functions: listed next to saved queries, body read-only, create, refused body, call from KQL, delete";
test(
  FUNCTIONS,
  async () => {
    const workspace = await workspaceId();
    const name = `VigilTestRange_${LOCALE}_${Date.now().toString(36)}`;
    await page.getByTestId("nav-hunting").click();
    await editor().locator(".cm-content").waitFor();
    await page.getByTestId("hunting-tab-functions").click();
    await page.getByTestId("function-new").click();
    const dialog = page.locator("dialog[open]");
    await dialog.waitFor();
    await page.getByTestId("function-name").fill(name);
    await page.getByTestId("function-parameters").fill("first:long=1, last:long=5");
    await page.getByTestId("function-category").fill("Console test");
    const body = page.getByTestId("function-body").locator(".cm-content");
    await body.click();
    await page.keyboard.type("range i from first to last step 1 | extend square = i * i");
    await page.keyboard.press("Escape");
    await capture("function-new");

    // A body that does not parse is refused with the server's reason; nothing is saved.
    await body.click();
    await page.keyboard.press("ControlOrMeta+a");
    await page.keyboard.type("range i from first to | where");
    await page.keyboard.press("Escape");
    await page.getByTestId("function-save").click();
    const refusal = page.getByTestId("function-error");
    await refusal.waitFor({ timeout: 10_000 });
    const refusalText = await refusal.innerText();
    check(/InvalidFunction/.test(refusalText), `the refusal reads "${refusalText}", not InvalidFunction`);
    check(await dialog.isVisible(), "the function dialog closed after a refusal");
    const notSaved = await api.request("GET", `/api/workspaces/${workspace}/functions/${name}`);
    check(notSaved.status === 404, `a refused function was saved (GET answers ${notSaved.status})`);

    await body.click();
    await page.keyboard.press("ControlOrMeta+a");
    await page.keyboard.type("range i from first to last step 1 | extend square = i * i");
    await page.keyboard.press("Escape");
    await page.getByTestId("function-save").click();
    const view = page.getByTestId("function-body-view");
    await view.waitFor({ timeout: 10_000 });
    const saved = await api.get(`/api/workspaces/${workspace}/functions/${name}`);
    check(saved.body === "range i from first to last step 1 | extend square = i * i", `the saved body is ${JSON.stringify(saved.body)}`);
    check(/first:\s*long\s*=\s*1/.test(saved.parameters), `the saved parameters are ${JSON.stringify(saved.parameters)}`);

    // The body is shown read-only: typing changes nothing.
    const viewText = () => view.evaluate((host) => [...host.querySelectorAll(".cm-line")].map((line) => line.textContent).join("\n"));
    const before = await viewText();
    await view.locator(".cm-content").click();
    await page.keyboard.type("XYZ");
    check((await viewText()) === before && before.includes("extend square"), `the read-only body changed or is wrong: ${JSON.stringify(await viewText())}`);
    const row = page.locator(`[data-testid=function-row][data-name="${name}"]`);
    await row.waitFor({ timeout: 10_000 });
    const rowText = await row.innerText();
    check(rowText.includes(saved.parameters) && rowText.includes("Console test"), `the function's row reads ${JSON.stringify(rowText)}, without its parameters ${JSON.stringify(saved.parameters)} and category`);
    await capture("function");

    // Use in query, then call it by name with arguments.
    await page.getByTestId("function-insert").click();
    await until(async () => (await editorText()).includes(`${name}(first, last)`), {
      timeout: 5000,
      message: async () => `the query editor to hold the call (it holds ${JSON.stringify(await editorText())})`,
    });
    await typeQuery([`${name}(2, 4) | summarize total = sum(square)`]);
    await page.getByTestId("run-query").click();
    const grid = page.getByTestId("results-grid");
    await until(async () => (await grid.locator("[role=gridcell]").allTextContents()).includes("29"), {
      timeout: 15_000,
      message: async () => `the function's result (4 + 9 + 16 = 29) in the grid (${await page.locator(".hunt-results-wrap").innerText().catch(() => "")})`,
    });

    // Delete.
    await row.locator("button").click();
    await dialog.waitFor();
    page.once("dialog", (prompt) => prompt.accept());
    await page.getByTestId("function-delete").click();
    await until(async () => (await row.count()) === 0, { timeout: 10_000, message: `${name} to leave the list` });
    const gone = await api.request("GET", `/api/workspaces/${workspace}/functions/${name}`);
    check(gone.status === 404, `GET the deleted function answers ${gone.status}`);
    await page.getByTestId("hunting-tab-queries").click();
  },
  { requires: [LOGIN] },
);

const READER = "9. a Reader sees watchlists and functions but no control that changes them";
test(
  READER,
  async () => {
    const workspace = await workspaceId();
    const workspaces = await api.get("/api/workspaces");
    const wsName = workspaces.find((w) => w.id === workspace).name;
    const stamp = Date.now().toString(36);
    const alias = `reader-check-${LOCALE}-${stamp}`;
    const fn = `ReaderCheck_${LOCALE}_${stamp}`;
    await api.call("PUT", `/api/workspaces/${workspace}/watchlists/${alias}`, {
      body: { properties: { displayName: alias, description: "", provider: "Custom", source: "r.csv", itemsSearchKey: "K", rawContent: "K,V\r\na,1\r\n", numberOfLinesToSkip: 0, contentType: "text/csv", labels: [] } },
    });
    await api.call("PUT", `/api/workspaces/${workspace}/functions/${fn}`, { body: { body: "print answer = 42", parameters: "", category: "Console test" } });
    const reader = await api.call("POST", "/api/apps", { body: { name: `console-reader-${LOCALE}-${stamp}`, roles: [{ role: "Reader", scope: `workspace/${wsName}` }] } });
    const readerContext = await newContext(browser, LOCALE);
    const readerPage = await readerContext.newPage();
    try {
      await readerPage.goto(`${BASE}/login`);
      await readerPage.getByTestId("login-tenant").fill(reader.tenant_id);
      await readerPage.getByTestId("login-client-id").fill(reader.client_id);
      await readerPage.getByTestId("login-secret").fill(reader.client_secret);
      await readerPage.getByTestId("login-submit").click();
      await readerPage.getByTestId("nav-watchlists").waitFor({ timeout: 20_000 });
      await readerPage.getByTestId("nav-watchlists").click();
      const row = readerPage.locator(`[data-testid=watchlist-row][data-alias="${alias}"]`);
      await row.waitFor({ timeout: 15_000 });
      const writeControls = async () => ({
        new: await readerPage.getByTestId("watchlist-new").count(),
        delete: await readerPage.getByTestId("watchlist-delete").count(),
        replace: await readerPage.getByTestId("watchlist-replace").count(),
      });
      // /api/me arrives after the list: give it time, so that a late write control would show.
      await readerPage.waitForTimeout(1500);
      let controls = await writeControls();
      check(!controls.new && !controls.delete, `a Reader sees write controls on the watchlists page: ${JSON.stringify(controls)}`);
      await row.getByTestId("watchlist-link").click();
      await readerPage.getByTestId("watchlist-items").waitFor({ timeout: 15_000 });
      await readerPage.waitForTimeout(500);
      controls = await writeControls();
      check(!controls.replace && !controls.delete, `a Reader sees write controls on a watchlist: ${JSON.stringify(controls)}`);

      await readerPage.getByTestId("nav-hunting").click();
      await readerPage.getByTestId("hunting-tab-functions").click();
      const fnRow = readerPage.locator(`[data-testid=function-row][data-name="${fn}"]`);
      await fnRow.waitFor({ timeout: 15_000 });
      check((await readerPage.getByTestId("function-new").count()) === 0, "a Reader sees New function");
      await fnRow.locator("button").click();
      await readerPage.getByTestId("function-body-view").waitFor();
      check((await readerPage.getByTestId("function-insert").count()) === 1, "a Reader cannot use a function in a query");
      const fnControls = (await readerPage.getByTestId("function-edit").count()) + (await readerPage.getByTestId("function-delete").count());
      check(fnControls === 0, "a Reader sees Edit or Delete on a function");
      // The server refuses the Reader's writes as well (the console only hides what would fail).
      const readerApi = new Api(BASE, { tenant_id: reader.tenant_id, client_id: reader.client_id, client_secret: reader.client_secret });
      try {
        const refused = await readerApi.request("DELETE", `/api/workspaces/${workspace}/watchlists/${alias}`);
        check(refused.status === 403, `DELETE a watchlist as a Reader answers ${refused.status}, not 403`);
      } finally {
        await readerApi.dispose();
      }
    } finally {
      await readerContext.close();
      await api.call("DELETE", `/api/workspaces/${workspace}/watchlists/${alias}`).catch(() => undefined);
      await api.call("DELETE", `/api/workspaces/${workspace}/functions/${fn}`).catch(() => undefined);
    }
  },
  { requires: [LOGIN] },
);

const PAGES = [
  "login",
  "incidents",
  "incident",
  "hunting-results",
  "hunting-chart",
  "workbooks",
  ...TABS.map((tab) => `workbook-${tab.slug}`),
  "watchlist-new",
  "watchlist",
  "watchlists",
  "function-new",
  "function",
  "rules",
  "automation",
  "connectors",
  "settings",
];

/** The mean luminance (0–255) of a PNG, decoded by the browser. */
async function luminance(scratch, file) {
  const data = fs.readFileSync(file).toString("base64");
  return scratch.evaluate(async (base64) => {
    const image = new Image();
    image.src = `data:image/png;base64,${base64}`;
    await image.decode();
    const canvas = document.createElement("canvas");
    canvas.width = image.width;
    canvas.height = image.height;
    const context = canvas.getContext("2d");
    context.drawImage(image, 0, 0);
    const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
    let sum = 0;
    for (let i = 0; i < pixels.length; i += 16) sum += 0.2126 * pixels[i] + 0.7152 * pixels[i + 1] + 0.0722 * pixels[i + 2];
    return { width: image.width, height: image.height, mean: sum / (pixels.length / 16) };
  }, data);
}

const SCREENSHOTS = "10. screenshots of every page at 1440×900 in light and dark theme";
test(
  SCREENSHOTS,
  async () => {
    for (const name of ["rules", "automation", "connectors", "settings"]) {
      await page.getByTestId(`nav-${name}`).click();
      await page.waitForURL(new RegExp(`/${name}$`));
      await page.locator("main h1").first().waitFor();
      await settled(`the ${name} page`);
      const errors = await page.locator("main [role=alert]").allInnerTexts();
      check(!errors.length, `the ${name} page shows errors: ${errors.join(" | ")}`);
      await capture(name);
    }
    const scratch = await context.newPage();
    try {
      const problems = [];
      for (const name of PAGES) {
        const measured = {};
        for (const current of ["light", "dark"]) {
          const file = path.join(SHOTS, `${LOCALE}-${current}-${name}.png`);
          if (!shots.has(`${current}-${name}`) || !fs.existsSync(file)) {
            problems.push(`missing ${file}`);
            continue;
          }
          measured[current] = await luminance(scratch, file);
          const { width, height } = measured[current];
          if (width !== 1440 || height !== 900) problems.push(`${file} is ${width}×${height}`);
        }
        if (measured.light && measured.dark && !(measured.dark.mean + 40 < measured.light.mean)) {
          problems.push(`${name}: the dark screenshot (mean luminance ${measured.dark.mean.toFixed(0)}) is not darker than the light one (${measured.light.mean.toFixed(0)})`);
        }
      }
      check(!problems.length, `screenshots:\n${problems.join("\n")}`);
      console.log(`  ${PAGES.length * 2} screenshots in ${SHOTS}`);
    } finally {
      await scratch.close();
    }
  },
  { requires: [LOGIN] },
);

const A11Y = "11. controls have accessible names and the queue is keyboard navigable";
test(
  A11Y,
  async () => {
    const report = [...a11yOffenders].map(([name, offenders]) => `${name}:\n    ${offenders.join("\n    ")}`);
    check(!report.length, `controls without an accessible name:\n  ${report.join("\n  ")}`);
    check(visited.length >= PAGES.length, `only ${visited.length} of ${PAGES.length} pages were checked: ${visited.join(", ")}`);

    await page.getByTestId("nav-incidents").click();
    const rows = page.getByTestId("incident-row");
    await rows.nth(3).waitFor();
    const ids = await rows.evaluateAll((elements) => elements.map((row) => row.dataset.incidentId));
    const activeId = () => page.evaluate(() => document.activeElement?.getAttribute("data-incident-id"));
    await rows.first().focus();
    for (let index = 1; index <= 3; index++) {
      await page.keyboard.press("ArrowDown");
      const id = await activeId();
      check(id === ids[index], `after ${index}× ArrowDown focus is on incident ${id}, expected row ${index + 1} (incident ${ids[index]})`);
    }
    await page.keyboard.press("ArrowUp");
    check((await activeId()) === ids[2], `ArrowUp moved focus to ${await activeId()}, expected ${ids[2]}`);
    const tabStops = await rows.evaluateAll((elements) => elements.filter((row) => row.tabIndex === 0).length);
    check(tabStops === 1, `${tabStops} incident rows are Tab stops; a roving tab index has exactly one`);
  },
  { requires: [LOGIN] },
);

const I18N = LOCALE === "ja" ? "12. every visited page is in Japanese" : "12. no message key is missing from the English catalog";
test(
  I18N,
  async () => {
    const live = await page.evaluate(() => window.__vigilMissing ?? null);
    check(Array.isArray(live), "window.__vigilMissing is not an array");
    const missing = [...new Set([...live, ...missingKeys.keys()])];
    check(
      !missing.length,
      `message keys missing from the ${LOCALE} catalog (window.__vigilMissing): ${missing.map((key) => `${key}${missingKeys.has(key) ? ` (${missingKeys.get(key)})` : ""}`).join(", ")}`,
    );
    if (LOCALE === "ja") {
      check(visited.length >= PAGES.length, `only ${visited.length} of ${PAGES.length} pages were visited`);
      const report = [...englishOffenders].map(([name, offenders]) => `${name}:\n    ${[...new Set(offenders)].join("\n    ")}`);
      check(!report.length, `English text on Japanese pages:\n  ${report.join("\n  ")}`);
    }
  },
  { requires: [LOGIN] },
);

const BIG = "13. a 100,000-row result scrolls smoothly in a virtualised grid";
test(
  BIG,
  async () => {
    await page.getByTestId("nav-hunting").click();
    await editor().locator(".cm-content").waitFor();
    await typeQuery(["range i from 1 to 100000 step 1 | extend s = strcat('row ', i)"]);
    const started = performance.now();
    await page.getByTestId("run-query").click();
    const grid = page.getByTestId("results-grid");
    const scroller = grid.locator("[role=grid]");
    await until(async () => (await scroller.getAttribute("aria-rowcount").catch(() => null)) === "100001", {
      timeout: 30_000,
      message: async () => `the grid to hold 100,000 rows (${await page.locator(".hunt-results-wrap").innerText().catch(() => "")})`,
    });
    timing("query-100k-rows", performance.now() - started);
    const countText = (await grid.locator(".vg-grid-count").textContent())?.trim() ?? "";
    const expectedCount = msg("grid.rows").replace("{count}", new Intl.NumberFormat(LOCALE).format(100000));
    check(countText === expectedCount, `the grid's count reads "${countText}", not "${expectedCount}"`);
    const domRows = () => scroller.locator(".vg-grid-canvas [role=row]").count();
    const initialRows = await domRows();
    check(initialRows > 0 && initialRows < 200, `the DOM holds ${initialRows} rows for a 100,000-row result`);

    // Wheel scrolling, frame by frame: the gaps between animation frames while the grid scrolls.
    await scroller.hover();
    await page.evaluate(() => {
      const frames = (window.__frames = []);
      const tick = (time) => {
        frames.push(time);
        if (!window.__stopFrames) requestAnimationFrame(tick);
      };
      window.__stopFrames = false;
      requestAnimationFrame(tick);
    });
    for (let step = 0; step < 30; step++) {
      await page.mouse.wheel(0, 1500);
      await page.waitForTimeout(30);
    }
    // Wheel scrolling is animated: wait for it to come to rest before measuring and jumping.
    let resting = -1;
    await until(
      async () => {
        const top = await scroller.evaluate((element) => element.scrollTop);
        const still = top === resting;
        resting = top;
        return still;
      },
      { timeout: 10_000, interval: 300, message: "the wheel scrolling to come to rest" },
    );
    await page.mouse.move(0, 0);
    const frames = await page.evaluate(() => {
      window.__stopFrames = true;
      return window.__frames;
    });
    const gaps = frames.slice(1).map((time, i) => time - frames[i]);
    const frameStats = stats(gaps);
    timing("scroll-frame-median", frameStats.median);
    timing("scroll-frame-p95", frameStats.p95);
    timing("scroll-frame-max", frameStats.max);
    const afterWheel = await scroller.evaluate((element) => element.scrollTop);
    check(afterWheel > 10_000, `wheel scrolling moved the grid only to scrollTop ${afterWheel}`);
    check((await domRows()) < 200, `the DOM holds ${await domRows()} rows after scrolling`);

    // Jumps through the result, each timed from setting scrollTop to the frame after the rows render.
    const steps = await scroller.evaluate(async (element) => {
      const frame = () => new Promise((resolve) => requestAnimationFrame(resolve));
      const times = [];
      for (let step = 1; step <= 10; step++) {
        const target = Math.round(((element.scrollHeight - element.clientHeight) * step) / 10);
        const started = performance.now();
        element.scrollTop = target;
        await frame();
        await frame();
        times.push(performance.now() - started);
      }
      return times;
    });
    const stepStats = stats(steps);
    console.log(`  scroll jumps (ms): ${steps.map((ms) => ms.toFixed(1)).join(" ")}`);
    timing("scroll-jump-median", stepStats.median);
    timing("scroll-jump-max", stepStats.max);
    check(stepStats.median < 250, `a scroll jump takes ${stepStats.median.toFixed(0)} ms at the median (frames: ${steps.map(Math.round).join(", ")})`);

    // At the very bottom the grid's last row (row 100,000 of the result) is rendered and in view.
    const bottom = async () => {
      await scroller.evaluate(async (element) => {
        element.scrollTop = element.scrollHeight;
        await new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
      });
      const lastRow = scroller.locator('[role=row][aria-rowindex="100001"]');
      await lastRow.waitFor({ timeout: 5000 }).catch(() => {
        throw new Error("the grid's last row (aria-rowindex 100001) is not rendered after scrolling to the bottom");
      });
      const seen = await lastRow.evaluate((row) => {
        const grid = row.closest("[role=grid]").getBoundingClientRect();
        const box = row.getBoundingClientRect();
        return { inView: box.top >= grid.top && box.bottom <= grid.bottom + 1, cells: [...row.querySelectorAll("[role=gridcell]")].map((c) => c.textContent) };
      });
      check(seen.inView, "the grid's last row is rendered but not in view at the bottom of the grid");
      return seen.cells;
    };
    let lastCells = await bottom();
    if (lastCells[0] !== "100000") {
      // `range` is a serialized row set in Kusto, so the server should keep its order; say so, and
      // put the rows in order with the grid's own sort, which is what a user would do.
      console.log(`  NOTE: the server returned the range out of order (the last row is i=${lastCells[0]}); sorting by i in the grid`);
      const sortStarted = performance.now();
      await scroller.locator('[role=columnheader][aria-colindex="1"] .vg-head-name').click();
      await until(async () => (await scroller.locator('[role=columnheader][aria-colindex="1"]').getAttribute("aria-sort")) === "ascending", {
        timeout: 10_000,
        message: "the grid to sort by i",
      });
      timing("grid-sort-100k-rows", performance.now() - sortStarted);
      lastCells = await bottom();
    }
    check(
      lastCells[0] === "100000" && lastCells[1] === "row 100000",
      `the last row at the bottom of the grid is ${JSON.stringify(lastCells)}, not ["100000","row 100000"]`,
    );
    const rowsAtEnd = await domRows();
    check(rowsAtEnd < 200, `the DOM holds ${rowsAtEnd} rows at the bottom`);
    console.log(`  ${initialRows} rows in the DOM at the top, ${rowsAtEnd} at the bottom`);
  },
  { requires: [LOGIN] },
);

const REVOKE = "14. settings: an Owner removes a role, disables and deletes an application, and its tokens stop working at once";
test(
  REVOKE,
  async () => {
    const workspaces = await api.get("/api/workspaces");
    const stamp = Date.now().toString(36);
    const name = `console-revoke-${LOCALE}-${stamp}`;
    const app = await api.call("POST", "/api/apps", { body: { name, roles: [{ role: "Reader", scope: `workspace/${workspaces[0].name}` }] } });
    const appApi = new Api(BASE, { tenant_id: app.tenant_id, client_id: app.client_id, client_secret: app.client_secret });
    // The app's own view of itself, with the token it holds (cached by the Api helper).
    const me = () => appApi.request("GET", "/api/workspaces");
    try {
      check((await me()).status === 200, "the new application cannot list its workspaces");
      await page.getByTestId("nav-settings").click();
      const row = page.locator(`[data-testid=app-row][data-client-id="${app.client_id}"]`);
      await row.waitFor({ timeout: 15_000 });
      page.once("dialog", (dialog) => dialog.accept());
      await row.getByTestId("role-remove").click();
      await until(async () => (await row.getByTestId("app-role").count()) === 0, { timeout: 10_000, message: "the role to leave the row" });
      const listed = await me();
      check(listed.status === 200 && Array.isArray(listed.body) && listed.body.length === 0, `without its role the application still sees workspaces: ${JSON.stringify(listed)}`);

      page.once("dialog", (dialog) => dialog.accept());
      await row.getByTestId("app-toggle").click();
      await until(async () => (await row.getAttribute("data-enabled")) === "false", { timeout: 10_000, message: "the row to show the application disabled" });
      const disabled = await me();
      check(disabled.status === 401, `a disabled application's token answers ${disabled.status}, not 401`);

      page.once("dialog", (dialog) => dialog.accept());
      await row.getByTestId("app-delete").click();
      await row.waitFor({ state: "detached", timeout: 10_000 });
      const apps = await api.get("/api/apps");
      check(!apps.some((listedApp) => listedApp.client_id === app.client_id), "the deleted application is still listed by the API");
    } finally {
      await appApi.dispose();
      await api.call("DELETE", `/api/apps/${app.client_id}`).catch(() => undefined);
    }
  },
  { requires: [LOGIN] },
);

let ok = false;
try {
  ok = await suite.run();
  if (consoleErrors.length) console.log(`page errors:\n  ${consoleErrors.join("\n  ")}`);
} finally {
  await context.close().catch(() => undefined);
  await browser.close().catch(() => undefined);
  await api.dispose().catch(() => undefined);
}
process.exit(ok ? 0 : 1);
