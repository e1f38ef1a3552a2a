//! Access with a login required (`--open-on-loopback false`, the policy of a LAN bind): the
//! setup link, sign-in and sign-out, sessions, back-off, and every route family refused
//! without a session.
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test states what it expects by failing loudly
#![allow(clippy::too_many_lines)] // a test is one scenario, read top to bottom

mod common;

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode, header};
use axum::response::Response;
use common::TestApp;
use corral::server::access::AccessSettings;
use corral::server::models::model_roots::ModelRoots;
use http_body_util::BodyExt;
use serde_json::{Value, json};

const PASSWORD: &str = "a long enough secret";

struct Sent {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

impl Sent {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// The session token a `Set-Cookie` carries.
    fn session(&self) -> Option<String> {
        let cookie = self.headers.get(header::SET_COOKIE)?.to_str().ok()?;
        let value = cookie.strip_prefix("corral_session=")?.split(';').next()?;
        (!value.is_empty()).then(|| value.to_string())
    }
}

async fn read(response: Response) -> Sent {
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    Sent {
        status: parts.status,
        headers: parts.headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

impl TestApp {
    /// A request from `client`, with the session cookie when given.
    async fn ask(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        session: Option<&str>,
        client: &str,
    ) -> Sent {
        let cookie = session.map(|token| ("cookie", format!("corral_session={token}")));
        self.exchange(method, path, cookie.into_iter().collect(), body, client)
            .await
    }

    /// Any request: its extra headers, JSON body and client address.
    async fn exchange(
        &self,
        method: Method,
        path: &str,
        headers: Vec<(&'static str, String)>,
        body: Option<Value>,
        client: &str,
    ) -> Sent {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, self.host());
        for (name, value) in headers {
            request = request.header(name, value);
        }
        if body.is_some() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        let mut request = request
            .body(Body::from(body.map(|b| b.to_string()).unwrap_or_default()))
            .unwrap();
        let address: SocketAddr = format!("{client}:40000").parse().unwrap();
        request.extensions_mut().insert(ConnectInfo(address));
        read(
            tower::ServiceExt::oneshot(self.router.clone(), request)
                .await
                .unwrap(),
        )
        .await
    }

    async fn set_up_admin(&self) -> String {
        let token = self
            .setup_token
            .clone()
            .expect("a fresh app has a setup token");
        let reply = self
            .ask(
                Method::POST,
                "/api/auth/setup",
                Some(json!({"token": token, "username": "admin", "password": PASSWORD})),
                None,
                "127.0.0.1",
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply.session().expect("the setup signs the admin in")
    }

    async fn login(&self, password: &str, client: &str) -> Sent {
        self.ask(
            Method::POST,
            "/api/auth/login",
            Some(json!({"username": "admin", "password": password})),
            None,
            client,
        )
        .await
    }
}

#[tokio::test]
async fn before_an_admin_exists_only_the_setup_and_health_answer() {
    let app = TestApp::with_login().await;
    let health = app
        .ask(Method::GET, "/api/health", None, None, "127.0.0.1")
        .await;
    assert_eq!(health.status, StatusCode::OK);
    let list = app
        .ask(
            Method::POST,
            "/api/models/list",
            Some(json!({})),
            None,
            "127.0.0.1",
        )
        .await;
    assert_eq!(
        list.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        list.body
    );
    assert!(list.body.contains("setup link"), "{}", list.body);
    let page = app.ask(Method::GET, "/", None, None, "127.0.0.1").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.headers[header::LOCATION], "/setup");
}

#[tokio::test]
async fn the_setup_link_works_once_and_sets_a_strict_http_only_cookie() {
    let app = TestApp::with_login().await;
    let wrong = app
        .ask(
            Method::POST,
            "/api/auth/setup",
            Some(json!({"token": "guess", "username": "admin", "password": PASSWORD})),
            None,
            "127.0.0.1",
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{}", wrong.body);
    let weak = app
        .ask(
            Method::POST,
            "/api/auth/setup",
            Some(
                json!({"token": app.setup_token.clone().unwrap(), "username": "admin",
                        "password": "short"}),
            ),
            None,
            "127.0.0.1",
        )
        .await;
    assert_eq!(weak.status, StatusCode::BAD_REQUEST, "{}", weak.body);
    assert_eq!(weak.json()["errors"][0]["field"], "password");

    let token = app.setup_token.clone().unwrap();
    let reply = app
        .ask(
            Method::POST,
            "/api/auth/setup",
            Some(json!({"token": token, "username": "admin", "password": PASSWORD})),
            None,
            "127.0.0.1",
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let cookie = reply.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(
        !cookie.contains("Secure"),
        "plain-HTTP LAN logins must work: {cookie}"
    );
    let again = app
        .ask(
            Method::POST,
            "/api/auth/setup",
            Some(json!({"token": token, "username": "other", "password": PASSWORD})),
            None,
            "127.0.0.1",
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
}

#[tokio::test]
async fn every_route_family_needs_a_session_and_works_with_one() {
    let app = TestApp::with_login().await;
    let session = app.set_up_admin().await;
    let cases = [
        (Method::GET, "/", None),
        (Method::GET, "/activity", None),
        (Method::POST, "/api/models/list", Some(json!({}))),
        (Method::GET, "/api/ws/status", None),
        (Method::GET, "/metrics", None),
        (Method::GET, "/v1/models", None),
        (Method::GET, "/models", None),
        (
            Method::POST,
            "/v1/chat/completions",
            Some(json!({"model": "none", "messages": []})),
        ),
    ];
    for (method, path, body) in cases {
        let refused = app
            .ask(method.clone(), path, body.clone(), None, "127.0.0.1")
            .await;
        if method == Method::GET
            && !path.starts_with("/api")
            && !path.starts_with("/v1")
            && path != "/metrics"
            && path != "/models"
        {
            assert_eq!(refused.status, StatusCode::SEE_OTHER, "{path}");
            assert_eq!(
                refused.headers[header::LOCATION],
                format!("/login?next={path}"),
                "{path}"
            );
        } else {
            assert_eq!(
                refused.status,
                StatusCode::UNAUTHORIZED,
                "{path}: {}",
                refused.body
            );
            assert!(
                refused.headers.contains_key(header::WWW_AUTHENTICATE),
                "{path}"
            );
        }
        if path.starts_with("/v1") || path == "/models" {
            assert_eq!(refused.json()["error"]["code"], "unauthorized", "{path}");
            // An API client is told to send a key and where keys are made, not to sign in.
            let message = refused.json()["error"]["message"].to_string();
            assert!(
                message.contains("Authorization: Bearer") && message.contains("/keys"),
                "{path}: {message}"
            );
        }
        let allowed = app
            .ask(method, path, body, Some(&session), "127.0.0.1")
            .await;
        assert!(
            allowed.status == StatusCode::OK || path == "/v1/chat/completions",
            "{path} with a session: {} {}",
            allowed.status,
            allowed.body
        );
    }
    // The gateway itself answered (no such model), past the guard.
    let gateway = app
        .ask(
            Method::POST,
            "/v1/chat/completions",
            Some(json!({"model": "none", "messages": []})),
            Some(&session),
            "127.0.0.1",
        )
        .await;
    assert_eq!(gateway.status, StatusCode::NOT_FOUND);
    let socket = app.ask(Method::GET, "/ws", None, None, "127.0.0.1").await;
    assert_eq!(socket.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_page_written_in_a_roundabout_way_is_refused_without_a_session_and_shows_nothing() {
    let app = TestApp::with_login().await;
    let session = app.set_up_admin().await;
    let model = app
        .ask(
            Method::POST,
            "/api/models/create",
            Some(json!({"model": {"name": "secret-model-name", "path": "/tmp/secret-folder/m.gguf"}})),
            Some(&session),
            "127.0.0.1",
        )
        .await;
    assert_eq!(model.status, StatusCode::OK, "{}", model.body);
    let id = model.json()["id"].as_i64().unwrap();
    let pages = [
        format!("/pkg/../models/{id}"),
        format!("/pkg/x/../../models/{id}"),
        format!("/pkg/./../models/{id}"),
        format!("/pkg/%2e%2e/models/{id}"),
        format!("/pkg/%2E%2E/models/{id}"),
        format!("/pkg%2f..%2fmodels/{id}"),
        format!("/pkg/%5c..%5cmodels/{id}"),
        format!("//models/{id}"),
        format!("/models/{id}/"),
        format!("/models/{id};x"),
        "/pkg/../".to_string(),
        "/pkg/..".to_string(),
        "/favicon.svg/../".to_string(),
        "/login/../settings".to_string(),
        "/setup/..%2fkeys".to_string(),
    ];
    for path in &pages {
        let refused = app.ask(Method::GET, path, None, None, "127.0.0.1").await;
        assert_eq!(
            refused.status,
            StatusCode::SEE_OTHER,
            "{path}: {}",
            refused.body
        );
        assert!(
            refused.headers[header::LOCATION]
                .to_str()
                .unwrap()
                .starts_with("/login"),
            "{path}"
        );
        assert!(!refused.body.contains("secret"), "{path}: {}", refused.body);
        // Signed in, the roundabout spelling is still not served: it is named back plainly.
        let signed_in = app
            .ask(Method::GET, path, None, Some(&session), "127.0.0.1")
            .await;
        assert_eq!(signed_in.status, StatusCode::BAD_REQUEST, "{path}");
        assert!(signed_in.body.contains("plainly"), "{}", signed_in.body);
    }
    for path in [
        "/pkg/../api/models/list",
        "/pkg/%2e%2e/api/models/list",
        "/api/auth/login/../../api/models/list",
        "/api//models/list",
        "/api/models/list;x",
    ] {
        let refused = app
            .ask(Method::POST, path, Some(json!({})), None, "127.0.0.1")
            .await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{path}");
        assert!(!refused.body.contains("secret"), "{path}: {}", refused.body);
    }
    // A key is checked against what the path names, not what it starts with.
    let key = app
        .make_key(&session, json!({"name": "chat", "scopes": ["inference"]}))
        .await
        .json()["key"]
        .as_str()
        .unwrap()
        .to_string();
    let smuggled = app
        .exchange(
            Method::POST,
            "/v1/../api/models/list",
            vec![("authorization", format!("Bearer {key}"))],
            Some(json!({})),
            "127.0.0.1",
        )
        .await;
    assert_eq!(smuggled.status, StatusCode::FORBIDDEN, "{}", smuggled.body);
}

#[tokio::test]
async fn site_files_are_served_by_exact_name_and_unknown_paths_render_only_for_the_signed_in() {
    let app = TestApp::with_login().await;
    let session = app.set_up_admin().await;
    let pkg = app.dir.path().join("pkg");
    std::fs::create_dir_all(pkg.join("snippets")).unwrap();
    std::fs::write(pkg.join("corral.js"), "// the bundle").unwrap();
    std::fs::write(app.dir.path().join("favicon.svg"), "<svg/>").unwrap();
    std::fs::write(app.dir.path().join("corral.db.txt"), "not a site file").unwrap();
    let bundle = app
        .ask(Method::GET, "/pkg/corral.js", None, None, "127.0.0.1")
        .await;
    assert_eq!(bundle.status, StatusCode::OK);
    assert_eq!(bundle.body, "// the bundle");
    let icon = app
        .ask(Method::GET, "/favicon.svg", None, None, "127.0.0.1")
        .await;
    assert_eq!(
        (icon.status, icon.body.as_str()),
        (StatusCode::OK, "<svg/>")
    );
    for path in ["/pkg/missing.js", "/pkg/snippets", "/pkg/snippets/"] {
        let missing = app.ask(Method::GET, path, None, None, "127.0.0.1").await;
        assert!(
            missing.status == StatusCode::NOT_FOUND || missing.status == StatusCode::SEE_OTHER,
            "{path}: {}",
            missing.status
        );
        assert!(!missing.body.contains("<html"), "{path} rendered the app");
    }
    // Other files of the site's folder are not files of the site.
    let other = app
        .ask(
            Method::GET,
            "/corral.db.txt",
            None,
            Some(&session),
            "127.0.0.1",
        )
        .await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
    assert!(!other.body.contains("not a site file"));
    let unknown = app
        .ask(Method::GET, "/no-such-page", None, None, "127.0.0.1")
        .await;
    assert_eq!(unknown.status, StatusCode::SEE_OTHER);
    let rendered = app
        .ask(
            Method::GET,
            "/no-such-page",
            None,
            Some(&session),
            "127.0.0.1",
        )
        .await;
    assert_eq!(rendered.status, StatusCode::NOT_FOUND);
    assert!(rendered.body.contains("<html"), "{}", rendered.body);
}

#[tokio::test]
async fn a_sign_in_gets_a_new_session_and_sign_outs_end_them() {
    let app = TestApp::with_login().await;
    let first = app.set_up_admin().await;
    let wrong = app.login("not the password", "127.0.0.1").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.session(), None);
    let second = app.login(PASSWORD, "127.0.0.1").await.session().unwrap();
    assert_ne!(first, second, "a new id on every sign-in");
    let list = |token: String| {
        let app = &app;
        async move {
            app.ask(
                Method::POST,
                "/api/models/list",
                Some(json!({})),
                Some(&token),
                "127.0.0.1",
            )
            .await
            .status
        }
    };
    assert_eq!(list(first.clone()).await, StatusCode::OK);

    let out = app
        .ask(
            Method::POST,
            "/api/auth/logout",
            None,
            Some(&first),
            "127.0.0.1",
        )
        .await;
    assert_eq!(out.status, StatusCode::OK);
    assert!(
        out.headers[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    assert_eq!(list(first).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        list(second.clone()).await,
        StatusCode::OK,
        "other sessions live on"
    );

    let third = app.login(PASSWORD, "127.0.0.1").await.session().unwrap();
    let everywhere = app
        .ask(
            Method::POST,
            "/api/auth/logout_everywhere",
            None,
            Some(&third),
            "127.0.0.1",
        )
        .await;
    assert_eq!(everywhere.status, StatusCode::OK, "{}", everywhere.body);
    assert_eq!(everywhere.json()["sessions_ended"], 2);
    assert_eq!(list(second).await, StatusCode::UNAUTHORIZED);
    assert_eq!(list(third).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn fifty_wrong_passwords_slow_that_address_only() {
    let app = TestApp::with_login().await;
    app.set_up_admin().await;
    let mut statuses = Vec::new();
    for _ in 0..50 {
        statuses.push(app.login("wrong password", "10.1.1.66").await.status);
    }
    assert_eq!(statuses[0], StatusCode::UNAUTHORIZED);
    assert_eq!(statuses[49], StatusCode::TOO_MANY_REQUESTS);
    let delayed = app.login(PASSWORD, "10.1.1.66").await;
    assert_eq!(
        delayed.status,
        StatusCode::TOO_MANY_REQUESTS,
        "even the right one waits"
    );
    assert!(delayed.headers.contains_key(header::RETRY_AFTER));
    let started = std::time::Instant::now();
    let other = app.login(PASSWORD, "10.1.1.7").await;
    assert_eq!(other.status, StatusCode::OK, "{}", other.body);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "at once"
    );
}

#[tokio::test]
async fn a_password_reset_ends_the_old_sessions_and_the_new_password_works() {
    let app = TestApp::with_login().await;
    let session = app.set_up_admin().await;
    corral::server::access::reset_password(&app.db, "admin".into(), "a brand new secret".into())
        .await
        .unwrap();
    let list = app
        .ask(
            Method::POST,
            "/api/models/list",
            Some(json!({})),
            Some(&session),
            "127.0.0.1",
        )
        .await;
    assert_eq!(list.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.login(PASSWORD, "127.0.0.1").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login("a brand new secret", "127.0.0.1").await.status,
        StatusCode::OK
    );
    let unknown =
        corral::server::access::reset_password(&app.db, "nobody".into(), "whatever123".into())
            .await;
    assert!(matches!(
        unknown,
        Err(corral::domain::AppError::NotFound { .. })
    ));
}

#[tokio::test]
async fn on_loopback_by_default_nothing_asks_for_a_login() {
    let app = TestApp::new().await;
    let list = app
        .ask(
            Method::POST,
            "/api/models/list",
            Some(json!({})),
            None,
            "127.0.0.1",
        )
        .await;
    assert_eq!(list.status, StatusCode::OK);
    let me = app
        .ask(Method::GET, "/api/auth/me", None, None, "127.0.0.1")
        .await;
    assert_eq!(
        me.json(),
        json!({"login_required": false, "admin_exists": false, "signed_in": false})
    );
}

impl TestApp {
    /// A request carrying an API key the way `how` says (bearer, x-api-key, basic).
    async fn with_key(
        &self,
        how: &str,
        key: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Sent {
        use base64::Engine;
        let (name, value) = match how {
            "bearer" => ("authorization", format!("Bearer {key}")),
            "x-api-key" => ("x-api-key", key.to_string()),
            _ => (
                "authorization",
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(format!("any:{key}"))
                ),
            ),
        };
        self.exchange(method, path, vec![(name, value)], body, "127.0.0.1")
            .await
    }

    async fn make_key(&self, session: &str, body: Value) -> Sent {
        self.ask(
            Method::POST,
            "/api/keys/create",
            Some(body),
            Some(session),
            "127.0.0.1",
        )
        .await
    }
}

#[tokio::test]
async fn each_key_scope_allows_exactly_what_it_names() {
    let app = TestApp::with_login().await;
    let session = app.set_up_admin().await;
    let path = common::tiny_model(app.dir.path());
    let mut ids = Vec::new();
    for name in ["allowed", "other"] {
        let made = app
            .ask(
                Method::POST,
                "/api/models/create",
                Some(json!({"model": {"name": name, "path": path}})),
                Some(&session),
                "127.0.0.1",
            )
            .await;
        assert_eq!(made.status, StatusCode::OK, "{}", made.body);
        ids.push(made.json()["id"].as_i64().unwrap());
    }
    let allowed = ids[0];
    let mut keys = std::collections::HashMap::new();
    for (scope, models) in [
        ("inference", Some(json!(["allowed"]))),
        ("models:read", None),
        ("models:manage", None),
        ("admin", None),
    ] {
        let mut body = json!({"name": format!("{scope} key"), "scopes": [scope]});
        if let Some(models) = models {
            body["models"] = models;
        }
        let made = app.make_key(&session, body).await;
        assert_eq!(made.status, StatusCode::OK, "{}", made.body);
        let key = made.json()["key"].as_str().unwrap().to_string();
        assert!(key.starts_with("crl_"));
        assert_eq!(made.json()["listed"]["prefix"], key[..12]);
        keys.insert(scope, key);
    }
    let list = json!({});
    let stop = json!({"id": allowed});
    // (scope, method, path, body, expected status)
    let cases = [
        ("inference", Method::GET, "/v1/models", None, StatusCode::OK),
        (
            "inference",
            Method::POST,
            "/api/models/list",
            Some(list.clone()),
            StatusCode::FORBIDDEN,
        ),
        (
            "models:read",
            Method::POST,
            "/api/models/list",
            Some(list.clone()),
            StatusCode::OK,
        ),
        ("models:read", Method::GET, "/metrics", None, StatusCode::OK),
        (
            "models:read",
            Method::POST,
            "/api/models/stop",
            Some(stop.clone()),
            StatusCode::FORBIDDEN,
        ),
        (
            "models:read",
            Method::GET,
            "/v1/models",
            None,
            StatusCode::FORBIDDEN,
        ),
        (
            "models:manage",
            Method::POST,
            "/api/models/stop",
            Some(stop.clone()),
            StatusCode::OK,
        ),
        (
            "models:manage",
            Method::POST,
            "/api/keys/list",
            Some(list.clone()),
            StatusCode::FORBIDDEN,
        ),
        (
            "admin",
            Method::POST,
            "/api/keys/list",
            Some(list.clone()),
            StatusCode::OK,
        ),
        (
            "admin",
            Method::POST,
            "/api/models/list",
            Some(list.clone()),
            StatusCode::OK,
        ),
        ("admin", Method::GET, "/v1/models", None, StatusCode::OK),
    ];
    for (scope, method, path, body, expected) in cases {
        for how in ["bearer", "x-api-key", "basic"] {
            let reply = app
                .with_key(how, &keys[scope], method.clone(), path, body.clone())
                .await;
            assert_eq!(
                reply.status, expected,
                "{scope} {how} {path}: {}",
                reply.body
            );
        }
    }
    // An inference key sees and uses only its models.
    let listed = app
        .with_key(
            "bearer",
            &keys["inference"],
            Method::GET,
            "/v1/models",
            None,
        )
        .await;
    let listed = listed.json();
    let names: Vec<&str> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["allowed"]);
    let other = app
        .with_key(
            "bearer",
            &keys["inference"],
            Method::POST,
            "/v1/chat/completions",
            Some(json!({"model": "other", "messages": []})),
        )
        .await;
    assert_eq!(other.status, StatusCode::FORBIDDEN, "{}", other.body);
    assert_eq!(other.json()["error"]["code"], "model_not_allowed");
    assert_eq!(other.json()["error"]["type"], "permission_error");
    // Keys are listed by prefix only.
    let listed = app
        .ask(
            Method::POST,
            "/api/keys/list",
            Some(json!({})),
            Some(&session),
            "127.0.0.1",
        )
        .await;
    for key in keys.values() {
        assert!(
            !listed.body.contains(key.as_str()),
            "a key is shown once only"
        );
    }
}

#[tokio::test]
async fn a_revoked_or_expired_key_is_refused_with_401() {
    let app = TestApp::with_login().await;
    let session = app.set_up_admin().await;
    let made = app
        .make_key(
            &session,
            json!({"name": "short-lived", "scopes": ["models:read"]}),
        )
        .await;
    let (key, id) = (
        made.json()["key"].as_str().unwrap().to_string(),
        made.json()["listed"]["id"].as_i64().unwrap(),
    );
    let list = || {
        app.with_key(
            "bearer",
            &key,
            Method::POST,
            "/api/models/list",
            Some(json!({})),
        )
    };
    assert_eq!(list().await.status, StatusCode::OK);
    let revoked = app
        .ask(
            Method::POST,
            "/api/keys/revoke",
            Some(json!({"id": id})),
            Some(&session),
            "127.0.0.1",
        )
        .await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.body);
    let refused = list().await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert!(refused.headers.contains_key(header::WWW_AUTHENTICATE));
    let again = app
        .ask(
            Method::POST,
            "/api/keys/revoke",
            Some(json!({"id": id})),
            Some(&session),
            "127.0.0.1",
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);

    let soon = corral::server::now_ms() + 800;
    let made = app
        .make_key(
            &session,
            json!({"name": "expiring", "scopes": ["admin"], "expires": soon}),
        )
        .await;
    let key = made.json()["key"].as_str().unwrap().to_string();
    let call = || {
        app.with_key(
            "x-api-key",
            &key,
            Method::POST,
            "/api/keys/list",
            Some(json!({})),
        )
    };
    assert_eq!(call().await.status, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    assert_eq!(call().await.status, StatusCode::UNAUTHORIZED);
    let wrong = app
        .with_key("bearer", "crl_not-a-key", Method::GET, "/v1/models", None)
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.json()["error"]["code"], "unauthorized");
    assert_eq!(wrong.json()["error"]["type"], "authentication_error");
}

#[tokio::test]
async fn a_bad_key_request_names_the_field_and_makes_nothing() {
    let app = TestApp::with_login().await;
    let session = app.set_up_admin().await;
    for (body, field) in [
        (json!({"name": "x", "scopes": []}), "scopes"),
        (json!({"name": "", "scopes": ["admin"]}), "name"),
        (
            json!({"name": "x", "scopes": ["inference"], "models": ["nope"]}),
            "models[0]",
        ),
        (
            json!({"name": "x", "scopes": ["admin"], "expires": 1000}),
            "expires",
        ),
    ] {
        let reply = app.make_key(&session, body).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
        assert_eq!(reply.json()["errors"][0]["field"], field);
    }
    let unknown_scope = app
        .make_key(&session, json!({"name": "x", "scopes": ["root"]}))
        .await;
    assert_eq!(
        unknown_scope.status,
        StatusCode::BAD_REQUEST,
        "{}",
        unknown_scope.body
    );
    let listed = app
        .ask(
            Method::POST,
            "/api/keys/list",
            Some(json!({})),
            Some(&session),
            "127.0.0.1",
        )
        .await;
    assert_eq!(listed.json(), json!([]));
}

#[tokio::test]
async fn each_gateway_request_records_the_key_or_session_that_made_it() {
    let app = TestApp::with_login().await;
    let session = app.set_up_admin().await;
    let made = app
        .make_key(&session, json!({"name": "script", "scopes": ["inference"]}))
        .await;
    let key = made.json()["key"].as_str().unwrap().to_string();
    let prefix = made.json()["listed"]["prefix"]
        .as_str()
        .unwrap()
        .to_string();
    let chat = json!({"model": "nope", "messages": []});
    let by_key = app
        .with_key(
            "bearer",
            &key,
            Method::POST,
            "/v1/chat/completions",
            Some(chat.clone()),
        )
        .await;
    assert_eq!(by_key.status, StatusCode::NOT_FOUND);
    let by_session = app
        .ask(
            Method::POST,
            "/v1/chat/completions",
            Some(chat),
            Some(&session),
            "127.0.0.1",
        )
        .await;
    assert_eq!(by_session.status, StatusCode::NOT_FOUND);
    let listed = |caller: String| {
        let body = json!({"query": {"caller": caller}});
        let session = session.clone();
        let app = &app;
        async move {
            for _ in 0..100 {
                let reply = app
                    .ask(
                        Method::POST,
                        "/api/activity/list",
                        Some(body.clone()),
                        Some(&session),
                        "127.0.0.1",
                    )
                    .await;
                let records = reply.json().as_array().cloned().unwrap_or_default();
                if !records.is_empty() {
                    return records;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            panic!("no activity from {caller}");
        }
    };
    let from_key = listed(prefix.clone()).await;
    assert_eq!(from_key.len(), 1);
    assert_eq!(from_key[0]["caller"], prefix);
    let from_session = listed("session".into()).await;
    assert_eq!(from_session.len(), 1);
    let metrics = app
        .ask(Method::GET, "/metrics", None, Some(&session), "127.0.0.1")
        .await;
    assert!(
        metrics
            .body
            .contains(&format!("code=\"404\",key=\"{prefix}\"}} 1")),
        "{}",
        metrics.body
    );
    assert!(
        !metrics.body.contains(&key),
        "the key itself is never shown"
    );
}

#[tokio::test]
async fn on_an_open_loopback_a_listed_site_still_needs_a_real_key_and_scripts_do_not() {
    let app = TestApp::with_options(common::Options {
        gateway: corral::server::gateway::own_state::GatewaySettings {
            cors: corral::server::http::cors::CorsOrigins::parse(&[
                "https://chat.example.com".to_string()
            ])
            .unwrap(),
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let site = ("origin", "https://chat.example.com".to_string());
    let bearer = |key: &str| ("authorization", format!("Bearer {key}"));
    for (method, path, body) in [
        (
            Method::POST,
            "/models/unload",
            Some(json!({"model": "tiny"})),
        ),
        (Method::POST, "/models/load", Some(json!({"model": "tiny"}))),
        (
            Method::POST,
            "/v1/chat/completions",
            Some(json!({"model": "tiny", "messages": []})),
        ),
        (
            Method::POST,
            "/upstream/tiny/lora-adapters",
            Some(json!([])),
        ),
        (Method::GET, "/models", None),
        (Method::GET, "/v1/models", None),
    ] {
        // Without a key the Origin rule refuses a change (403) and the guard a read (401).
        let bare = app
            .exchange(
                method.clone(),
                path,
                vec![site.clone()],
                body.clone(),
                "127.0.0.1",
            )
            .await;
        assert!(
            [StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN].contains(&bare.status),
            "{method} {path}: {}",
            bare.body
        );
        let made_up = app
            .exchange(
                method.clone(),
                path,
                vec![site.clone(), bearer("not-a-key")],
                body.clone(),
                "127.0.0.1",
            )
            .await;
        assert_eq!(
            made_up.status,
            StatusCode::UNAUTHORIZED,
            "{method} {path}: {}",
            made_up.body
        );
    }
    // A real key of the right scope works from the listed site, with CORS headers.
    let made = app
        .ask(
            Method::POST,
            "/api/keys/create",
            Some(json!({"name": "chat ui", "scopes": ["inference"]})),
            None,
            "127.0.0.1",
        )
        .await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.body);
    let key = made.json()["key"].as_str().unwrap().to_string();
    let listed = app
        .exchange(
            Method::GET,
            "/v1/models",
            vec![site.clone(), bearer(&key)],
            None,
            "127.0.0.1",
        )
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    assert_eq!(
        listed.headers["access-control-allow-origin"],
        "https://chat.example.com"
    );
    let unload = app
        .exchange(
            Method::POST,
            "/models/unload",
            vec![site.clone(), bearer(&key)],
            Some(json!({"model": "tiny"})),
            "127.0.0.1",
        )
        .await;
    assert_eq!(unload.status, StatusCode::FORBIDDEN, "{}", unload.body);
    // A script on this machine (no Origin) needs nothing, as before.
    let script = app
        .exchange(Method::GET, "/v1/models", vec![], None, "127.0.0.1")
        .await;
    assert_eq!(script.status, StatusCode::OK);
}

#[tokio::test]
async fn a_listed_site_may_call_the_gateway_with_a_key_and_cookies_stay_same_site() {
    let app = TestApp::with_login_and_cors(&["https://chat.example.com"]).await;
    let session = app.set_up_admin().await;
    let made = app
        .make_key(
            &session,
            json!({"name": "chat ui", "scopes": ["inference"]}),
        )
        .await;
    let key = made.json()["key"].as_str().unwrap().to_string();
    let send = |origin: &'static str,
                method: Method,
                path: &'static str,
                mut extra: Vec<(&'static str, String)>,
                body: Option<Value>| {
        extra.push(("origin", origin.to_string()));
        app.exchange(method, path, extra, body, "127.0.0.1")
    };
    // The preflight a browser sends first.
    let preflight = send(
        "https://chat.example.com",
        Method::OPTIONS,
        "/v1/chat/completions",
        vec![
            ("access-control-request-method", "POST".into()),
            (
                "access-control-request-headers",
                "authorization, content-type".into(),
            ),
        ],
        None,
    )
    .await;
    assert_eq!(preflight.status, StatusCode::NO_CONTENT);
    assert_eq!(
        preflight.headers["access-control-allow-origin"],
        "https://chat.example.com"
    );
    assert!(
        preflight.headers["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("authorization")
    );
    let foreign = send(
        "https://evil.example",
        Method::OPTIONS,
        "/v1/chat/completions",
        vec![("access-control-request-method", "POST".into())],
        None,
    )
    .await;
    assert_eq!(foreign.status, StatusCode::FORBIDDEN);
    assert!(!foreign.headers.contains_key("access-control-allow-origin"));

    // The call itself, with the key: past the Origin rule, answered with CORS headers.
    let chat = json!({"model": "nope", "messages": []});
    let called = send(
        "https://chat.example.com",
        Method::POST,
        "/v1/chat/completions",
        vec![("authorization", format!("Bearer {key}"))],
        Some(chat.clone()),
    )
    .await;
    assert_eq!(
        called.status,
        StatusCode::NOT_FOUND,
        "the gateway answered: {}",
        called.body
    );
    assert_eq!(
        called.headers["access-control-allow-origin"],
        "https://chat.example.com"
    );

    // A cookie call from another site is still refused by the Origin rule.
    let forged = send(
        "https://chat.example.com",
        Method::POST,
        "/v1/chat/completions",
        vec![("cookie", format!("corral_session={session}"))],
        Some(chat),
    )
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "{}", forged.body);
}

#[tokio::test]
async fn a_file_outside_the_model_roots_is_refused_naming_the_setting_and_changes_nothing() {
    let roots = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let inside = common::tiny_model(roots.path());
    let secret = common::tiny_model(outside.path());
    // A link inside the roots that leads out of them, and one that stays within.
    let escaping = roots.path().join("escape.gguf");
    std::os::unix::fs::symlink(&secret, &escaping).unwrap();
    let staying = roots.path().join("stay.gguf");
    std::os::unix::fs::symlink(&inside, &staying).unwrap();
    let app = TestApp::with_options(common::Options {
        model_roots: ModelRoots::new(&[roots.path().to_path_buf()]).unwrap(),
        settings: common::supervisor_settings(),
        ..common::Options::default()
    })
    .await;
    for path in [secret.clone(), escaping.to_string_lossy().into_owned()] {
        let reply = app
            .post(
                "/api/models/create",
                json!({"model": {"name": "m", "path": path}}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
        assert_eq!(reply.field_rules(), [("path".into(), "model_roots".into())]);
    }
    let made = app
        .post(
            "/api/models/create",
            json!({"model": {"name": "m", "path": staying.to_string_lossy()}}),
        )
        .await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.body);
    let id = made.json()["id"].as_i64().unwrap();
    let listed = app.post("/api/models/list", json!({})).await.json();
    assert_eq!(
        listed.as_array().unwrap().len(),
        1,
        "a refusal made nothing"
    );

    // Every other setting that names a file, and a path edit.
    for (group, config, field) in [
        (
            "lora",
            json!({"lora": [{"path": secret}]}),
            "lora.lora[0].path",
        ),
        (
            "lora",
            json!({"control_vectors": [{"path": secret}]}),
            "lora.control_vectors[0].path",
        ),
        ("lora", json!({"draft_model": escaping}), "lora.draft_model"),
        ("multimodal", json!({"mmproj": secret}), "multimodal.mmproj"),
    ] {
        let reply = app
            .post(
                "/api/models/config/save",
                json!({"id": id, "group": group, "config": config}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
        assert_eq!(reply.field_rules(), [(field.into(), "model_roots".into())]);
        let stored = app
            .post("/api/models/config/load", json!({"id": id, "group": group}))
            .await
            .json();
        assert!(!stored.to_string().contains(&secret), "{stored}");
    }
    let edit = app
        .post(
            "/api/models/update",
            json!({"id": id, "changes": {"path": secret}}),
        )
        .await;
    assert_eq!(edit.field_rules(), [("path".into(), "model_roots".into())]);

    // A link re-pointed out of the roots after it was saved: the start refuses before reading.
    std::fs::remove_file(&staying).unwrap();
    std::os::unix::fs::symlink(&secret, &staying).unwrap();
    let start = app.post("/api/models/start", json!({"id": id})).await;
    assert_eq!(start.status, StatusCode::BAD_REQUEST, "{}", start.body);
    assert_eq!(start.field_rules(), [("path".into(), "model_roots".into())]);
    let model = app.post("/api/models/get", json!({"id": id})).await.json();
    assert_eq!(model["status"], "stopped", "{model}");
}

#[tokio::test]
async fn a_key_with_its_most_gateway_requests_in_flight_gets_429_until_one_ends() {
    let app = TestApp::with_options(common::Options {
        access: AccessSettings {
            max_requests_per_key: 2,
            ..common::Options::login().access
        },
        ..common::Options::default()
    })
    .await;
    let session = app.set_up_admin().await;
    let made = app
        .make_key(&session, json!({"name": "busy", "scopes": ["inference"]}))
        .await;
    let key = made.json()["key"].as_str().unwrap().to_string();
    let other = app
        .make_key(&session, json!({"name": "calm", "scopes": ["inference"]}))
        .await
        .json()["key"]
        .as_str()
        .unwrap()
        .to_string();
    // Two requests whose bodies are still arriving hold both places at once.
    let mut held = Vec::new();
    for _ in 0..2 {
        let (sender, body) =
            tokio::sync::mpsc::channel::<Result<axum::body::Bytes, std::io::Error>>(1);
        let body = Body::from_stream(tokio_stream_of(body));
        let request = Request::post("/v1/chat/completions")
            .header(header::HOST, app.host())
            .header("authorization", format!("Bearer {key}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(body)
            .unwrap();
        let router = app.router.clone();
        held.push((
            sender,
            tokio::spawn(tower::ServiceExt::oneshot(router, request)),
        ));
    }
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let chat = json!({"model": "none", "messages": []});
    let bearer = |key: &str| vec![("authorization", format!("Bearer {key}"))];
    let third = app
        .exchange(
            Method::POST,
            "/v1/chat/completions",
            bearer(&key),
            Some(chat.clone()),
            "127.0.0.1",
        )
        .await;
    assert_eq!(
        third.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        third.body
    );
    assert_eq!(third.headers["retry-after"], "1");
    assert_eq!(third.json()["error"]["type"], "rate_limit_error");
    let prefix = &key[..12];
    // Another key is not held back by this one.
    let calm = app
        .exchange(
            Method::POST,
            "/v1/chat/completions",
            bearer(&other),
            Some(chat.clone()),
            "127.0.0.1",
        )
        .await;
    assert_eq!(calm.status, StatusCode::NOT_FOUND, "{}", calm.body);
    // Holding the place does not hide the answer's size (it would turn chunked).
    assert!(
        calm.headers.contains_key(header::CONTENT_LENGTH),
        "{:?}",
        calm.headers
    );
    // The first request ends (its client goes away): its place is free again.
    let (sender, task) = held.remove(0);
    drop(sender);
    let _ = task.await;
    let again = app
        .exchange(
            Method::POST,
            "/v1/chat/completions",
            bearer(&key),
            Some(chat),
            "127.0.0.1",
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND, "{}", again.body);
    // The refusal is in the activity, with the key that was refused.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let listed = app
            .ask(
                Method::POST,
                "/api/activity/list",
                Some(json!({})),
                Some(&session),
                "127.0.0.1",
            )
            .await
            .json();
        let refused = listed
            .as_array()
            .into_iter()
            .flatten()
            .find(|record| record["status"] == 429 && record["caller"] == prefix);
        if let Some(record) = refused {
            assert_eq!(record["endpoint"], "/v1/chat/completions", "{record}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no refusal recorded: {listed}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// A body that yields what the channel sends, and ends when the sender is dropped.
fn tokio_stream_of(
    mut receiver: tokio::sync::mpsc::Receiver<Result<axum::body::Bytes, std::io::Error>>,
) -> impl futures::Stream<Item = Result<axum::body::Bytes, std::io::Error>> {
    futures::stream::poll_fn(move |cx| receiver.poll_recv(cx))
}

#[tokio::test]
async fn model_events_follow_the_keys_model_list_and_take_no_place_of_a_tab() {
    use corral::domain::StatusEvent;
    let app = TestApp::with_login().await;
    let session = app.set_up_admin().await;
    let mut ids = Vec::new();
    for name in ["tiny", "other"] {
        let made = app
            .ask(
                Method::POST,
                "/api/models/create",
                Some(json!({"model": {"name": name, "path": format!("/m/{name}.gguf")}})),
                Some(&session),
                "127.0.0.1",
            )
            .await;
        ids.push(made.json()["id"].as_i64().unwrap());
    }
    let key = app
        .make_key(
            &session,
            json!({"name": "one model", "scopes": ["inference"], "models": ["tiny"]}),
        )
        .await
        .json()["key"]
        .as_str()
        .unwrap()
        .to_string();
    let tabs = app.hub.clients();
    let request = Request::get("/models/sse")
        .header(header::HOST, app.host())
        .header(header::AUTHORIZATION, format!("Bearer {key}"))
        .body(Body::empty())
        .unwrap();
    let response = tower::ServiceExt::oneshot(app.router.clone(), request)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(app.hub.clients(), tabs, "an event stream is not a tab");
    let mut body = response.into_body();
    // `other` changes first, then `tiny`: only `tiny` may be heard.
    for id in [ids[1], ids[0]] {
        app.transition(id, StatusEvent::Spawned, None)
            .await
            .unwrap();
    }
    let mut heard = String::new();
    while !heard.contains("\"tiny\"") {
        let frame = tokio::time::timeout(std::time::Duration::from_secs(5), body.frame())
            .await
            .expect("an event within 5 s")
            .unwrap()
            .unwrap();
        if let Some(data) = frame.data_ref() {
            heard.push_str(&String::from_utf8_lossy(data));
        }
    }
    assert!(!heard.contains("other"), "{heard}");
    // One key holds a few streams at most; another key still gets one.
    let open = |key: String| {
        let request = Request::get("/models/sse")
            .header(header::HOST, app.host())
            .header(header::AUTHORIZATION, format!("Bearer {key}"))
            .body(Body::empty())
            .unwrap();
        tower::ServiceExt::oneshot(app.router.clone(), request)
    };
    let mut held = vec![body];
    for _ in 1..8 {
        let response = open(key.clone()).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        held.push(response.into_body());
    }
    let ninth = open(key.clone()).await.unwrap();
    assert_eq!(ninth.status(), StatusCode::TOO_MANY_REQUESTS);
    let other_key = app
        .make_key(
            &session,
            json!({"name": "another", "scopes": ["inference"]}),
        )
        .await
        .json()["key"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(open(other_key).await.unwrap().status(), StatusCode::OK);
    drop(held);
}

#[tokio::test]
async fn an_inference_key_reaches_only_a_models_inference_and_read_endpoints_and_never_its_path() {
    let app = TestApp::with_options(common::Options {
        settings: common::supervisor_settings(),
        ..common::Options::login()
    })
    .await;
    let session = app.set_up_admin().await;
    let model_path = common::tiny_model(app.dir.path());
    let made = app
        .ask(
            Method::POST,
            "/api/models/create",
            Some(json!({"model": {"name": "tiny", "path": model_path, "threads": 1, "ctx_size": 256}})),
            Some(&session),
            "127.0.0.1",
        )
        .await;
    let id = made.json()["id"].as_i64().unwrap();
    let key_of = |scopes: Value| {
        let body = json!({"name": "k", "scopes": scopes});
        let session = session.clone();
        let app = &app;
        async move {
            app.make_key(&session, body).await.json()["key"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    let inference = key_of(json!(["inference"])).await;
    let manage = key_of(json!(["inference", "models:manage"])).await;
    app.supervisor.start_model(id).await.unwrap();
    app.wait_status(
        id,
        corral::domain::ModelStatus::Running,
        std::time::Duration::from_secs(30),
    )
    .await;
    for (method, path, body) in [
        (
            Method::POST,
            "/upstream/tiny/lora-adapters",
            Some(json!([])),
        ),
        (
            Method::GET,
            "/upstream/tiny/v1/stream?conv_id=conv-123",
            None,
        ),
        (
            Method::POST,
            "/upstream/tiny/slots/0?action=erase",
            Some(json!({})),
        ),
        (Method::GET, "/upstream/tiny/v1/models", None),
    ] {
        let refused = app
            .with_key("bearer", &inference, method.clone(), path, body.clone())
            .await;
        assert_eq!(
            refused.status,
            StatusCode::FORBIDDEN,
            "{method} {path}: {}",
            refused.body
        );
        assert!(refused.body.contains("models:manage"), "{}", refused.body);
    }
    let changed = app
        .with_key(
            "bearer",
            &manage,
            Method::POST,
            "/upstream/tiny/lora-adapters",
            Some(json!([])),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    for (method, path, body) in [
        (Method::GET, "/upstream/tiny/health", None),
        (Method::GET, "/upstream/tiny/slots", None),
        (
            Method::POST,
            "/upstream/tiny/completion",
            Some(json!({"prompt": "a", "n_predict": 2})),
        ),
    ] {
        let answered = app
            .with_key("bearer", &inference, method.clone(), path, body)
            .await;
        assert_eq!(
            answered.status,
            StatusCode::OK,
            "{method} {path}: {}",
            answered.body
        );
    }
    let folder = app.dir.path().display().to_string();
    let props = app
        .with_key(
            "bearer",
            &inference,
            Method::GET,
            "/upstream/tiny/props",
            None,
        )
        .await;
    assert_eq!(props.status, StatusCode::OK, "{}", props.body);
    assert_eq!(props.json()["model_path"], "tiny");
    assert!(!props.body.contains(&folder), "{}", props.body);
    let listed = app
        .with_key("bearer", &inference, Method::GET, "/models", None)
        .await;
    assert_eq!(listed.status, StatusCode::OK);
    assert!(!listed.body.contains(&folder), "{}", listed.body);
    app.supervisor.shutdown().await;
}

#[tokio::test]
async fn over_https_with_hsts_every_answer_says_https_only_and_otherwise_none_does() {
    let https = TestApp::with_options(common::Options {
        access: AccessSettings {
            secure_cookies: true,
            hsts: true,
            ..AccessSettings::default()
        },
        ..common::Options::default()
    })
    .await;
    for path in ["/", "/api/health", "/v1/models"] {
        let answer = https.ask(Method::GET, path, None, None, "127.0.0.1").await;
        assert_eq!(
            answer.headers["strict-transport-security"], "max-age=31536000",
            "{path}"
        );
    }
    let plain = TestApp::new().await;
    let answer = plain
        .ask(Method::GET, "/api/health", None, None, "127.0.0.1")
        .await;
    assert!(!answer.headers.contains_key("strict-transport-security"));
}

#[tokio::test]
async fn sign_in_calls_from_a_browser_answer_json_and_never_redirect_to_the_referer() {
    let app = TestApp::with_login().await;
    app.set_up_admin().await;
    let browser = |referer: &str| {
        vec![
            ("accept", "text/html,application/xhtml+xml".to_string()),
            ("referer", referer.to_string()),
        ]
    };
    let me = app
        .exchange(
            Method::GET,
            "/api/auth/me",
            browser("https://evil.example/"),
            None,
            "127.0.0.1",
        )
        .await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    assert!(!me.headers.contains_key(header::LOCATION));
    assert_eq!(me.json()["admin_exists"], true);
    let login = app
        .exchange(
            Method::POST,
            "/api/auth/login",
            browser("https://evil.example/x"),
            Some(json!({"username": "admin", "password": PASSWORD})),
            "127.0.0.1",
        )
        .await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.body);
    assert!(!login.headers.contains_key(header::LOCATION));
    assert_eq!(login.json()["username"], "admin");
}

#[tokio::test]
async fn signing_out_a_session_that_ended_elsewhere_still_clears_the_cookie() {
    let app = TestApp::with_login().await;
    let ended = app.set_up_admin().await;
    let other = app.login(PASSWORD, "127.0.0.1").await.session().unwrap();
    let everywhere = app
        .ask(
            Method::POST,
            "/api/auth/logout_everywhere",
            None,
            Some(&other),
            "127.0.0.1",
        )
        .await;
    assert_eq!(everywhere.status, StatusCode::OK, "{}", everywhere.body);
    let out = app
        .ask(
            Method::POST,
            "/api/auth/logout",
            None,
            Some(&ended),
            "127.0.0.1",
        )
        .await;
    assert_eq!(out.status, StatusCode::OK, "{}", out.body);
    assert!(
        out.headers[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
}

#[tokio::test]
async fn a_key_sees_of_a_virtual_model_only_the_targets_it_may_use() {
    let app = TestApp::with_login().await;
    let session = app.set_up_admin().await;
    for name in ["tiny", "secret"] {
        app.ask(
            Method::POST,
            "/api/models/create",
            Some(json!({"model": {"name": name, "path": format!("/m/{name}.gguf")}})),
            Some(&session),
            "127.0.0.1",
        )
        .await;
    }
    for (name, targets) in [
        ("chat", json!(["secret", "tiny"])),
        ("hidden", json!(["secret"])),
    ] {
        let made = app
            .ask(
                Method::POST,
                "/api/virtual/create",
                Some(json!({"name": name, "targets": targets})),
                Some(&session),
                "127.0.0.1",
            )
            .await;
        assert_eq!(made.status, StatusCode::OK, "{}", made.body);
    }
    let key = app
        .make_key(
            &session,
            json!({"name": "one model", "scopes": ["inference"], "models": ["tiny"]}),
        )
        .await
        .json()["key"]
        .as_str()
        .unwrap()
        .to_string();
    let listed = app
        .with_key("bearer", &key, Method::GET, "/v1/models", None)
        .await
        .json();
    let ids: Vec<&str> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["tiny", "chat"], "{listed}");
    let chat = &listed["data"][1]["virtual"];
    assert_eq!(chat["targets"], json!(["tiny"]), "{listed}");
    assert!(chat.get("missing").is_none(), "{listed}");
    assert!(!listed.to_string().contains("secret"), "{listed}");
}
