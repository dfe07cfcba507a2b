//! What the crowd reads of processes: CPU time and memory from Linux's
//! `/proc` (the server's, by its id, and the load generator's own), and
//! open descriptors.

use serde::Serialize;
use std::path::PathBuf;

/// One reading of a process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct ProcSample {
    /// User and system CPU time, in seconds.
    pub cpu_secs: f64,
    /// Resident memory now and its peak over the process's life, KiB.
    pub rss_kib: u64,
    pub hwm_kib: u64,
    /// Open descriptors; `None` where `/proc/PID/fd` cannot be read.
    pub fds: Option<usize>,
}

impl ProcSample {
    /// The larger memory and descriptor counts of the two, and the later
    /// CPU time.
    pub fn peak(&self, other: &ProcSample) -> ProcSample {
        ProcSample {
            cpu_secs: self.cpu_secs.max(other.cpu_secs),
            rss_kib: self.rss_kib.max(other.rss_kib),
            hwm_kib: self.hwm_kib.max(other.hwm_kib),
            fds: self.fds.max(other.fds),
        }
    }
}

/// A process to read: `None` for this one.
#[derive(Debug, Clone, Copy)]
pub struct Proc(pub Option<u32>);

impl Proc {
    fn path(&self, file: &str) -> PathBuf {
        match self.0 {
            Some(pid) => PathBuf::from(format!("/proc/{pid}/{file}")),
            None => PathBuf::from(format!("/proc/self/{file}")),
        }
    }

    /// CPU, memory and descriptors now; an error when the process is gone
    /// (or this is not Linux).
    pub fn sample(&self) -> anyhow::Result<ProcSample> {
        let read = |file: &str| {
            let path = self.path(file);
            std::fs::read_to_string(&path)
                .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))
        };
        let ticks = cpu_ticks(&read("stat")?)
            .ok_or_else(|| anyhow::anyhow!("no CPU times in {}", self.path("stat").display()))?;
        let status = read("status")?;
        Ok(ProcSample {
            cpu_secs: ticks as f64 / rustix::param::clock_ticks_per_second() as f64,
            rss_kib: status_kib(&status, "VmRSS").unwrap_or(0),
            hwm_kib: status_kib(&status, "VmHWM").unwrap_or(0),
            fds: std::fs::read_dir(self.path("fd")).ok().map(Iterator::count),
        })
    }
}

/// `utime + stime` from the text of `/proc/PID/stat`, in clock ticks. The
/// command name (field 2) is in parentheses and may hold spaces and
/// parentheses itself, so fields are counted from its last `)`: the state
/// is field 3, utime field 14, stime field 15.
pub fn cpu_ticks(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(14 - 3)?.parse().ok()?;
    let stime: u64 = fields.get(15 - 3)?.parse().ok()?;
    Some(utime + stime)
}

/// A `Name:   1234 kB` line of `/proc/PID/status`, in KiB.
pub fn status_kib(status: &str, name: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_count_from_the_last_parenthesis() {
        // A command name with a space and a parenthesis in it, as a
        // process may name itself.
        let stat = "4242 (down wave) x) S 1 4242 4242 0 -1 4194560 1234 0 0 0 \
                    1500 250 0 0 20 0 5 0 123456 987654321 4321 18446744073709551615";
        assert_eq!(cpu_ticks(stat), Some(1750));
        assert_eq!(cpu_ticks("4242 (downwave) S 1 2"), None);
        assert_eq!(cpu_ticks("no parenthesis"), None);
    }

    #[test]
    fn status_lines_are_read_by_their_exact_name() {
        let status = "Name:\tdownwave\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\nVmRSSX:\t1 kB\n";
        assert_eq!(status_kib(status, "VmRSS"), Some(102_400));
        assert_eq!(status_kib(status, "VmHWM"), Some(204_800));
        assert_eq!(status_kib(status, "VmSwap"), None);
    }

    #[test]
    fn this_process_reads_itself() {
        let s = Proc(None).sample().unwrap();
        assert!(s.rss_kib > 0 && s.hwm_kib >= s.rss_kib, "{s:?}");
        assert!(s.fds.is_some_and(|n| n >= 3), "{s:?}");
        assert!(Proc(Some(u32::MAX)).sample().is_err());
    }
}
