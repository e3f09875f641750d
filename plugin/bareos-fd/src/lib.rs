//! `s3-fd.so` for Bareos' file daemon (plugin interface 10, Bareos 23–25).
//!
//! Only the two symbols the daemon looks up are exported; everything else is
//! the host-independent engine in `s3-plugin`, reached through the SDK in `fd-ffi`.

use fd_ffi::sys::bareos::{
    bRC, CoreFunctions, PluginApiDefinition, PluginFunctions, PluginInformation,
};

/// The plugin's own allocations keep their large buffers between uses (see
/// `fd_ffi::block_pool`); the daemon's memory is not affected.
#[global_allocator]
static ALLOC: fd_ffi::block_pool::PooledAlloc = fd_ffi::block_pool::PooledAlloc;

/// Called once by bareos-fd (or `bpluginfo`) after `dlopen`.
///
/// # Safety
/// The daemon passes valid pointers (or NULL, which is rejected) as docs/abi.md §1.2 describes.
#[no_mangle]
pub unsafe extern "C" fn loadPlugin(
    core_info: *mut PluginApiDefinition,
    core_funcs: *mut CoreFunctions,
    plugin_info: *mut *mut PluginInformation,
    plugin_funcs: *mut *mut PluginFunctions,
) -> bRC {
    // SAFETY: forwarded unchanged; the SDK validates every pointer and table size.
    unsafe {
        fd_ffi::bareos::load_plugin::<s3_plugin::S3Plugin>(
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
    fd_ffi::bareos::unload_plugin()
}
