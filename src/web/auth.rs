//! Logins: users from the config with argon2 password hashes, sessions held in
//! memory behind an `HttpOnly; SameSite=Strict` cookie. A restart signs
//! everyone out, which is the safe direction.

use super::api::ApiError;
use super::WebState;
use crate::config::service::{Role, WebUser};
use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::SaltString;
use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

pub const COOKIE: &str = "sortwatch_session";

/// An argon2id PHC string for `password` with a fresh random salt.
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters hashes any password")
        .to_string()
}

/// A signed-in user.
#[derive(Clone, Debug, serde::Serialize)]
pub struct User {
    pub user: String,
    pub role: Role,
}

struct Session {
    user: User,
    expires: Instant,
}

pub struct Sessions {
    users: Vec<WebUser>,
    ttl: Duration,
    open: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    pub fn new(users: Vec<WebUser>, ttl: Duration) -> Sessions {
        Sessions {
            users,
            ttl,
            open: Mutex::new(HashMap::new()),
        }
    }

    /// The user if `password` is theirs. Unknown names cost as much as known
    /// ones, so timing does not tell which names exist.
    fn verify(&self, name: &str, password: &str) -> Option<User> {
        static DUMMY: OnceLock<String> = OnceLock::new();
        let found = self.users.iter().find(|u| u.name == name);
        let hash = found.map_or_else(
            || {
                DUMMY
                    .get_or_init(|| hash_password("not a password"))
                    .as_str()
            },
            |u| u.password_hash.as_str(),
        );
        let ok = PasswordHash::new(hash).is_ok_and(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        });
        let u = found.filter(|_| ok)?;
        Some(User {
            user: u.name.clone(),
            role: u.role,
        })
    }

    fn open(&self, user: User) -> String {
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let mut open = self.lock();
        let now = Instant::now();
        open.retain(|_, s| s.expires > now);
        open.insert(
            token.clone(),
            Session {
                user,
                expires: now + self.ttl,
            },
        );
        token
    }

    fn get(&self, token: &str) -> Option<User> {
        let open = self.lock();
        open.get(token)
            .filter(|s| s.expires > Instant::now())
            .map(|s| s.user.clone())
    }

    fn close(&self, token: &str) {
        self.lock().remove(token);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| kv.trim().strip_prefix(COOKIE)?.strip_prefix('='))
}

impl FromRequestParts<Arc<WebState>> for User {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<WebState>,
    ) -> Result<User, ApiError> {
        token(&parts.headers)
            .and_then(|t| state.sessions.get(t))
            .ok_or_else(|| {
                ApiError::new(StatusCode::UNAUTHORIZED, "sign in first (POST /api/login)")
            })
    }
}

/// A signed-in user allowed to give verdicts.
pub struct QaUser(pub User);

impl FromRequestParts<Arc<WebState>> for QaUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<WebState>,
    ) -> Result<QaUser, ApiError> {
        let u = User::from_request_parts(parts, state).await?;
        if u.role != Role::Qa {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!(
                    "user {} is a {:?} and may not give verdicts: ask for a qa account",
                    u.user, u.role
                )
                .to_lowercase(),
            ));
        }
        Ok(QaUser(u))
    }
}

/// A page for signed-in users; others are sent to the login page first.
pub fn page_for_users(
    html: &'static str,
) -> impl Fn(Result<User, ApiError>, Uri) -> std::future::Ready<Response> + Clone {
    move |user, uri| {
        std::future::ready(match user {
            Ok(_) => (
                [
                    (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                    (header::CACHE_CONTROL, "no-store"),
                ],
                html,
            )
                .into_response(),
            Err(_) => Redirect::to(&format!("/login?next={}", uri.path())).into_response(),
        })
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Login {
    user: String,
    password: String,
}

pub async fn login(
    State(state): State<Arc<WebState>>,
    body: Result<Json<Login>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(login) = body?;
    let st = state.clone();
    // Argon2 takes tens of ms of CPU on purpose: off the async workers.
    let user =
        tokio::task::spawn_blocking(move || st.sessions.verify(&login.user, &login.password))
            .await
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let Some(user) = user else {
        // Slows down guessing; the answer does not say which part was wrong.
        tokio::time::sleep(Duration::from_millis(500)).await;
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "wrong user name or password",
        ));
    };
    tracing::info!("web: {} signed in", user.user);
    let token = state.sessions.open(user.clone());
    let cookie = format!(
        "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}",
        state.sessions.ttl.as_secs()
    );
    Ok(([(header::SET_COOKIE, cookie)], Json(user)).into_response())
}

pub async fn logout(State(state): State<Arc<WebState>>, headers: HeaderMap) -> Response {
    if let Some(t) = token(&headers) {
        state.sessions.close(t);
    }
    (
        [(
            header::SET_COOKIE,
            format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
        )],
        StatusCode::NO_CONTENT,
    )
        .into_response()
}

pub async fn me(user: User) -> Json<User> {
    Json(user)
}
