// Real Azure Workbooks from the development set of Sentinel content, imported as a user would
// (POST .../content/import with what the set has for each: its solution folder, or its parser),
// then opened in the console: every tab visited, every visible item left to settle. A red error
// panel anywhere fails; so does a query sent with a `{Parameter}` left in it. KB005 notices (a
// table or function the workspace lacks) must appear exactly for the workbooks whose parser the
// set does not have. A small workbook made here pins down parameter expansion (special
// selections, labels, empty and waiting parameters). One summary line per workbook is printed.
// Environment: VIGIL_URL, VIGIL_CREDENTIAL, VIGIL_SCREENSHOTS, VIGIL_CONFORMANCE_DIR (the folder
// that holds sentinel/). English only.
import fs from "node:fs";
import path from "node:path";
import { Api, check, env, launch, newContext, readCredential, runner, until } from "./lib.mjs";

const BASE = env("VIGIL_URL").replace(/\/+$/, "");
const credential = readCredential(env("VIGIL_CREDENTIAL"));
const SHOTS = env("VIGIL_SCREENSHOTS");
const SENTINEL = path.join(env("VIGIL_CONFORMANCE_DIR"), "sentinel");
fs.mkdirSync(SHOTS, { recursive: true });

/**
 * The functions these workbooks call whose parsers the development set does not hold (its README:
 * "Workbooks call parser functions too (... Zoom, GWorkspaceActivityReports, BitwardenEventLogs,
 * SalesforceServiceCloud); only the first three parsers are in this set"). Their workbooks must
 * say so with a KB005 notice naming the function; no other workbook may show one.
 */
const EXPECTED_MISSING = {
  Solutions__Bitwarden__Workbooks__BitwardenEventLogsAuthentication: "BitwardenEventLogs",
  Solutions__Bitwarden__Workbooks__BitwardenEventLogsOrganization: "BitwardenEventLogs",
  Solutions__GoogleWorkspaceReports__Workbooks__GoogleWorkspace: "GWorkspaceActivityReports",
  "Solutions__Salesforce Service Cloud__Workbooks__SalesforceServiceCloud": "SalesforceServiceCloud",
  Solutions__ZoomReports__Workbooks__ZoomReports: "Zoom",
};

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** A file's text, or null for a binary file (a NUL byte, or bytes that are not UTF-8). */
function textOf(file) {
  const bytes = fs.readFileSync(file);
  if (bytes.includes(0)) return null;
  try {
    return utf8.decode(bytes);
  } catch {
    return null;
  }
}

function filesUnder(dir) {
  const found = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) found.push(...filesUnder(full));
    else found.push(full);
  }
  return found.sort();
}

/**
 * What to import for one workbook: its solution's whole folder when the set has it, else the
 * solution's parsers from parsers/, with the workbook itself. Paths as in Azure-Sentinel.
 */
function importPlan(file) {
  const stem = path.basename(file, ".json");
  const repoPath = stem.split("__").join("/") + ".json";
  const solution = /^Solutions\/([^/]+)\//.exec(repoPath)?.[1];
  const files = [];
  let skipped = 0;
  const add = (relative, full) => {
    const text = textOf(full);
    if (text === null) skipped++;
    else files.push({ path: relative, text });
  };
  const folder = solution && path.join(SENTINEL, "solutions", solution);
  if (folder && fs.existsSync(folder)) {
    for (const full of filesUnder(folder)) add(`Solutions/${solution}/${path.relative(folder, full).split(path.sep).join("/")}`, full);
  } else {
    if (solution) {
      const prefix = `Solutions__${solution}__Parsers__`;
      for (const parser of fs.readdirSync(path.join(SENTINEL, "parsers")).filter((f) => f.startsWith(prefix)).sort()) {
        add(parser.split("__").join("/"), path.join(SENTINEL, "parsers", parser));
      }
    }
    add(repoPath, file);
  }
  // A workbook's name in Vigil is its file's stem.
  return { file, stem, name: path.basename(repoPath, ".json"), repoPath, files, skipped };
}

const PLANS = fs
  .readdirSync(path.join(SENTINEL, "workbooks"))
  .filter((f) => f.endsWith(".json"))
  .sort()
  .map((f) => importPlan(path.join(SENTINEL, "workbooks", f)));
check(PLANS.length === 12, `the development set has ${PLANS.length} workbooks, not 12`);
for (const stem of Object.keys(EXPECTED_MISSING)) {
  check(PLANS.some((plan) => plan.stem === stem), `EXPECTED_MISSING names ${stem}, which the development set does not have`);
}

/** Every parameter name a workbook declares (parameters, tab and link targets), for the placeholder check. */
function declaredNames(notebook) {
  const names = new Set();
  const walk = (items) => {
    for (const item of items ?? []) {
      for (const def of item.content?.parameters ?? []) if (def.name) names.add(def.name);
      for (const link of item.content?.links ?? []) if (link.cellValue && link.linkTarget === "parameter") names.add(link.cellValue);
      walk(item.content?.items);
    }
  };
  walk(notebook.items);
  return names;
}

const api = new Api(BASE, credential);
const browser = await launch();
const context = await newContext(browser, "en");
const page = await context.newPage();
page.setDefaultTimeout(15_000);
const pageErrors = [];
page.on("pageerror", (error) => pageErrors.push(`${page.url()}: ${error.message}`));
/** Every query the console sends, to find `{Param}` placeholders sent unexpanded. */
const sentQueries = [];
page.on("request", (request) => {
  if (request.method() === "POST" && /\/v1\/workspaces\/[^/]+\/query$/.test(new URL(request.url()).pathname)) {
    try {
      sentQueries.push(JSON.parse(request.postData() ?? "{}").query ?? "");
    } catch {
      // Not JSON: not the console's.
    }
  }
});

const suite = runner({
  label: "workbooks",
  onFailure: async (name) => {
    const file = path.join(SHOTS, `en-FAIL-${name.replace(/[^A-Za-z0-9]+/g, "-").slice(0, 60)}.png`);
    await page.screenshot({ path: file }).catch(() => undefined);
    console.log(`  at ${page.url()}; screenshot ${file}`);
  },
});
const test = suite.test;
let workspace;

const LOGIN = "sign in";
test(LOGIN, async () => {
  workspace = (await api.get("/api/workspaces"))[0].id;
  await page.goto(`${BASE}/login`);
  await page.getByTestId("locale-switch").selectOption("en");
  await page.getByTestId("login-tenant").fill(credential.tenant_id);
  await page.getByTestId("login-client-id").fill(credential.client_id);
  await page.getByTestId("login-secret").fill(credential.client_secret);
  await page.getByTestId("login-submit").click();
  await page.waitForURL(/\/incidents(\?|$)/, { timeout: 20_000 });
});

const IMPORT = "import the 12 workbooks with their solutions or parsers through POST .../content/import";
test(
  IMPORT,
  async () => {
    for (const plan of PLANS) {
      const report = await api.call("POST", `/api/workspaces/${workspace}/content/import`, { body: { files: plan.files, strict: false } });
      const lines = report.lines ?? [];
      const count = (status) => lines.filter((line) => line.status === status).length;
      const workbook = lines.find((line) => line.kind?.toLowerCase() === "workbook" && line.name === plan.name);
      check(
        workbook?.status === "installed",
        () => `${plan.repoPath}: the import does not report the workbook ${plan.name} as installed: ${JSON.stringify(workbook ?? lines.filter((l) => /workbook/i.test(l.kind)))}`,
      );
      plan.imported = `${plan.files.length} files${plan.skipped ? ` (+${plan.skipped} binary skipped)` : ""}: ${count("installed")} installed, ${count("skipped")} skipped, ${count("note")} notes`;
      console.log(`  ${plan.stem}: ${plan.imported}`);
    }
    const listed = (await api.get(`/api/workspaces/${workspace}/workbooks`)).map((w) => w.name);
    const absent = PLANS.filter((plan) => !listed.includes(plan.name)).map((plan) => plan.name);
    check(!absent.length, `GET .../workbooks does not list ${absent.join(", ")}`);
  },
  { requires: [LOGIN], timeout: 240_000 },
);

/** Waits until no item or drop-down is loading, three looks in a row (a loaded drop-down starts queries). */
async function settle(what) {
  let quiet = 0;
  await until(
    async () => {
      const busy = await page.locator(".wb-body .wb-loading:visible, .wb-body [data-loading=true]:visible, main .loading:visible").count();
      quiet = busy ? 0 : quiet + 1;
      return quiet >= 3;
    },
    { timeout: 60_000, interval: 250, message: `${what} to settle` },
  );
}

/** The red panels shown: each with its item's title (or name) and message. */
async function errorPanels() {
  return page.locator(".wb-body .wb-error:visible, .wb-body [role=alert]:visible, main > .page > [role=alert]:visible").evaluateAll((panels) =>
    panels.map((panel) => {
      const item = panel.closest(".wb-item");
      const title = panel.closest(".wb-query")?.querySelector(".wb-query-title")?.textContent || item?.dataset.item || "(page)";
      return `"${title}": ${panel.textContent.trim().slice(0, 400)}`;
    }),
  );
}

/** Counts of what the visible query items show, by data-item name (items are counted once across tabs). */
async function itemStates() {
  return page.locator(".wb-body .wb-query:visible").evaluateAll((sections) =>
    sections.map((section) => {
      const item = section.closest(".wb-item")?.dataset.item ?? "";
      const title = section.querySelector(".wb-query-title")?.textContent ?? "";
      const notice = section.querySelector(".wb-notice")?.dataset.notice;
      const state = section.querySelector(".wb-error") ? "error" : notice ? notice : section.querySelector(".wb-unsupported") ? "unsupported" : "ran";
      return { key: `${item}|${title}`, state };
    }),
  );
}

/** Tabs and parameter links: what a user clicks to reach every part of a workbook. */
async function switches() {
  return page.locator(".wb-body [role=tab]:visible, .wb-body .wb-links button.btn-link:visible").evaluateAll((controls) =>
    controls.map((control) => {
      const strip = [...(control.closest("[role=tablist], .wb-links")?.querySelectorAll("[role=tab], button.btn-link") ?? [])]
        .map((c) => c.textContent.trim())
        .join("|");
      return `${strip} » ${control.textContent.trim()}`;
    }),
  );
}

const summaries = [];
for (const plan of PLANS) {
  test(
    `${plan.stem}: every tab renders without an error panel`,
    async () => {
      const notebook = JSON.parse(fs.readFileSync(plan.file, "utf8"));
      const declared = declaredNames(notebook);
      sentQueries.length = 0;
      await page.goto(`${BASE}/workbooks/${encodeURIComponent(plan.name)}`);
      await page.locator(".wb-body").waitFor({ timeout: 20_000 });
      const visited = new Set();
      const states = new Map();
      const missing = new Set();
      const errors = [];
      let views = 0;
      for (;;) {
        const where = views === 0 ? "as opened" : `after ${[...visited].at(-1)}`;
        await settle(`${plan.stem} ${where}`);
        views++;
        for (const error of await errorPanels()) errors.push(`${where}: ${error}`);
        for (const { key, state } of await itemStates()) if (!states.has(key) || states.get(key) !== "error") states.set(key, state);
        for (const name of await page.locator(".wb-body [data-notice=missing] [data-missing]:visible").evaluateAll((all) => all.map((n) => n.dataset.missing))) {
          missing.add(name);
        }
        if (views === 1) await page.screenshot({ path: path.join(SHOTS, `en-workbook-${plan.name.replace(/[^A-Za-z0-9]+/g, "-")}.png`) });
        const next = (await switches()).find((key) => !visited.has(key));
        if (!next || views > 40) break;
        visited.add(next);
        const label = next.split(" » ").at(-1);
        const strip = next.split(" » ")[0];
        const control = page
          .locator(".wb-body [role=tab]:visible, .wb-body .wb-links button.btn-link:visible")
          .filter({ hasText: label });
        // Several strips may share a label: click the one in the strip this key came from.
        const index = await control.evaluateAll(
          (all, wanted) =>
            all.findIndex(
              (c) =>
                [...(c.closest("[role=tablist], .wb-links")?.querySelectorAll("[role=tab], button.btn-link") ?? [])]
                  .map((x) => x.textContent.trim())
                  .join("|") === wanted.strip && c.textContent.trim() === wanted.label,
            ),
          { strip, label },
        );
        check(index >= 0, `${plan.stem}: cannot find the control "${label}" again`);
        await control.nth(index).click();
      }

      const placeholders = [];
      for (const query of sentQueries) {
        for (const [whole, name] of query.matchAll(/\{(\w+)(?::\w+)?\}/g)) if (declared.has(name)) placeholders.push(whole);
      }
      const counts = {};
      for (const state of states.values()) counts[state] = (counts[state] ?? 0) + 1;
      const expected = EXPECTED_MISSING[plan.stem];
      const line =
        `${plan.stem}: ${views} view(s)${visited.size ? ` (${[...visited].map((k) => k.split(" » ").at(-1)).join(", ")})` : ""}; ` +
        `${states.size} queries: ${Object.entries(counts).map(([state, n]) => `${n} ${state}`).join(", ") || "none"}; ` +
        `${sentQueries.length} sent; missing: ${[...missing].join(", ") || "none"}; errors: ${errors.length}`;
      summaries.push(line);
      console.log(`  ${line}`);
      check(!errors.length, `${plan.stem} shows error panels:\n${errors.join("\n")}`);
      check(!placeholders.length, `${plan.stem} sent queries with parameters left unexpanded: ${[...new Set(placeholders)].join(", ")}`);
      if (expected) {
        check(missing.has(expected), `${plan.stem} shows no KB005 notice naming ${expected} (notices: ${[...missing].join(", ") || "none"})`);
        const others = [...missing].filter((name) => name !== expected);
        check(!others.length, `${plan.stem}: KB005 notices name ${others.join(", ")}, expected only ${expected}`);
      } else {
        check(!missing.size, `${plan.stem} has what it needs in the development set, yet shows KB005 notices for ${[...missing].join(", ")}`);
      }
    },
    { requires: [IMPORT], timeout: 240_000 },
  );
}

/**
 * A workbook made here to pin down how parameters expand, as Azure Workbooks documents them:
 * drop-down special selections (`value::all` with and without a select-all value, `value::1`,
 * `value::2`), `{P:label}`, an optional text parameter left empty (expands to nothing), a required
 * one left empty (the item waits), and a drop-down with nothing selected (the item waits).
 */
const PARAMETER_WORKBOOK = {
  version: "Notebook/1.0",
  items: [
    {
      type: 9,
      name: "parameters",
      content: {
        version: "KqlParameterItem/1.0",
        parameters: [
          { name: "AllStar", type: 2, multiSelect: true, quote: "'", delimiter: ",", value: ["value::all"], jsonData: '["a","b","c"]', typeSettings: { additionalResourceOptions: ["value::all"], selectAllValue: "*" } },
          { name: "AllItems", type: 2, multiSelect: true, quote: "'", delimiter: ",", value: ["value::all"], jsonData: '["a","b","c"]', typeSettings: { additionalResourceOptions: ["value::all"] } },
          { name: "FirstTwo", type: 2, multiSelect: true, quote: "'", delimiter: ",", value: ["value::2"], jsonData: '["x","y","z"]', typeSettings: { additionalResourceOptions: ["value::2"] } },
          { name: "FirstOne", type: 2, value: "value::1", query: "datatable(v:string)['q1','q2'] | project value = v, label = strcat('label-', v)", queryType: 0, typeSettings: { additionalResourceOptions: ["value::1"] } },
          { name: "OptionalText", type: 1 },
          { name: "RequiredText", type: 1, isRequired: true, value: "" },
          { name: "NothingChosen", type: 2, jsonData: '["p","q"]' },
        ],
      },
    },
    {
      type: 3,
      name: "expansions",
      content: {
        version: "KqlItem/1.0",
        title: "Expansions",
        query:
          "print star = strcat_array(dynamic([{AllStar}]), '+'), starLabel = '{AllStar:label}', all = strcat_array(dynamic([{AllItems}]), '+'), " +
          "allLabel = '{AllItems:label}', two = strcat_array(dynamic([{FirstTwo}]), '+'), one = '{FirstOne}', oneLabel = '{FirstOne:label}', optional = '{OptionalText}'",
        queryType: 0,
        visualization: "table",
      },
    },
    { type: 3, name: "needs-required", content: { version: "KqlItem/1.0", title: "Needs RequiredText", query: "print r = '{RequiredText}'", queryType: 0 } },
    { type: 3, name: "needs-choice", content: { version: "KqlItem/1.0", title: "Needs NothingChosen", query: "print n = '{NothingChosen}'", queryType: 0 } },
    { type: 3, name: "resource-graph", content: { version: "KqlItem/1.0", title: "Resource Graph", query: "resources | take 1", queryType: 1 } },
  ],
};

test(
  "parameters expand as Azure Workbooks documents: special selections, labels, empty and waiting",
  async () => {
    await api.call("PUT", `/api/workspaces/${workspace}/workbooks/console-parameter-check`, { body: PARAMETER_WORKBOOK });
    sentQueries.length = 0;
    await page.goto(`${BASE}/workbooks/console-parameter-check`);
    const item = (name) => page.locator(`.wb-item[data-item="${name}"]`);
    const table = item("expansions").getByTestId("results-grid");
    await table.locator("[role=gridcell]").first().waitFor({ timeout: 20_000 }).catch(async () => {
      throw new Error(`the expansions item shows no result: ${await item("expansions").innerText()}`);
    });
    await settle("the parameter workbook");
    const columns = await table.locator("[role=columnheader] .vg-head-name").allTextContents();
    const cells = await table.locator("[role=row][aria-rowindex='2'] [role=gridcell]").allTextContents();
    const row = Object.fromEntries(columns.map((name, i) => [name.trim(), cells[i]]));
    const expected = { star: "*", starLabel: "All", all: "a+b+c", allLabel: "All", two: "x+y", one: "q1", oneLabel: "label-q1", optional: "" };
    const wrong = Object.entries(expected).filter(([name, value]) => row[name] !== value);
    check(!wrong.length, `expansions differ: ${wrong.map(([name, value]) => `${name} is ${JSON.stringify(row[name])}, expected ${JSON.stringify(value)}`).join("; ")}`);
    for (const name of ["needs-required", "needs-choice"]) {
      const notice = item(name).locator(".wb-notice[data-notice=waiting]");
      check((await notice.count()) === 1, `${name} does not wait for its parameter: ${await item(name).innerText()}`);
    }
    check(/RequiredText/.test(await item("needs-required").innerText()), "the waiting notice does not name RequiredText");
    const source = item("resource-graph").locator(".wb-notice[data-notice=source]");
    check(/Azure Resource Graph/.test((await source.innerText().catch(() => "")) ?? ""), `the Resource Graph item does not say what it needs: ${await item("resource-graph").innerText()}`);
    const sentWaiting = sentQueries.filter((q) => /print (r|n) = /.test(q));
    check(!sentWaiting.length, `queries were sent for items that wait: ${JSON.stringify(sentWaiting)}`);
    check(!(await errorPanels()).length, `error panels: ${(await errorPanels()).join(" | ")}`);

    // Choosing an item of the drop-down the second item waits for lets it run.
    await page.locator(".wb-param", { hasText: "NothingChosen" }).locator("select").selectOption("q");
    await until(async () => (await item("needs-choice").getByTestId("results-grid").locator("[role=gridcell]").allTextContents()).includes("q"), {
      timeout: 15_000,
      message: async () => `the item to run with NothingChosen = q (${await item("needs-choice").innerText()})`,
    });
    console.log(`  expansions: ${JSON.stringify(row)}`);
  },
  { requires: [LOGIN] },
);

test(
  "no script error in any workbook page",
  async () => check(!pageErrors.length, `page errors:\n  ${pageErrors.join("\n  ")}`),
  { requires: [LOGIN] },
);

let ok = false;
try {
  ok = await suite.run();
  console.log(`workbook summary:\n  ${summaries.join("\n  ")}`);
} finally {
  await context.close().catch(() => undefined);
  await browser.close().catch(() => undefined);
  await api.dispose().catch(() => undefined);
}
process.exit(ok ? 0 : 1);
