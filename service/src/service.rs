//! The IEneaBuffer implementation, shared by both platforms.

use std::collections::BTreeMap;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use log::{info, warn};
use rustix::io::Errno;

use crate::diagnostics::{Call, Diagnostics, RegionFacts};
use crate::platform::{self, Caller, IEneaBufferAsyncServer, ParcelFileDescriptor, Result, Status};
use crate::policy::{Policy, Right};
use crate::region::SharedRegion;
use vendor_enea_buffer::aidl::vendor::enea::buffer::IEneaBuffer::{
    CONTROL_SIZE, ERROR_NO_RESOURCES, HASH, LAYOUT_VERSION, VERSION,
};
use vendor_enea_buffer::aidl::vendor::enea::buffer::Region::Region;

/// Serves one shared region to every client the policy admits.
pub struct EneaBufferService {
    region: Arc<SharedRegion>,
    policy: Policy,
    stats: Arc<CallStats>,
    diagnostics: Arc<Diagnostics>,
    name: String,
}

/// A caller the dump is not for.
#[derive(Debug)]
pub struct DumpRefused;

impl EneaBufferService {
    /// A service named `name` handing out fds of `region` to callers
    /// `policy` admits, counting calls into `stats` (the periodic log
    /// summary) and `diagnostics` (the dump).
    pub fn new(
        region: Arc<SharedRegion>,
        policy: Policy,
        stats: Arc<CallStats>,
        diagnostics: Arc<Diagnostics>,
        name: String,
    ) -> Self {
        Self {
            region,
            policy,
            stats,
            diagnostics,
            name,
        }
    }

    /// Writes the dump for a caller with `uid`: root, the daemon's own uid
    /// and the platform's dump uids may read it; anyone else is refused
    /// (counted, and told why in the output).
    pub fn write_dump(
        &self,
        out: &mut dyn std::io::Write,
        uid: u32,
    ) -> std::result::Result<(), DumpRefused> {
        if !platform::may_dump(uid) {
            warn!("dump refused to uid={uid}");
            self.diagnostics.refused(uid);
            let _ = writeln!(
                out,
                "permission denied: uid {uid} may not dump {}",
                self.name
            );
            return Err(DumpRefused);
        }
        self.diagnostics.count(uid, Call::Dump);
        let identity = self.region.identity();
        let facts = RegionFacts {
            len: self.region.len(),
            dev: identity.map_or(0, |i| i.0),
            ino: identity.map_or(0, |i| i.1),
            word0: self
                .region
                .word0()
                .load(std::sync::atomic::Ordering::Relaxed),
        };
        let text = self.diagnostics.render(&self.name, VERSION, HASH, &facts);
        // A reader that went away is its own problem, not the daemon's.
        let _ = out.write_all(text.as_bytes());
        Ok(())
    }

    /// Checks the caller's right against `needed`; counts and logs the call.
    fn admit(&self, call: Call, needed: Right) -> Result<Caller> {
        let caller = platform::calling_identity();
        let right = self.policy.right_of(caller.uid, caller.gid);
        let granted = right >= needed;
        let first = self.stats.count(caller.uid, call, granted);
        if granted {
            self.diagnostics.count(caller.uid, call);
        } else {
            self.diagnostics.refused(caller.uid);
        }
        let gid = caller.gid.map(|g| format!(" gid={g}")).unwrap_or_default();
        let verdict = if granted { "granted" } else { "refused" };
        // Per call at debug; a uid's first call of each method also at
        // info, so the log names every client without one line per call.
        let level = if first {
            log::Level::Info
        } else {
            log::Level::Debug
        };
        log::log!(
            level,
            "{} from uid={}{gid} pid={}: {verdict} ({right}){}",
            call.name(),
            caller.uid,
            caller.pid,
            if first {
                "; first such call of this uid, the next are counted in the summary"
            } else {
                ""
            }
        );
        if granted {
            Ok(caller)
        } else {
            let lacks = match needed {
                Right::ReadWrite => "read-write",
                _ => "read",
            };
            Err(platform::security_error(&format!(
                "{}: uid {} has no {lacks} access to vendor.enea.buffer (its right is '{right}')",
                call.name(),
                caller.uid
            )))
        }
    }

    /// A dup of the region for the reply, or ERROR_NO_RESOURCES.
    fn reply_fd(
        &self,
        call: Call,
        caller: &Caller,
        dup: impl Fn(&SharedRegion) -> std::result::Result<OwnedFd, Errno>,
    ) -> Result<ParcelFileDescriptor> {
        let no_resources = |e| {
            let (status, message) = no_resources(call, caller, e);
            self.diagnostics.error(message);
            status
        };
        let fd = dup(&self.region).map_err(no_resources)?;
        // Writing the reply dups the fd once more (both binder stacks do):
        // if that one fails the client sees a bare transaction failure and
        // nothing here hears of it. Check the headroom first, while the
        // error can still be the documented one.
        dup(&self.region).map_err(no_resources)?;
        self.diagnostics.handed_out(caller.uid);
        Ok(ParcelFileDescriptor::new(fd))
    }

    /// A [`Region`]: a fresh fd from `dup` with the size and layout it has.
    fn region(
        &self,
        call: Call,
        caller: &Caller,
        dup: impl Fn(&SharedRegion) -> std::result::Result<OwnedFd, Errno>,
    ) -> Result<Region> {
        Ok(Region {
            fd: Some(self.reply_fd(call, caller, dup)?),
            size: self.region.len() as i64,
            layoutVersion: layout_version(self.region.len()),
        })
    }
}

/// The layout a region of `len` bytes has: [`LAYOUT_VERSION`], or 0 (no
/// layout, word access only) if the control words do not fit in it.
pub fn layout_version(len: usize) -> i32 {
    if len >= CONTROL_SIZE as usize {
        LAYOUT_VERSION
    } else {
        0
    }
}

/// A failed dup means the daemon is out of fds or memory: the client may
/// retry. Returns the status and the message (for the dump).
fn no_resources(call: Call, caller: &Caller, errno: Errno) -> (Status, String) {
    let message = format!(
        "{}: cannot duplicate the region fd for the reply: {errno}",
        call.name()
    );
    warn!("{message} (caller uid={} pid={})", caller.uid, caller.pid);
    let status = platform::service_specific_error(ERROR_NO_RESOURCES, &message);
    (status, message)
}

#[async_trait]
impl IEneaBufferAsyncServer for EneaBufferService {
    async fn r#getBuffer(&self) -> Result<ParcelFileDescriptor> {
        let caller = self.admit(Call::GetBuffer, Right::ReadWrite)?;
        self.reply_fd(Call::GetBuffer, &caller, SharedRegion::dup_read_write)
    }

    async fn r#getBufferSize(&self) -> Result<i64> {
        self.admit(Call::GetBufferSize, Right::ReadOnly)?;
        Ok(self.region.len() as i64)
    }

    async fn r#getReadOnlyBuffer(&self) -> Result<ParcelFileDescriptor> {
        let caller = self.admit(Call::GetReadOnlyBuffer, Right::ReadOnly)?;
        self.reply_fd(
            Call::GetReadOnlyBuffer,
            &caller,
            SharedRegion::dup_read_only,
        )
    }

    async fn r#getRegion(&self) -> Result<Region> {
        let caller = self.admit(Call::GetRegion, Right::ReadWrite)?;
        self.region(Call::GetRegion, &caller, SharedRegion::dup_read_write)
    }

    async fn r#getReadOnlyRegion(&self) -> Result<Region> {
        let caller = self.admit(Call::GetReadOnlyRegion, Right::ReadOnly)?;
        self.region(
            Call::GetReadOnlyRegion,
            &caller,
            SharedRegion::dup_read_only,
        )
    }
}

/// Distinct uids counted apart in one period; the rest are summed up, so a
/// caller cycling through uids cannot grow the table (or the log line).
const MAX_UIDS_PER_PERIOD: usize = 32;
/// Uids whose first call is logged at info; later newcomers are not.
const MAX_UIDS_LOGGED: usize = 1024;

#[derive(Default, Clone)]
struct Counts {
    granted: BTreeMap<Call, u64>,
    refused: u64,
}

#[derive(Default)]
struct Period {
    per_uid: BTreeMap<u32, Counts>,
    other_uids: Counts,
    connections_refused: u64,
}

/// Calls per uid since the last summary: the `info` log gets one line per
/// period instead of one per call, so no caller can flood it.
#[derive(Default)]
pub struct CallStats {
    period: Mutex<Period>,
    seen: Mutex<std::collections::HashSet<(u32, Call)>>,
}

impl CallStats {
    /// Counts one call of `uid`; true if it is that uid's first call of
    /// this method (among the first [`MAX_UIDS_LOGGED`] uids' worth).
    pub fn count(&self, uid: u32, call: Call, granted: bool) -> bool {
        let first = {
            let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            seen.len() < 5 * MAX_UIDS_LOGGED && seen.insert((uid, call))
        };
        let mut p = self.period.lock().unwrap_or_else(|e| e.into_inner());
        let known = p.per_uid.len() < MAX_UIDS_PER_PERIOD || p.per_uid.contains_key(&uid);
        let c = if known {
            p.per_uid.entry(uid).or_default()
        } else {
            &mut p.other_uids
        };
        if granted {
            *c.granted.entry(call).or_default() += 1;
        } else {
            c.refused += 1;
        }
        first
    }

    /// Counts a connection turned away by a limit.
    // Only the socket transport has connection limits.
    #[cfg_attr(target_os = "android", allow(dead_code))]
    pub fn count_refused_connection(&self) {
        let mut p = self.period.lock().unwrap_or_else(|e| e.into_inner());
        p.connections_refused += 1;
    }

    /// The summary of the period now ending (and starts a new one), or
    /// `None` if nothing happened in it.
    pub fn take_summary(&self) -> Option<String> {
        let p = std::mem::take(&mut *self.period.lock().unwrap_or_else(|e| e.into_inner()));
        let fmt = |who: String, c: &Counts| {
            let mut parts: Vec<String> = c
                .granted
                .iter()
                .map(|(call, n)| format!("{n} {}", call.name()))
                .collect();
            if c.refused > 0 {
                parts.push(format!("{} refused", c.refused));
            }
            format!("{who}: {}", parts.join(", "))
        };
        let mut lines: Vec<String> = p
            .per_uid
            .iter()
            .map(|(uid, c)| fmt(format!("uid {uid}"), c))
            .collect();
        let o = &p.other_uids;
        if !o.granted.is_empty() || o.refused > 0 {
            lines.push(fmt("other uids".into(), o));
        }
        if p.connections_refused > 0 {
            lines.push(format!(
                "{} connections refused by limits",
                p.connections_refused
            ));
        }
        (!lines.is_empty()).then(|| lines.join("; "))
    }
}

/// Logs [`CallStats::take_summary`] at `info` every `period`.
pub async fn log_summaries(stats: Arc<CallStats>, period: std::time::Duration) {
    if period.is_zero() {
        return;
    }
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        if let Some(summary) = stats.take_summary() {
            info!("calls in the last {period:?}: {summary}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regions_that_hold_the_control_words_have_a_layout() {
        let control = CONTROL_SIZE as usize;
        assert_eq!(layout_version(4), 0);
        assert_eq!(layout_version(control - 4), 0);
        assert_eq!(layout_version(control), LAYOUT_VERSION);
        assert_eq!(layout_version(10240), LAYOUT_VERSION);
    }

    #[test]
    fn summary_counts_per_uid_and_resets() {
        let s = CallStats::default();
        assert_eq!(s.take_summary(), None);
        assert!(s.count(0, Call::GetBuffer, true), "first call of uid 0");
        assert!(!s.count(0, Call::GetBuffer, true), "second call of uid 0");
        assert!(s.count(0, Call::GetBufferSize, false), "another method");
        assert!(s.count(2000, Call::GetBufferSize, false));
        s.count_refused_connection();
        assert_eq!(
            s.take_summary().as_deref(),
            Some(
                "uid 0: 2 getBuffer, 1 refused; uid 2000: 1 refused; \
                 1 connections refused by limits"
            )
        );
        assert_eq!(s.take_summary(), None);
    }

    #[test]
    fn summary_is_bounded_in_uids() {
        let s = CallStats::default();
        for uid in 0..1000 {
            s.count(uid, Call::GetReadOnlyBuffer, true);
        }
        let line = s.take_summary().unwrap();
        assert_eq!(line.matches("uid ").count(), MAX_UIDS_PER_PERIOD);
        assert!(
            line.ends_with("other uids: 968 getReadOnlyBuffer"),
            "{line}"
        );
    }
}
