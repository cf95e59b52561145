//! An in-process harness, not IPC: the library builds the exact service the
//! daemon serves, and calls reach it through its binder object (rsbinder's
//! native binder, in this process, no transport), as a fuzzer's would.
//! The daemon over real transports is tested in tests/tests.
#![cfg(not(target_os = "android"))]

use std::os::unix::fs::FileExt;

use enea_buffer_common::effective_uid;
use enea_buffer_service::calls::{Call, Counts, Who};
use enea_buffer_service::policy::{parse_rule, Policy, Right};
use enea_buffer_service::{build, BuiltService, ServiceSetup};
use vendor_enea_buffer::aidl::vendor::enea::buffer::IEneaBuffer::{IEneaBuffer, LAYOUT_VERSION};

/// The stub blocks on this runtime for every call: a multi-thread one.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn built(rt: &tokio::runtime::Runtime, size: usize, rules: &[&str]) -> BuiltService {
    let rules: Vec<_> = rules.iter().map(|r| parse_rule(r).unwrap()).collect();
    let setup = ServiceSetup {
        size,
        // The Linux host's default: nobody a rule does not name.
        policy: Policy::new(&rules, effective_uid(), Right::None),
        instance: "harness".into(),
    };
    build(setup, rt.handle().clone()).expect("build the service")
}

#[test]
fn the_library_builds_the_service_and_it_answers_through_its_binder() {
    let rt = runtime();
    let service = built(&rt, 4096, &[]);
    assert_eq!(service.name, "vendor.enea.buffer.IEneaBuffer/harness");
    let binder = &service.binder;
    assert_eq!(binder.r#getBufferSize().unwrap(), 4096);

    let region = binder.r#getRegion().unwrap();
    assert_eq!((region.size, region.layoutVersion), (4096, LAYOUT_VERSION));
    let file = std::fs::File::from(std::os::fd::OwnedFd::from(region.fd.unwrap()));
    assert_eq!(file.metadata().unwrap().len(), 4096);
    let mut word0 = [0u8; 4];
    file.read_exact_at(&mut word0, 0).unwrap();
    assert_eq!(u32::from_ne_bytes(word0), 0xdead_cafe);

    // The calls are on record, as the dump and the log summary show them.
    let me = effective_uid();
    assert_eq!(
        service.calls.totals(),
        [(
            Who::Uid(me),
            Counts {
                calls: [(Call::GetBufferSize, 1), (Call::GetRegion, 1)].into(),
                fds: 1,
                refused: 0,
            }
        )]
    );
    assert_eq!(
        service.calls.take_summary().as_deref(),
        Some(format!("uid {me}: 1 getBufferSize, 1 getRegion").as_str())
    );
}

#[test]
fn the_built_service_applies_its_policy_and_layout() {
    let rt = runtime();
    let me = effective_uid();
    let service = built(&rt, 32, &[&format!("uid:{me}=ro")]);
    let refused = service.binder.r#getRegion().unwrap_err();
    assert_eq!(
        refused.exception_code(),
        rsbinder::ExceptionCode::Security,
        "{refused:?}"
    );
    // Too small for the control words: no layout.
    let region = service.binder.r#getReadOnlyRegion().unwrap();
    assert_eq!((region.size, region.layoutVersion), (32, 0));
}

#[test]
fn a_bad_setup_is_refused_with_its_cause() {
    let rt = runtime();
    let setup = |size, instance: &str| ServiceSetup {
        size,
        policy: Policy::new(&[], 0, Right::None),
        instance: instance.into(),
    };
    let err = |s| build(s, rt.handle().clone()).err().expect("refused");
    assert!(err(setup(2, "x")).contains("too small"));
    assert!(err(setup(64, "a/b")).contains("'a/b' is not an instance name"));
}
