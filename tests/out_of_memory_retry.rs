//! Out of memory while loading is a retry, once. The model server here is a stand-in in front of
//! the pinned llama-server (no GPU can be made to run out of memory on demand): for a model
//! whose alias starts with `oom`, it prints llama.cpp's own CUDA out-of-memory lines and exits,
//! as many times as the test says, and after that runs the real server. Every other model runs
//! the real server at once.
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test states what it expects by failing loudly
#![allow(clippy::too_many_lines)] // a test is one scenario, read top to bottom

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{TestApp, llama_server, supervisor_settings};
use corral::domain::ModelStatus;
use corral::domain::run::FailureReason;
use corral::domain::settings::WhenFull;
use corral::server::supervisor::settings::SupervisorSettings;
use tempfile::TempDir;

const LOAD: Duration = Duration::from_secs(30);

/// llama.cpp's messages when a CUDA allocation fails while the model loads (b11434's wording).
const OUT_OF_MEMORY: &str = "\
0.00.412.331 E ggml_backend_cuda_buffer_type_alloc_buffer: allocating 8192.00 MiB on device 0: cudaMalloc failed: out of memory
0.00.412.402 E alloc_tensor_range: failed to allocate CUDA0 buffer of size 8589934592
0.00.412.450 E llama_model_load: error loading model: unable to allocate CUDA0 buffer
0.00.412.471 E llama_model_load_from_file_impl: failed to load model
0.00.412.503 E srv    load_model: failed to load model, '/models/oom.gguf'
0.00.412.530 E srv  llama_server: exiting due to model loading error";

/// The stand-in: fails `times` loads of an `oom…` model, counted in a file beside it.
fn running_out_of_memory(dir: &Path, times: u32) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let folder = dir.join("oom-bin");
    std::fs::create_dir_all(&folder).unwrap();
    let (wrapper, count, said) = (
        folder.join("llama-server"),
        folder.join("count"),
        folder.join("said.txt"),
    );
    std::fs::write(&said, format!("{OUT_OF_MEMORY}\n")).unwrap();
    let script = format!(
        "#!/bin/sh\ncase \"$*\" in *--version*|*--help*) exec '{real}' \"$@\";; esac\n\
         case \"$*\" in *'--alias oom'*)\n\
           n=$(cat '{count}' 2>/dev/null || echo 0)\n\
           if [ \"$n\" -lt {times} ]; then echo $((n + 1)) > '{count}'; cat '{said}' >&2; exit 1; fi;;\n\
         esac\nexec '{real}' \"$@\"\n",
        real = llama_server().display(),
        count = count.display(),
        said = said.display(),
    );
    std::fs::write(&wrapper, script).unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    wrapper
}

async fn app_failing(times: u32, when_full: WhenFull) -> TestApp {
    let dir = TempDir::new().unwrap();
    let settings = SupervisorSettings {
        llama_server: Some(running_out_of_memory(dir.path(), times)),
        max_running: 8,
        when_full,
        ..supervisor_settings()
    };
    let options = common::Options {
        settings,
        ..common::Options::default()
    };
    TestApp::with_options_in(options, dir).await
}

/// Two models running, the older one used first; then the one that runs out of memory.
async fn two_running_then_oom(app: &TestApp) -> (i64, i64, i64) {
    let older = app.create_tiny("older").await;
    let newer = app.create_tiny("newer").await;
    let oom = app.create_tiny("oom-model").await;
    app.start_running(older).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    app.start_running(newer).await;
    (older, newer, oom)
}

#[tokio::test]
async fn a_load_out_of_memory_stops_the_least_recently_used_model_and_is_tried_once_more() {
    let app = app_failing(1, WhenFull::StopLeastRecent).await;
    let (older, newer, oom) = two_running_then_oom(&app).await;
    app.supervisor.start_model(oom).await.unwrap();

    app.wait_status(oom, ModelStatus::Running, LOAD).await;
    app.wait_status(older, ModelStatus::Stopped, LOAD).await;
    assert_eq!(
        app.registry.get_model(newer).await.unwrap().status,
        ModelStatus::Running,
        "only one model is stopped for the retry"
    );
    let runs = app
        .runs(oom, corral::domain::page::Page::default())
        .await
        .unwrap();
    assert_eq!(runs.len(), 2, "one failed load and one retry");
    let failed = &runs[1];
    assert_eq!(failed.failure, Some(FailureReason::OutOfMemory));
    let message = failed.message.clone().unwrap_or_default();
    assert!(message.starts_with("Failed to start: "), "{message}");
    assert!(
        message.contains("unable to allocate CUDA0 buffer"),
        "{message}"
    );
    // The need is raised on the failed run, so the next start asks for more.
    assert!(
        failed.peak_rss_bytes.is_some_and(|bytes| bytes > 0),
        "{failed:?}"
    );
    app.supervisor.stop_model(oom).await.unwrap();
    app.supervisor.stop_model(newer).await.unwrap();
}

#[tokio::test]
async fn a_second_load_out_of_memory_is_not_retried_and_stops_nothing_more() {
    let app = app_failing(2, WhenFull::StopLeastRecent).await;
    let (older, newer, oom) = two_running_then_oom(&app).await;
    app.supervisor.start_model(oom).await.unwrap();

    app.wait_status(older, ModelStatus::Stopped, LOAD).await;
    let deadline = Instant::now() + LOAD;
    loop {
        let runs = app
            .runs(oom, corral::domain::page::Page::default())
            .await
            .unwrap();
        if runs.len() == 2 && runs[0].ended_at.is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "{runs:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let model = app.registry.get_model(oom).await.unwrap();
    assert_eq!(
        model.status,
        ModelStatus::Error,
        "{:?}",
        model.status_reason
    );
    let runs = app
        .runs(oom, corral::domain::page::Page::default())
        .await
        .unwrap();
    assert_eq!(runs.len(), 2, "tried once more, not again");
    assert_eq!(
        app.registry.get_model(newer).await.unwrap().status,
        ModelStatus::Running,
        "the second failure stops nothing"
    );
    app.supervisor.stop_model(newer).await.unwrap();
}

#[tokio::test]
async fn when_a_full_machine_refuses_nothing_is_stopped_and_nothing_retried() {
    let app = app_failing(1, WhenFull::Refuse).await;
    let (older, newer, oom) = two_running_then_oom(&app).await;
    app.supervisor.start_model(oom).await.unwrap();
    let model = app.wait_status(oom, ModelStatus::Error, LOAD).await;
    assert!(
        model
            .status_reason
            .as_deref()
            .unwrap_or_default()
            .starts_with("Failed to start: "),
        "{:?}",
        model.status_reason
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    for id in [older, newer] {
        assert_eq!(
            app.registry.get_model(id).await.unwrap().status,
            ModelStatus::Running
        );
    }
    assert_eq!(
        app.registry.get_model(oom).await.unwrap().status,
        ModelStatus::Error
    );
    app.supervisor.stop_model(older).await.unwrap();
    app.supervisor.stop_model(newer).await.unwrap();
}
