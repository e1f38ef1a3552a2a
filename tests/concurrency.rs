//! One authority for statuses, one lock per model: whatever clients do at once, every status
//! the supervisor publishes is an allowed move, statuses match the processes, and a slow stop
//! holds up nothing but its own model.
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test states what it expects by failing loudly
#![allow(clippy::too_many_lines)] // a test is one scenario, read top to bottom

mod common;

use std::collections::{BTreeMap, HashSet};
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use common::{TestApp, supervisor_settings};
use corral::domain::live::ServerEvent;
use corral::domain::{ModelStatus, StatusEvent};
use corral::server::supervisor::run::http_probe;
use corral::server::supervisor::run::spawn::process_alive;
use corral::server::supervisor::settings::SupervisorSettings;
use proptest::prelude::*;
use serde_json::json;

/// True when `to` can follow `from` by one event of the state machine.
fn allowed(from: ModelStatus, to: ModelStatus) -> bool {
    StatusEvent::ALL.iter().any(|e| from.next(*e) == Some(to))
}

type Heard = Arc<std::sync::Mutex<BTreeMap<i64, Vec<ModelStatus>>>>;

/// Every model's statuses as the live channel announces them, in order, until `stop` is called.
struct Listener {
    heard: Heard,
    task: tokio::task::JoinHandle<()>,
}

impl Listener {
    fn start(
        mut events: tokio::sync::broadcast::Receiver<
            Arc<corral::server::live::published::Published>,
        >,
    ) -> Listener {
        let heard = Heard::default();
        let into = heard.clone();
        let task = tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(event) => {
                        if let ServerEvent::ModelCreated(m) | ServerEvent::ModelUpdated(m) =
                            &**event
                        {
                            let mut heard = into.lock().unwrap();
                            let list = heard.entry(m.id).or_default();
                            // A rename or a settings change repeats the status; only moves count.
                            if list.last() != Some(&m.status) {
                                list.push(m.status);
                            }
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        panic!("the listener fell {n} events behind")
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        Listener { heard, task }
    }

    /// What was heard; everything published before this call is in it.
    async fn stop(self) -> BTreeMap<i64, Vec<ModelStatus>> {
        // Events are delivered in order: give the task a moment to take the last ones in.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!self.task.is_finished(), "the listener stopped early");
        self.task.abort();
        self.heard.lock().unwrap().clone()
    }
}

fn assert_paths(heard: &BTreeMap<i64, Vec<ModelStatus>>) -> usize {
    let mut moves = 0;
    for (id, statuses) in heard {
        for pair in statuses.windows(2) {
            assert!(
                allowed(pair[0], pair[1]),
                "model {id}: {} → {} is not a move of the state machine ({statuses:?})",
                pair[0],
                pair[1]
            );
            moves += 1;
        }
    }
    moves
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn the_statuses_the_supervisor_publishes_always_form_a_path_of_the_state_machine(
        events in prop::collection::vec(prop::sample::select(StatusEvent::ALL.to_vec()), 1..24),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let app = TestApp::new().await;
            let id = app.create("walker", "/m/walker.gguf").await["id"].as_i64().unwrap();
            let listener = Listener::start(app.hub.subscribe());
            let mut status = ModelStatus::Stopped;
            for event in &events {
                match app.transition(id, *event, Some("why".into())).await {
                    Ok(model) => {
                        prop_assert_eq!(Some(model.status), status.next(*event));
                        status = model.status;
                        // A reason stays only with an error.
                        prop_assert_eq!(model.status_reason.is_some(), status == ModelStatus::Error);
                    }
                    Err(error) => {
                        prop_assert_eq!(status.next(*event), None, "{}", error);
                        prop_assert_eq!(error.status(), 409);
                    }
                }
            }
            let heard = listener.stop().await;
            let mut path = vec![ModelStatus::Stopped];
            path.extend(heard.get(&id).cloned().unwrap_or_default());
            path.dedup();
            prop_assert_eq!(path.last().copied(), Some(status), "the last status heard is the model's");
            for pair in path.windows(2) {
                prop_assert!(allowed(pair[0], pair[1]), "{:?}", path);
            }
            Ok(())
        })?;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_clients_leave_statuses_matching_processes_and_only_allowed_moves() {
    let app = Arc::new(
        TestApp::with_settings(SupervisorSettings {
            max_running: 2,
            ..supervisor_settings()
        })
        .await,
    );
    let listener = Listener::start(app.hub.subscribe());
    let slots: Arc<std::sync::Mutex<Vec<i64>>> = Arc::new(std::sync::Mutex::new(Vec::new()));
    for k in 0..3 {
        let id = app.create_tiny(&format!("m{k}")).await;
        slots.lock().unwrap().push(id);
    }
    let calls = common::env_number("CORRAL_RACE_CALLS", 200);
    let mut counts: BTreeMap<(String, u16), usize> = BTreeMap::new();
    let clients: Vec<_> =
        (0..16)
            .map(|client| {
                let (app, slots) = (app.clone(), slots.clone());
                tokio::spawn(async move {
                    let mut seen = Vec::new();
                    let mut state = 0x9e37_79b9_7f4a_7c15u64 ^ (client as u64 + 1);
                    let mut random = move |n: u64| {
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        state % n
                    };
                    for call in 0..calls / 16 + usize::from(client < calls % 16) {
                        let slot = random(3) as usize;
                        let id = slots.lock().unwrap()[slot];
                        let op =
                            ["start", "stop", "restart", "delete", "update"][random(5) as usize];
                        let reply = match op {
                        "update" => {
                            app.post(
                                "/api/models/update",
                                json!({"id": id, "changes": {"ctx_size": 256 + 64 * (call % 4)}}),
                            )
                            .await
                        }
                        _ => app.post(&format!("/api/models/{op}"), json!({"id": id})).await,
                    };
                        if op == "delete" && reply.status == StatusCode::OK {
                            let fresh = app.create_tiny(&format!("c{client}n{call}")).await;
                            slots.lock().unwrap()[slot] = fresh;
                        }
                        seen.push((op.to_string(), reply.status.as_u16(), reply.body));
                    }
                    seen
                })
            })
            .collect();
    for client in clients {
        for (op, status, body) in client.await.unwrap() {
            assert!(
                matches!(status, 200 | 404 | 409),
                "{op} answered {status}: {body}"
            );
            *counts.entry((op, status)).or_default() += 1;
        }
    }
    // Let every process settle into running or gone.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let models = app.registry.list_models(Default::default()).await.unwrap();
        if models
            .iter()
            .all(|m| !matches!(m.status, ModelStatus::Loading | ModelStatus::Stopping))
        {
            break;
        }
        assert!(Instant::now() < deadline, "still moving: {models:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let models = app.registry.list_models(Default::default()).await.unwrap();
    let live = app.supervisor.live_runs();
    let runs = app.hub.snapshot().runs;
    for model in &models {
        let run = runs.iter().find(|r| r.model_id == model.id);
        match model.status {
            ModelStatus::Running => {
                let run = run.unwrap_or_else(|| panic!("{} runs without a run", model.spec.name));
                assert!(process_alive(run.pid));
                let (status, _) =
                    http_probe::get(run.port, "/health", None, Duration::from_secs(2))
                        .await
                        .unwrap();
                assert_eq!(status, 200, "{} says running", model.spec.name);
            }
            status => {
                assert!(run.is_none(), "{} is {status} with a run", model.spec.name);
                assert!(
                    !live.contains(&model.id),
                    "{} is {status} with a handle",
                    model.spec.name
                );
            }
        }
    }
    assert!(live.len() <= 2, "more than --max-running: {live:?}");
    // No llama-server of this test's models is alive that Corral does not list.
    let listed: HashSet<u32> = runs.iter().map(|r| r.pid).collect();
    let model_dir = app.dir.path().to_string_lossy().into_owned();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains("llama-server") && cmdline.contains(&model_dir) && process_alive(pid) {
            assert!(
                listed.contains(&pid),
                "an unlisted llama-server: {pid} {cmdline}"
            );
        }
    }
    for id in live {
        app.supervisor.stop_model(id).await.unwrap();
    }
    let heard = listener.stop().await;
    let moves = assert_paths(&heard);
    eprintln!("race: {counts:?}; {moves} status moves heard, all allowed");
    let started = counts
        .get(&("start".to_string(), 200))
        .copied()
        .unwrap_or(0);
    assert!(started > 0, "{counts:?}");
}

/// A stand-in for llama-server: the model named `stubborn` ignores SIGTERM, the others go at
/// once. (llama-server always honours SIGTERM: only a double can show this.)
fn stand_in(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("stand-in-server");
    std::fs::write(
        &path,
        "#!/bin/sh\n\
         if [ \"$1\" = --help ]; then\n\
           printf -- '-m,    --model FNAME   model\\n--host HOST   host\\n--port PORT   port\\n-t,    --threads N   threads\\n-c,    --ctx-size N   ctx\\n'\n\
           exit 0\n\
         fi\n\
         case \"$*\" in *stubborn*) trap '' TERM; echo 'stand-in: ignoring SIGTERM' >&2;; *) echo 'stand-in: up' >&2;; esac\n\
         while true; do sleep 0.05; done\n",
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_waiting_on_a_slow_stop_holds_up_no_other_model_and_no_read() {
    let dir = tempfile::tempdir().unwrap();
    let app = Arc::new(
        TestApp::with_settings(SupervisorSettings {
            llama_server: Some(stand_in(dir.path())),
            max_running: 2,
            stop_grace: Duration::from_secs(5),
            ..supervisor_settings()
        })
        .await,
    );
    let path = |name: &str| {
        let path = app.dir.path().join(format!("{name}.gguf"));
        std::fs::write(&path, b"GGUF\x03\0\0\0").unwrap();
        path.to_string_lossy().into_owned()
    };
    let stubborn = app.create("stubborn", &path("stubborn")).await["id"]
        .as_i64()
        .unwrap();
    let polite = app.create("polite", &path("polite")).await["id"]
        .as_i64()
        .unwrap();
    let third = app.create("third", &path("third")).await["id"]
        .as_i64()
        .unwrap();
    app.supervisor.start_model(stubborn).await.unwrap();
    // Only once it has said so does it ignore SIGTERM.
    app.wait_log(stubborn, "ignoring SIGTERM", Duration::from_secs(10))
        .await;
    app.supervisor.start_model(polite).await.unwrap();

    // Starting a third model must first stop the least recently used: the stubborn one, which
    // takes the whole grace.
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    let slow_start = {
        let (app, order) = (app.clone(), order.clone());
        tokio::spawn(async move {
            let result = app.supervisor.start_model(third).await;
            order.lock().unwrap().push("start of the third model");
            result
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (stopped, listed) = tokio::join!(
        async {
            let result = app.supervisor.stop_model(polite).await;
            order.lock().unwrap().push("stop of another model");
            result
        },
        async {
            let result = app.registry.list_models(Default::default()).await;
            order.lock().unwrap().push("list");
            result
        },
    );
    assert_eq!(stopped.unwrap().status, ModelStatus::Stopped);
    assert_eq!(listed.unwrap().len(), 3);
    let started = slow_start.await.unwrap().unwrap();
    assert_eq!(started.status, ModelStatus::Loading);
    let order = order.lock().unwrap().clone();
    assert_eq!(
        order.last().copied(),
        Some("start of the third model"),
        "the other stop and the read finished first: {order:?}"
    );
    app.supervisor.stop_model(third).await.unwrap();
}
