//! Starting llama-server so it can never outlive Corral, and signalling its process group.
//!
//! Each child gets its own process group (a stop signals the whole group) and, on Linux,
//! `PR_SET_PDEATHSIG = SIGKILL`, so it dies with Corral even on `kill -9`. The kernel ties that
//! signal to the *thread* that forked, not the process: forking from a runtime thread that later
//! exits (tokio's blocking pool retires idle threads) would kill a healthy child. So every spawn
//! happens on one spawner thread that lives as long as the supervisor.

use std::ffi::OsString;
use std::io;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Mutex;
use std::sync::mpsc;

use tokio::process::{Child, Command};
use tokio::sync::oneshot;

use crate::server::supervisor::prepare::file_rules::FIRST_PASSED_FD;

/// What to run, with exactly this environment (nothing of Corral's own is inherited), and the
/// files it is handed open: `files[i]` is the child's descriptor `FIRST_PASSED_FD + i`.
pub struct SpawnRequest {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(OsString, OsString)>,
    pub files: Vec<std::fs::File>,
}

type Job = (SpawnRequest, oneshot::Sender<io::Result<Child>>);

/// The thread every child is forked from. It lives as long as its owner (the supervisor); when it
/// ends, the kernel kills the children it forked, which is what should happen to them then.
pub struct Spawner {
    jobs: Mutex<mpsc::Sender<Job>>,
}

impl Spawner {
    /// Starts the thread, tied to the current async runtime (children are reaped by it).
    pub fn new() -> io::Result<Spawner> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|e| io::Error::other(format!("no async runtime: {e}")))?;
        let (jobs, inbox) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("corral-spawner".into())
            .spawn(move || {
                let _entered = runtime.enter();
                for (request, reply) in inbox {
                    let _ = reply.send(spawn_here(request));
                }
            })?;
        Ok(Spawner {
            jobs: Mutex::new(jobs),
        })
    }

    /// Spawns the program in its own process group, stdout and stderr piped, no stdin.
    pub async fn spawn(&self, request: SpawnRequest) -> io::Result<Child> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send((request, reply))
            .map_err(|_| io::Error::other("the spawner thread is gone"))?;
        answer
            .await
            .map_err(|_| io::Error::other("the spawner thread dropped the request"))?
    }
}

fn spawn_here(request: SpawnRequest) -> io::Result<Child> {
    let mut command = Command::new(&request.program);
    command
        .args(&request.args)
        .env_clear()
        .envs(request.env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        // A last resort if a run task is dropped without waiting: never leak the process.
        .kill_on_drop(true);
    let parent = std::process::id();
    let passed: Vec<i32> = request.files.iter().map(|f| f.as_raw_fd()).collect();
    // SAFETY: only async-signal-safe calls (prctl, getppid, _exit, close_range, fcntl, dup2)
    // between fork and exec; `passed` is read, not allocated.
    unsafe {
        command.pre_exec(move || {
            close_inherited_descriptors();
            hand_on(&passed)?;
            #[cfg(target_os = "linux")]
            {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(io::Error::last_os_error());
                }
                // Corral died between fork and prctl: the signal will never come, so go now.
                if libc::getppid() as u32 != parent {
                    libc::_exit(1);
                }
            }
            #[cfg(not(target_os = "linux"))]
            let _ = parent;
            Ok(())
        });
    }
    command.spawn()
}

/// Files one child may be handed (a model, 32 adapters, 32 control vectors, a few more).
pub const MAX_PASSED: usize = 96;

/// Puts the files to hand on at descriptors 3, 4, ... of the child, open across exec (every
/// other one stays close-on-exec). All are first copied above the targets, then moved, so no
/// move lands on a file still to be copied. Runs between fork and exec: system calls only, no
/// allocation.
fn hand_on(passed: &[i32]) -> io::Result<()> {
    if passed.len() > MAX_PASSED {
        return Err(io::Error::other("too many files to hand on"));
    }
    let above = FIRST_PASSED_FD + passed.len() as i32;
    let mut copies = [0i32; MAX_PASSED];
    for (copy, fd) in copies.iter_mut().zip(passed) {
        // SAFETY: fcntl only changes this (forked) process's descriptor table.
        *copy = unsafe { libc::fcntl(*fd, libc::F_DUPFD_CLOEXEC, above) };
        if *copy < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    for (i, copy) in copies.iter().take(passed.len()).enumerate() {
        // SAFETY: dup2 only changes this (forked) process's descriptor table; the target is
        // left open across exec, the copy is not.
        if unsafe { libc::dup2(*copy, FIRST_PASSED_FD + i as i32) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Marks every descriptor above stderr close-on-exec, so the server inherits none of Corral's
/// (the database, sockets, or whatever the shell that started Corral left open). Close-on-exec
/// rather than close: the standard library reports a failed exec through one of them.
/// Runs between fork and exec: system calls only, no allocation.
fn close_inherited_descriptors() {
    #[cfg(target_os = "linux")]
    {
        const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
        // SAFETY: close_range only changes descriptor flags of this (forked) process.
        let done = unsafe {
            libc::syscall(
                libc::SYS_close_range,
                3 as libc::c_uint,
                libc::c_uint::MAX,
                CLOSE_RANGE_CLOEXEC,
            )
        } == 0;
        if done {
            return;
        }
    }
    // Older kernels: every possible descriptor up to the limit (bounded, to stay quick).
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit fills the struct; fcntl on a closed descriptor just fails with EBADF.
    unsafe {
        let max = if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur.min(65_536) as libc::c_int
        } else {
            4096
        };
        for fd in 3..max {
            let flags = libc::fcntl(fd, libc::F_GETFD);
            if flags >= 0 {
                libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC);
            }
        }
    }
}

/// Sends `signal` to every process in the group. A group that is already gone is not an error.
pub fn signal_group(pgid: u32, signal: i32) -> io::Result<()> {
    let Ok(pgid) = i32::try_from(pgid) else {
        return Err(io::Error::other("process group id out of range"));
    };
    if pgid <= 1 {
        // kill(-1) or kill(0) would signal far more than one server.
        return Err(io::Error::other(format!(
            "refusing to signal process group {pgid}"
        )));
    }
    // SAFETY: kill has no memory effects; a negative pid names a process group.
    let result = unsafe { libc::kill(-pgid, signal) };
    if result == 0 {
        return Ok(());
    }
    let error = io::Error::last_os_error();
    if error.raw_os_error() == Some(libc::ESRCH) {
        Ok(())
    } else {
        Err(error)
    }
}

/// True while a process with this pid exists and has not exited (a zombie has exited; only its
/// parent can reap it).
pub fn process_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            stat.rsplit_once(") ")
                .map(|(_, rest)| !rest.starts_with('Z'))
        })
        .unwrap_or(false)
}

/// The process group of `pid`, if it exists.
pub fn process_group(pid: u32) -> Option<u32> {
    let pid = i32::try_from(pid).ok()?;
    // SAFETY: getpgid only reads.
    let pgid = unsafe { libc::getpgid(pid) };
    u32::try_from(pgid).ok().filter(|_| pgid > 0)
}
