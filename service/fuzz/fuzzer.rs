//! The Soong service fuzzer (`vendor.enea.buffer-service_fuzzer`):
//! AOSP's `fuzz_service` drives the exact service the daemon serves with
//! random parcels, codes, fds and calling uids, in the shape of AOSP's
//! security/authgraph/default and security/secretkeeper/default fuzzers.
//! It runs on a device's fuzzing infrastructure; tests/fuzz holds the host
//! fuzzer that CI runs.

#![allow(missing_docs)]
#![no_main]

use std::sync::OnceLock;

use binder_random_parcel_rs::fuzz_service;
use enea_buffer_service::policy::{parse_rule, Policy};
use enea_buffer_service::{build, platform, BuiltService, ServiceSetup};
use libfuzzer_sys::fuzz_target;

/// The service, built once: every call handed to it is a dup() of one
/// region, so rebuilding it per input would only fuzz memfd_create.
fn service() -> &'static BuiltService {
    static SERVICE: OnceLock<(tokio::runtime::Runtime, BuiltService)> = OnceLock::new();
    let (_, service) = SERVICE.get_or_init(|| {
        // The stub blocks on this runtime for every call: a multi-thread one.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        // fuzz_service picks the calling uid: root, AID_SYSTEM, an app uid
        // or any. With `others=ro`, root and this process's uid get rw and
        // everyone else ro, so granted and refused calls both occur.
        let rules = [parse_rule("others=ro").expect("rule")];
        let setup = ServiceSetup {
            size: 4096,
            policy: Policy::new(
                &rules,
                enea_buffer_common::effective_uid(),
                platform::DEFAULT_RIGHT,
            ),
            instance: "fuzz".into(),
        };
        let service = build(setup, runtime.handle().clone()).expect("build the service");
        (runtime, service)
    });
    service
}

fuzz_target!(|data: &[u8]| {
    fuzz_service(&mut service().binder.as_binder(), data);
});
