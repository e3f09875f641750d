//! Checks the C view of what the two cdylibs export.
//!
//! For each flavour, cbindgen (configured by `ffi/cbindgen-<flavour>.toml`) turns
//! `plugin/<flavour>-fd/src/lib.rs` into a header with just the `loadPlugin` / `unloadPlugin`
//! prototypes, which must equal the committed `sys-headers/generated/s3_fd_<flavour>.h`
//! (`UPDATE_BINDINGS=1 cargo test -p fd-ffi --test exports_header` rewrites it). Then a small C
//! file that includes the ABI header from `sys-headers/` *and* the generated header is compiled:
//! a Rust signature that disagrees with the ABI header makes the two prototypes conflict, and
//! the entry points are assigned to function pointers of the exact ABI types.
//!
//! cbindgen only parses the source, so the plugin crates need not compile for this test.

use std::path::{Path, PathBuf};
use std::process::Command;

struct Flavour {
    name: &'static str,
    /// cbindgen configuration, relative to `ffi/`.
    config: &'static str,
    /// Source of the cdylib, relative to the workspace root.
    source: &'static str,
    /// ABI header, relative to the workspace root.
    sys_header: &'static str,
    /// Committed cbindgen output, relative to the workspace root.
    output: &'static str,
    /// The C prototype types the entry points must have, plus layout checks, compiled after
    /// both headers.
    c_checks: &'static str,
}

const BAREOS: Flavour = Flavour {
    name: "bareos",
    config: "cbindgen-bareos.toml",
    source: "plugin/bareos-fd/src/lib.rs",
    sys_header: "sys-headers/bareos/bareos_fd_plugin.h",
    output: "sys-headers/generated/s3_fd_bareos.h",
    c_checks: r#"
typedef bRC (*load_plugin_fn)(PluginApiDefinition *core_info, CoreFunctions *core_funcs,
                              PluginInformation **plugin_info, PluginFunctions **plugin_funcs);
typedef bRC (*unload_plugin_fn)(void);
load_plugin_fn s3_fd_check_load = loadPlugin;
unload_plugin_fn s3_fd_check_unload = unloadPlugin;

#define CHECK(name, cond) typedef char name[(cond) ? 1 : -1]
CHECK(size_context, sizeof(PluginContext) == 32);
CHECK(size_info, sizeof(PluginInformation) == 64);
CHECK(size_funcs, sizeof(PluginFunctions) == 144);
CHECK(size_core, sizeof(CoreFunctions) == 176);
CHECK(size_save, sizeof(save_pkt) == 240);
CHECK(size_restore, sizeof(restore_pkt) == 240);
CHECK(end_restore, offsetof(restore_pkt, pkt_end) == 232);
CHECK(size_restore_ext, sizeof(restore_pkt_ext) == 256);
CHECK(end_restore_ext, offsetof(restore_pkt_ext, pkt_end) == 248);
CHECK(size_io, sizeof(io_pkt) == 80);
CHECK(size_acl, sizeof(acl_pkt) == 40);
CHECK(size_xattr, sizeof(xattr_pkt) == 56);
CHECK(size_object, sizeof(restore_object_pkt) == 64);
CHECK(flags_save, offsetof(save_pkt, flags) == 172);
"#,
};

const BACULA: Flavour = Flavour {
    name: "bacula",
    config: "cbindgen-bacula.toml",
    source: "plugin/bacula-fd/src/lib.rs",
    sys_header: "sys-headers/bacula/bacula_fd_plugin.h",
    output: "sys-headers/generated/s3_fd_bacula.h",
    c_checks: r#"
typedef bRC (*load_plugin_fn)(bInfo *core_info, bFuncs *core_funcs, pInfo **plugin_info,
                              pFuncs **plugin_funcs);
typedef bRC (*unload_plugin_fn)(void);
load_plugin_fn s3_fd_check_load = loadPlugin;
unload_plugin_fn s3_fd_check_unload = unloadPlugin;

#define CHECK(name, cond) typedef char name[(cond) ? 1 : -1]
CHECK(size_context, sizeof(bpContext) == 16);
CHECK(size_info, sizeof(pInfo) == 56);
CHECK(size_funcs, sizeof(pFuncs) == 128);
CHECK(size_core, sizeof(bFuncs) == 144);
CHECK(size_save, sizeof(save_pkt) == 240);
CHECK(size_restore, sizeof(restore_pkt) == 232);
CHECK(size_io, sizeof(io_pkt) == 72);
CHECK(size_xacl, sizeof(xacl_pkt) == 32);
CHECK(size_stream, sizeof(stream_pkt) == 12);
CHECK(size_object, sizeof(restore_object_pkt) == 64);
CHECK(flags_save, offsetof(save_pkt, flags) == 176);
"#,
};

fn ffi_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn workspace_root() -> PathBuf {
    ffi_dir()
        .parent()
        .expect("ffi/ has a parent directory")
        .to_path_buf()
}

fn generate(flavour: &Flavour) -> String {
    let config_path = ffi_dir().join(flavour.config);
    let config = cbindgen::Config::from_file(&config_path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", config_path.display()));
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(workspace_root().join(flavour.source))
        .generate()
        .unwrap_or_else(|e| panic!("cbindgen failed on {}: {e}", flavour.source));
    let mut out = Vec::new();
    bindings.write(&mut out);
    String::from_utf8(out).expect("cbindgen writes UTF-8")
}

/// A short, readable description of where two texts start to differ.
fn first_difference(committed: &str, generated: &str) -> String {
    let mut c = committed.lines();
    let mut g = generated.lines();
    let mut line = 1;
    loop {
        match (c.next(), g.next()) {
            (Some(a), Some(b)) if a == b => line += 1,
            (None, None) => return "the files differ only in line endings".into(),
            (a, b) => {
                return format!(
                    "first difference at line {line}:\n  committed: {}\n  generated: {}",
                    a.unwrap_or("<end of file>"),
                    b.unwrap_or("<end of file>")
                )
            }
        }
    }
}

fn check_or_update(flavour: &Flavour, generated: &str) {
    let path = workspace_root().join(flavour.output);
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed == generated {
        return;
    }
    if std::env::var_os("UPDATE_BINDINGS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().expect("output has a directory"))
            .unwrap_or_else(|e| panic!("cannot create the directory of {}: {e}", path.display()));
        std::fs::write(&path, generated)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        eprintln!("rewrote {}", path.display());
        return;
    }
    panic!(
        "{} is stale (cbindgen output for {} with ffi/{}).\n{}\n\
         Run `UPDATE_BINDINGS=1 cargo test -p fd-ffi --test exports_header` and commit the result.",
        flavour.output,
        flavour.source,
        flavour.config,
        first_difference(&committed, generated)
    );
}

/// The C compiler the `cc` crate would use (honours `CC`, `CFLAGS`, ...).
fn c_compiler() -> Command {
    let triple = format!(
        "{}-unknown-{}-{}",
        std::env::consts::ARCH,
        std::env::consts::OS,
        if cfg!(target_env = "musl") {
            "musl"
        } else {
            "gnu"
        }
    );
    cc::Build::new()
        .cargo_metadata(false)
        .target(&triple)
        .host(&triple)
        .opt_level(0)
        .debug(false)
        .try_get_compiler()
        .unwrap_or_else(|e| panic!("no C compiler found: {e}"))
        .to_command()
}

/// Compiles `source` (C99, all warnings as errors) to an object file in a scratch directory.
fn compile_c(name: &str, source: &str) {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("exports_header");
    std::fs::create_dir_all(&dir).expect("create scratch directory");
    let c_file = dir.join(format!("{name}.c"));
    std::fs::write(&c_file, source).expect("write C test file");
    let output = c_compiler()
        .args([
            "-std=c99",
            "-Wall",
            "-Wextra",
            "-Wpedantic",
            "-Werror",
            "-c",
        ])
        .arg(&c_file)
        .arg("-o")
        .arg(dir.join(format!("{name}.o")))
        .output()
        .expect("run the C compiler");
    assert!(
        output.status.success(),
        "compiling {} failed:\n{}{}\n--- source ---\n{source}",
        c_file.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn check(flavour: &Flavour) {
    let generated = generate(flavour);

    // Exactly the two entry points, no re-emitted ABI types.
    assert!(
        generated.contains("bRC loadPlugin(") && generated.contains("bRC unloadPlugin(void);"),
        "{}: cbindgen output lacks the entry points:\n{generated}",
        flavour.name
    );
    assert_eq!(
        generated.matches(");").count(),
        2,
        "{}: cbindgen emitted more than the two prototypes:\n{generated}",
        flavour.name
    );
    for word in ["typedef", "struct ", "#define bRC", "enum "] {
        assert!(
            !generated.contains(word),
            "{}: cbindgen re-emitted ABI types ({word:?}):\n{generated}",
            flavour.name
        );
    }

    check_or_update(flavour, &generated);

    let root = workspace_root();
    let sys_header = root.join(flavour.sys_header);
    let generated_header = root.join(flavour.output);
    // The committed file (equal to `generated` at this point) is compiled, so its relative
    // #include of the ABI header is exercised too.
    compile_c(
        &format!("{}_generated_only", flavour.name),
        &format!("#include \"{}\"\n", generated_header.display()),
    );
    compile_c(
        &format!("{}_both_headers", flavour.name),
        &format!(
            "#include \"{}\"\n#include \"{}\"\n#include <stddef.h>\n{}",
            sys_header.display(),
            generated_header.display(),
            flavour.c_checks
        ),
    );
}

#[test]
fn bareos_exports_match_the_abi_header() {
    check(&BAREOS);
}

#[test]
fn bacula_exports_match_the_abi_header() {
    check(&BACULA);
}
