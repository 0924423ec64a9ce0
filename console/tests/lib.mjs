// Shared by the console's browser test and the queue benchmark: the environment, the browser,
// tokens for the REST API, and a tiny sequential test runner with PASS/FAIL lines.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, request } from "playwright-core";

export const consoleDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const repoDir = path.resolve(consoleDir, "..");

export function env(name, fallback) {
  const value = process.env[name] ?? fallback;
  if (value === undefined || value === "") {
    console.error(`${name} is not set`);
    process.exit(2);
  }
  return value;
}

export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-quic",
];

export async function launch() {
  return chromium.launch({ executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium", args: CHROMIUM_ARGS });
}

export async function newContext(browser, locale) {
  return browser.newContext({
    ignoreHTTPSErrors: true,
    viewport: { width: 1440, height: 900 },
    locale: locale === "ja" ? "ja-JP" : "en-US",
    timezoneId: "UTC",
    colorScheme: "light",
  });
}

/** The REST side: client-credentials tokens and JSON calls, as an API client would make them. */
export class Api {
  constructor(baseUrl, credential) {
    this.baseUrl = baseUrl.replace(/\/+$/, "");
    this.credential = credential;
    this.tokens = new Map();
  }

  async http() {
    this.client ??= await request.newContext({ ignoreHTTPSErrors: true });
    return this.client;
  }

  async token(audience) {
    const cached = this.tokens.get(audience);
    if (cached && cached.until > Date.now() + 60_000) return cached.token;
    const http = await this.http();
    const { tenant_id, client_id, client_secret } = this.credential;
    const response = await http.post(`${this.baseUrl}/${tenant_id}/oauth2/v2.0/token`, {
      form: { grant_type: "client_credentials", client_id, client_secret, scope: `${audience}/.default` },
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok() || !body.access_token) {
      throw new Error(`token for ${audience}: HTTP ${response.status()} ${JSON.stringify(body)}`);
    }
    this.tokens.set(audience, { token: body.access_token, until: Date.now() + body.expires_in * 1000 });
    return body.access_token;
  }

  async call(method, pathname, { body, audience = "https://management.azure.com" } = {}) {
    const http = await this.http();
    const token = await this.token(audience);
    const response = await http.fetch(`${this.baseUrl}${pathname}`, {
      method,
      headers: { Authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "Content-Type": "application/json" }) },
      data: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    let json;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = text;
    }
    if (!response.ok()) throw new Error(`${method} ${pathname}: HTTP ${response.status()} ${text.slice(0, 500)}`);
    return json;
  }

  get(pathname) {
    return this.call("GET", pathname);
  }

  /** Like `call`, but answers `{status, body}` whatever the status, for tests of refusals. */
  async request(method, pathname, { body, audience = "https://management.azure.com" } = {}) {
    const http = await this.http();
    const token = await this.token(audience);
    const response = await http.fetch(`${this.baseUrl}${pathname}`, {
      method,
      headers: { Authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "Content-Type": "application/json" }) },
      data: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    let parsed = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      // Not JSON: kept as text.
    }
    return { status: response.status(), body: parsed };
  }

  /** KQL through the query API; the first table's rows as objects. */
  async query(workspace, query, timespan) {
    const result = await this.call("POST", `/v1/workspaces/${encodeURIComponent(workspace)}/query`, {
      body: timespan ? { query, timespan } : { query },
      audience: "https://api.loganalytics.io",
    });
    const table = result.tables?.[0] ?? { columns: [], rows: [] };
    return table.rows.map((row) => Object.fromEntries(table.columns.map((column, i) => [column.name, row[i]])));
  }

  async dispose() {
    await this.client?.dispose();
  }
}

export function readCredential(file) {
  const credential = JSON.parse(fs.readFileSync(file, "utf8"));
  for (const field of ["tenant_id", "client_id", "client_secret"]) {
    if (!credential[field]) throw new Error(`${file} has no ${field}`);
  }
  return credential;
}

export class AssertionError extends Error {}

export function check(condition, message) {
  if (!condition) throw new AssertionError(typeof message === "function" ? message() : message);
}

/** Polls `probe` until it returns a truthy value or `timeout` ms pass; then fails with `message`. */
export async function until(probe, { timeout = 10_000, interval = 250, message = "condition" } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await probe();
      if (last) return last;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      const detail = last instanceof Error ? `: ${last.message}` : last !== undefined ? ` (last: ${JSON.stringify(last)})` : "";
      throw new AssertionError(`timed out after ${timeout} ms waiting for ${typeof message === "function" ? message() : message}${detail}`);
    }
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}

export const timing = (name, ms) => console.log(`TIMING ${name} ${Math.round(ms)}`);

export function stats(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return { count: sorted.length, median: at(0.5), p95: at(0.95), max: sorted[sorted.length - 1], min: sorted[0] };
}

/**
 * Runs tests in order. A test whose prerequisite failed fails too (it is not skipped), so a broken
 * login cannot turn into a green run. Ends with "N passed, N failed" and a non-zero exit on failure.
 */
export function runner({ label, onFailure } = {}) {
  const tests = [];
  const outcomes = new Map();
  return {
    test(name, fn, { requires = [], timeout = 180_000 } = {}) {
      tests.push({ name, fn, requires, timeout });
    },
    async run() {
      let passed = 0;
      let failed = 0;
      for (const { name, fn, requires, timeout } of tests) {
        const started = Date.now();
        const missing = requires.filter((r) => outcomes.get(r) !== true);
        let error = missing.length ? new AssertionError(`not run: prerequisite failed: ${missing.join(", ")}`) : null;
        if (!error) {
          let timer;
          try {
            await Promise.race([
              fn(),
              new Promise((_, reject) => {
                timer = setTimeout(() => reject(new AssertionError(`test timed out after ${timeout} ms`)), timeout);
              }),
            ]);
          } catch (failure) {
            error = failure;
          } finally {
            clearTimeout(timer);
          }
        }
        const seconds = ((Date.now() - started) / 1000).toFixed(1);
        outcomes.set(name, !error);
        if (error) {
          failed++;
          const message = error instanceof AssertionError ? error.message : error?.stack ?? String(error);
          console.log(`FAIL ${label ? `[${label}] ` : ""}${name} (${seconds} s)\n  ${message.replace(/\n/g, "\n  ")}`);
          if (!missing.length) await onFailure?.(name).catch(() => undefined);
        } else {
          passed++;
          console.log(`PASS ${label ? `[${label}] ` : ""}${name} (${seconds} s)`);
        }
      }
      console.log(`${passed} passed, ${failed} failed`);
      return failed === 0;
    },
  };
}
