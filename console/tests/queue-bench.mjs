// The incident queue with 10,000+ incidents: how long the console takes from a click (next page,
// a sort change, a filter change) until the new rows are rendered, against the raw API call for
// the same page. Started by bench/console.sh with VIGIL_URL, VIGIL_CREDENTIAL, VIGIL_STARTED (the
// demo's start, epoch ms) and optionally BENCH_INCIDENTS (10000), BENCH_TARGET_MS (300),
// BENCH_RESULTS (a JSON file to write).
import fs from "node:fs";
import { Api, env, launch, newContext, readCredential, stats, until } from "./lib.mjs";

const BASE = env("VIGIL_URL").replace(/\/+$/, "");
const credential = readCredential(env("VIGIL_CREDENTIAL"));
const started = Number(env("VIGIL_STARTED", String(Date.now())));
const wanted = Number(process.env.BENCH_INCIDENTS ?? 10_000);
const target = Number(process.env.BENCH_TARGET_MS ?? 300);
const api = new Api(BASE, credential);
const results = { wanted, targetMs: target };
const fmt = (ms) => `${ms.toFixed(0)} ms`;

// 1. Until the burst has become incidents.
let count = 0;
await until(
  async () => {
    count = (await api.get("/api/incidents?$count=true&$top=1"))["@odata.count"];
    return count >= wanted;
  },
  { timeout: 30 * 60_000, interval: 1000, message: () => `${wanted} incidents (${count} so far)` },
);
results.incidents = count;
results.secondsToIncidents = (Date.now() - started) / 1000;
console.log(`${count} incidents ${results.secondsToIncidents.toFixed(1)} s after the demo started`);

// 2. The raw API: the same requests the queue makes (50 a page, with the count), timed from Node.
const workspace = (await api.get("/api/workspaces"))[0].id;
const request = (order, skip, extra = "") =>
  `/api/incidents?${new URLSearchParams({
    $filter: `workspaceId eq '${workspace}'${extra}`,
    $orderby: order,
    $top: "50",
    $skip: String(skip),
    $count: "true",
  })}`;
const apiCalls = {
  "next page": Array.from({ length: 10 }, (_, page) => request("lastUpdateTime desc,incidentId desc", (page + 1) * 50)),
  "sort change": [
    request("incidentId asc", 0),
    request("incidentName asc,incidentId asc", 0),
    request("createdTime desc,incidentId desc", 0),
  ],
  "filter change": [
    request("lastUpdateTime desc,incidentId desc", 0, " and assignedTo eq null"),
    request("lastUpdateTime desc,incidentId desc", 0, " and incidentStatus in ('New')"),
    request("lastUpdateTime desc,incidentId desc", 0, " and contains(incidentName, 'set_two_factor')"),
  ],
};
await api.get(apiCalls["next page"][0]); // a warm-up, as the browser's first page is
const apiTimes = {};
for (const [kind, paths] of Object.entries(apiCalls)) {
  apiTimes[kind] = [];
  for (const path of paths) {
    const t0 = performance.now();
    const body = await api.get(path);
    apiTimes[kind].push(performance.now() - t0);
    if (!Array.isArray(body.value)) throw new Error(`${path}: no value array`);
  }
}

// 3. The browser: sign in, open the queue, and time each action from the input event to the
// animation frame after the table's request finished and its rows were rendered.
const browser = await launch();
const context = await newContext(browser, "en");
const page = await context.newPage();
page.setDefaultTimeout(30_000);
await page.goto(`${BASE}/login`);
await page.getByTestId("login-tenant").fill(credential.tenant_id);
await page.getByTestId("login-client-id").fill(credential.client_id);
await page.getByTestId("login-secret").fill(credential.client_secret);
await page.getByTestId("login-submit").click();
await page.waitForURL(/\/incidents/);
const rows = page.getByTestId("incident-row");
await rows.first().waitFor();
await page.waitForFunction(() => document.querySelector("table.incidents-table")?.getAttribute("aria-busy") === "false");

/** Arms the page: the next click or key press starts the clock, the table's next finished load stops it. */
async function arm() {
  await page.evaluate(() => {
    window.__queueRender = new Promise((resolve, reject) => {
      const table = document.querySelector("table.incidents-table");
      let start = null;
      let busy = false;
      const onInput = (event) => {
        if (start === null) start = event.timeStamp;
      };
      document.addEventListener("click", onInput, true);
      document.addEventListener("keydown", onInput, true);
      const done = (value, error) => {
        observer.disconnect();
        clearTimeout(timer);
        document.removeEventListener("click", onInput, true);
        document.removeEventListener("keydown", onInput, true);
        if (error) reject(error);
        else resolve(value);
      };
      const observer = new MutationObserver(() => {
        if (table.getAttribute("aria-busy") === "true") busy = true;
        else if (busy) {
          requestAnimationFrame(() => {
            const shown = [...table.querySelectorAll("tr[data-testid=incident-row]")];
            done({ ms: performance.now() - start, rows: shown.length, first: shown[0]?.dataset.incidentId ?? null });
          });
        }
      });
      observer.observe(table, { attributes: true, attributeFilter: ["aria-busy"] });
      const timer = setTimeout(() => done(null, new Error("the queue did not finish loading within 30 s")), 30_000);
    });
  });
}

async function measure(kind, label, act) {
  await arm();
  await act();
  const outcome = await page.evaluate(() => window.__queueRender);
  if (!outcome.rows) throw new Error(`${label}: no rows rendered`);
  browserTimes[kind].push(outcome.ms);
  console.log(`  ${kind.padEnd(13)} ${label.padEnd(32)} ${fmt(outcome.ms).padStart(7)}  (${outcome.rows} rows, first #${outcome.first})`);
  return outcome;
}

const browserTimes = { "next page": [], "sort change": [], "filter change": [] };
console.log("browser, click → new rows rendered:");
const next = page.getByRole("button", { name: "Next page" });
let first = await rows.first().getAttribute("data-incident-id");
for (let i = 1; i <= 10; i++) {
  const outcome = await measure("next page", `page ${i + 1}`, () => next.click());
  if (outcome.first === first) throw new Error(`page ${i + 1} shows the same first incident as the page before`);
  first = outcome.first;
}
const header = (name) => page.locator("table.incidents-table thead th button", { hasText: new RegExp(`^${name}$`) });
await measure("sort change", "sort by number", () => header("Number").click());
await measure("sort change", "sort by title", () => header("Title").click());
await measure("sort change", "sort by created", () => header("Created").click());
await measure("filter change", "unassigned only", () => page.getByLabel("Unassigned only").check());
await page.locator("summary", { hasText: "Status:" }).click();
await measure("filter change", "status New", () => page.locator("details.menu[open] label", { hasText: /^New$/ }).locator("input").check());
await page.keyboard.press("Escape");
const search = page.getByRole("searchbox", { name: /title or number/i });
await search.fill("set_two_factor");
await measure("filter change", "title contains set_two_factor", () => search.press("Enter"));
await browser.close();
await api.dispose();

// 4. The report.
console.log("");
console.log(`queue with ${count} incidents; target: rows rendered < ${target} ms after the click`);
console.log("action          n   browser median / max     API median / max (50 rows + count)");
const all = [];
results.browser = {};
results.api = {};
for (const kind of Object.keys(browserTimes)) {
  const b = stats(browserTimes[kind]);
  const a = stats(apiTimes[kind]);
  all.push(...browserTimes[kind]);
  results.browser[kind] = { ...b, samples: browserTimes[kind] };
  results.api[kind] = { ...a, samples: apiTimes[kind] };
  console.log(
    `${kind.padEnd(14)} ${String(b.count).padStart(2)}   ${fmt(b.median).padStart(7)} / ${fmt(b.max).padEnd(9)}   ${fmt(a.median).padStart(7)} / ${fmt(a.max)}`,
  );
}
const overall = stats(all);
results.overall = overall;
results.targetMet = overall.max < target;
console.log(`${"all".padEnd(14)} ${String(overall.count).padStart(2)}   ${fmt(overall.median).padStart(7)} / ${fmt(overall.max)}`);
console.log(results.targetMet ? `target met: every action rendered in < ${target} ms` : `target missed: the slowest action took ${fmt(overall.max)} (target < ${target} ms)`);
if (process.env.BENCH_RESULTS) fs.writeFileSync(process.env.BENCH_RESULTS, JSON.stringify(results, null, 2));
