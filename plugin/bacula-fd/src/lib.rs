//! `s3-fd.so` for Bacula 9.6's file daemon (plugin interface 14).
//!
//! Only the two symbols the daemon looks up are exported; everything else is
//! the host-independent engine in `s3-plugin`, reached through the SDK in `fd-ffi`.

use fd_ffi::sys::bacula::{bFuncs, bInfo, bRC, pFuncs, pInfo};

/// The plugin's own allocations keep their large buffers between uses (see
/// `fd_ffi::block_pool`); the daemon's memory is not affected.
#[global_allocator]
static ALLOC: fd_ffi::block_pool::PooledAlloc = fd_ffi::block_pool::PooledAlloc;

/// Called once by bacula-fd after `dlopen`.
///
/// # Safety
/// The daemon passes valid pointers (or NULL, which is rejected) as docs/abi.md §1.2 describes.
#[no_mangle]
pub unsafe extern "C" fn loadPlugin(
    core_info: *mut bInfo,
    core_funcs: *mut bFuncs,
    plugin_info: *mut *mut pInfo,
    plugin_funcs: *mut *mut pFuncs,
) -> bRC {
    // SAFETY: forwarded unchanged; the SDK validates every pointer and table size.
    unsafe {
        fd_ffi::bacula::load_plugin::<s3_plugin::S3Plugin>(
            core_info,
            core_funcs,
            plugin_info,
            plugin_funcs,
        )
    }
}

/// Called once at daemon shutdown (also after a rejected load).
#[no_mangle]
pub extern "C" fn unloadPlugin() -> bRC {
    fd_ffi::bacula::unload_plugin()
}
