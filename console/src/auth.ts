/**
 * Sign-in. The console keeps tokens only (in sessionStorage, so they end with the tab), never
 * the client secret: the secret is exchanged for one token per API audience and forgotten.
 */

export type Audience = "management" | "loganalytics";

const SCOPES: Record<Audience, string> = {
  management: "https://management.azure.com/.default",
  loganalytics: "https://api.loganalytics.io/.default",
};

/** Tokens this close to expiry are not used: a long query or a form could outlive them. */
const EXPIRY_MARGIN_MS = 5 * 60 * 1000;
const SESSION_KEY = "vigil.session";
const OIDC_KEY = "vigil.oidc";

interface Token {
  value: string;
  expiresAt: number;
}

interface Session {
  tenant: string;
  clientId: string;
  method: "client" | "oidc";
  tokens: Record<Audience, Token>;
}

export interface OidcConfig {
  authority: string;
  clientId: string;
  scope: string;
}

export interface ConsoleConfig {
  version: string;
  oidc: OidcConfig | null;
}

/** Why there is no usable token; callers send the user to the login page. */
export class SignInRequired extends Error {
  constructor() {
    super("sign-in required");
  }
}

/** A refused sign-in, with the identity provider's own description. */
export class SignInError extends Error {}

function readSession(): Session | null {
  try {
    const text = sessionStorage.getItem(SESSION_KEY);
    return text ? (JSON.parse(text) as Session) : null;
  } catch {
    return null;
  }
}

function usable(session: Session | null, audience: Audience): Token | null {
  const token = session?.tokens[audience];
  return token && token.expiresAt - EXPIRY_MARGIN_MS > Date.now() ? token : null;
}

/** A bearer token for `audience`; throws `SignInRequired` when there is none or it is expiring. */
export function token(audience: Audience): string {
  const found = usable(readSession(), audience);
  if (!found) throw new SignInRequired();
  return found.value;
}

export function isSignedIn(): boolean {
  const session = readSession();
  return usable(session, "management") !== null && usable(session, "loganalytics") !== null;
}

export function signedInAs(): { tenant: string; clientId: string } | null {
  const session = readSession();
  return session && { tenant: session.tenant, clientId: session.clientId };
}

export function signOut() {
  sessionStorage.removeItem(SESSION_KEY);
}

interface TokenResponse {
  access_token?: string;
  expires_in?: number | string;
  error?: string;
  error_description?: string;
}

async function tokenRequest(url: string, form: Record<string, string>): Promise<Token> {
  let response: Response;
  try {
    response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(form),
    });
  } catch (error) {
    throw new SignInError(error instanceof Error ? error.message : String(error));
  }
  const body = (await response.json().catch(() => ({}))) as TokenResponse;
  if (!response.ok || !body.access_token) {
    // Entra ID appends "Trace ID: ..." and "Correlation ID: ..." lines; the first line says why.
    const description = body.error_description?.split(/\r?\n/)[0];
    throw new SignInError(description || body.error || `HTTP ${response.status}`);
  }
  return { value: body.access_token, expiresAt: Date.now() + Number(body.expires_in ?? 3600) * 1000 };
}

function save(session: Session) {
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
}

/** Client-credentials sign-in: one token per audience. */
export async function signIn(tenant: string, clientId: string, secret: string): Promise<void> {
  const url = `/${encodeURIComponent(tenant)}/oauth2/v2.0/token`;
  const request = (audience: Audience) =>
    tokenRequest(url, {
      grant_type: "client_credentials",
      client_id: clientId,
      client_secret: secret,
      scope: SCOPES[audience],
    });
  const [management, loganalytics] = await Promise.all([request("management"), request("loganalytics")]);
  save({ tenant, clientId, method: "client", tokens: { management, loganalytics } });
}

let configRequest: Promise<ConsoleConfig> | null = null;

/** `/api/console/config`, asked once per page load. */
export function consoleConfig(): Promise<ConsoleConfig> {
  configRequest ??= fetch("/api/console/config")
    .then((response) => (response.ok ? (response.json() as Promise<ConsoleConfig>) : Promise.reject()))
    .catch(() => {
      configRequest = null;
      return { version: "", oidc: null };
    });
  return configRequest;
}

interface OidcPending {
  state: string;
  verifier: string;
  tokenEndpoint: string;
  clientId: string;
  next: string;
}

function base64url(bytes: Uint8Array): string {
  let text = "";
  bytes.forEach((byte) => (text += String.fromCharCode(byte)));
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomText(): string {
  return base64url(crypto.getRandomValues(new Uint8Array(32)));
}

const redirectUri = () => `${location.origin}/login/callback`;

async function discover(authority: string): Promise<{ authorization_endpoint: string; token_endpoint: string }> {
  const response = await fetch(`${authority.replace(/\/+$/, "")}/.well-known/openid-configuration`);
  if (!response.ok) throw new SignInError(`${authority}: HTTP ${response.status}`);
  return response.json();
}

/** Authorization code with PKCE: leaves the page for the provider, which returns to /login/callback. */
export async function startOidc(oidc: OidcConfig, next: string): Promise<void> {
  const endpoints = await discover(oidc.authority);
  const verifier = randomText();
  const challenge = base64url(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier))));
  const pending: OidcPending = {
    state: randomText(),
    verifier,
    tokenEndpoint: endpoints.token_endpoint,
    clientId: oidc.clientId,
    next,
  };
  sessionStorage.setItem(OIDC_KEY, JSON.stringify(pending));
  const url = new URL(endpoints.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: "code",
    client_id: oidc.clientId,
    redirect_uri: redirectUri(),
    scope: oidc.scope,
    state: pending.state,
    code_challenge: challenge,
    code_challenge_method: "S256",
  }).toString();
  location.assign(url.toString());
}

/** Finishes the OIDC sign-in from the callback's query; returns where the user was going. */
export async function completeOidc(query: Record<string, string>): Promise<string> {
  const text = sessionStorage.getItem(OIDC_KEY);
  sessionStorage.removeItem(OIDC_KEY);
  if (query.error) throw new SignInError(query.error_description || query.error);
  const pending = text ? (JSON.parse(text) as OidcPending) : null;
  if (!pending || !query.code || query.state !== pending.state) {
    throw new SignInError("The sign-in response does not match a sign-in started here.");
  }
  const access = await tokenRequest(pending.tokenEndpoint, {
    grant_type: "authorization_code",
    code: query.code,
    redirect_uri: redirectUri(),
    client_id: pending.clientId,
    code_verifier: pending.verifier,
  });
  // The provider's token carries both API audiences (see the server's console.oidc setting).
  save({ tenant: "", clientId: pending.clientId, method: "oidc", tokens: { management: access, loganalytics: access } });
  return pending.next;
}
