//! Start-up: runs the database believes alive are checked against the real processes. One that
//! is still ours (same pid, same command line) is to be adopted or stopped, as set; every other
//! such run closed. This file decides; the supervisor does what it says, and sets every other
//! model still marked loading/running/stopping stopped. No orphan survives a Corral restart
//! unsupervised.

use std::time::Duration;

use crate::domain::run::Run;
use crate::server::supervisor::run::spawn::{process_alive, process_group, signal_group};
use crate::server::supervisor::settings::Leftovers;

/// What to do with one run the database believes alive.
pub enum Leftover {
    /// Still ours and adoption is set: supervise it again.
    Adopt { run: Run, pid: u32 },
    /// Still ours: stop it, then close the run.
    Stop { run: Run, pid: u32 },
    /// Its process is gone (or is a stranger's now): close the run.
    Close(Run),
}

impl Leftover {
    /// What the closed run's record says.
    pub fn message(&self) -> &'static str {
        match self {
            Leftover::Stop { .. } => "left running by an earlier Corral; stopped at start-up",
            _ => "Corral ended before this run did; the process was gone at start-up",
        }
    }
}

/// Decides for each run recorded as alive, by looking at the real processes.
pub fn decide(alive: Vec<Run>, leftovers: Leftovers) -> Vec<Leftover> {
    alive
        .into_iter()
        .map(|run| match run.pid.filter(|pid| is_ours(*pid, &run)) {
            Some(pid) if leftovers == Leftovers::Adopt => Leftover::Adopt { run, pid },
            Some(pid) => Leftover::Stop { run, pid },
            None => Leftover::Close(run),
        })
        .collect()
}

/// The process exists, is this user's, leads its own group, and runs exactly the recorded
/// command: not a stranger (another user's process) that got the same pid.
fn is_ours(pid: u32, run: &Run) -> bool {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if !std::fs::metadata(format!("/proc/{pid}")).is_ok_and(|m| m.uid() == me) {
        return false;
    }
    if process_group(pid) != Some(pid) {
        return false;
    }
    std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|raw| {
        let args: Vec<String> = raw
            .split(|b| *b == 0)
            .filter(|part| !part.is_empty())
            .map(|part| String::from_utf8_lossy(part).into_owned())
            .collect();
        // The model's variables are recorded before the program; the process has them in its
        // environment, not its command line.
        let recorded = crate::domain::command_diff::without_env(&run.command);
        args.len() == recorded.len()
            && args
                .iter()
                .zip(recorded)
                .all(|(running, recorded)| same_argument(pid, running, recorded))
    })
}

/// An argument of the running process is the recorded one, or names by `/proc/self/fd/N` (with
/// the same `:scale` after it, if any), or by a link to that, the file the recorded one names,
/// as the process holds it open (a start hands its files on as descriptors).
fn same_argument(pid: u32, running: &str, recorded: &str) -> bool {
    if running == recorded {
        return true;
    }
    // A split file goes by a link in the run's home to its descriptor (never read here as
    // `/proc/self/…`, which would be Corral's own).
    let linked = (!running.starts_with(PASSED_PREFIX))
        .then(|| std::fs::read_link(running).ok())
        .flatten()
        .map(|target| target.to_string_lossy().into_owned());
    let running = linked.as_deref().unwrap_or(running);
    let Some(rest) = running.strip_prefix(PASSED_PREFIX) else {
        return false;
    };
    let (fd, suffix) = rest.split_at(
        rest.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len()),
    );
    let Some(path) = recorded.strip_suffix(suffix) else {
        return false;
    };
    let held = std::fs::read_link(format!("/proc/{pid}/fd/{fd}"));
    let named = std::path::Path::new(path).canonicalize();
    matches!((held, named), (Ok(held), Ok(named)) if held == named)
}

/// How a handed-on file is named on a child's command line.
const PASSED_PREFIX: &str = "/proc/self/fd/";

/// SIGTERM to the leftover's group, SIGKILL if it is still there after the grace.
pub async fn stop_leftover(pid: u32, grace: Duration) {
    let _ = signal_group(pid, libc::SIGTERM);
    let deadline = tokio::time::Instant::now() + grace;
    while process_alive(pid) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if process_alive(pid) {
        let _ = signal_group(pid, libc::SIGKILL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;

    fn run_of(command: &[&str]) -> Run {
        Run {
            id: 1,
            model_id: 1,
            pid: None,
            pgid: None,
            port: 0,
            command: command.iter().map(|s| s.to_string()).collect(),
            started_at: 0,
            ready_at: None,
            ended_at: None,
            exit_code: None,
            signal: None,
            failure: None,
            message: None,
            log_tail: Vec::new(),
            peak_rss_bytes: None,
        }
    }

    /// A `sleep` leading its own process group, run as `uid` when given.
    fn sleeper(uid: Option<u32>) -> std::process::Child {
        let mut command = std::process::Command::new("sleep");
        command.arg("30").process_group(0);
        if let Some(uid) = uid {
            command.uid(uid);
        }
        let child = command.spawn().unwrap();
        // Until it has exec'd, the child still reads as the test binary.
        let cmdline = format!("/proc/{}/cmdline", child.id());
        while !std::fs::read(&cmdline).is_ok_and(|c| c.starts_with(b"sleep")) {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        child
    }

    #[test]
    fn a_file_handed_on_as_a_descriptor_matches_the_recorded_path_it_was_opened_from() {
        let dir = tempfile::tempdir().unwrap();
        let (model, other) = (dir.path().join("m.gguf"), dir.path().join("o.gguf"));
        std::fs::write(&model, "GGUF").unwrap();
        std::fs::write(&other, "GGUF").unwrap();
        let held = std::fs::File::open(&model).unwrap();
        let fd = std::os::fd::AsRawFd::as_raw_fd(&held);
        let me = std::process::id();
        let path = model.display().to_string();
        assert!(same_argument(me, &format!("/proc/self/fd/{fd}"), &path));
        assert!(same_argument(
            me,
            &format!("/proc/self/fd/{fd}:0.5"),
            &format!("{path}:0.5")
        ));
        assert!(!same_argument(
            me,
            &format!("/proc/self/fd/{fd}:0.5"),
            &format!("{path}:0.7")
        ));
        assert!(!same_argument(
            me,
            &format!("/proc/self/fd/{fd}"),
            &other.display().to_string()
        ));
        assert!(!same_argument(me, "--port", "--ctx-size"));
        // A split file's link in the run's home, to the same descriptor.
        let link = dir.path().join("m-00001-of-00002.gguf");
        std::os::unix::fs::symlink(format!("/proc/self/fd/{fd}"), &link).unwrap();
        assert!(same_argument(me, &link.display().to_string(), &path));
    }

    #[test]
    fn a_process_of_another_user_running_the_recorded_command_is_not_ours() {
        let mut mine = sleeper(None);
        let command = ["sleep", "30"];
        assert!(is_ours(mine.id(), &run_of(&command)));
        let _ = mine.kill();
        let _ = mine.wait();
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("not root: cannot start another user's process to compare with");
            return;
        }
        let mut theirs = sleeper(Some(65534));
        assert!(
            !is_ours(theirs.id(), &run_of(&command)),
            "another user's process"
        );
        let _ = theirs.kill();
        let _ = theirs.wait();
    }
}
