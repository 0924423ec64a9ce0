//! Access tokens: Vigil's own ES256 JWTs, issued to applications by the client-credentials
//! grant, and the validation of every bearer token the APIs receive (Vigil's own, or an
//! external OpenID Connect issuer's that a tenant trusts).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};
use vigil_control::{Control, ExternalIssuer, PrincipalId, SigningKey};

/// How long an issued token lives, as Entra ID's `expires_in` says.
pub const TOKEN_LIFETIME_SECONDS: i64 = 3599;

/// Audiences of the APIs, as Azure names their resources.
pub const INGESTION_AUDIENCE: &str = "https://monitor.azure.com";
pub const LOG_ANALYTICS_AUDIENCE: &str = "https://api.loganalytics.io";
pub const DEFENDER_AUDIENCES: [&str; 2] =
    ["https://api.security.microsoft.com", "https://api.securitycenter.microsoft.com"];
pub const MANAGEMENT_AUDIENCE: &str = "https://management.azure.com";

/// The claims of a token Vigil issues; those of Entra ID's v2 app-only tokens.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub aud: String,
    pub iss: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub sub: String,
    pub oid: String,
    pub tid: String,
    pub appid: String,
    pub azp: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    pub ver: String,
}

/// Who a validated token speaks for.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    pub tenant_id: String,
    /// What role assignments name: (issuer, subject).
    pub id: PrincipalId,
    /// What history records as the actor: an application's client id, a person's sign-in
    /// name (`upn`, `preferred_username`, `email`), else the subject. Never used to authorise.
    pub name: String,
    /// The token's `iat`, checked against the principal's revocation.
    pub issued_at: Option<i64>,
}

/// Why a bearer token was refused; all of them are 401s, and the message says which check
/// failed without echoing the token.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenRejection(pub String);

/// Signs and validates tokens. Keys come from the control database so that every server
/// process of a data dir signs with the same key and validates the others' tokens.
pub struct TokenService {
    kid: String,
    encoding: EncodingKey,
    /// Vigil's public key as a JWK (`kty`, `crv`, `x`, `y`, `kid`, `use`, `alg`).
    public_jwk: Json,
    decoding: DecodingKey,
    external: Mutex<HashMap<String, CachedJwks>>,
    /// Where issuers' keys may be fetched from: an Owner names the URL.
    outbound: vigil_outbound::OutboundPolicy,
}

struct CachedJwks {
    keys: JwkSet,
    fetched: Instant,
}

/// Keys of an external issuer are refetched after this long, or sooner when a token names an
/// unknown key (rotation), but not more often than `JWKS_MIN_REFRESH`.
const JWKS_TTL: Duration = Duration::from_secs(600);
const JWKS_MIN_REFRESH: Duration = Duration::from_secs(30);
const JWKS_FETCH_TIMEOUT: Duration = Duration::from_secs(10);

impl TokenService {
    /// Loads the newest signing key, creating one on first use.
    pub async fn load(control: &Control, outbound: vigil_outbound::OutboundPolicy) -> Result<TokenService, String> {
        let key = match control.signing_keys().await.map_err(|e| e.to_string())?.into_iter().next() {
            Some(key) => key,
            None => {
                let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|e| e.to_string())?;
                let key = SigningKey { kid: uuid::Uuid::new_v4().simple().to_string(), pkcs8: pair.serialize_der() };
                control.add_signing_key(&key).await.map_err(|e| e.to_string())?;
                key
            }
        };
        let pair = rcgen::KeyPair::try_from(key.pkcs8.as_slice()).map_err(|e| format!("signing key: {e}"))?;
        // An uncompressed P-256 point: 0x04, then x and y of 32 bytes each.
        let point = pair.public_key_raw();
        if point.len() != 65 || point[0] != 4 {
            return Err("signing key: not an uncompressed P-256 public key".into());
        }
        let x = URL_SAFE_NO_PAD.encode(&point[1..33]);
        let y = URL_SAFE_NO_PAD.encode(&point[33..]);
        let decoding = DecodingKey::from_ec_components(&x, &y).map_err(|e| format!("signing key: {e}"))?;
        let public_jwk =
            json!({"kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": key.kid, "use": "sig", "alg": "ES256"});
        Ok(TokenService {
            kid: key.kid,
            encoding: EncodingKey::from_ec_der(&key.pkcs8),
            public_jwk,
            decoding,
            external: Mutex::new(HashMap::new()),
            outbound,
        })
    }

    pub fn jwks(&self) -> Json {
        json!({"keys": [self.public_jwk]})
    }

    /// Issues an app-only token for `audience` to a client of a tenant, valid from `not_before`
    /// when the client's earlier tokens were revoked within this second.
    pub fn issue(
        &self,
        issuer: &str,
        tenant_id: &str,
        client_id: &str,
        audience: &str,
        roles: Vec<String>,
        not_before: Option<i64>,
    ) -> String {
        let now = chrono::Utc::now().timestamp().max(not_before.unwrap_or(i64::MIN));
        let claims = Claims {
            aud: audience.to_string(),
            iss: issuer.to_string(),
            iat: now,
            nbf: now,
            exp: now + TOKEN_LIFETIME_SECONDS,
            sub: client_id.to_string(),
            oid: client_id.to_string(),
            tid: tenant_id.to_string(),
            appid: client_id.to_string(),
            azp: client_id.to_string(),
            roles,
            ver: "2.0".to_string(),
        };
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        // Encoding with a key we loaded ourselves cannot fail but for a bug; an empty token is
        // then refused by every API rather than crashing the token endpoint.
        jsonwebtoken::encode(&header, &claims, &self.encoding).unwrap_or_default()
    }

    /// Validates a bearer token: signature, expiry (and not-before), issuer and audience. The
    /// issuer must be Vigil's for the token's tenant at one of `origins`, or an external
    /// issuer a tenant trusts.
    pub async fn validate(
        &self,
        token: &str,
        origin: &str,
        audiences: &[String],
        external: &[ExternalIssuer],
    ) -> Result<Principal, TokenRejection> {
        let reject = |m: &str| TokenRejection(m.to_string());
        let header = jsonwebtoken::decode_header(token).map_err(|_| reject("the bearer token is not a JWT"))?;
        let unverified = unverified_claims(token).ok_or_else(|| reject("the bearer token is not a JWT"))?;
        let issuer = unverified.get("iss").and_then(Json::as_str).unwrap_or_default().to_string();
        let mut trusting = external.iter().filter(|e| e.issuer == issuer);
        if let Some(trusted) = trusting.next() {
            if trusting.next().is_some() {
                // Refused rather than placed in one of them: `add_external_issuer` prevents
                // this, but a data dir from before it may hold it.
                return Err(reject("the token's issuer is trusted by more than one tenant; an Owner must choose one"));
            }
            return self.validate_external(token, &header, trusted, audiences).await;
        }
        if header.alg != Algorithm::ES256 || header.kid.as_deref() != Some(self.kid.as_str()) {
            return Err(reject("the bearer token is not signed by a key of this server"));
        }
        let claimed_tenant = unverified.get("tid").and_then(Json::as_str).unwrap_or_default();
        let issuers = [issuer_url(origin, claimed_tenant)];
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_audience(audiences);
        validation.set_issuer(&issuers);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud"]);
        validation.validate_nbf = true;
        validation.leeway = 60;
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation).map_err(rejection)?.claims;
        Ok(Principal {
            tenant_id: claims.tid,
            id: PrincipalId::app(&claims.appid),
            name: claims.appid,
            issued_at: Some(claims.iat),
        })
    }

    async fn validate_external(
        &self,
        token: &str,
        header: &Header,
        trusted: &ExternalIssuer,
        audiences: &[String],
    ) -> Result<Principal, TokenRejection> {
        let jwk = self.external_key(trusted, header.kid.as_deref()).await?;
        let key =
            DecodingKey::from_jwk(&jwk).map_err(|e| TokenRejection(format!("the issuer's key is unusable: {e}")))?;
        let mut validation = Validation::new(header.alg);
        if !matches!(
            header.alg,
            Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::ES256
                | Algorithm::ES384
                | Algorithm::PS256
        ) {
            return Err(TokenRejection(format!("tokens signed with {:?} are not accepted", header.alg)));
        }
        validation.set_audience(audiences);
        validation.set_issuer(&[trusted.issuer.as_str()]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.leeway = 60;
        let data = jsonwebtoken::decode::<Json>(token, &key, &validation).map_err(rejection)?;
        let claims = data.claims;
        if let Some(tid) = claims.get("tid").and_then(Json::as_str)
            && tid != trusted.tenant_id
            && !tid.is_empty()
        {
            // An Entra ID token names its directory; it must be the one the tenant trusts.
            let issuer_tenant = trusted.issuer.split('/').any(|part| part == tid);
            if !issuer_tenant {
                return Err(TokenRejection("the token's tenant is not the one its issuer is trusted for".into()));
            }
        }
        let claim = |names: &[&str]| {
            names.iter().find_map(|name| claims.get(*name).and_then(Json::as_str).filter(|v| !v.is_empty()))
        };
        // The object id is the principal across all of an issuer's applications (Entra ID's
        // `sub` differs per application); `appid`/`azp` name the client the token was obtained
        // through, never who it speaks for.
        let subject =
            claim(&["oid", "sub"]).ok_or_else(|| TokenRejection("the token names no subject (oid or sub)".into()))?;
        let name = claim(&["upn", "preferred_username", "email", "unique_name", "appid", "azp"]).unwrap_or(subject);
        Ok(Principal {
            tenant_id: trusted.tenant_id.clone(),
            id: PrincipalId::external(&trusted.issuer, subject),
            name: name.to_string(),
            issued_at: claims.get("iat").and_then(Json::as_i64),
        })
    }

    async fn external_key(&self, issuer: &ExternalIssuer, kid: Option<&str>) -> Result<Jwk, TokenRejection> {
        let find = |set: &JwkSet| match kid {
            Some(kid) => set.find(kid).cloned(),
            None if set.keys.len() == 1 => set.keys.first().cloned(),
            None => None,
        };
        let cached = {
            let cache = self.external.lock().unwrap_or_else(|p| p.into_inner());
            cache.get(&issuer.jwks_uri).map(|c| (find(&c.keys), c.fetched.elapsed()))
        };
        match cached {
            Some((Some(key), age)) if age < JWKS_TTL => return Ok(key),
            Some((None, age)) if age < JWKS_MIN_REFRESH => {
                return Err(TokenRejection("the token's signing key is not among its issuer's keys".into()));
            }
            _ => {}
        }
        let unfetched = |e: String| TokenRejection(format!("the issuer's keys could not be fetched: {e}"));
        let url = reqwest::Url::parse(&issuer.jwks_uri).map_err(|e| unfetched(e.to_string()))?;
        let http = vigil_outbound::http_client(&self.outbound, &url, JWKS_FETCH_TIMEOUT).await.map_err(unfetched)?;
        let keys: JwkSet = http
            .get(url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| unfetched(e.to_string()))?
            .json()
            .await
            .map_err(|e| TokenRejection(format!("the issuer's keys are not a JWK set: {e}")))?;
        let found = find(&keys);
        self.external
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(issuer.jwks_uri.clone(), CachedJwks { keys, fetched: Instant::now() });
        found.ok_or_else(|| TokenRejection("the token's signing key is not among its issuer's keys".into()))
    }
}

/// Vigil's issuer for a tenant at an origin, shaped as Entra ID's v2 issuer.
pub fn issuer_url(origin: &str, tenant_id: &str) -> String {
    format!("{}/{tenant_id}/v2.0", origin.trim_end_matches('/'))
}

fn unverified_claims(token: &str) -> Option<Json> {
    let payload = token.split('.').nth(1)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
}

fn rejection(error: jsonwebtoken::errors::Error) -> TokenRejection {
    use jsonwebtoken::errors::ErrorKind;
    TokenRejection(
        match error.kind() {
            ErrorKind::ExpiredSignature => "the bearer token has expired",
            ErrorKind::ImmatureSignature => "the bearer token is not valid yet",
            ErrorKind::InvalidAudience => "the bearer token is not meant for this API (wrong audience)",
            ErrorKind::InvalidIssuer => "the bearer token's issuer is not trusted",
            ErrorKind::InvalidSignature => "the bearer token's signature is invalid",
            ErrorKind::MissingRequiredClaim(_) => "the bearer token lacks a required claim",
            _ => "the bearer token is invalid",
        }
        .to_string(),
    )
}
