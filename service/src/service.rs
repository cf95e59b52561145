//! The IEneaBuffer implementation, shared by both platforms.

use std::sync::Arc;

use async_trait::async_trait;
use log::{info, warn};
use rustix::io::Errno;

use crate::platform::{
    self, IEneaBufferAsyncServer, Interface, ParcelFileDescriptor, Result, Status,
};
use crate::region::SharedRegion;
use vendor_enea_buffer::aidl::vendor::enea::buffer::IEneaBuffer::ERROR_NO_RESOURCES;

/// Serves one shared region to every client.
pub struct EneaBufferService {
    region: Arc<SharedRegion>,
}

impl EneaBufferService {
    /// A service handing out fds of `region`.
    pub fn new(region: Arc<SharedRegion>) -> Self {
        Self { region }
    }
}

impl Interface for EneaBufferService {}

/// A failed dup means the daemon is out of fds or memory: the client may retry.
fn no_resources(what: &str, errno: Errno) -> Status {
    warn!("{what}: cannot duplicate the region fd: {errno}");
    platform::service_specific_error(
        ERROR_NO_RESOURCES,
        &format!("{what}: cannot duplicate the region fd: {errno}"),
    )
}

#[async_trait]
impl IEneaBufferAsyncServer for EneaBufferService {
    async fn r#getBuffer(&self) -> Result<ParcelFileDescriptor> {
        let (uid, pid) = platform::calling_identity();
        info!("getBuffer from uid={uid} pid={pid}");
        self.region
            .dup_read_write()
            .map(ParcelFileDescriptor::new)
            .map_err(|e| no_resources("getBuffer", e))
    }

    async fn r#getBufferSize(&self) -> Result<i64> {
        Ok(self.region.len() as i64)
    }

    async fn r#getReadOnlyBuffer(&self) -> Result<ParcelFileDescriptor> {
        let (uid, pid) = platform::calling_identity();
        info!("getReadOnlyBuffer from uid={uid} pid={pid}");
        self.region
            .dup_read_only()
            .map(ParcelFileDescriptor::new)
            .map_err(|e| no_resources("getReadOnlyBuffer", e))
    }
}
