//! A Corral router on a fresh SQLite file, driven in-process through the full HTTP stack.
#![allow(dead_code)] // each test binary uses its own share of these helpers

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use corral::server::db::Db;
use corral::server::live::hub::HubConfig;
use corral::server::live::socket::SocketLimits;
use corral::server::registry::Registry;
use corral::server::{router, start};
use http_body_util::BodyExt;
use leptos::config::LeptosOptions;
use serde_json::{Value, json};
use tempfile::TempDir;
use tower::ServiceExt;

pub struct TestApp {
    pub router: Router,
    pub db: Db,
    pub registry: Registry,
    pub dir: TempDir,
}

pub struct Reply {
    pub status: StatusCode,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// `(field, rule)` of every error in a 400 `invalid` body.
    pub fn field_rules(&self) -> Vec<(String, String)> {
        let body = self.json();
        assert_eq!(body["code"], "invalid", "{body}");
        body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["field"].as_str().unwrap().to_string(),
                    e["rule"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }
}

impl TestApp {
    pub async fn new() -> TestApp {
        TestApp::with_limits(HubConfig::default(), SocketLimits::default()).await
    }

    pub async fn with_limits(hub: HubConfig, sockets: SocketLimits) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let leptos_options = LeptosOptions::builder()
            .output_name("corral")
            .site_root(dir.path().to_string_lossy().as_ref())
            .build();
        let state = start::app_state(&dir.path().join("corral.db"), leptos_options, hub, sockets)
            .await
            .unwrap();
        let registry = state.registry.clone();
        let db = registry.db().clone();
        let router = router::build(state);
        TestApp {
            router,
            db,
            registry,
            dir,
        }
    }

    pub async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    /// `POST path` with a raw body, as a script would send it.
    pub async fn post_raw(&self, path: &str, body: impl Into<String>) -> Reply {
        let body: String = body.into();
        let request = Request::post(path)
            .header(header::HOST, "127.0.0.1:3000")
            .header(header::CONTENT_LENGTH, body.len())
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json")
            .body(body.into())
            .unwrap();
        self.send(request).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.post_raw(path, body.to_string()).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        let request = Request::get(path)
            .header(header::HOST, "127.0.0.1:3000")
            .body(Body::empty())
            .unwrap();
        self.send(request).await
    }

    /// Creates a model through the API and returns its JSON.
    pub async fn create(&self, name: &str, path: &str) -> Value {
        let reply = self
            .post(
                "/api/models/create",
                json!({"model": {"name": name, "path": path}}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply.json()
    }

    /// Every row of every table, as text: equal snapshots mean nothing was written.
    pub async fn snapshot(&self) -> String {
        self.db
            .call(|conn| {
                let mut tables: Vec<String> = conn
                    .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")?
                    .query_map([], |row| row.get(0))?
                    .collect::<Result<_, _>>()?;
                tables.sort();
                let mut out = String::new();
                for table in tables {
                    let mut stmt = conn.prepare(&format!("SELECT * FROM {table} ORDER BY 1"))?;
                    let columns = stmt.column_count();
                    let rows: Vec<String> = stmt
                        .query_map([], |row| {
                            let cells = (0..columns)
                                .map(|i| row.get::<_, rusqlite::types::Value>(i).map(|v| format!("{v:?}")))
                                .collect::<Result<Vec<_>, _>>()?;
                            Ok(cells.join("|"))
                        })?
                        .collect::<Result<_, _>>()?;
                    out.push_str(&format!("{table}: {rows:?}\n"));
                }
                Ok(out)
            })
            .await
            .unwrap()
    }
}
