//! Allocator settings of the process. mimalloc v2 gives memory it has freed back to the
//! system 10 ms later by default (v3, which the `mimalloc` crate builds now, waits a
//! second already); the ingest frees a batch's memory (its text, events and rows) as
//! it answers, and the next batch, tens of ms later, takes fresh pages the kernel must
//! zero again: a fifth of a busy hall's ingest (bench/hallday.py). Keeping freed
//! memory for a second lets the next batch reuse it.

use std::ffi::c_long;

/// `mi_option_purge_delay` in mimalloc's `mi_option_e` (the same number in v2 and v3).
const PURGE_DELAY: i32 = 15;
/// mimalloc v2's default for it: seeing it tells that `PURGE_DELAY` names that option
/// and that it needs setting (v3's default is `PURGE_DELAY_MS` already).
const DEFAULT_PURGE_DELAY_MS: c_long = 10;
const PURGE_DELAY_MS: c_long = 1000;

#[allow(unsafe_code)]
unsafe extern "C" {
    fn mi_option_get(option: i32) -> c_long;
    fn mi_option_set(option: i32, value: c_long);
}

/// Sets the purge delay, if the option number means what it should (else nothing).
pub fn keep_freed_memory() {
    // SAFETY: mimalloc's option calls take plain integers and touch only its own
    // option table; an unknown option number is ignored by mimalloc.
    #[allow(unsafe_code)]
    unsafe {
        if mi_option_get(PURGE_DELAY) == DEFAULT_PURGE_DELAY_MS {
            mi_option_set(PURGE_DELAY, PURGE_DELAY_MS);
        }
    }
}

/// SQLite's allocation statistics off, before its first connection: with them on, each
/// of its allocations takes one process-wide mutex, and the event writer allocates for
/// every value it binds. Nothing here reads them. Called after SQLite has started, it
/// is refused (`SQLITE_MISUSE`) and changes nothing.
pub fn sqlite_without_memory_statistics() {
    // SAFETY: `sqlite3_config` with an integer option is allowed before SQLite is
    // initialised, and returns an error code (ignored) otherwise.
    #[allow(unsafe_code)]
    unsafe {
        rusqlite::ffi::sqlite3_config(rusqlite::ffi::SQLITE_CONFIG_MEMSTATUS, 0);
    }
}
