//! `perf record` attached to running processes for one phase of a run (`--perf DIR`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

/// `perf record` processes, one per profiled process; [`Recording::stop`] ends them.
#[derive(Debug)]
pub struct Recording {
    children: Vec<(PathBuf, Child)>,
}

impl Recording {
    /// Starts `perf record <args> -p PID -o DIR/<phase>-<name>.perf.data` for each process.
    pub fn start(
        perf: &Path,
        args: &[String],
        dir: &Path,
        phase: &str,
        pids: &[(String, u32)],
    ) -> Result<Recording> {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
        let mut children = Vec::new();
        for (name, pid) in pids {
            let out = dir.join(format!("{phase}-{name}.perf.data"));
            let log = std::fs::File::create(dir.join(format!("{phase}-{name}.perf.log")))
                .context("create perf log")?;
            let child = Command::new(perf)
                .arg("record")
                .args(args)
                .arg("-p")
                .arg(pid.to_string())
                .arg("-o")
                .arg(&out)
                .stdin(Stdio::null())
                .stdout(log.try_clone().context("perf log")?)
                .stderr(log)
                .spawn()
                .with_context(|| format!("start {} record", perf.display()))?;
            children.push((out, child));
        }
        // perf needs a moment to attach before the phase starts.
        std::thread::sleep(Duration::from_millis(500));
        Ok(Recording { children })
    }

    /// Stops every recorder (SIGINT, as Ctrl-C would) and waits for it to write its file.
    pub fn stop(mut self) -> Vec<PathBuf> {
        for (_, c) in &self.children {
            // SAFETY: kill(2) with the pid of a child we spawned and a valid signal number
            // has no memory effects.
            unsafe {
                libc::kill(c.id() as libc::pid_t, libc::SIGINT);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        for (_, c) in &mut self.children {
            while matches!(c.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            if matches!(c.try_wait(), Ok(None)) {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        self.children.drain(..).map(|(p, _)| p).collect()
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        for (_, c) in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
