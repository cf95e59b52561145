//! The header and this crate cannot drift: every exported function is
//! compared, by the compiler, with bindgen's declaration of the header.
//!
//! `[sys::f, f]` is an array of two function items; it compiles only if
//! both coerce to one function-pointer type, i.e. their signatures are
//! identical (argument and return types, `unsafe extern "C"`). A function
//! the header lacks fails to resolve `sys::f`; one the header declares but
//! this list lacks fails `every_header_function_is_checked`.

use crate::sys;
use crate::{connection::*, death::*, last_error::*, read_only::*, shared::*};

macro_rules! same_signature {
    ($($f:ident),* $(,)?) => {
        $(const _: () = {
            let _ = [sys::$f, $f];
        };)*
        /// The functions compared above, for the completeness test.
        #[cfg(test)]
        const CHECKED: &[&str] = &[$(stringify!($f)),*];
    };
}

same_signature!(
    enea_buffer_last_error,
    enea_buffer_status_name,
    enea_buffer_connect,
    enea_buffer_connection_close,
    enea_buffer_connection_size,
    enea_buffer_connection_interface_version,
    enea_buffer_connection_is_alive,
    enea_buffer_connection_on_death,
    enea_buffer_death_watch_close,
    enea_buffer_map,
    enea_buffer_map_read_only,
    enea_buffer_shared_close,
    enea_buffer_shared_size,
    enea_buffer_shared_identity,
    enea_buffer_shared_has_layout,
    enea_buffer_shared_load_u32,
    enea_buffer_shared_store_u32,
    enea_buffer_shared_fetch_add_u32,
    enea_buffer_shared_wait_change,
    enea_buffer_shared_wait_change_spin,
    enea_buffer_shared_read_at,
    enea_buffer_shared_write_at,
    enea_buffer_shared_publish,
    enea_buffer_shared_snapshot,
    enea_buffer_read_only_close,
    enea_buffer_read_only_size,
    enea_buffer_read_only_identity,
    enea_buffer_read_only_load_u32,
    enea_buffer_read_only_read_at,
    enea_buffer_read_only_snapshot,
);

/// The header promises that handles may be used from any thread (and
/// closed on another than the one that made them): each handle type must
/// be `Send + Sync`, or this does not compile.
const _: () = {
    const fn thread_safe<T: Send + Sync>() {}
    thread_safe::<enea_buffer_client::Connection>();
    thread_safe::<crate::shared::Shared>();
    thread_safe::<crate::read_only::ReadOnly>();
    thread_safe::<enea_buffer_client::DeathWatch>();
};

#[cfg(test)]
mod tests {
    use super::CHECKED;

    /// Every function the header declares is in the list above.
    #[test]
    fn every_header_function_is_checked() {
        let header = include_str!("../include/enea/buffer/enea_buffer_client.h");
        // Comments out: they name functions too.
        let mut code = String::new();
        let mut rest = header;
        while let Some(open) = rest.find("/*") {
            code.push_str(&rest[..open]);
            let close = rest[open..].find("*/").expect("unterminated comment") + open;
            rest = &rest[close + 2..];
        }
        code.push_str(rest);
        // An identifier directly followed by `(` is a declared function.
        let mut declared: Vec<&str> = code
            .match_indices("enea_buffer_")
            .filter(|(at, _)| {
                !code[..*at].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
            })
            .filter_map(|(at, _)| {
                let name = code[at..]
                    .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .next()?;
                code[at + name.len()..].starts_with('(').then_some(name)
            })
            .collect();
        declared.sort_unstable();
        let mut checked = CHECKED.to_vec();
        checked.sort_unstable();
        assert_eq!(
            declared, checked,
            "the header's functions vs the checked list"
        );
    }
}
