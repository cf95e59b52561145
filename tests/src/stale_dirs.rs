//! Temporary directories named after a process outlive it when it ends
//! without cleanup (a killed test, libFuzzer's `exit`). Shared with the
//! fuzz targets (`tests/fuzz`), which include this file by path.

use std::path::Path;

/// Removes the directories in the temporary directory named `prefix`, a
/// pid, then nothing or `-…`, whose process is gone.
pub fn remove_dead_processes_dirs(prefix: &str) {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let pid = name
            .to_str()
            .and_then(|n| n.strip_prefix(prefix))
            .and_then(|rest| rest.split('-').next())
            .filter(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()));
        if pid.is_some_and(|pid| !Path::new("/proc").join(pid).exists()) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}
