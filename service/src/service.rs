//! The IEneaBuffer implementation, shared by both platforms.

use std::os::fd::OwnedFd;
use std::sync::Arc;

use async_trait::async_trait;
use rustix::io::Errno;

use crate::caller_log;
use crate::calls::{Call, CallTable};
use crate::diagnostics::{Diagnostics, RegionFacts};
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
    calls: Arc<CallTable>,
    diagnostics: Arc<Diagnostics>,
    name: String,
}

/// A caller the dump is not for.
#[derive(Debug)]
pub struct DumpRefused;

impl EneaBufferService {
    /// A service named `name` handing out fds of `region` to callers
    /// `policy` admits, counting calls into `calls` (the log summary's and
    /// the dump's table) and errors into `diagnostics` (the dump).
    pub fn new(
        region: Arc<SharedRegion>,
        policy: Policy,
        calls: Arc<CallTable>,
        diagnostics: Arc<Diagnostics>,
        name: String,
    ) -> Self {
        Self {
            region,
            policy,
            calls,
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
            caller_log::warn(
                uid,
                "dump refused",
                format_args!("dump refused to uid={uid}"),
            );
            self.calls.count(uid, Call::Dump, false);
            let _ = writeln!(
                out,
                "permission denied: uid {uid} may not dump {}",
                self.name
            );
            return Err(DumpRefused);
        }
        self.calls.count(uid, Call::Dump, true);
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
        let text = self
            .diagnostics
            .render(&self.name, VERSION, HASH, &facts, &self.calls);
        // A reader that went away is its own problem, not the daemon's.
        let _ = out.write_all(text.as_bytes());
        Ok(())
    }

    /// Checks the caller's right against `needed`; counts and logs the call.
    fn admit(&self, call: Call, needed: Right) -> Result<Caller> {
        let caller = platform::calling_identity();
        let right = self.policy.right_of(caller.uid, caller.gid);
        let granted = right >= needed;
        let first = self.calls.count(caller.uid, call, granted);
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
        self.calls.handed_out(caller.uid);
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
    caller_log::warn(
        caller.uid,
        "no resources",
        format_args!("{message} (caller uid={} pid={})", caller.uid, caller.pid),
    );
    let status = platform::service_specific_error(ERROR_NO_RESOURCES, &message);
    (status, message)
}

impl platform::Interface for EneaBufferService {
    /// The binder dump transaction (`eneabuf dump`; `dumpsys` on Android).
    fn dump(
        &self,
        writer: &mut dyn std::io::Write,
        _args: &[platform::DumpArg<'_>],
    ) -> platform::DumpResult {
        self.write_dump(writer, platform::calling_identity().uid)
            .map_err(|_| platform::DUMP_REFUSED)
    }
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
}
