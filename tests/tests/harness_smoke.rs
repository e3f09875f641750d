//! First checks of the built plugins through the host harness: `loadPlugin` returns tables the
//! daemons accept (docs/abi.md, loading a plugin), and a wrong core table is refused
//! without calling back into it. No S3 server needed.

use integration_tests::harness::{
    backup, estimate, msg, plugin_facts, probe_wrong_core_table, Flavour, JobSpec,
};

#[test]
fn bareos_load_plugin_returns_acceptable_tables() {
    let f = plugin_facts(Flavour::Bareos);
    assert_eq!(f.load_rc, 0, "{f:#?}");
    assert!(!f.info_null && !f.funcs_null, "{f:#?}");
    assert_eq!(f.info_size, 64, "{f:#?}");
    assert_eq!(f.info_version, 10, "{f:#?}");
    assert_eq!(f.magic.as_deref(), Some("*FDPluginData*"), "{f:#?}");
    let license = f.license.clone().unwrap_or_default();
    assert!(
        license.eq_ignore_ascii_case("Bareos AGPLv3") || license.eq_ignore_ascii_case("AGPLv3"),
        "{f:#?}"
    );
    assert!(f.missing_required.is_empty(), "{f:#?}");
    assert!(f.core_calls_during_load.is_empty(), "{f:#?}");
    assert_eq!(f.rejection, None, "{f:#?}");
}

#[test]
fn bacula_load_plugin_returns_acceptable_tables() {
    let f = plugin_facts(Flavour::Bacula);
    assert_eq!(f.load_rc, 0, "{f:#?}");
    assert!(!f.info_null && !f.funcs_null, "{f:#?}");
    assert_eq!(f.info_size, 56, "{f:#?}");
    assert_eq!(f.info_version, 14, "{f:#?}");
    assert_eq!(f.magic.as_deref(), Some("*FDPluginData*"), "{f:#?}");
    assert!(
        matches!(
            f.license.as_deref(),
            Some("Bacula AGPLv3" | "AGPLv3" | "Bacula")
        ),
        "{f:#?}"
    );
    assert!(f.missing_required.is_empty(), "{f:#?}");
    assert!(f.core_calls_during_load.is_empty(), "{f:#?}");
    assert_eq!(f.rejection, None, "{f:#?}");
}

#[test]
fn bareos_plugin_survives_bpluginfo() {
    // bpluginfo: version 1, a shorter (64-byte), differently ordered core table. The plugin must
    // still fill both out-pointers and must not call any core function.
    let o = probe_wrong_core_table(Flavour::Bareos, 1, 64, 1);
    assert!(o.info_filled, "{o:?}");
    assert!(o.funcs_filled, "{o:?}");
    assert_eq!(o.core_calls, 0, "{o:?}");
}

#[test]
fn bacula_plugin_refuses_a_bareos_core_table() {
    let o = probe_wrong_core_table(Flavour::Bacula, 10, 176, 10);
    assert_ne!(o.rc, 0, "{o:?}");
    assert_eq!(o.core_calls, 0, "{o:?}");
}

/// A command the plugin must refuse (no bucket) must fail the job visibly on both daemons, with
/// the message delivered through the core and no protocol violation.
#[test]
fn refused_command_fails_the_job_visibly() {
    for flavour in Flavour::ALL {
        let r = backup(
            &JobSpec::new(flavour, 1, 'F', 0, "s3:region=us-east-1"),
            None,
        );
        assert!(r.protocol_violations.is_empty(), "{flavour:?}: {r:#?}");
        assert!(matches!(r.status, 'f' | 'E'), "{flavour:?}: {r:#?}");
        assert!(
            r.messages.iter().any(|(t, _)| *t == msg::M_FATAL),
            "{flavour:?}: {r:#?}"
        );
        let e = estimate(&JobSpec::new(flavour, 1, 'F', 0, "s3:region=us-east-1"));
        assert!(e.protocol_violations.is_empty(), "{flavour:?}: {e:#?}");
        assert_ne!(e.status, 'T', "{flavour:?}: {e:#?}");
    }
}
