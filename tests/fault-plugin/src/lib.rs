//! A test plugin built on the SDK, to prove its boundary through the real C ABI: the command
//! `fault:panic=<callback>[:files=N]` makes that callback panic; everything else behaves like a
//! tiny plugin that backs up N files of 10 bytes each. Never installed anywhere.

use std::ffi::CString;

use fd_ffi::sys::{bacula, bareos};
use fd_ffi::{
    CancelToken, CreateStatus, Event, FdPlugin, FileAttributes, FileKind, Host, IoFailure,
    IoRequest, NextFile, PluginInfo, PluginResult, RestoreFile, SavePacket,
};

pub struct Fault {
    panic_in: String,
    files: u32,
    next: u32,
    left: usize,
}

impl Fault {
    fn maybe_panic(&self, callback: &str) {
        if self.panic_in == callback {
            panic!("injected panic in {callback}");
        }
    }
}

impl FdPlugin for Fault {
    const INFO: PluginInfo = PluginInfo {
        author: c"tests",
        date: c"2026-11",
        version: c"0",
        description: c"fault injection test plugin",
        usage: c"fault:panic=CALLBACK:files=N",
    };

    fn new(_host: &Host<'_>, _cancel: CancelToken) -> PluginResult<Self> {
        Ok(Fault {
            panic_in: String::new(),
            files: 3,
            next: 0,
            left: 0,
        })
    }

    fn handle_event(&mut self, _host: &Host<'_>, event: Event<'_>) -> PluginResult<()> {
        if let Event::BackupCommand(cmd) = event {
            for field in cmd.split(':').skip(1) {
                match field.split_once('=') {
                    Some(("panic", v)) => self.panic_in = v.to_string(),
                    Some(("files", v)) => self.files = v.parse().unwrap_or(3),
                    _ => {}
                }
            }
            self.maybe_panic("handlePluginEvent");
        }
        Ok(())
    }

    fn start_backup_file(
        &mut self,
        _host: &Host<'_>,
        sp: &mut SavePacket<'_>,
    ) -> PluginResult<NextFile> {
        self.maybe_panic("startBackupFile");
        if self.next >= self.files {
            return Ok(NextFile::Stop);
        }
        self.next += 1;
        sp.set_file(FileAttributes {
            name: CString::new(format!("/fault/f{}", self.next)).unwrap(),
            kind: FileKind::Regular,
            size: 10,
            mtime: 1_700_000_000,
            permissions: 0o600,
        });
        Ok(NextFile::Entry)
    }

    fn end_backup_file(&mut self, _host: &Host<'_>) -> PluginResult<bool> {
        self.maybe_panic("endBackupFile");
        Ok(self.next < self.files)
    }

    fn io(&mut self, _host: &Host<'_>, request: IoRequest<'_>) -> Result<i64, IoFailure> {
        match request {
            IoRequest::OpenRead { .. } => {
                self.left = 10;
                Ok(0)
            }
            IoRequest::Read(buf) => {
                self.maybe_panic("pluginIO");
                let n = self.left.min(buf.len());
                buf[..n].fill(b'x');
                self.left -= n;
                Ok(n as i64)
            }
            _ => Ok(0),
        }
    }

    fn start_restore_file(&mut self, _host: &Host<'_>, _command: &str) -> PluginResult<()> {
        Ok(())
    }

    fn create_file(
        &mut self,
        _host: &Host<'_>,
        _file: &RestoreFile<'_>,
    ) -> PluginResult<CreateStatus> {
        Ok(CreateStatus::Skip)
    }

    fn set_file_attributes(
        &mut self,
        _host: &Host<'_>,
        _file: &RestoreFile<'_>,
    ) -> PluginResult<()> {
        Ok(())
    }

    fn end_restore_file(&mut self, _host: &Host<'_>) -> PluginResult<()> {
        Ok(())
    }

    fn check_file(&mut self, _host: &Host<'_>, _name: &[u8]) -> bool {
        false
    }
}

/// # Safety
/// Called by the daemon (or the test harness) with the ABI's pointers.
#[no_mangle]
pub unsafe extern "C" fn loadPlugin(
    core_info: *mut std::ffi::c_void,
    core_funcs: *mut std::ffi::c_void,
    plugin_info: *mut *mut std::ffi::c_void,
    plugin_funcs: *mut *mut std::ffi::c_void,
) -> i32 {
    // The flavour is chosen at run time by the table version, as a combined build would.
    // SAFETY: the first field of both info tables is {u32 size, u32 version}.
    let version = unsafe { (*(core_info as *const [u32; 2]))[1] };
    unsafe {
        if version == bacula::FD_PLUGIN_INTERFACE_VERSION {
            fd_ffi::bacula::load_plugin::<Fault>(
                core_info.cast(),
                core_funcs.cast(),
                plugin_info.cast(),
                plugin_funcs.cast(),
            )
        } else {
            fd_ffi::bareos::load_plugin::<Fault>(
                core_info.cast(),
                core_funcs.cast(),
                plugin_info.cast(),
                plugin_funcs.cast(),
            )
        }
    }
}

#[no_mangle]
pub extern "C" fn unloadPlugin() -> i32 {
    let _ = bareos::bRC_OK;
    fd_ffi::bareos::unload_plugin()
}
