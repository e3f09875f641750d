//! Measuring processes: a child's wall time, CPU (user + sys) and peak RSS from `wait4`, the CPU
//! of a running server from `/proc/PID/stat`, and this process's own CPU and `VmHWM`.

use std::io::{self, Read};
use std::process::{Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// What a finished child cost.
#[derive(Clone, Debug, Default)]
pub struct Measured {
    pub wall: Duration,
    /// User + system CPU seconds of the child and the descendants it waited for.
    pub cpu: f64,
    /// Peak RSS (KiB) of the child or its largest waited-for descendant.
    pub maxrss_kib: u64,
    /// Exit code (`None`: killed by a signal).
    pub code: Option<i32>,
    pub timed_out: bool,
    /// Captured stdout (when asked for), else empty.
    pub stdout: Vec<u8>,
    /// Lines of stdout (counted when captured).
    pub stdout_lines: u64,
    /// The last few KiB of stderr.
    pub stderr_tail: String,
}

impl Measured {
    pub fn ok(&self) -> bool {
        self.code == Some(0) && !self.timed_out
    }

    /// A failed run in words: its exit, and the last `lines` lines of its stderr (last first).
    pub fn failure(&self, lines: usize) -> String {
        format!(
            "FAILED (exit {:?}{}): {}",
            self.code,
            if self.timed_out { ", timed out" } else { "" },
            self.stderr_tail
                .lines()
                .rev()
                .take(lines)
                .collect::<Vec<_>>()
                .join(" | ")
        )
    }
}

/// What to do with the child's stdout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stdout {
    /// `/dev/null`.
    Null,
    /// Keep it (small outputs: our own result line).
    Keep,
    /// Read and count lines, keep nothing (listings).
    CountLines,
}

fn tv_secs(tv: libc::timeval) -> f64 {
    tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6
}

/// Runs `cmd` to completion (killing it after `timeout`) and measures it with `wait4`.
pub fn run(cmd: &mut Command, stdout: Stdout, timeout: Duration) -> io::Result<Measured> {
    cmd.stdin(Stdio::null()).stderr(Stdio::piped());
    match stdout {
        Stdout::Null => cmd.stdout(Stdio::null()),
        Stdout::Keep | Stdout::CountLines => cmd.stdout(Stdio::piped()),
    };
    let start = Instant::now();
    let mut child = cmd.spawn()?;
    let pid = child.id() as libc::pid_t;
    let out_pipe = child.stdout.take();
    let err_pipe = child.stderr.take();
    let out_thread = thread::spawn(move || -> (Vec<u8>, u64) {
        let Some(mut p) = out_pipe else {
            return (Vec::new(), 0);
        };
        let mut kept = Vec::new();
        let mut lines = 0u64;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            match p.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    lines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
                    if stdout == Stdout::Keep {
                        kept.extend_from_slice(&buf[..n]);
                    }
                }
            }
        }
        (kept, lines)
    });
    let err_thread = thread::spawn(move || -> String {
        let Some(mut p) = err_pipe else {
            return String::new();
        };
        let mut tail: Vec<u8> = Vec::new();
        let mut buf = vec![0u8; 1 << 14];
        loop {
            match p.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    tail.extend_from_slice(&buf[..n]);
                    if tail.len() > 16 << 10 {
                        tail.drain(..tail.len() - (8 << 10));
                    }
                }
            }
        }
        String::from_utf8_lossy(&tail).into_owned()
    });
    // The watchdog kills the child only while it is certainly not reaped yet (`exited` is set
    // under the lock before `wait4` reaps it), so it can never hit a reused pid.
    let exited = Arc::new((Mutex::new(false), Condvar::new()));
    let timed_out = Arc::new(Mutex::new(false));
    let watchdog = {
        let exited = exited.clone();
        let timed_out = timed_out.clone();
        thread::spawn(move || {
            let (lock, cv) = &*exited;
            let mut done = lock.lock().unwrap_or_else(|p| p.into_inner());
            let deadline = Instant::now() + timeout;
            while !*done {
                let now = Instant::now();
                if now >= deadline {
                    *timed_out.lock().unwrap_or_else(|p| p.into_inner()) = true;
                    // SAFETY: `pid` is our unreaped child (see above).
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                    break;
                }
                done = cv
                    .wait_timeout(done, deadline - now)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
        })
    };
    // Wait for the exit without reaping, mark it, then reap with the resource usage.
    loop {
        // SAFETY: plain syscall on our child; `info` is a valid out-parameter.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let r = unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        if r == 0 {
            break;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    let wall = start.elapsed();
    {
        let (lock, cv) = &*exited;
        *lock.lock().unwrap_or_else(|p| p.into_inner()) = true;
        cv.notify_all();
    }
    let _ = watchdog.join();
    let mut status = 0;
    // SAFETY: reaps our exited child; `ru` is a valid out-parameter.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    // The std handle must not wait again (the pid is reaped); forget it.
    std::mem::forget(child);
    let (stdout_bytes, stdout_lines) = out_thread.join().unwrap_or_default();
    let stderr_tail = err_thread.join().unwrap_or_default();
    let code = if libc::WIFEXITED(status) {
        Some(libc::WEXITSTATUS(status))
    } else {
        None
    };
    let timed_out = *timed_out.lock().unwrap_or_else(|p| p.into_inner());
    Ok(Measured {
        wall,
        cpu: tv_secs(ru.ru_utime) + tv_secs(ru.ru_stime),
        maxrss_kib: ru.ru_maxrss.max(0) as u64,
        code,
        timed_out,
        stdout: stdout_bytes,
        stdout_lines,
        stderr_tail,
    })
}

/// Runs `cmd` with inherited stdio and returns its exit code (128 + signal when killed), CPU
/// seconds and peak RSS (KiB) from `wait4`. This is `s3fd-bench measure-exec`: run as a small
/// fresh process between the benchmark and a peer, it keeps the benchmark's own RSS out of the
/// peer's `ru_maxrss` (Linux counts the pre-`exec` image of a child in its peak).
pub fn exec_and_wait(cmd: &mut Command) -> io::Result<(i32, f64, u64)> {
    let child = cmd.spawn()?;
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: reaps our child; `ru` is a valid out-parameter.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
        if r == pid {
            break;
        }
        let e = io::Error::last_os_error();
        if r >= 0 || e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    std::mem::forget(child);
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    };
    Ok((
        code,
        tv_secs(ru.ru_utime) + tv_secs(ru.ru_stime),
        ru.ru_maxrss.max(0) as u64,
    ))
}

/// Busy CPU seconds of the whole machine so far (`/proc/stat`: all but idle and iowait).
pub fn machine_busy() -> f64 {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = text.lines().find(|l| l.starts_with("cpu ")) else {
        return 0.0;
    };
    let v: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is inside user)
    let busy: f64 = [0usize, 1, 2, 5, 6, 7]
        .iter()
        .filter_map(|&i| v.get(i))
        .sum();
    busy / clock_ticks()
}

/// User + system CPU seconds of process `pid` so far (`/proc/PID/stat`), if it exists.
pub fn proc_cpu(pid: u32) -> Option<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start at state (field 3).
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / clock_ticks())
}

/// Sum of [`proc_cpu`] over `pids` (missing ones count 0).
pub fn procs_cpu(pids: &[u32]) -> f64 {
    pids.iter().filter_map(|&p| proc_cpu(p)).sum()
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// This process's user + system CPU seconds (all threads).
pub fn self_cpu() -> f64 {
    // SAFETY: getrusage fills the struct.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    tv_secs(ru.ru_utime) + tv_secs(ru.ru_stime)
}

/// A `VmXxx:` value (KiB) of `/proc/self/status`.
pub fn self_status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_a_child() {
        let m = run(
            Command::new("sh").args(["-c", "echo a; echo b; echo err >&2; exit 3"]),
            Stdout::Keep,
            Duration::from_secs(10),
        )
        .unwrap();
        assert_eq!(m.code, Some(3));
        assert_eq!(m.stdout, b"a\nb\n");
        assert_eq!(m.stdout_lines, 2);
        assert!(m.stderr_tail.contains("err"));
        assert!(m.maxrss_kib > 0);
        let t = run(
            Command::new("sleep").arg("5"),
            Stdout::Null,
            Duration::from_millis(200),
        )
        .unwrap();
        assert!(t.timed_out && !t.ok());
        assert!(proc_cpu(std::process::id()).is_some());
        assert!(self_status_kib("VmHWM:") > 0);
    }
}
