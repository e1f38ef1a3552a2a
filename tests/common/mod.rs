//! A Corral router on a fresh SQLite file, driven in-process through the full HTTP stack.
#![allow(dead_code)] // each test binary uses its own share of these helpers

pub mod corral_binary;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use corral::server::access::AccessSettings;
use corral::server::boot::{router, start};
use corral::server::db::{Db, Retention};
use corral::server::gateway::own_state::GatewaySettings;
use corral::server::http::cors::CorsOrigins;
use corral::server::http::host::AllowedHosts;
use corral::server::http::limits::HttpLimits;
use corral::server::http::serve as http_serve;
use corral::server::live::Hub;
use corral::server::live::hub::HubConfig;
use corral::server::live::socket::SocketLimits;
use corral::server::models::model_roots::ModelRoots;
use corral::server::models::registry::Registry;
use corral::server::supervisor::Supervisor;
use corral::server::supervisor::settings::SupervisorSettings;
use http_body_util::BodyExt;
use leptos::config::LeptosOptions;
use serde_json::{Value, json};
use tempfile::TempDir;
use tower::ServiceExt;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use corral::domain::live::Envelope;
use corral::domain::{Model, ModelStatus};
use corral::server::gguf::test_model::TestModel;
use futures::StreamExt;
use tokio_tungstenite::tungstenite::Message;

pub struct TestApp {
    pub router: Router,
    pub db: Db,
    pub hub: Hub,
    pub registry: Registry,
    pub supervisor: Supervisor,
    /// The gateway's requests waiting for their models.
    pub on_demand: corral::server::gateway::on_demand::OnDemand,
    pub dir: TempDir,
    /// Where `serve` listens: bound up front, so the Host allow-list knows the port.
    pub address: SocketAddr,
    listener: Mutex<Option<std::net::TcpListener>>,
    /// The limits of the router and of `serve`'s accept loop.
    pub http_limits: HttpLimits,
    /// The one-time setup token this app issued (no admin yet).
    pub setup_token: Option<String>,
}

/// Everything a test app is built from; each part defaults to Corral's own default.
#[derive(Default)]
pub struct Options {
    pub hub: HubConfig,
    pub sockets: SocketLimits,
    pub settings: SupervisorSettings,
    pub http: HttpLimits,
    pub retention: Retention,
    pub access: AccessSettings,
    pub gateway: GatewaySettings,
    pub model_roots: ModelRoots,
    pub models_dirs: Vec<PathBuf>,
    /// Settings as if given by flag (they win over the Settings page).
    pub set_by_flag: Vec<corral::domain::settings::SetByFlag>,
}

impl Options {
    /// Login required, as on a LAN bind (`--open-on-loopback false`).
    pub fn login() -> Options {
        Options {
            access: AccessSettings {
                open_on_loopback: false,
                ..AccessSettings::default()
            },
            ..Options::default()
        }
    }
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
        TestApp::build(hub, sockets, SupervisorSettings::default()).await
    }

    /// An app whose supervisor runs the real llama-server, on ports no other test app uses.
    pub async fn with_llama_server() -> TestApp {
        TestApp::with_settings(supervisor_settings()).await
    }

    pub async fn with_settings(settings: SupervisorSettings) -> TestApp {
        TestApp::build(HubConfig::default(), SocketLimits::default(), settings).await
    }

    async fn build(hub: HubConfig, sockets: SocketLimits, settings: SupervisorSettings) -> TestApp {
        TestApp::with_options(Options {
            hub,
            sockets,
            settings,
            ..Options::default()
        })
        .await
    }

    /// An app that asks for a login as a LAN bind does (`--open-on-loopback false`).
    pub async fn with_login() -> TestApp {
        TestApp::with_login_and_cors(&[]).await
    }

    /// A login-required app whose gateway answers CORS for `origins`.
    pub async fn with_login_and_cors(origins: &[&str]) -> TestApp {
        let origins: Vec<String> = origins.iter().map(|o| o.to_string()).collect();
        TestApp::with_options(Options {
            gateway: GatewaySettings {
                cors: CorsOrigins::parse(&origins).unwrap(),
                ..GatewaySettings::default()
            },
            ..Options::login()
        })
        .await
    }

    pub async fn with_http_limits(http: HttpLimits) -> TestApp {
        TestApp::with_options(Options {
            http,
            ..Options::default()
        })
        .await
    }

    pub async fn with_retention(settings: SupervisorSettings, retention: Retention) -> TestApp {
        TestApp::with_options(Options {
            settings,
            retention,
            ..Options::default()
        })
        .await
    }

    pub async fn with_options(options: Options) -> TestApp {
        TestApp::with_options_in(options, tempfile::tempdir().unwrap()).await
    }

    /// A Corral on the data directory `dir` (another Corral's, to see what survives a restart).
    pub async fn with_options_in(options: Options, dir: TempDir) -> TestApp {
        let Options {
            hub,
            sockets,
            mut settings,
            http,
            retention,
            access,
            gateway,
            model_roots,
            models_dirs,
            set_by_flag,
        } = options;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        settings.corral_origin = format!("http://{address}");
        let leptos_options = LeptosOptions::builder()
            .output_name("corral")
            .site_root(dir.path().to_string_lossy().as_ref())
            .site_addr(address)
            .build();
        let state = start::app_state(start::Setup {
            db_path: dir.path().join("corral.db"),
            leptos_options,
            hub,
            sockets,
            supervisor: settings,
            hosts: AllowedHosts::new(address, &[]),
            http,
            retention,
            gateway,
            access,
            model_roots,
            models_dirs,
            set_by_flag,
        })
        .await
        .unwrap();
        let setup_token = state.access.prepare(None).await.unwrap();
        let registry = state.registry.clone();
        let supervisor = state.supervisor.clone();
        let on_demand = state.gateway.on_demand.clone();
        let db = state.db.clone();
        let hub = state.hub.clone();
        let router = router::build(state);
        TestApp {
            router,
            db,
            hub,
            registry,
            supervisor,
            on_demand,
            dir,
            address,
            listener: Mutex::new(Some(listener)),
            http_limits: http,
            setup_token,
        }
    }

    /// The peers of this app's database and hub, for a second supervisor (a restarted Corral).
    pub fn peers(&self) -> corral::server::supervisor::Peers {
        corral::server::supervisor::Peers {
            registry: self.registry.clone(),
            runs: corral::server::db::runs_store::RunsStore::new(self.db.clone()),
            history: corral::server::metrics::history::MetricsHistory::new(self.db.clone()),
            hub: self.hub.clone(),
            ledger: corral::server::supervisor::ledger::RunLedger::new(
                self.db.clone(),
                self.hub.clone(),
            ),
            kv_root: self.dir.path().join("kv"),
        }
    }

    /// The `Host` a browser sends to this app.
    pub fn host(&self) -> String {
        self.address.to_string()
    }

    /// `http://127.0.0.1:PORT`, the app's own origin.
    pub fn origin(&self) -> String {
        format!("http://{}", self.address)
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
            .header(header::HOST, self.host())
            .header(header::CONTENT_LENGTH, body.len())
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json")
            .body(body.into())
            .unwrap();
        self.send(request).await
    }

    /// The answer to a JSON POST, its body not yet read (to follow a stream).
    pub async fn respond(&self, path: &str, body: &Value) -> axum::response::Response {
        let request = Request::post(path)
            .header(header::HOST, self.host())
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        self.router.clone().oneshot(request).await.unwrap()
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.post_raw(path, body.to_string()).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        let request = Request::get(path)
            .header(header::HOST, self.host())
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

/// A number from the environment (the long variants of the hardening tests), else `default`.
pub fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A stand-in in front of the pinned llama-server that waits `seconds` before starting it (its
/// `--version` and `--help` answer at once): a load that lasts long enough to be seen, which the
/// tiny model's (a few milliseconds) is not. Named llama-server, as Corral requires.
pub fn slow_llama_server(dir: &Path, seconds: f64) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let folder = dir.join("slow-bin");
    std::fs::create_dir_all(&folder).unwrap();
    let wrapper = folder.join("llama-server");
    let real = llama_server();
    let script = format!(
        "#!/bin/sh\ncase \"$*\" in *--version*|*--help*) exec '{real}' \"$@\";; esac\n\
         sleep {seconds}\nexec '{real}' \"$@\"\n",
        real = real.display()
    );
    std::fs::write(&wrapper, script).unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    wrapper
}

/// The pinned llama-server: `CORRAL_LLAMA_SERVER` (the test script sets it), else whatever
/// `scripts/llama-server` prints (it builds the binary the first time).
pub fn llama_server() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            if let Some(path) = std::env::var_os("CORRAL_LLAMA_SERVER") {
                return PathBuf::from(path);
            }
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/llama-server");
            let output = std::process::Command::new("bash")
                .arg(script)
                .output()
                .expect("scripts/llama-server runs");
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
            PathBuf::from(String::from_utf8_lossy(&output.stdout).trim())
        })
        .clone()
}

/// Settings for tests: the real binary, a block of ports of this test's own, short waits.
pub fn supervisor_settings() -> SupervisorSettings {
    // Tests in one binary run at once; each app gets ten ports nobody else in it gets. A runner
    // that gives each test a process of its own (nextest) starts every count at 0: the process
    // id spreads those.
    static NEXT_BLOCK: AtomicU16 = AtomicU16::new(0);
    let offset = (std::process::id() % 400) as u16;
    let block = NEXT_BLOCK
        .fetch_add(1, Ordering::SeqCst)
        .wrapping_add(offset);
    let first = 21000 + (block % 400) * 10;
    SupervisorSettings {
        llama_server: Some(llama_server()),
        ports: first..=first + 9,
        stop_grace: Duration::from_secs(3),
        load_timeout: Duration::from_secs(30),
        scrape_every: Duration::from_millis(300),
        ..SupervisorSettings::default()
    }
}

/// Writes the tiny random-weight model into `dir` and returns its path.
pub fn tiny_model(dir: &Path) -> String {
    let path = dir.join("tiny.gguf");
    if !path.exists() {
        TestModel::TINY.write(&path).unwrap();
    }
    path.to_string_lossy().into_owned()
}

impl TestApp {
    /// A model of the tiny file, one thread (these machines are small).
    /// Saves `changes` to the model's own fields (`/api/models/update`), which must be taken.
    pub async fn update_model(&self, id: i64, changes: Value) {
        let reply = self
            .post("/api/models/update", json!({"id": id, "changes": changes}))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }

    pub async fn create_tiny(&self, name: &str) -> i64 {
        let path = tiny_model(self.dir.path());
        let reply = self
            .post(
                "/api/models/create",
                json!({"model": {"name": name, "path": path, "threads": 1, "ctx_size": 256}}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply.json()["id"].as_i64().unwrap()
    }

    /// The model's live run as every tab sees it; panics when it has none.
    pub fn live_run(&self, id: i64) -> corral::domain::run::LiveRun {
        self.hub
            .snapshot()
            .runs
            .into_iter()
            .find(|r| r.model_id == id)
            .unwrap_or_else(|| panic!("model {id} has no live run"))
    }

    /// Starts the model through the API and waits until it runs (30 s at most).
    pub async fn start_running(&self, id: i64) {
        let reply = self.post("/api/models/start", json!({"id": id})).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        self.wait_status(id, ModelStatus::Running, Duration::from_secs(30))
            .await;
    }

    /// The model's newest run.
    pub async fn last_run(&self, id: i64) -> corral::domain::run::Run {
        self.runs(id, corral::domain::page::Page::default())
            .await
            .unwrap()
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("model {id} has no run"))
    }

    /// Waits until the model has `status`, and returns it; panics after `within`.
    pub async fn wait_status(&self, id: i64, status: ModelStatus, within: Duration) -> Model {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let model = self.registry.get_model(id).await.unwrap();
            if model.status == status {
                return model;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "model {id} is {} ({:?}), not {status}, after {within:?}",
                model.status,
                model.status_reason
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Moves a model's status by one event, as the supervisor's run ledger does.
    pub async fn transition(
        &self,
        id: i64,
        event: corral::domain::StatusEvent,
        reason: Option<String>,
    ) -> Result<Model, corral::domain::AppError> {
        corral::server::supervisor::ledger::RunLedger::new(self.db.clone(), self.hub.clone())
            .apply(id, event, reason)
            .await
    }

    /// The model's last `lines` log lines, as `/api/models/logs` answers.
    pub async fn logs(
        &self,
        id: i64,
        lines: usize,
    ) -> Result<Vec<corral::domain::run::LogLine>, corral::domain::AppError> {
        let runs = corral::server::db::runs_store::RunsStore::new(self.db.clone());
        corral::server::live::model_logs::model_logs(&self.hub, &runs, id, lines).await
    }

    /// A page of the model's runs, newest first, as `/api/runs` answers.
    pub async fn runs(
        &self,
        id: i64,
        page: corral::domain::page::Page,
    ) -> Result<Vec<corral::domain::run::Run>, corral::domain::AppError> {
        corral::server::db::runs_store::RunsStore::new(self.db.clone())
            .page(id, page)
            .await
    }

    /// Waits until the model's log has a line containing `text`; panics after `within`.
    pub async fn wait_log(&self, id: i64, text: &str, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        while !self
            .logs(id, 10)
            .await
            .unwrap()
            .iter()
            .any(|l| l.text.contains(text))
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "model {id} never logged {text:?} within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Serves the app on its TCP port with Corral's own accept loop; returns the WebSocket URL.
pub async fn serve(app: &TestApp) -> String {
    let limits = app.http_limits;
    let listener = app
        .listener
        .lock()
        .unwrap()
        .take()
        .expect("an app is served once");
    listener.set_nonblocking(true).unwrap();
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    let router = app.router.clone();
    tokio::spawn(http_serve::serve(
        listener,
        router,
        limits,
        None,
        std::future::pending(),
    ));
    format!("ws://{}/ws", app.address)
}

/// The next server message on a socket (five seconds at most).
pub async fn next_envelope<S>(socket: &mut S) -> Envelope
where
    S: futures::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        let message = tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .expect("a message within five seconds")
            .unwrap()
            .unwrap();
        if let Message::Text(text) = message {
            return Envelope::from_json(&text).unwrap();
        }
    }
}
