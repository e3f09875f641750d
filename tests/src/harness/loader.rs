//! Building, `dlopen`ing and `loadPlugin`-checking the plugins, once per flavour per process.
//!
//! * [`plugin_so`] runs `cargo build -p s3-fd-bareos -p s3-fd-bacula` once (same profile and
//!   target directory as the running test binary; `HARNESS_NO_BUILD=1` skips it) and returns the
//!   path of the flavour's `.so`.
//! * Loading follows the daemons: `dlopen` with `RTLD_LAZY|RTLD_GLOBAL` (Bareos) or `RTLD_NOW`
//!   (Bacula), both symbols must exist, `loadPlugin` gets the static core tables, then the
//!   compatibility checks of each daemon in its order (docs/abi.md, loading a plugin).
//! * [`probe_wrong_core_table`] loads a second copy of the `.so` (loadPlugin state is per loaded
//!   image) with the tables a wrong host would pass (`bpluginfo`, the other daemon) made of trap
//!   functions, to check the plugin neither calls back nor misbehaves.

use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::mem::size_of;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{LazyLock, Mutex, OnceLock};

use fd_ffi::sys::{bacula, bareos};
use libloading::os::unix::{Library, RTLD_GLOBAL, RTLD_LAZY, RTLD_NOW};

use super::bacula_host::Bacula;
use super::bareos_host::Bareos;
use super::driver::PluginJob;
use super::host::{Abi, HostJob};
use super::job::{self, JobState};
use super::Flavour;

/// The directory holding the running test binary's profile output (`target/debug`).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe.parent().expect("exe has a parent").to_path_buf();
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.parent().expect("deps has a parent").to_path_buf()
    } else {
        dir
    }
}

/// The cargo target directory of the running test binary.
pub(crate) fn target_dir() -> PathBuf {
    profile_dir()
        .parent()
        .expect("profile dir has a parent")
        .to_path_buf()
}

/// `cargo build -p` of `packages` with the profile and target directory of this test binary
/// (a no-op with `HARNESS_NO_BUILD`); panics with cargo's output on failure.
pub fn cargo_build(packages: &[&str]) {
    if std::env::var_os("HARNESS_NO_BUILD").is_some() {
        return;
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the workspace");
    let mut cmd = Command::new(cargo);
    cmd.arg("build");
    for p in packages {
        cmd.args(["-p", p]);
    }
    cmd.arg("--target-dir")
        .arg(target_dir())
        .current_dir(workspace);
    let profile = profile_dir();
    match profile.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => {}
        Some("release") => {
            cmd.arg("--release");
        }
        Some(other) => {
            cmd.args(["--profile", other]);
        }
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("harness: cannot run {cmd:?}: {e}"));
    if !out.status.success() {
        panic!(
            "harness: building {packages:?} failed ({cmd:?}, {}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn build_plugins() {
    cargo_build(&["s3-fd-bareos", "s3-fd-bacula", "fault-fd"]);
}

/// The `dump-server` binary, built once per process like the plugins.
pub fn dump_server_bin() -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| cargo_build(&["dump-server"]));
    profile_dir().join("dump-server")
}

/// Path of the built plugin of `f`; builds both plugins once per process on first use and panics
/// with the build output if that fails.
pub fn plugin_so(f: Flavour) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(build_plugins);
    profile_dir().join(match f {
        Flavour::Bareos => "libs3_fd_bareos.so",
        Flavour::Bacula => "libs3_fd_bacula.so",
    })
}

/// Path of the test-only SDK plugin `tests/fault-plugin` (built with the plugins).
pub fn fault_plugin_so() -> PathBuf {
    plugin_so(Flavour::Bareos);
    profile_dir().join("libfault_fd.so")
}

/// What `loadPlugin` returned and what the daemon's checks made of it.
#[derive(Clone, Debug)]
pub struct PluginFacts {
    pub flavour: Flavour,
    pub path: PathBuf,
    /// Return value of `loadPlugin`.
    pub load_rc: i32,
    pub info_null: bool,
    pub info_size: u32,
    pub info_version: u32,
    pub magic: Option<String>,
    pub license: Option<String>,
    pub author: Option<String>,
    pub date: Option<String>,
    pub version: Option<String>,
    pub description: Option<String>,
    /// Bareos only (`plugin_usage`, may be NULL).
    pub usage: Option<String>,
    pub funcs_null: bool,
    pub funcs_size: u32,
    pub funcs_version: u32,
    /// Entry points the daemon calls without a NULL check that are NULL.
    pub missing_required: Vec<&'static str>,
    /// Optional entry points (checkFile, getAcl, …) that are present.
    pub present_optional: Vec<&'static str>,
    /// Core callbacks the plugin made during `loadPlugin` (should be none).
    pub core_calls_during_load: Vec<String>,
    /// Why the daemon would reject the plugin (first failed check), `None` if accepted.
    pub rejection: Option<String>,
}

enum Tables {
    Bareos(&'static bareos::PluginFunctions),
    Bacula(&'static bacula::pFuncs),
}

/// A loaded, accepted plugin image.
pub(crate) struct Loaded {
    /// The plugin name commands are routed by (`s3` for `s3-fd.so`).
    pub name: String,
    pub facts: PluginFacts,
    /// `None` when the daemon would reject the plugin.
    tables: Option<Tables>,
}

impl Loaded {
    /// The plugin directory (for `bVarPluginPath`).
    pub(crate) fn dir(&self) -> String {
        self.facts
            .path
            .parent()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// A new job context for this plugin.
    pub(crate) fn new_job(&'static self, st: &'static JobState) -> Box<dyn PluginJob> {
        match self.tables {
            Some(Tables::Bareos(f)) => Box::new(HostJob::<Bareos>::new(f, st)),
            Some(Tables::Bacula(f)) => Box::new(HostJob::<Bacula>::new(f, st)),
            None => panic!(
                "harness: the daemon rejects {}: {:?}",
                self.facts.path.display(),
                self.facts.rejection
            ),
        }
    }
}

/// # Safety
/// `p` is NULL or a NUL-terminated string.
unsafe fn opt_str(p: *const c_char) -> Option<String> {
    // SAFETY: per the contract.
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
}

type Unload = unsafe extern "C" fn() -> c_int;

fn open(flavour: Flavour, path: &Path) -> Result<&'static Library, String> {
    let flags = match flavour {
        Flavour::Bareos => RTLD_LAZY | RTLD_GLOBAL,
        Flavour::Bacula => RTLD_NOW,
    };
    // SAFETY: loading a shared object runs its initialisers; the plugins are ours (or the
    // harness' fake plugin) and have none that matter.
    let lib = unsafe { Library::open(Some(path), flags) }
        .map_err(|e| format!("dlopen {}: {e}", path.display()))?;
    // Never unloaded (a Rust cdylib must not be dlclosed while its threads may live).
    Ok(Box::leak(Box::new(lib)))
}

fn symbol<T: Copy>(lib: &'static Library, name: &[u8]) -> Option<T> {
    // SAFETY: the caller names the C type of the symbol (loadPlugin / unloadPlugin per the ABI).
    unsafe { lib.get::<T>(name) }.ok().map(|s| *s)
}

/// Loads `path` as a plugin of `flavour` whose commands are routed by `name`, once per path.
pub(crate) fn load_path(
    flavour: Flavour,
    path: &Path,
    name: &str,
) -> Result<&'static Loaded, String> {
    static LOADED: LazyLock<Mutex<HashMap<PathBuf, Result<&'static Loaded, String>>>> =
        LazyLock::new(|| Mutex::new(HashMap::new()));
    let mut map = LOADED.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(r) = map.get(path) {
        return r.clone();
    }
    let r = load_uncached(flavour, path, name).map(|l| &*Box::leak(Box::new(l)));
    map.insert(path.to_path_buf(), r.clone());
    r
}

fn load_uncached(flavour: Flavour, path: &Path, name: &str) -> Result<Loaded, String> {
    let lib = open(flavour, path)?;
    let unload: Option<Unload> = symbol(lib, b"unloadPlugin\0");
    let not_exported = || format!("{}: loadPlugin/unloadPlugin not exported", path.display());
    let (facts, tables) = match flavour {
        Flavour::Bareos => match (symbol::<LoadFn<Bareos>>(lib, b"loadPlugin\0"), unload) {
            (Some(load), Some(_)) => load_abi::<Bareos>(path, load),
            _ => return Err(not_exported()),
        },
        Flavour::Bacula => match (symbol::<LoadFn<Bacula>>(lib, b"loadPlugin\0"), unload) {
            (Some(load), Some(_)) => load_abi::<Bacula>(path, load),
            _ => return Err(not_exported()),
        },
    };
    if facts.rejection.is_some() {
        if let Some(unload) = unload {
            // SAFETY: the daemons call unloadPlugin after a rejected load, too.
            unsafe { unload() };
        }
    }
    Ok(Loaded {
        name: name.to_owned(),
        facts,
        tables,
    })
}

fn base_facts(flavour: Flavour, path: &Path) -> PluginFacts {
    PluginFacts {
        flavour,
        path: path.to_path_buf(),
        load_rc: -1,
        info_null: true,
        info_size: 0,
        info_version: 0,
        magic: None,
        license: None,
        author: None,
        date: None,
        version: None,
        description: None,
        usage: None,
        funcs_null: true,
        funcs_size: 0,
        funcs_version: 0,
        missing_required: Vec::new(),
        present_optional: Vec::new(),
        core_calls_during_load: Vec::new(),
        rejection: None,
    }
}

/// What the daemons check differently when they load a plugin of an ABI.
trait Loadable: Abi {
    /// The plugin's information block (`PluginInformation` / `pInfo`).
    type Info;
    /// The rejection when the plugin returns no information block.
    const INFO_NULL: &'static str;
    /// The rejection when the plugin returns no table of entry points.
    const FUNCS_NULL: &'static str;
    /// `size`, `version` of the information block; its strings into `facts`.
    fn info_facts(i: &Self::Info, facts: &mut PluginFacts) -> (u32, u32);
    /// The optional entry points after `checkFile`, and whether each is present.
    fn optional(f: &Self::Funcs) -> Vec<(&'static str, bool)>;
    fn license_ok(license: &str) -> bool;
    fn tables(f: &'static Self::Funcs) -> Tables;
}

/// The strings of an information block (same field names in both ABIs) into `facts`; returns
/// its `size` and `version`.
macro_rules! info_facts {
    ($i:expr, $facts:expr) => {{
        // SAFETY: info strings are NUL-terminated or NULL.
        unsafe {
            $facts.magic = opt_str($i.plugin_magic);
            $facts.license = opt_str($i.plugin_license);
            $facts.author = opt_str($i.plugin_author);
            $facts.date = opt_str($i.plugin_date);
            $facts.version = opt_str($i.plugin_version);
            $facts.description = opt_str($i.plugin_description);
        }
        ($i.size, $i.version)
    }};
}

impl Loadable for Bareos {
    type Info = bareos::PluginInformation;
    const INFO_NULL: &'static str = "PluginInformation is NULL";
    const FUNCS_NULL: &'static str =
        "PluginFunctions is NULL (the daemon would crash on the first job)";

    fn info_facts(i: &Self::Info, facts: &mut PluginFacts) -> (u32, u32) {
        // SAFETY: a NUL-terminated string or NULL.
        facts.usage = unsafe { opt_str(i.plugin_usage) };
        info_facts!(i, facts)
    }

    fn optional(f: &Self::Funcs) -> Vec<(&'static str, bool)> {
        vec![
            ("getAcl", f.getAcl.is_some()),
            ("setAcl", f.setAcl.is_some()),
            ("getXattr", f.getXattr.is_some()),
            ("setXattr", f.setXattr.is_some()),
        ]
    }

    fn license_ok(l: &str) -> bool {
        l.eq_ignore_ascii_case("Bareos AGPLv3") || l.eq_ignore_ascii_case("AGPLv3")
    }

    fn tables(f: &'static Self::Funcs) -> Tables {
        Tables::Bareos(f)
    }
}

impl Loadable for Bacula {
    type Info = bacula::pInfo;
    const INFO_NULL: &'static str = "pInfo is NULL (the daemon would crash)";
    const FUNCS_NULL: &'static str = "pFuncs is NULL (the daemon would crash on the first job)";

    fn info_facts(i: &Self::Info, facts: &mut PluginFacts) -> (u32, u32) {
        info_facts!(i, facts)
    }

    fn optional(f: &Self::Funcs) -> Vec<(&'static str, bool)> {
        vec![
            ("handleXACLdata", f.handleXACLdata.is_some()),
            ("checkStream", f.checkStream.is_some()),
        ]
    }

    fn license_ok(l: &str) -> bool {
        matches!(l, "Bacula AGPLv3" | "AGPLv3" | "Bacula")
    }

    fn tables(f: &'static Self::Funcs) -> Tables {
        Tables::Bacula(f)
    }
}

/// `loadPlugin` of ABI `A`.
type LoadFn<A> = unsafe extern "C" fn(
    *mut <A as Abi>::CoreInfo,
    *mut <A as Abi>::CoreFuncs,
    *mut *mut <A as Loadable>::Info,
    *mut *mut <A as Abi>::Funcs,
) -> c_int;

/// Calls `loadPlugin` with the static core tables, then the daemon's checks in its order
/// (docs/abi.md, loading a plugin).
fn load_abi<A: Loadable>(path: &Path, load: LoadFn<A>) -> (PluginFacts, Option<Tables>) {
    let mut facts = base_facts(A::FLAVOUR, path);
    let (info_tab, core_tab) = A::core_tables();
    let mut info: *mut A::Info = std::ptr::null_mut();
    let mut funcs: *mut A::Funcs = std::ptr::null_mut();
    job::begin_load_capture();
    let armed = super::watchdog::arm(format!("{:?} loadPlugin({})", A::FLAVOUR, path.display()));
    // SAFETY: the tables are static and valid for the process; the out-pointers are locals.
    facts.load_rc = unsafe { load(info_tab, core_tab, &mut info, &mut funcs) };
    drop(armed);
    facts.core_calls_during_load = job::end_load_capture();
    // SAFETY: the plugin returns pointers to static tables (or NULL).
    let info = unsafe { info.as_ref() };
    // SAFETY: as above.
    let funcs: Option<&'static A::Funcs> = unsafe { funcs.as_ref() };
    if let Some(i) = info {
        facts.info_null = false;
        (facts.info_size, facts.info_version) = A::info_facts(i, &mut facts);
    }
    if let Some(f) = funcs {
        facts.funcs_null = false;
        (facts.funcs_size, facts.funcs_version) = A::funcs_header(f);
        let entries = A::entries(f);
        let required = entries.required();
        facts.missing_required = required.iter().filter(|r| !r.1).map(|r| r.0).collect();
        let mut optional = vec![("checkFile", entries.check_file.is_some())];
        optional.extend(A::optional(f));
        facts.present_optional = optional.iter().filter(|o| o.1).map(|o| o.0).collect();
    }
    facts.rejection = if facts.load_rc != 0 {
        // Bacula skips such a plugin silently.
        Some(format!("loadPlugin returned {}", facts.load_rc))
    } else if info.is_none() {
        Some(A::INFO_NULL.into())
    } else if facts.magic.as_deref() != Some("*FDPluginData*") {
        Some(format!("Plugin magic wrong: {:?}", facts.magic))
    } else if facts.info_version != A::VERSION {
        Some(format!("Plugin version incorrect: {}", facts.info_version))
    } else if !facts.license.as_deref().is_some_and(A::license_ok) {
        Some(format!("Plugin license incompatible: {:?}", facts.license))
    } else if facts.info_size != size_of::<A::Info>() as u32 {
        Some(format!("Plugin size incorrect: {}", facts.info_size))
    } else if funcs.is_none() {
        Some(A::FUNCS_NULL.into())
    } else if !facts.missing_required.is_empty() {
        Some(format!(
            "NULL entry points the daemon calls unchecked: {:?}",
            facts.missing_required
        ))
    } else {
        None
    };
    let tables = match (&facts.rejection, funcs) {
        (None, Some(f)) => Some(A::tables(f)),
        _ => None,
    };
    (facts, tables)
}

/// The accepted built plugin of `f` (builds and loads it on first use; panics if the daemon
/// would reject it).
pub(crate) fn load(f: Flavour) -> &'static Loaded {
    let path = plugin_so(f);
    let loaded = load_path(f, &path, "s3").unwrap_or_else(|e| panic!("harness: {e}"));
    if let Some(why) = &loaded.facts.rejection {
        panic!(
            "harness: bareos/bacula-fd would reject {}: {why}",
            path.display()
        );
    }
    loaded
}

/// `loadPlugin` facts of the built plugin of `f` (loads it; does not panic on a rejection).
pub fn plugin_facts(f: Flavour) -> PluginFacts {
    let path = plugin_so(f);
    load_path(f, &path, "s3")
        .unwrap_or_else(|e| panic!("harness: {e}"))
        .facts
        .clone()
}

/// Result of a `loadPlugin` call with a foreign core table.
#[derive(Clone, Debug)]
pub struct WrongTableOutcome {
    pub rc: i32,
    /// `*plugin_info` was set (non-NULL).
    pub info_filled: bool,
    /// `*plugin_funcs` was set (non-NULL).
    pub funcs_filled: bool,
    /// Calls the plugin made into the trap table.
    pub core_calls: usize,
}

static TRAP_CALLS: [AtomicUsize; 2] = [AtomicUsize::new(0), AtomicUsize::new(0)];

extern "C" fn trap_bareos() -> c_int {
    TRAP_CALLS[0].fetch_add(1, Ordering::SeqCst);
    2
}

extern "C" fn trap_bacula() -> c_int {
    TRAP_CALLS[1].fetch_add(1, Ordering::SeqCst);
    2
}

/// Loads a fresh copy of the built plugin of `f` and calls its `loadPlugin` with an info block
/// `{8, info_version}` and a core table `{table_size, table_version}` whose every slot is a trap
/// (Bareos `bpluginfo`: version 1, size 64; the other daemon: Bareos {10, 176} given to a Bacula
/// build, …). `unloadPlugin` is called afterwards, as the daemons do after a rejection.
pub fn probe_wrong_core_table(
    f: Flavour,
    info_version: u32,
    table_size: u32,
    table_version: u32,
) -> WrongTableOutcome {
    probe_path(f, &plugin_so(f), info_version, table_size, table_version)
}

pub(crate) fn probe_path(
    f: Flavour,
    so: &Path,
    info_version: u32,
    table_size: u32,
    table_version: u32,
) -> WrongTableOutcome {
    let copy = super::volume::scratch_path("copy").with_extension("so");
    std::fs::copy(so, &copy)
        .unwrap_or_else(|e| panic!("harness: copy {} → {}: {e}", so.display(), copy.display()));
    let lib = open(f, &copy).unwrap_or_else(|e| panic!("harness: {e}"));
    let (trap, counter) = match f {
        Flavour::Bareos => (trap_bareos as *const () as usize, &TRAP_CALLS[0]),
        Flavour::Bacula => (trap_bacula as *const () as usize, &TRAP_CALLS[1]),
    };
    // The table: {size, version} then pointers, at least as long as `table_size` says.
    let words = (table_size as usize).div_ceil(8).max(1);
    let mut table = vec![trap; words.max(32)];
    table[0] = (table_size as usize) | ((table_version as usize) << 32);
    let table: &'static mut [usize] = table.leak();
    let info: &'static mut [u32; 2] = Box::leak(Box::new([8, info_version]));
    let mut out_info: *mut c_void = std::ptr::null_mut();
    let mut out_funcs: *mut c_void = std::ptr::null_mut();
    let before = counter.load(Ordering::SeqCst);
    type AnyLoad =
        unsafe extern "C" fn(*mut c_void, *mut c_void, *mut *mut c_void, *mut *mut c_void) -> c_int;
    let load: AnyLoad = symbol(lib, b"loadPlugin\0").expect("loadPlugin exported");
    let armed = super::watchdog::arm(format!("{f:?} loadPlugin with a foreign core table"));
    // SAFETY: both tables are leaked (valid forever); the plugin may only read them.
    let rc = unsafe {
        load(
            info.as_mut_ptr().cast(),
            table.as_mut_ptr().cast(),
            &mut out_info,
            &mut out_funcs,
        )
    };
    drop(armed);
    let core_calls = counter.load(Ordering::SeqCst) - before;
    if let Some(unload) = symbol::<Unload>(lib, b"unloadPlugin\0") {
        // SAFETY: no argument; the daemons call it after a rejected load.
        unsafe { unload() };
    }
    WrongTableOutcome {
        rc,
        info_filled: !out_info.is_null(),
        funcs_filled: !out_funcs.is_null(),
        core_calls,
    }
}

#[cfg(test)]
pub(crate) mod fake {
    //! The harness' fake plugin (`fake_plugin.c`, built by build.rs).
    use super::*;

    pub(crate) fn path(f: Flavour) -> PathBuf {
        Path::new(env!("OUT_DIR")).join(match f {
            Flavour::Bareos => "libfake_fd_bareos.so",
            Flavour::Bacula => "libfake_fd_bacula.so",
        })
    }

    pub(crate) fn load(f: Flavour) -> &'static Loaded {
        let l = load_path(f, &path(f), "fake").expect("fake plugin loads");
        assert!(l.facts.rejection.is_none(), "{:?}", l.facts);
        l
    }
}
