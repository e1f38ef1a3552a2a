//! nginx in front of the same llama-server, as a reference for what any reverse proxy costs on
//! this machine: the gateway's throughput goal is a ratio to the server called directly, and on
//! 2 cores every microsecond a proxy spends is taken from the model. nginx is not part of Corral;
//! the bench uses it when it is installed (`apt-get install nginx-light`) and says so when not.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

pub struct ReferenceProxy {
    child: Child,
    pub base: String,
}

/// nginx on a free loopback port, one process (no master, one worker's work), keeping up to 32
/// connections to `upstream` open, answers passed on unbuffered as Corral passes them.
pub async fn start(work: &Path, upstream: &str) -> Result<ReferenceProxy, String> {
    let nginx = ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .find(|path| Path::new(path).exists())
        .ok_or("nginx not installed (apt-get install nginx-light)")?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map_err(|e| format!("no free port: {e}"))?
        .port();
    let dir = work.join("nginx");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let upstream = upstream.trim_start_matches("http://");
    let config = format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\npid {dir}/nginx.pid;\n\
         error_log {dir}/error.log warn;\nevents {{ worker_connections 1024; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {dir}/body;\n\
         proxy_temp_path {dir}/proxy;\n  upstream llama {{ server {upstream}; keepalive 32; }}\n\
         server {{\n    listen 127.0.0.1:{port};\n    location / {{\n\
         proxy_pass http://llama;\n      proxy_http_version 1.1;\n\
         proxy_set_header Connection \"\";\n      proxy_buffering off;\n    }}\n  }}\n}}\n",
        dir = dir.display()
    );
    let config_path = dir.join("nginx.conf");
    std::fs::write(&config_path, config).map_err(|e| format!("{}: {e}", config_path.display()))?;
    let child = Command::new(nginx)
        .arg("-c")
        .arg(&config_path)
        .arg("-p")
        .arg(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start nginx: {e}"))?;
    for _ in 0..500 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(ReferenceProxy {
                child,
                base: format!("http://127.0.0.1:{port}"),
            });
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Err(format!(
        "nginx did not listen on {port} (see {})",
        dir.display()
    ))
}

impl ReferenceProxy {
    pub fn cpu_time(&self) -> Option<Duration> {
        crate::corral::cpu_time(self.child.id()?)
    }

    pub async fn stop(mut self) {
        crate::corral::terminate(&mut self.child).await;
    }
}
