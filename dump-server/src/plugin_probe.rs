//! Does the plugin library load? `dlopen` it and call its `loadPlugin` the way Bareos'
//! `bpluginfo` does (interface version 1, a 64-byte core table): the plugin fills its info
//! tables and calls nothing in the core. Done in a child process (`dump-server
//! probe-library PATH`), so a library that crashes cannot take `check` with it.

use s3_plugin::config::naming::quoted;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Where the packages' file daemons look for plugins (Bareos, then Bacula on Debian).
pub const DEFAULT_LIBRARIES: &[&str] = &[
    "/usr/lib/bareos/plugins/s3-fd.so",
    "/usr/lib64/bareos/plugins/s3-fd.so",
    "/usr/lib/bacula/s3-fd.so",
];

/// The start of both daemons' plugin information table (Bareos `PluginInformation`, Bacula
/// `pInfo`); Bareos appends `plugin_usage`.
#[repr(C)]
struct InfoPrefix {
    size: u32,
    version: u32,
    plugin_magic: *const c_char,
    plugin_license: *const c_char,
    plugin_author: *const c_char,
    plugin_date: *const c_char,
    plugin_version: *const c_char,
    plugin_description: *const c_char,
}

static CORE_CALLS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn trap() -> c_int {
    CORE_CALLS.fetch_add(1, Ordering::SeqCst);
    2
}

type Load =
    unsafe extern "C" fn(*mut c_void, *mut c_void, *mut *mut c_void, *mut *mut c_void) -> c_int;

/// # Safety
/// `p` is NULL or a NUL-terminated string.
unsafe fn text(p: *const c_char) -> String {
    if p.is_null() {
        "(null)".into()
    } else {
        // SAFETY: per the contract.
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }
}

/// The child's side: prints `key=value` lines and exits 0, or prints the reason and exits 1.
pub fn probe_in_this_process(path: &Path) -> Result<Vec<(String, String)>, String> {
    use libloading::os::unix::{Library, RTLD_LOCAL, RTLD_NOW};
    // SAFETY: loading runs the library's initialisers; that is what we are checking.
    let lib = unsafe { Library::open(Some(path), RTLD_NOW | RTLD_LOCAL) }
        .map_err(|e| format!("dlopen failed: {e}"))?;
    // SAFETY: the symbols' C types per the plugin ABI.
    let load: Load = *unsafe { lib.get::<Load>(b"loadPlugin\0") }
        .map_err(|_| "it exports no loadPlugin (not a file-daemon plugin)".to_string())?;
    // SAFETY: as above.
    if unsafe { lib.get::<unsafe extern "C" fn() -> c_int>(b"unloadPlugin\0") }.is_err() {
        return Err("it exports no unloadPlugin (the daemon rejects it)".into());
    }
    let info: &'static mut [u32; 2] = Box::leak(Box::new([8, 1]));
    // bpluginfo's core table: {size 64, version 1} and pointers (traps here).
    let mut table: Vec<usize> = vec![trap as *const () as usize; 32];
    table[0] = 64 | (1usize << 32);
    let table: &'static mut [usize] = table.leak();
    let mut out_info: *mut c_void = std::ptr::null_mut();
    let mut out_funcs: *mut c_void = std::ptr::null_mut();
    // SAFETY: both tables live forever; the plugin may only read them and fill the out pointers.
    let rc = unsafe {
        load(
            info.as_mut_ptr().cast(),
            table.as_mut_ptr().cast(),
            &mut out_info,
            &mut out_funcs,
        )
    };
    let mut facts = vec![
        ("rc".to_string(), rc.to_string()),
        (
            "core_calls".to_string(),
            CORE_CALLS.load(Ordering::SeqCst).to_string(),
        ),
        ("funcs".to_string(), (!out_funcs.is_null()).to_string()),
    ];
    if !out_info.is_null() {
        // SAFETY: the plugin returned a pointer to its static info table.
        let i = unsafe { &*(out_info as *const InfoPrefix) };
        // SAFETY: the info strings are NUL-terminated or NULL.
        unsafe {
            facts.extend([
                ("info_version".to_string(), i.version.to_string()),
                ("info_size".to_string(), i.size.to_string()),
                ("magic".to_string(), text(i.plugin_magic)),
                ("license".to_string(), text(i.plugin_license)),
                ("author".to_string(), text(i.plugin_author)),
                ("date".to_string(), text(i.plugin_date)),
                ("version".to_string(), text(i.plugin_version)),
                ("description".to_string(), text(i.plugin_description)),
            ]);
        }
    }
    // Never dlclose a Rust library whose threads may live; the process ends right after.
    std::mem::forget(lib);
    Ok(facts)
}

/// The parent's side: a verdict line for `path`. `Ok(detail)` or `Err(reason)`.
pub fn check_library(path: &Path) -> Result<String, String> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.file_type().is_symlink() {
        return Err(format!(
            "{} is a symbolic link: the file daemon loads only regular files (install a copy)",
            path.display()
        ));
    }
    if !meta.is_file() {
        return Err(format!("{} is not a regular file", path.display()));
    }
    let exe =
        std::env::current_exe().map_err(|e| format!("cannot find dump-server itself: {e}"))?;
    let mut child = Command::new(exe)
        .arg("probe-library")
        .arg(path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start the probe: {e}"))?;
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "{}: loadPlugin did not return within 30 s",
                path.display()
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !status.success() {
        use std::os::unix::process::ExitStatusExt;
        let why = match status.signal() {
            Some(sig) => format!("the library crashed the process (signal {sig})"),
            None => stdout.trim().to_string(),
        };
        return Err(format!("{}: {why}", path.display()));
    }
    let facts: std::collections::HashMap<&str, &str> =
        stdout.lines().filter_map(|l| l.split_once('=')).collect();
    verdict(path, &facts)
}

fn verdict(path: &Path, f: &std::collections::HashMap<&str, &str>) -> Result<String, String> {
    let get = |k: &str| f.get(k).copied().unwrap_or("");
    let where_ = path.display();
    if get("core_calls") != "0" {
        return Err(format!(
            "{where_}: loadPlugin called {} core functions with bpluginfo's table (it must not)",
            get("core_calls")
        ));
    }
    if get("info_version").is_empty() {
        return Err(format!(
            "{where_}: loadPlugin returned no plugin information (rc {})",
            get("rc")
        ));
    }
    if get("magic") != "*FDPluginData*" {
        return Err(format!(
            "{where_}: not a file-daemon plugin (magic {})",
            quoted(get("magic"))
        ));
    }
    let daemon = match (get("info_version"), get("rc")) {
        ("10", "0") => "Bareos file-daemon plugin (interface 10)",
        ("10", rc) => {
            return Err(format!(
                "{where_}: loadPlugin refused bpluginfo's table (rc {rc})"
            ));
        }
        // The Bacula build accepts only bacula-fd's own tables and says so with rc 2 after
        // filling its information, as Bacula 9.6 plugins do.
        ("14", _) => "Bacula 9.6 file-daemon plugin (interface 14)",
        (v, _) => return Err(format!("{where_}: unknown plugin interface {v}")),
    };
    if get("info_version") == "10"
        && !get("license").eq_ignore_ascii_case("AGPLv3")
        && !get("license").eq_ignore_ascii_case("Bareos AGPLv3")
    {
        return Err(format!(
            "{where_}: license {} is refused by bareos-fd",
            quoted(get("license"))
        ));
    }
    let mut detail = format!(
        "{where_}: {daemon}, version {} ({}): {}",
        get("version"),
        get("date"),
        get("description")
    );
    if path.file_name().is_some_and(|n| n != "s3-fd.so") {
        detail.push_str(" [the daemon loads it only when installed as s3-fd.so]");
    }
    Ok(detail)
}
