//! The IEneaBuffer implementation, shared by both platforms.

use std::sync::Arc;

use async_trait::async_trait;
use log::{info, warn};
use rustix::io::Errno;

use crate::diagnostics::{Call, Diagnostics, RegionFacts};
use crate::platform::{self, IEneaBufferAsyncServer, ParcelFileDescriptor, Result, Status};
use crate::region::SharedRegion;
use vendor_enea_buffer::aidl::vendor::enea::buffer::IEneaBuffer::{
    ERROR_NO_RESOURCES, HASH, LAYOUT_VERSION, VERSION,
};
use vendor_enea_buffer::aidl::vendor::enea::buffer::Region::Region;

/// Serves one shared region to every client.
pub struct EneaBufferService {
    region: Arc<SharedRegion>,
    diagnostics: Arc<Diagnostics>,
    name: String,
}

/// A caller the dump is not for.
#[derive(Debug)]
pub struct DumpRefused;

impl EneaBufferService {
    /// A service named `name` handing out fds of `region`, counting into `diagnostics`.
    pub fn new(region: Arc<SharedRegion>, diagnostics: Arc<Diagnostics>, name: String) -> Self {
        Self {
            region,
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
        self.diagnostics.count(uid, Call::Dump, false);
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

    /// A fresh fd from `dup`, or ERROR_NO_RESOURCES; counted either way.
    fn hand_out(
        &self,
        call: Call,
        dup: impl FnOnce(&SharedRegion) -> std::result::Result<std::os::fd::OwnedFd, Errno>,
    ) -> Result<ParcelFileDescriptor> {
        let (uid, pid) = platform::calling_identity();
        info!("{} from uid={uid} pid={pid}", call.name());
        match dup(&self.region) {
            Ok(fd) => {
                self.diagnostics.count(uid, call, true);
                Ok(ParcelFileDescriptor::new(fd))
            }
            Err(errno) => {
                self.diagnostics.count(uid, call, false);
                Err(self.no_resources(call.name(), errno))
            }
        }
    }

    /// A [`Region`]: a fresh fd from `dup` with the size and layout it has.
    fn region(
        &self,
        call: Call,
        dup: impl FnOnce(&SharedRegion) -> std::result::Result<std::os::fd::OwnedFd, Errno>,
    ) -> Result<Region> {
        Ok(Region {
            fd: Some(self.hand_out(call, dup)?),
            size: self.region.len() as i64,
            layoutVersion: LAYOUT_VERSION,
        })
    }

    /// A failed dup means the daemon is out of fds or memory: the client may retry.
    fn no_resources(&self, what: &str, errno: Errno) -> Status {
        let message = format!("{what}: cannot duplicate the region fd: {errno}");
        warn!("{message}");
        self.diagnostics.error(message.clone());
        platform::service_specific_error(ERROR_NO_RESOURCES, &message)
    }
}

#[async_trait]
impl IEneaBufferAsyncServer for EneaBufferService {
    async fn r#getBuffer(&self) -> Result<ParcelFileDescriptor> {
        self.hand_out(Call::GetBuffer, SharedRegion::dup_read_write)
    }

    async fn r#getBufferSize(&self) -> Result<i64> {
        let (uid, _) = platform::calling_identity();
        self.diagnostics.count(uid, Call::GetBufferSize, false);
        Ok(self.region.len() as i64)
    }

    async fn r#getReadOnlyBuffer(&self) -> Result<ParcelFileDescriptor> {
        self.hand_out(Call::GetReadOnlyBuffer, SharedRegion::dup_read_only)
    }

    async fn r#getRegion(&self) -> Result<Region> {
        self.region(Call::GetRegion, SharedRegion::dup_read_write)
    }

    async fn r#getReadOnlyRegion(&self) -> Result<Region> {
        self.region(Call::GetReadOnlyRegion, SharedRegion::dup_read_only)
    }
}
