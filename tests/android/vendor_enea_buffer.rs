//! FIXTURE: `vendor.enea.buffer-V2-rust` as AOSP's `aidl --lang=rust` emits it.
//!
//! Models the Rust backend of system/tools/aidl as of Android 15 (the shape of
//! tests/golden_output/aidl-test-versioned-interface-V2-rust-source, and of
//! android.hardware.common's Ashmem.rs for a VINTF parcelable holding a
//! ParcelFileDescriptor), for
//!   aidl --lang=rust --structured --stability vintf --version 2
//!        --hash 6b3405672640383845ea861e011e47fdd2ebfe2d
//!        aidl_api/vendor.enea.buffer/2/vendor/enea/buffer/IEneaBuffer.aidl
//!        aidl_api/vendor.enea.buffer/2/vendor/enea/buffer/Region.aidl
//! with the crate root that Soong's aidl_rust_glue wraps around it, all in one
//! file. AOSP's aidl cannot be installed here; this stands in for its output
//! so that the Android seams type-check against the real libbinder_rs.
//! `tests/platform` keeps it equal to the .aidl and the frozen dump (methods
//! and their order, constants, VERSION, HASH, descriptor, stability, and the
//! parcelable's fields, their wire order, descriptor and stability).
#![allow(non_upper_case_globals)]
#![allow(non_snake_case)]
#![allow(missing_docs)]
pub use binder;
pub mod aidl {
  pub mod vendor {
    pub mod enea {
      pub mod buffer {
        pub mod r#IEneaBuffer {
#![forbid(unsafe_code)]
#![cfg_attr(rustfmt, rustfmt_skip)]
#[allow(unused_imports)] use binder::binder_impl::IBinderInternal;
use binder::declare_binder_interface;
declare_binder_interface! {
  IEneaBuffer["vendor.enea.buffer.IEneaBuffer"] {
    native: BnEneaBuffer(on_transact),
    proxy: BpEneaBuffer {
      cached_version: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1),
      cached_hash: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None)
    },
    async: IEneaBufferAsync,
    stability: binder::binder_impl::Stability::Vintf,
  }
}
pub trait IEneaBuffer: binder::Interface + Send {
  fn get_descriptor() -> &'static str where Self: Sized { "vendor.enea.buffer.IEneaBuffer" }
  fn r#getBuffer(&self) -> binder::Result<binder::ParcelFileDescriptor>;
  fn r#getBufferSize(&self) -> binder::Result<i64>;
  fn r#getReadOnlyBuffer(&self) -> binder::Result<binder::ParcelFileDescriptor>;
  fn r#getRegion(&self) -> binder::Result<crate::mangled::_6_vendor_4_enea_6_buffer_6_Region>;
  fn r#getReadOnlyRegion(&self) -> binder::Result<crate::mangled::_6_vendor_4_enea_6_buffer_6_Region>;
  fn r#getInterfaceVersion(&self) -> binder::Result<i32> {
    Ok(VERSION)
  }
  fn r#getInterfaceHash(&self) -> binder::Result<String> {
    Ok(HASH.into())
  }
  fn getDefaultImpl() -> IEneaBufferDefaultRef where Self: Sized {
    DEFAULT_IMPL.lock().unwrap().clone()
  }
  fn setDefaultImpl(d: IEneaBufferDefaultRef) -> IEneaBufferDefaultRef where Self: Sized {
    std::mem::replace(&mut *DEFAULT_IMPL.lock().unwrap(), d)
  }
}
pub trait IEneaBufferAsync<P>: binder::Interface + Send {
  fn get_descriptor() -> &'static str where Self: Sized { "vendor.enea.buffer.IEneaBuffer" }
  fn r#getBuffer<'a>(&'a self) -> binder::BoxFuture<'a, binder::Result<binder::ParcelFileDescriptor>>;
  fn r#getBufferSize<'a>(&'a self) -> binder::BoxFuture<'a, binder::Result<i64>>;
  fn r#getReadOnlyBuffer<'a>(&'a self) -> binder::BoxFuture<'a, binder::Result<binder::ParcelFileDescriptor>>;
  fn r#getRegion<'a>(&'a self) -> binder::BoxFuture<'a, binder::Result<crate::mangled::_6_vendor_4_enea_6_buffer_6_Region>>;
  fn r#getReadOnlyRegion<'a>(&'a self) -> binder::BoxFuture<'a, binder::Result<crate::mangled::_6_vendor_4_enea_6_buffer_6_Region>>;
  fn r#getInterfaceVersion<'a>(&'a self) -> binder::BoxFuture<'a, binder::Result<i32>> {
    Box::pin(async move { Ok(VERSION) })
  }
  fn r#getInterfaceHash<'a>(&'a self) -> binder::BoxFuture<'a, binder::Result<String>> {
    Box::pin(async move { Ok(HASH.into()) })
  }
}
#[::async_trait::async_trait]
pub trait IEneaBufferAsyncServer: binder::Interface + Send {
  fn get_descriptor() -> &'static str where Self: Sized { "vendor.enea.buffer.IEneaBuffer" }
  async fn r#getBuffer(&self) -> binder::Result<binder::ParcelFileDescriptor>;
  async fn r#getBufferSize(&self) -> binder::Result<i64>;
  async fn r#getReadOnlyBuffer(&self) -> binder::Result<binder::ParcelFileDescriptor>;
  async fn r#getRegion(&self) -> binder::Result<crate::mangled::_6_vendor_4_enea_6_buffer_6_Region>;
  async fn r#getReadOnlyRegion(&self) -> binder::Result<crate::mangled::_6_vendor_4_enea_6_buffer_6_Region>;
}
impl BnEneaBuffer {
  /// Create a new async binder service.
  pub fn new_async_binder<T, R>(inner: T, rt: R, features: binder::BinderFeatures) -> binder::Strong<dyn IEneaBuffer>
  where
    T: IEneaBufferAsyncServer + binder::Interface + Send + Sync + 'static,
    R: binder::binder_impl::BinderAsyncRuntime + Send + Sync + 'static,
  {
    struct Wrapper<T, R> {
      _inner: T,
      _rt: R,
    }
    impl<T, R> binder::Interface for Wrapper<T, R> where T: binder::Interface, R: Send + Sync + 'static {
      fn as_binder(&self) -> binder::SpIBinder { self._inner.as_binder() }
      fn dump(&self, _writer: &mut dyn std::io::Write, _args: &[&std::ffi::CStr]) -> std::result::Result<(), binder::StatusCode> { self._inner.dump(_writer, _args) }
    }
    impl<T, R> IEneaBuffer for Wrapper<T, R>
    where
      T: IEneaBufferAsyncServer + Send + Sync + 'static,
      R: binder::binder_impl::BinderAsyncRuntime + Send + Sync + 'static,
    {
      fn r#getBuffer(&self) -> binder::Result<binder::ParcelFileDescriptor> {
        self._rt.block_on(self._inner.r#getBuffer())
      }
      fn r#getBufferSize(&self) -> binder::Result<i64> {
        self._rt.block_on(self._inner.r#getBufferSize())
      }
      fn r#getReadOnlyBuffer(&self) -> binder::Result<binder::ParcelFileDescriptor> {
        self._rt.block_on(self._inner.r#getReadOnlyBuffer())
      }
      fn r#getRegion(&self) -> binder::Result<crate::mangled::_6_vendor_4_enea_6_buffer_6_Region> {
        self._rt.block_on(self._inner.r#getRegion())
      }
      fn r#getReadOnlyRegion(&self) -> binder::Result<crate::mangled::_6_vendor_4_enea_6_buffer_6_Region> {
        self._rt.block_on(self._inner.r#getReadOnlyRegion())
      }
    }
    let wrapped = Wrapper { _inner: inner, _rt: rt };
    Self::new_binder(wrapped, features)
  }
}
pub trait IEneaBufferDefault: Send + Sync {
  fn r#getBuffer(&self) -> binder::Result<binder::ParcelFileDescriptor> {
    Err(binder::StatusCode::UNKNOWN_TRANSACTION.into())
  }
  fn r#getBufferSize(&self) -> binder::Result<i64> {
    Err(binder::StatusCode::UNKNOWN_TRANSACTION.into())
  }
  fn r#getReadOnlyBuffer(&self) -> binder::Result<binder::ParcelFileDescriptor> {
    Err(binder::StatusCode::UNKNOWN_TRANSACTION.into())
  }
  fn r#getRegion(&self) -> binder::Result<crate::mangled::_6_vendor_4_enea_6_buffer_6_Region> {
    Err(binder::StatusCode::UNKNOWN_TRANSACTION.into())
  }
  fn r#getReadOnlyRegion(&self) -> binder::Result<crate::mangled::_6_vendor_4_enea_6_buffer_6_Region> {
    Err(binder::StatusCode::UNKNOWN_TRANSACTION.into())
  }
}
pub mod transactions {
  pub const r#getBuffer: binder::binder_impl::TransactionCode = binder::binder_impl::FIRST_CALL_TRANSACTION + 0;
  pub const r#getBufferSize: binder::binder_impl::TransactionCode = binder::binder_impl::FIRST_CALL_TRANSACTION + 1;
  pub const r#getReadOnlyBuffer: binder::binder_impl::TransactionCode = binder::binder_impl::FIRST_CALL_TRANSACTION + 2;
  pub const r#getRegion: binder::binder_impl::TransactionCode = binder::binder_impl::FIRST_CALL_TRANSACTION + 3;
  pub const r#getReadOnlyRegion: binder::binder_impl::TransactionCode = binder::binder_impl::FIRST_CALL_TRANSACTION + 4;
  pub const r#getInterfaceVersion: binder::binder_impl::TransactionCode = binder::binder_impl::FIRST_CALL_TRANSACTION + 16777214;
  pub const r#getInterfaceHash: binder::binder_impl::TransactionCode = binder::binder_impl::FIRST_CALL_TRANSACTION + 16777213;
}
pub type IEneaBufferDefaultRef = Option<std::sync::Arc<dyn IEneaBufferDefault>>;
static DEFAULT_IMPL: std::sync::Mutex<IEneaBufferDefaultRef> = std::sync::Mutex::new(None);
pub const r#ERROR_NO_RESOURCES: i32 = 1;
pub const r#LAYOUT_VERSION: i32 = 1;
pub const r#WAITERS_OFFSET: i32 = 4;
pub const r#CONTROL_SIZE: i32 = 64;
pub const r#RECORD_HEADER_SIZE: i32 = 8;
pub const VERSION: i32 = 2;
pub const HASH: &str = "6b3405672640383845ea861e011e47fdd2ebfe2d";
impl BpEneaBuffer {
  fn build_parcel_getBuffer(&self) -> binder::Result<binder::binder_impl::Parcel> {
    let mut aidl_data = self.binder.prepare_transact()?;
    Ok(aidl_data)
  }
  fn read_response_getBuffer(&self, _aidl_reply: std::result::Result<binder::binder_impl::Parcel, binder::StatusCode>) -> binder::Result<binder::ParcelFileDescriptor> {
    if let Err(binder::StatusCode::UNKNOWN_TRANSACTION) = _aidl_reply {
      if let Some(_aidl_default_impl) = <Self as IEneaBuffer>::getDefaultImpl() {
        return _aidl_default_impl.r#getBuffer();
      }
    }
    let _aidl_reply = _aidl_reply?;
    let _aidl_status: binder::Status = _aidl_reply.read()?;
    if !_aidl_status.is_ok() { return Err(_aidl_status); }
    let _aidl_return: binder::ParcelFileDescriptor = _aidl_reply.read()?;
    Ok(_aidl_return)
  }
  fn build_parcel_getBufferSize(&self) -> binder::Result<binder::binder_impl::Parcel> {
    let mut aidl_data = self.binder.prepare_transact()?;
    Ok(aidl_data)
  }
  fn read_response_getBufferSize(&self, _aidl_reply: std::result::Result<binder::binder_impl::Parcel, binder::StatusCode>) -> binder::Result<i64> {
    if let Err(binder::StatusCode::UNKNOWN_TRANSACTION) = _aidl_reply {
      if let Some(_aidl_default_impl) = <Self as IEneaBuffer>::getDefaultImpl() {
        return _aidl_default_impl.r#getBufferSize();
      }
    }
    let _aidl_reply = _aidl_reply?;
    let _aidl_status: binder::Status = _aidl_reply.read()?;
    if !_aidl_status.is_ok() { return Err(_aidl_status); }
    let _aidl_return: i64 = _aidl_reply.read()?;
    Ok(_aidl_return)
  }
  fn build_parcel_getReadOnlyBuffer(&self) -> binder::Result<binder::binder_impl::Parcel> {
    let mut aidl_data = self.binder.prepare_transact()?;
    Ok(aidl_data)
  }
  fn read_response_getReadOnlyBuffer(&self, _aidl_reply: std::result::Result<binder::binder_impl::Parcel, binder::StatusCode>) -> binder::Result<binder::ParcelFileDescriptor> {
    if let Err(binder::StatusCode::UNKNOWN_TRANSACTION) = _aidl_reply {
      if let Some(_aidl_default_impl) = <Self as IEneaBuffer>::getDefaultImpl() {
        return _aidl_default_impl.r#getReadOnlyBuffer();
      }
    }
    let _aidl_reply = _aidl_reply?;
    let _aidl_status: binder::Status = _aidl_reply.read()?;
    if !_aidl_status.is_ok() { return Err(_aidl_status); }
    let _aidl_return: binder::ParcelFileDescriptor = _aidl_reply.read()?;
    Ok(_aidl_return)
  }
  fn build_parcel_getRegion(&self) -> binder::Result<binder::binder_impl::Parcel> {
    let mut aidl_data = self.binder.prepare_transact()?;
    Ok(aidl_data)
  }
  fn read_response_getRegion(&self, _aidl_reply: std::result::Result<binder::binder_impl::Parcel, binder::StatusCode>) -> binder::Result<crate::mangled::_6_vendor_4_enea_6_buffer_6_Region> {
    if let Err(binder::StatusCode::UNKNOWN_TRANSACTION) = _aidl_reply {
      if let Some(_aidl_default_impl) = <Self as IEneaBuffer>::getDefaultImpl() {
        return _aidl_default_impl.r#getRegion();
      }
    }
    let _aidl_reply = _aidl_reply?;
    let _aidl_status: binder::Status = _aidl_reply.read()?;
    if !_aidl_status.is_ok() { return Err(_aidl_status); }
    let _aidl_return: crate::mangled::_6_vendor_4_enea_6_buffer_6_Region = _aidl_reply.read()?;
    Ok(_aidl_return)
  }
  fn build_parcel_getReadOnlyRegion(&self) -> binder::Result<binder::binder_impl::Parcel> {
    let mut aidl_data = self.binder.prepare_transact()?;
    Ok(aidl_data)
  }
  fn read_response_getReadOnlyRegion(&self, _aidl_reply: std::result::Result<binder::binder_impl::Parcel, binder::StatusCode>) -> binder::Result<crate::mangled::_6_vendor_4_enea_6_buffer_6_Region> {
    if let Err(binder::StatusCode::UNKNOWN_TRANSACTION) = _aidl_reply {
      if let Some(_aidl_default_impl) = <Self as IEneaBuffer>::getDefaultImpl() {
        return _aidl_default_impl.r#getReadOnlyRegion();
      }
    }
    let _aidl_reply = _aidl_reply?;
    let _aidl_status: binder::Status = _aidl_reply.read()?;
    if !_aidl_status.is_ok() { return Err(_aidl_status); }
    let _aidl_return: crate::mangled::_6_vendor_4_enea_6_buffer_6_Region = _aidl_reply.read()?;
    Ok(_aidl_return)
  }
  fn build_parcel_getInterfaceVersion(&self) -> binder::Result<binder::binder_impl::Parcel> {
    let mut aidl_data = self.binder.prepare_transact()?;
    Ok(aidl_data)
  }
  fn read_response_getInterfaceVersion(&self, _aidl_reply: std::result::Result<binder::binder_impl::Parcel, binder::StatusCode>) -> binder::Result<i32> {
    let _aidl_reply = _aidl_reply?;
    let _aidl_status: binder::Status = _aidl_reply.read()?;
    if !_aidl_status.is_ok() { return Err(_aidl_status); }
    let _aidl_return: i32 = _aidl_reply.read()?;
    self.cached_version.store(_aidl_return, std::sync::atomic::Ordering::Relaxed);
    Ok(_aidl_return)
  }
  fn build_parcel_getInterfaceHash(&self) -> binder::Result<binder::binder_impl::Parcel> {
    let mut aidl_data = self.binder.prepare_transact()?;
    Ok(aidl_data)
  }
  fn read_response_getInterfaceHash(&self, _aidl_reply: std::result::Result<binder::binder_impl::Parcel, binder::StatusCode>) -> binder::Result<String> {
    let _aidl_reply = _aidl_reply?;
    let _aidl_status: binder::Status = _aidl_reply.read()?;
    if !_aidl_status.is_ok() { return Err(_aidl_status); }
    let _aidl_return: String = _aidl_reply.read()?;
    *self.cached_hash.lock().unwrap() = Some(_aidl_return.clone());
    Ok(_aidl_return)
  }
}
impl IEneaBuffer for BpEneaBuffer {
  fn r#getBuffer(&self) -> binder::Result<binder::ParcelFileDescriptor> {
    let _aidl_data = self.build_parcel_getBuffer()?;
    let _aidl_reply = self.binder.submit_transact(transactions::r#getBuffer, _aidl_data, binder::binder_impl::FLAG_PRIVATE_LOCAL);
    self.read_response_getBuffer(_aidl_reply)
  }
  fn r#getBufferSize(&self) -> binder::Result<i64> {
    let _aidl_data = self.build_parcel_getBufferSize()?;
    let _aidl_reply = self.binder.submit_transact(transactions::r#getBufferSize, _aidl_data, binder::binder_impl::FLAG_PRIVATE_LOCAL);
    self.read_response_getBufferSize(_aidl_reply)
  }
  fn r#getReadOnlyBuffer(&self) -> binder::Result<binder::ParcelFileDescriptor> {
    let _aidl_data = self.build_parcel_getReadOnlyBuffer()?;
    let _aidl_reply = self.binder.submit_transact(transactions::r#getReadOnlyBuffer, _aidl_data, binder::binder_impl::FLAG_PRIVATE_LOCAL);
    self.read_response_getReadOnlyBuffer(_aidl_reply)
  }
  fn r#getRegion(&self) -> binder::Result<crate::mangled::_6_vendor_4_enea_6_buffer_6_Region> {
    let _aidl_data = self.build_parcel_getRegion()?;
    let _aidl_reply = self.binder.submit_transact(transactions::r#getRegion, _aidl_data, binder::binder_impl::FLAG_PRIVATE_LOCAL);
    self.read_response_getRegion(_aidl_reply)
  }
  fn r#getReadOnlyRegion(&self) -> binder::Result<crate::mangled::_6_vendor_4_enea_6_buffer_6_Region> {
    let _aidl_data = self.build_parcel_getReadOnlyRegion()?;
    let _aidl_reply = self.binder.submit_transact(transactions::r#getReadOnlyRegion, _aidl_data, binder::binder_impl::FLAG_PRIVATE_LOCAL);
    self.read_response_getReadOnlyRegion(_aidl_reply)
  }
  fn r#getInterfaceVersion(&self) -> binder::Result<i32> {
    let _aidl_version = self.cached_version.load(std::sync::atomic::Ordering::Relaxed);
    if _aidl_version != -1 { return Ok(_aidl_version); }
    let _aidl_data = self.build_parcel_getInterfaceVersion()?;
    let _aidl_reply = self.binder.submit_transact(transactions::r#getInterfaceVersion, _aidl_data, binder::binder_impl::FLAG_PRIVATE_LOCAL);
    self.read_response_getInterfaceVersion(_aidl_reply)
  }
  fn r#getInterfaceHash(&self) -> binder::Result<String> {
    {
      let _aidl_hash_lock = self.cached_hash.lock().unwrap();
      if let Some(ref _aidl_hash) = *_aidl_hash_lock {
        return Ok(_aidl_hash.clone());
      }
    }
    let _aidl_data = self.build_parcel_getInterfaceHash()?;
    let _aidl_reply = self.binder.submit_transact(transactions::r#getInterfaceHash, _aidl_data, binder::binder_impl::FLAG_PRIVATE_LOCAL);
    self.read_response_getInterfaceHash(_aidl_reply)
  }
}
impl<P: binder::BinderAsyncPool> IEneaBufferAsync<P> for BpEneaBuffer {
  fn r#getBuffer<'a>(&'a self) -> binder::BoxFuture<'a, binder::Result<binder::ParcelFileDescriptor>> {
    let _aidl_data = match self.build_parcel_getBuffer() {
      Ok(_aidl_data) => _aidl_data,
      Err(err) => return Box::pin(std::future::ready(Err(err))),
    };
    let binder = self.binder.clone();
    P::spawn(
      move || binder.submit_transact(transactions::r#getBuffer, _aidl_data, binder::binder_impl::FLAG_PRIVATE_LOCAL),
      move |_aidl_reply| async move {
        self.read_response_getBuffer(_aidl_reply)
      }
    )
  }
  fn r#getBufferSize<'a>(&'a self) -> binder::BoxFuture<'a, binder::Result<i64>> {
    let _aidl_data = match self.build_parcel_getBufferSize() {
      Ok(_aidl_data) => _aidl_data,
      Err(err) => return Box::pin(std::future::ready(Err(err))),
    };
    let binder = self.binder.clone();
    P::spawn(
      move || binder.submit_transact(transactions::r#getBufferSize, _aidl_data, binder::binder_impl::FLAG_PRIVATE_LOCAL),
      move |_aidl_reply| async move {
        self.read_response_getBufferSize(_aidl_reply)
      }
    )
  }
  fn r#getReadOnlyBuffer<'a>(&'a self) -> binder::BoxFuture<'a, binder::Result<binder::ParcelFileDescriptor>> {
    let _aidl_data = match self.build_parcel_getReadOnlyBuffer() {
      Ok(_aidl_data) => _aidl_data,
      Err(err) => return Box::pin(std::future::ready(Err(err))),
    };
    let binder = self.binder.clone();
    P::spawn(
      move || binder.submit_transact(transactions::r#getReadOnlyBuffer, _aidl_data, binder::binder_impl::FLAG_PRIVATE_LOCAL),
      move |_aidl_reply| async move {
        self.read_response_getReadOnlyBuffer(_aidl_reply)
      }
    )
  }
  fn r#getRegion<'a>(&'a self) -> binder::BoxFuture<'a, binder::Result<crate::mangled::_6_vendor_4_enea_6_buffer_6_Region>> {
    let _aidl_data = match self.build_parcel_getRegion() {
      Ok(_aidl_data) => _aidl_data,
      Err(err) => return Box::pin(std::future::ready(Err(err))),
    };
    let binder = self.binder.clone();
    P::spawn(
      move || binder.submit_transact(transactions::r#getRegion, _aidl_data, binder::binder_impl::FLAG_PRIVATE_LOCAL),
      move |_aidl_reply| async move {
        self.read_response_getRegion(_aidl_reply)
      }
    )
  }
  fn r#getReadOnlyRegion<'a>(&'a self) -> binder::BoxFuture<'a, binder::Result<crate::mangled::_6_vendor_4_enea_6_buffer_6_Region>> {
    let _aidl_data = match self.build_parcel_getReadOnlyRegion() {
      Ok(_aidl_data) => _aidl_data,
      Err(err) => return Box::pin(std::future::ready(Err(err))),
    };
    let binder = self.binder.clone();
    P::spawn(
      move || binder.submit_transact(transactions::r#getReadOnlyRegion, _aidl_data, binder::binder_impl::FLAG_PRIVATE_LOCAL),
      move |_aidl_reply| async move {
        self.read_response_getReadOnlyRegion(_aidl_reply)
      }
    )
  }
  fn r#getInterfaceVersion<'a>(&'a self) -> binder::BoxFuture<'a, binder::Result<i32>> {
    let _aidl_version = self.cached_version.load(std::sync::atomic::Ordering::Relaxed);
    if _aidl_version != -1 { return Box::pin(std::future::ready(Ok(_aidl_version))); }
    let _aidl_data = match self.build_parcel_getInterfaceVersion() {
      Ok(_aidl_data) => _aidl_data,
      Err(err) => return Box::pin(std::future::ready(Err(err))),
    };
    let binder = self.binder.clone();
    P::spawn(
      move || binder.submit_transact(transactions::r#getInterfaceVersion, _aidl_data, binder::binder_impl::FLAG_PRIVATE_LOCAL),
      move |_aidl_reply| async move {
        self.read_response_getInterfaceVersion(_aidl_reply)
      }
    )
  }
  fn r#getInterfaceHash<'a>(&'a self) -> binder::BoxFuture<'a, binder::Result<String>> {
    {
      let _aidl_hash_lock = self.cached_hash.lock().unwrap();
      if let Some(ref _aidl_hash) = *_aidl_hash_lock {
        return Box::pin(std::future::ready(Ok(_aidl_hash.clone())));
      }
    }
    let _aidl_data = match self.build_parcel_getInterfaceHash() {
      Ok(_aidl_data) => _aidl_data,
      Err(err) => return Box::pin(std::future::ready(Err(err))),
    };
    let binder = self.binder.clone();
    P::spawn(
      move || binder.submit_transact(transactions::r#getInterfaceHash, _aidl_data, binder::binder_impl::FLAG_PRIVATE_LOCAL),
      move |_aidl_reply| async move {
        self.read_response_getInterfaceHash(_aidl_reply)
      }
    )
  }
}
impl IEneaBuffer for binder::binder_impl::Binder<BnEneaBuffer> {
  fn r#getBuffer(&self) -> binder::Result<binder::ParcelFileDescriptor> { self.0.r#getBuffer() }
  fn r#getBufferSize(&self) -> binder::Result<i64> { self.0.r#getBufferSize() }
  fn r#getReadOnlyBuffer(&self) -> binder::Result<binder::ParcelFileDescriptor> { self.0.r#getReadOnlyBuffer() }
  fn r#getRegion(&self) -> binder::Result<crate::mangled::_6_vendor_4_enea_6_buffer_6_Region> { self.0.r#getRegion() }
  fn r#getReadOnlyRegion(&self) -> binder::Result<crate::mangled::_6_vendor_4_enea_6_buffer_6_Region> { self.0.r#getReadOnlyRegion() }
  fn r#getInterfaceVersion(&self) -> binder::Result<i32> { self.0.r#getInterfaceVersion() }
  fn r#getInterfaceHash(&self) -> binder::Result<String> { self.0.r#getInterfaceHash() }
}
fn on_transact(_aidl_service: &dyn IEneaBuffer, _aidl_code: binder::binder_impl::TransactionCode, _aidl_data: &binder::binder_impl::BorrowedParcel<'_>, _aidl_reply: &mut binder::binder_impl::BorrowedParcel<'_>) -> std::result::Result<(), binder::StatusCode> {
  match _aidl_code {
    transactions::r#getBuffer => {
      let _aidl_return = _aidl_service.r#getBuffer();
      match &_aidl_return {
        Ok(_aidl_return) => {
          _aidl_reply.write(&binder::Status::from(binder::StatusCode::OK))?;
          _aidl_reply.write(_aidl_return)?;
        }
        Err(_aidl_status) => _aidl_reply.write(_aidl_status)?
      }
      Ok(())
    }
    transactions::r#getBufferSize => {
      let _aidl_return = _aidl_service.r#getBufferSize();
      match &_aidl_return {
        Ok(_aidl_return) => {
          _aidl_reply.write(&binder::Status::from(binder::StatusCode::OK))?;
          _aidl_reply.write(_aidl_return)?;
        }
        Err(_aidl_status) => _aidl_reply.write(_aidl_status)?
      }
      Ok(())
    }
    transactions::r#getReadOnlyBuffer => {
      let _aidl_return = _aidl_service.r#getReadOnlyBuffer();
      match &_aidl_return {
        Ok(_aidl_return) => {
          _aidl_reply.write(&binder::Status::from(binder::StatusCode::OK))?;
          _aidl_reply.write(_aidl_return)?;
        }
        Err(_aidl_status) => _aidl_reply.write(_aidl_status)?
      }
      Ok(())
    }
    transactions::r#getRegion => {
      let _aidl_return = _aidl_service.r#getRegion();
      match &_aidl_return {
        Ok(_aidl_return) => {
          _aidl_reply.write(&binder::Status::from(binder::StatusCode::OK))?;
          _aidl_reply.write(_aidl_return)?;
        }
        Err(_aidl_status) => _aidl_reply.write(_aidl_status)?
      }
      Ok(())
    }
    transactions::r#getReadOnlyRegion => {
      let _aidl_return = _aidl_service.r#getReadOnlyRegion();
      match &_aidl_return {
        Ok(_aidl_return) => {
          _aidl_reply.write(&binder::Status::from(binder::StatusCode::OK))?;
          _aidl_reply.write(_aidl_return)?;
        }
        Err(_aidl_status) => _aidl_reply.write(_aidl_status)?
      }
      Ok(())
    }
    transactions::r#getInterfaceVersion => {
      let _aidl_return = _aidl_service.r#getInterfaceVersion();
      match &_aidl_return {
        Ok(_aidl_return) => {
          _aidl_reply.write(&binder::Status::from(binder::StatusCode::OK))?;
          _aidl_reply.write(_aidl_return)?;
        }
        Err(_aidl_status) => _aidl_reply.write(_aidl_status)?
      }
      Ok(())
    }
    transactions::r#getInterfaceHash => {
      let _aidl_return = _aidl_service.r#getInterfaceHash();
      match &_aidl_return {
        Ok(_aidl_return) => {
          _aidl_reply.write(&binder::Status::from(binder::StatusCode::OK))?;
          _aidl_reply.write(_aidl_return)?;
        }
        Err(_aidl_status) => _aidl_reply.write(_aidl_status)?
      }
      Ok(())
    }
    _ => Err(binder::StatusCode::UNKNOWN_TRANSACTION)
  }
}
pub(crate) mod mangled {
 pub use super::r#IEneaBuffer as _6_vendor_4_enea_6_buffer_11_IEneaBuffer;
}
        }
        pub mod r#Region {
#![forbid(unsafe_code)]
#![cfg_attr(rustfmt, rustfmt_skip)]
#[derive(Debug)]
pub struct r#Region {
  pub r#fd: Option<binder::ParcelFileDescriptor>,
  pub r#size: i64,
  pub r#layoutVersion: i32,
}
impl Default for r#Region {
  fn default() -> Self {
    Self {
      r#fd: Default::default(),
      r#size: 0,
      r#layoutVersion: 0,
    }
  }
}
impl binder::Parcelable for r#Region {
  fn write_to_parcel(&self, parcel: &mut binder::binder_impl::BorrowedParcel) -> std::result::Result<(), binder::StatusCode> {
    parcel.sized_write(|subparcel| {
      let __field_ref = self.r#fd.as_ref().ok_or(binder::StatusCode::UNEXPECTED_NULL)?;
      subparcel.write(__field_ref)?;
      subparcel.write(&self.r#size)?;
      subparcel.write(&self.r#layoutVersion)?;
      Ok(())
    })
  }
  fn read_from_parcel(&mut self, parcel: &binder::binder_impl::BorrowedParcel) -> std::result::Result<(), binder::StatusCode> {
    parcel.sized_read(|subparcel| {
      if subparcel.has_more_data() {
        self.r#fd = Some(subparcel.read()?);
      }
      if subparcel.has_more_data() {
        self.r#size = subparcel.read()?;
      }
      if subparcel.has_more_data() {
        self.r#layoutVersion = subparcel.read()?;
      }
      Ok(())
    })
  }
}
binder::impl_serialize_for_parcelable!(r#Region);
binder::impl_deserialize_for_parcelable!(r#Region);
impl binder::binder_impl::ParcelableMetadata for r#Region {
  fn get_descriptor() -> &'static str { "vendor.enea.buffer.Region" }
  fn get_stability(&self) -> binder::binder_impl::Stability { binder::binder_impl::Stability::Vintf }
}
pub(crate) mod mangled {
 pub use super::r#Region as _6_vendor_4_enea_6_buffer_6_Region;
}
        }
      }
    }
  }
}
pub(crate) mod mangled {
  pub(crate) use crate::aidl::vendor::enea::buffer::IEneaBuffer::mangled::*;
  pub(crate) use crate::aidl::vendor::enea::buffer::Region::mangled::*;
}
