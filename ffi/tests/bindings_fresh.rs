//! Checks that the committed raw bindings in `ffi/src/sys/{bareos,bacula}.rs` are exactly what
//! bindgen produces from the C headers in `sys-headers/`.
//!
//! The bindings are committed so that building the plugin needs only cargo and a C compiler;
//! this test (which needs libclang) keeps them honest. To rewrite them after editing a header:
//!
//! ```text
//! UPDATE_BINDINGS=1 cargo test -p fd-ffi --test bindings_fresh
//! ```

use std::path::{Path, PathBuf};

use bindgen::callbacks::{DeriveTrait, ImplementsTrait, IntKind, ParseCallbacks};

/// One ABI flavour: the header it is generated from and the module it is written to.
struct Flavour {
    /// Short name, used in messages.
    name: &'static str,
    /// Header, relative to the workspace root.
    header: &'static str,
    /// Generated module, relative to the workspace root.
    output: &'static str,
    /// `true` for Bacula, whose `FO_*` constants are `uint64_t` masks (Bareos: bit numbers).
    fo_masks: bool,
}

const BAREOS: Flavour = Flavour {
    name: "bareos",
    header: "sys-headers/bareos/bareos_fd_plugin.h",
    output: "ffi/src/sys/bareos.rs",
    fo_masks: false,
};

const BACULA: Flavour = Flavour {
    name: "bacula",
    header: "sys-headers/bacula/bacula_fd_plugin.h",
    output: "ffi/src/sys/bacula.rs",
    fo_masks: true,
};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("ffi/ has a parent directory")
        .to_path_buf()
}

/// Adjusts the Rust types of a few object-like macros (all others keep bindgen's default: `u32`
/// for non-negative integers, `u8` for character literals), and tells bindgen which traits the
/// platform types taken from `libc` implement.
#[derive(Debug)]
struct Callbacks {
    fo_masks: bool,
}

impl ParseCallbacks for Callbacks {
    fn int_macro(&self, name: &str, _value: i64) -> Option<IntKind> {
        if name.starts_with("bRC_") || name == "PYTHON_UNDEFINED_RETURN_VALUE" {
            // The return codes get the type of the functions' return value.
            Some(IntKind::Custom {
                name: "bRC",
                is_signed: true,
            })
        } else if name == "FOPTS_BYTES" {
            // Length of `save_pkt.flags` (Bareos).
            Some(IntKind::Custom {
                name: "usize",
                is_signed: false,
            })
        } else if name.starts_with("FO_") && self.fo_masks {
            // Bacula: masks for the `uint64_t save_pkt.flags`.
            Some(IntKind::U64)
        } else if name.starts_with("iostat_") {
            // Values of the `int32_t io_pkt.status` (one of them is -1).
            Some(IntKind::I32)
        } else {
            None
        }
    }

    fn blocklisted_type_implements_trait(
        &self,
        name: &str,
        derive_trait: DeriveTrait,
    ) -> Option<ImplementsTrait> {
        match name {
            // libc::stat is Copy + Clone + Debug, but has no Default (bindgen then writes a
            // zero-filling `impl Default` for the packets that embed it).
            "stat" | "struct stat" => Some(match derive_trait {
                DeriveTrait::Copy | DeriveTrait::Debug => ImplementsTrait::Yes,
                DeriveTrait::Default => ImplementsTrait::Manually,
                DeriveTrait::Hash | DeriveTrait::PartialEqOrPartialOrd => ImplementsTrait::No,
            }),
            "mode_t" | "uid_t" | "off_t" | "time_t" => Some(ImplementsTrait::Yes),
            _ => None,
        }
    }
}

/// The single bindgen configuration used both to check and to rewrite the committed bindings.
fn bindgen_builder(flavour: &Flavour) -> bindgen::Builder {
    let header = workspace_root().join(flavour.header);
    let header_re = format!(
        ".*/{}",
        regex_escape(flavour.header.trim_start_matches("sys-headers/"))
    );
    bindgen::Builder::default()
        .header(header.to_str().expect("header path is UTF-8"))
        .clang_args(["-x", "c", "-std=c99"])
        // Only what the header itself declares; libc's own declarations stay out.
        .allowlist_file(header_re)
        // Platform types come from the libc crate (re-exported below).
        .blocklist_type("stat|timespec|mode_t|uid_t|off_t|time_t|__.*")
        // The two entry points are *defined* by the plugin crates, not imported.
        .blocklist_function("loadPlugin|unloadPlugin")
        .raw_line("pub use libc::{mode_t, off_t, stat, time_t, uid_t};")
        .default_enum_style(bindgen::EnumVariation::Consts)
        .prepend_enum_name(false)
        .derive_default(true)
        .derive_debug(true)
        .derive_copy(true)
        .layout_tests(false)
        .generate_comments(false)
        .size_t_is_usize(true)
        .parse_callbacks(Box::new(Callbacks {
            fo_masks: flavour.fo_masks,
        }))
}

fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn generate(flavour: &Flavour) -> String {
    let bindings = bindgen_builder(flavour)
        .generate()
        .unwrap_or_else(|e| panic!("bindgen failed for {}: {e}", flavour.header));
    format!(
        "// Generated by bindgen from {} -- do not edit by hand.\n\
         // Regenerate: UPDATE_BINDINGS=1 cargo test -p fd-ffi --test bindings_fresh\n\
         // (bindgen_builder() in ffi/tests/bindings_fresh.rs holds the configuration).\n\n{}",
        flavour.header, bindings
    )
}

fn check_or_update(flavour: &Flavour) {
    let generated = generate(flavour);
    let path = workspace_root().join(flavour.output);
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed == generated {
        return;
    }
    if std::env::var_os("UPDATE_BINDINGS").is_some_and(|v| v == "1") {
        std::fs::write(&path, &generated)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        eprintln!("rewrote {}", path.display());
        return;
    }
    panic!(
        "{} bindings in {} are stale (generated from {}).\n{}\n\
         Run `UPDATE_BINDINGS=1 cargo test -p fd-ffi --test bindings_fresh` and commit the result.",
        flavour.name,
        flavour.output,
        flavour.header,
        first_difference(&committed, &generated)
    );
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

#[test]
fn bareos_bindings_are_fresh() {
    check_or_update(&BAREOS);
}

#[test]
fn bacula_bindings_are_fresh() {
    check_or_update(&BACULA);
}
