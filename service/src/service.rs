//! The IEneaBuffer implementation, shared by both platforms.

use std::collections::BTreeMap;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use log::{info, warn};
use rustix::io::Errno;

use crate::platform::{
    self, Caller, IEneaBufferAsyncServer, Interface, ParcelFileDescriptor, Result, Status,
};
use crate::policy::{Policy, Right};
use crate::region::SharedRegion;
use vendor_enea_buffer::aidl::vendor::enea::buffer::IEneaBuffer::ERROR_NO_RESOURCES;

/// Serves one shared region to every client the policy admits.
pub struct EneaBufferService {
    region: Arc<SharedRegion>,
    policy: Policy,
    stats: Arc<CallStats>,
}

impl EneaBufferService {
    /// A service handing out fds of `region` to callers `policy` admits,
    /// counting calls into `stats`.
    pub fn new(region: Arc<SharedRegion>, policy: Policy, stats: Arc<CallStats>) -> Self {
        Self {
            region,
            policy,
            stats,
        }
    }

    /// Checks the caller's right against `needed`; counts and logs the call.
    fn admit(&self, call: Call, needed: Right) -> Result<Caller> {
        let caller = platform::calling_identity();
        let right = self.policy.right_of(caller.uid, caller.gid);
        let granted = right >= needed;
        let first = self.stats.count(caller.uid, call, granted);
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
        let fd = dup(&self.region).map_err(|e| no_resources(call, caller, e))?;
        // Writing the reply dups the fd once more (both binder stacks do):
        // if that one fails the client sees a bare transaction failure and
        // nothing here hears of it. Check the headroom first, while the
        // error can still be the documented one.
        dup(&self.region).map_err(|e| no_resources(call, caller, e))?;
        Ok(ParcelFileDescriptor::new(fd))
    }
}

impl Interface for EneaBufferService {}

/// A failed dup means the daemon is out of fds or memory: the client may retry.
fn no_resources(call: Call, caller: &Caller, errno: Errno) -> Status {
    let message = format!(
        "{}: cannot duplicate the region fd for the reply: {errno}",
        call.name()
    );
    warn!("{message} (caller uid={} pid={})", caller.uid, caller.pid);
    platform::service_specific_error(ERROR_NO_RESOURCES, &message)
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
}

/// The calls the policy checks (named as in the AIDL).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(clippy::enum_variant_names)]
pub enum Call {
    /// `getBuffer`.
    GetBuffer,
    /// `getBufferSize`.
    GetBufferSize,
    /// `getReadOnlyBuffer`.
    GetReadOnlyBuffer,
}

impl Call {
    fn name(self) -> &'static str {
        match self {
            Call::GetBuffer => "getBuffer",
            Call::GetBufferSize => "getBufferSize",
            Call::GetReadOnlyBuffer => "getReadOnlyBuffer",
        }
    }
}

/// Distinct uids counted apart in one period; the rest are summed up, so a
/// caller cycling through uids cannot grow the table (or the log line).
const MAX_UIDS_PER_PERIOD: usize = 32;
/// Uids whose first call is logged at info; later newcomers are not.
const MAX_UIDS_LOGGED: usize = 1024;

#[derive(Default, Clone, Copy)]
struct Counts {
    get_buffer: u64,
    get_buffer_size: u64,
    get_read_only_buffer: u64,
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
            seen.len() < 3 * MAX_UIDS_LOGGED && seen.insert((uid, call))
        };
        let mut p = self.period.lock().unwrap_or_else(|e| e.into_inner());
        let known = p.per_uid.len() < MAX_UIDS_PER_PERIOD || p.per_uid.contains_key(&uid);
        let c = if known {
            p.per_uid.entry(uid).or_default()
        } else {
            &mut p.other_uids
        };
        if !granted {
            c.refused += 1;
        } else {
            match call {
                Call::GetBuffer => c.get_buffer += 1,
                Call::GetBufferSize => c.get_buffer_size += 1,
                Call::GetReadOnlyBuffer => c.get_read_only_buffer += 1,
            }
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
            let mut parts = Vec::new();
            for (n, name) in [
                (c.get_buffer, "getBuffer"),
                (c.get_read_only_buffer, "getReadOnlyBuffer"),
                (c.get_buffer_size, "getBufferSize"),
                (c.refused, "refused"),
            ] {
                if n > 0 {
                    parts.push(format!("{n} {name}"));
                }
            }
            format!("{who}: {}", parts.join(", "))
        };
        let mut lines: Vec<String> = p
            .per_uid
            .iter()
            .map(|(uid, c)| fmt(format!("uid {uid}"), c))
            .collect();
        let o = p.other_uids;
        if o.get_buffer + o.get_buffer_size + o.get_read_only_buffer + o.refused > 0 {
            lines.push(fmt("other uids".into(), &o));
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
