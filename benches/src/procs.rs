//! Real processes on 127.0.0.1 for tests and benchmarks: free ports, starting a binary with
//! its log in a file, waiting for `/health`, stopping by PID (SIGTERM, then SIGKILL), and
//! reading a process's resident memory.

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::http_client::Client;

/// A port that was free a moment ago on 127.0.0.1, never the same one twice in this process
/// (tests running in parallel threads must not hand one port to two servers).
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_or(0, |a| a.port());
        if port != 0 && !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// The directory holding the workspace's built binaries (`target/<profile>`), found from the
/// running executable (tests live in `target/<profile>/deps`). `VM_BIN_DIR` overrides it.
pub fn bin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("VM_BIN_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().unwrap_or_default();
    let mut dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir
}

/// The path of a workspace binary, or an error that says how to build it.
pub fn bin(name: &str) -> Result<PathBuf, String> {
    let p = bin_dir().join(name);
    if p.is_file() {
        Ok(p)
    } else {
        Err(format!(
            "{} not found: build the workspace first (cargo build --workspace, or run `cargo test --workspace`)",
            p.display()
        ))
    }
}

/// A child process that is stopped (SIGKILL) when dropped.
#[derive(Debug)]
pub struct Proc {
    /// A name for messages.
    pub name: String,
    child: Option<Child>,
    /// Where its stdout and stderr go.
    pub log: PathBuf,
    program: PathBuf,
    args: Vec<String>,
}

impl Proc {
    /// Starts `program` with `args`, output appended to `log`.
    pub fn start(name: &str, program: &Path, args: &[String], log: &Path) -> std::io::Result<Proc> {
        let mut p = Proc {
            name: name.into(),
            child: None,
            log: log.into(),
            program: program.into(),
            args: args.to_vec(),
        };
        p.spawn()?;
        Ok(p)
    }

    fn spawn(&mut self) -> std::io::Result<()> {
        let out = File::options().create(true).append(true).open(&self.log)?;
        let err = out.try_clone()?;
        let child = Command::new(&self.program)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()?;
        self.child = Some(child);
        Ok(())
    }

    /// The process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Sends SIGKILL and reaps the process.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Sends SIGTERM and waits up to `grace` for the process to exit (then SIGKILL). Returns
    /// whether it exited by itself, with its exit status.
    pub fn terminate(&mut self, grace: Duration) -> Option<std::process::ExitStatus> {
        let mut c = self.child.take()?;
        // SAFETY: kill(2) with a pid we own and a valid signal number has no memory effects.
        unsafe {
            libc::kill(c.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = c.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = c.kill();
        let _ = c.wait();
        None
    }

    /// Starts the same program with the same arguments again (after a kill or stop).
    pub fn restart(&mut self) -> std::io::Result<()> {
        self.kill();
        self.spawn()
    }

    /// The last `n` bytes of the log, for failure messages.
    pub fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read(&self.log).unwrap_or_default();
        let start = text.len().saturating_sub(n);
        String::from_utf8_lossy(&text[start..]).into_owned()
    }

    /// Resident memory in bytes, from `/proc/<pid>/statm`.
    pub fn rss_bytes(&self) -> Option<u64> {
        rss_of(self.pid()?)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Resident memory of process `pid` in bytes.
pub fn rss_of(pid: u32) -> Option<u64> {
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf reads a configuration value; no memory effects.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * if page > 0 { page as u64 } else { 4096 })
}

/// Peak resident memory (VmHWM) of process `pid` in bytes.
pub fn peak_rss_of(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Polls `http://addr/health` (or `path`) until it answers 200, the process exits, or
/// `timeout` passes.
pub fn wait_http_ok(
    proc_: &mut Proc,
    addr: &str,
    path: &str,
    timeout: Duration,
) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    loop {
        let mut c = Client::new(addr, Duration::from_secs(2));
        if c.get(path).is_ok_and(|r| r.status == 200) {
            return Ok(());
        }
        if !proc_.is_running() {
            return Err(format!(
                "{} exited before becoming ready; log:\n{}",
                proc_.name,
                proc_.log_tail(4000)
            ));
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{} not ready at {addr}{path} within {timeout:?}; log:\n{}",
                proc_.name,
                proc_.log_tail(4000)
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
