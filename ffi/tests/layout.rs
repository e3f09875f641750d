//! Sizes, field offsets and constant values of the raw bindings (`fd_ffi::sys::{bareos,bacula}`),
//! checked against the numbers written in `docs/abi.md` (§2 for what both daemons share, §3
//! for Bareos, §4 for Bacula 9.6, §11 and §12 for how they and the Bareos releases differ).
//! The numbers are deliberately hard-coded here: they are the measured layouts of the real
//! daemons, and the bindings must match them, not the other way round.
//!
//! Offsets and sizes are those of Linux x86_64 (LP64, glibc), the platform of `docs/abi.md`; the
//! constant values are platform independent.

use std::mem::{offset_of, size_of, size_of_val};

/// Checks `size_of::<T>()` and, for every listed field, its offset and size.
macro_rules! layout {
    ($t:ty, $size:expr, { $($field:ident @ $off:expr => $fsize:expr),* $(,)? }) => {{
        assert_eq!(size_of::<$t>(), $size, concat!("sizeof(", stringify!($t), ")"));
        // SAFETY: every checked type is plain data for which all-zero bytes are a valid value.
        let value: $t = unsafe { std::mem::zeroed() };
        $(
            assert_eq!(
                offset_of!($t, $field),
                $off,
                concat!("offsetof(", stringify!($t), ", ", stringify!($field), ")")
            );
            assert_eq!(
                size_of_val(&value.$field),
                $fsize,
                concat!("sizeof(", stringify!($t), ".", stringify!($field), ")")
            );
        )*
    }};
}

/// Checks a list of constants against their values.
macro_rules! consts {
    ($module:path { $($name:ident = $value:expr),* $(,)? }) => {{
        use $module as m;
        $( assert_eq!(m::$name, $value, concat!(stringify!($module), "::", stringify!($name))); )*
    }};
}

#[cfg(all(target_arch = "x86_64", target_os = "linux", target_env = "gnu"))]
mod x86_64_linux {
    use super::*;

    /// `struct stat` (`docs/abi.md` §2.1: glibc x86_64, 144 bytes). `st_atim`/`st_mtim`/
    /// `st_ctim` are spelled `st_atime`(+`_nsec`) etc. in the libc crate.
    #[test]
    fn struct_stat_is_glibc_x86_64() {
        layout!(libc::stat, 144, {
            st_dev @ 0 => 8,
            st_ino @ 8 => 8,
            st_nlink @ 16 => 8,
            st_mode @ 24 => 4,
            st_uid @ 28 => 4,
            st_gid @ 32 => 4,
            st_rdev @ 40 => 8,
            st_size @ 48 => 8,
            st_blksize @ 56 => 8,
            st_blocks @ 64 => 8,
            st_atime @ 72 => 8,
            st_atime_nsec @ 80 => 8,
            st_mtime @ 88 => 8,
            st_mtime_nsec @ 96 => 8,
            st_ctime @ 104 => 8,
            st_ctime_nsec @ 112 => 8,
        });
        assert_eq!(size_of::<libc::timespec>(), 16);
        assert_eq!(size_of::<libc::time_t>(), 8);
        assert_eq!(size_of::<libc::mode_t>(), 4);
        assert_eq!(size_of::<libc::uid_t>(), 4);
        assert_eq!(size_of::<libc::off_t>(), 8);
    }

    mod bareos {
        use super::*;
        use fd_ffi::sys::bareos::*;

        #[test]
        fn scalar_types() {
            assert_eq!(size_of::<bRC>(), 4);
            assert_eq!(size_of::<bVariable>(), 4);
            assert_eq!(size_of::<bEventType>(), 4);
            assert_eq!(size_of::<pVariable>(), 4);
            assert_eq!(size_of::<utime_t>(), 8);
            assert_eq!(size_of::<btime_t>(), 8);
            assert_eq!(size_of::<boffset_t>(), 8);
        }

        /// §3.1
        #[test]
        fn plugin_context() {
            layout!(PluginContext, 32, {
                instance @ 0 => 4,
                plugin @ 8 => 8,
                core_private_context @ 16 => 8,
                plugin_private_context @ 24 => 8,
            });
        }

        /// §3.2
        #[test]
        fn api_definition_and_event() {
            layout!(PluginApiDefinition, 8, { size @ 0 => 4, version @ 4 => 4 });
            layout!(bEvent, 4, { eventType @ 0 => 4 });
        }

        /// §3.3
        #[test]
        fn plugin_information() {
            layout!(PluginInformation, 64, {
                size @ 0 => 4,
                version @ 4 => 4,
                plugin_magic @ 8 => 8,
                plugin_license @ 16 => 8,
                plugin_author @ 24 => 8,
                plugin_date @ 32 => 8,
                plugin_version @ 40 => 8,
                plugin_description @ 48 => 8,
                plugin_usage @ 56 => 8,
            });
        }

        /// §3.4
        #[test]
        fn plugin_functions() {
            layout!(PluginFunctions, 144, {
                size @ 0 => 4,
                version @ 4 => 4,
                newPlugin @ 8 => 8,
                freePlugin @ 16 => 8,
                getPluginValue @ 24 => 8,
                setPluginValue @ 32 => 8,
                handlePluginEvent @ 40 => 8,
                startBackupFile @ 48 => 8,
                endBackupFile @ 56 => 8,
                startRestoreFile @ 64 => 8,
                endRestoreFile @ 72 => 8,
                pluginIO @ 80 => 8,
                createFile @ 88 => 8,
                setFileAttributes @ 96 => 8,
                checkFile @ 104 => 8,
                getAcl @ 112 => 8,
                setAcl @ 120 => 8,
                getXattr @ 128 => 8,
                setXattr @ 136 => 8,
            });
        }

        /// §3.5
        #[test]
        fn core_functions() {
            layout!(CoreFunctions, 176, {
                size @ 0 => 4,
                version @ 4 => 4,
                registerBareosEvents @ 8 => 8,
                unregisterBareosEvents @ 16 => 8,
                getInstanceCount @ 24 => 8,
                getBareosValue @ 32 => 8,
                setBareosValue @ 40 => 8,
                JobMessage @ 48 => 8,
                DebugMessage @ 56 => 8,
                bareosMalloc @ 64 => 8,
                bareosFree @ 72 => 8,
                AddExclude @ 80 => 8,
                AddInclude @ 88 => 8,
                AddOptions @ 96 => 8,
                AddRegex @ 104 => 8,
                AddWild @ 112 => 8,
                NewOptions @ 120 => 8,
                NewInclude @ 128 => 8,
                NewPreInclude @ 136 => 8,
                checkChanges @ 144 => 8,
                AcceptFile @ 152 => 8,
                SetSeenBitmap @ 160 => 8,
                ClearSeenBitmap @ 168 => 8,
            });
        }

        /// §3.6
        #[test]
        fn save_pkt() {
            layout!(save_pkt, 240, {
                pkt_size @ 0 => 4,
                fname @ 8 => 8,
                link @ 16 => 8,
                statp @ 24 => 144,
                type_ @ 168 => 4,
                flags @ 172 => 5,
                no_read @ 177 => 1,
                portable @ 178 => 1,
                accurate_found @ 179 => 1,
                cmd @ 184 => 8,
                save_time @ 192 => 8,
                delta_seq @ 200 => 4,
                object_name @ 208 => 8,
                object @ 216 => 8,
                object_len @ 224 => 4,
                index @ 228 => 4,
                pkt_end @ 232 => 4,
            });
        }

        /// §3.7, Bareos 23.x–25.x
        #[test]
        fn restore_pkt() {
            layout!(restore_pkt, 240, {
                pkt_size @ 0 => 4,
                stream @ 4 => 4,
                data_stream @ 8 => 4,
                type_ @ 12 => 4,
                file_index @ 16 => 4,
                LinkFI @ 20 => 4,
                uid @ 24 => 4,
                statp @ 32 => 144,
                attrEx @ 176 => 8,
                ofname @ 184 => 8,
                olname @ 192 => 8,
                where_ @ 200 => 8,
                RegexWhere @ 208 => 8,
                replace @ 216 => 4,
                create_status @ 220 => 4,
                delta_seq @ 224 => 4,
                filedes @ 228 => 4,
                pkt_end @ 232 => 4,
            });
        }

        /// §3.7 and §12, Bareos master (HEAD): 256 bytes, same prefix as `restore_pkt`.
        #[test]
        fn restore_pkt_ext() {
            layout!(restore_pkt_ext, 256, {
                pkt_size @ 0 => 4,
                stream @ 4 => 4,
                data_stream @ 8 => 4,
                type_ @ 12 => 4,
                file_index @ 16 => 4,
                LinkFI @ 20 => 4,
                uid @ 24 => 4,
                statp @ 32 => 144,
                attrEx @ 176 => 8,
                ofname @ 184 => 8,
                olname @ 192 => 8,
                where_ @ 200 => 8,
                RegexWhere @ 208 => 8,
                replace @ 216 => 4,
                create_status @ 220 => 4,
                delta_seq @ 224 => 4,
                filedes @ 228 => 4,
                original_file_name @ 232 => 8,
                original_link_name @ 240 => 8,
                pkt_end @ 248 => 4,
            });
        }

        /// §3.8
        #[test]
        fn io_pkt() {
            layout!(io_pkt, 80, {
                pkt_size @ 0 => 4,
                func @ 4 => 4,
                count @ 8 => 4,
                flags @ 12 => 4,
                mode @ 16 => 4,
                buf @ 24 => 8,
                fname @ 32 => 8,
                status @ 40 => 4,
                io_errno @ 44 => 4,
                lerror @ 48 => 4,
                whence @ 52 => 4,
                offset @ 56 => 8,
                win32 @ 64 => 1,
                filedes @ 68 => 4,
                pkt_end @ 72 => 4,
            });
        }

        /// §3.9
        #[test]
        fn acl_and_xattr_pkt() {
            layout!(acl_pkt, 40, {
                pkt_size @ 0 => 4,
                fname @ 8 => 8,
                content_length @ 16 => 4,
                content @ 24 => 8,
                pkt_end @ 32 => 4,
            });
            layout!(xattr_pkt, 56, {
                pkt_size @ 0 => 4,
                fname @ 8 => 8,
                name_length @ 16 => 4,
                name @ 24 => 8,
                value_length @ 32 => 4,
                value @ 40 => 8,
                pkt_end @ 48 => 4,
            });
        }

        /// §3.10
        #[test]
        fn restore_object_pkt() {
            layout!(restore_object_pkt, 64, {
                pkt_size @ 0 => 4,
                object_name @ 8 => 8,
                object @ 16 => 8,
                plugin_name @ 24 => 8,
                object_type @ 32 => 4,
                object_len @ 36 => 4,
                object_full_len @ 40 => 4,
                object_index @ 44 => 4,
                object_compression @ 48 => 4,
                stream @ 52 => 4,
                JobId @ 56 => 4,
                pkt_end @ 60 => 4,
            });
        }
    }

    mod bacula {
        use super::*;
        use fd_ffi::sys::bacula::*;

        #[test]
        fn scalar_types() {
            assert_eq!(size_of::<bRC>(), 4);
            assert_eq!(size_of::<bVariable>(), 4);
            assert_eq!(size_of::<bEventType>(), 4);
            assert_eq!(size_of::<pVariable>(), 4);
            assert_eq!(size_of::<utime_t>(), 8);
            assert_eq!(size_of::<boffset_t>(), 8);
        }

        /// §4.1: bpContext, bInfo, bEvent
        #[test]
        fn context_info_event() {
            layout!(bpContext, 16, { bContext @ 0 => 8, pContext @ 8 => 8 });
            layout!(bInfo, 8, { size @ 0 => 4, version @ 4 => 4 });
            layout!(bEvent, 4, { eventType @ 0 => 4 });
        }

        /// §4.2: pInfo
        #[test]
        fn p_info() {
            layout!(pInfo, 56, {
                size @ 0 => 4,
                version @ 4 => 4,
                plugin_magic @ 8 => 8,
                plugin_license @ 16 => 8,
                plugin_author @ 24 => 8,
                plugin_date @ 32 => 8,
                plugin_version @ 40 => 8,
                plugin_description @ 48 => 8,
            });
        }

        /// §4.3: bFuncs (17 slots)
        #[test]
        fn b_funcs() {
            layout!(bFuncs, 144, {
                size @ 0 => 4,
                version @ 4 => 4,
                registerBaculaEvents @ 8 => 8,
                getBaculaValue @ 16 => 8,
                setBaculaValue @ 24 => 8,
                JobMessage @ 32 => 8,
                DebugMessage @ 40 => 8,
                baculaMalloc @ 48 => 8,
                baculaFree @ 56 => 8,
                AddExclude @ 64 => 8,
                AddInclude @ 72 => 8,
                AddOptions @ 80 => 8,
                AddRegex @ 88 => 8,
                AddWild @ 96 => 8,
                NewOptions @ 104 => 8,
                NewInclude @ 112 => 8,
                NewPreInclude @ 120 => 8,
                checkChanges @ 128 => 8,
                AcceptFile @ 136 => 8,
            });
        }

        /// §4.4: pFuncs (15 slots)
        #[test]
        fn p_funcs() {
            layout!(pFuncs, 128, {
                size @ 0 => 4,
                version @ 4 => 4,
                newPlugin @ 8 => 8,
                freePlugin @ 16 => 8,
                getPluginValue @ 24 => 8,
                setPluginValue @ 32 => 8,
                handlePluginEvent @ 40 => 8,
                startBackupFile @ 48 => 8,
                endBackupFile @ 56 => 8,
                startRestoreFile @ 64 => 8,
                endRestoreFile @ 72 => 8,
                pluginIO @ 80 => 8,
                createFile @ 88 => 8,
                setFileAttributes @ 96 => 8,
                checkFile @ 104 => 8,
                handleXACLdata @ 112 => 8,
                checkStream @ 120 => 8,
            });
        }

        /// §4.5: save_pkt
        #[test]
        fn save_pkt() {
            layout!(save_pkt, 240, {
                pkt_size @ 0 => 4,
                fname @ 8 => 8,
                link @ 16 => 8,
                statp @ 24 => 144,
                type_ @ 168 => 4,
                flags @ 176 => 8,
                no_read @ 184 => 1,
                portable @ 185 => 1,
                accurate_found @ 186 => 1,
                cmd @ 192 => 8,
                delta_seq @ 200 => 4,
                object_name @ 208 => 8,
                object @ 216 => 8,
                object_len @ 224 => 4,
                index @ 228 => 4,
                LinkFI @ 232 => 4,
                pkt_end @ 236 => 4,
            });
        }

        /// §4.6: restore_pkt
        #[test]
        fn restore_pkt() {
            layout!(restore_pkt, 232, {
                pkt_size @ 0 => 4,
                stream @ 4 => 4,
                data_stream @ 8 => 4,
                type_ @ 12 => 4,
                file_index @ 16 => 4,
                LinkFI @ 20 => 4,
                uid @ 24 => 4,
                statp @ 32 => 144,
                attrEx @ 176 => 8,
                ofname @ 184 => 8,
                olname @ 192 => 8,
                where_ @ 200 => 8,
                RegexWhere @ 208 => 8,
                replace @ 216 => 4,
                create_status @ 220 => 4,
                delta_seq @ 224 => 4,
                pkt_end @ 228 => 4,
            });
        }

        /// §4.7: io_pkt
        #[test]
        fn io_pkt() {
            layout!(io_pkt, 72, {
                pkt_size @ 0 => 4,
                func @ 4 => 4,
                count @ 8 => 4,
                flags @ 12 => 4,
                mode @ 16 => 4,
                buf @ 24 => 8,
                fname @ 32 => 8,
                status @ 40 => 4,
                io_errno @ 44 => 4,
                lerror @ 48 => 4,
                whence @ 52 => 4,
                offset @ 56 => 8,
                win32 @ 64 => 1,
                pkt_end @ 68 => 4,
            });
        }

        /// §4.8: xacl_pkt, stream_pkt
        #[test]
        fn xacl_and_stream_pkt() {
            layout!(xacl_pkt, 32, {
                pkt_size @ 0 => 4,
                func @ 4 => 4,
                count @ 8 => 4,
                content @ 16 => 8,
                pkt_end @ 24 => 4,
            });
            layout!(stream_pkt, 12, {
                pkt_size @ 0 => 4,
                stream @ 4 => 4,
                pkt_end @ 8 => 4,
            });
        }

        /// §4.9: restore_object_pkt
        #[test]
        fn restore_object_pkt() {
            layout!(restore_object_pkt, 64, {
                pkt_size @ 0 => 4,
                object_name @ 8 => 8,
                object @ 16 => 8,
                plugin_name @ 24 => 8,
                object_type @ 32 => 4,
                object_len @ 36 => 4,
                object_full_len @ 40 => 4,
                object_index @ 44 => 4,
                object_compression @ 48 => 4,
                stream @ 52 => 4,
                JobId @ 56 => 4,
                pkt_end @ 60 => 4,
            });
        }
    }
}

/// Field and callback types the SDK relies on (a wrong binding fails to compile here).
#[allow(clippy::type_complexity)]
mod types {
    use std::os::raw::{c_char, c_int, c_void};

    #[test]
    fn bareos_types() {
        use fd_ffi::sys::bareos::*;
        let _: fn() -> i32 = || -> bRC { bRC_OK };
        let sp = save_pkt::default();
        let _: [c_char; 5] = sp.flags;
        let _: [c_char; FOPTS_BYTES] = sp.flags;
        let _: libc::stat = sp.statp;
        let _: libc::time_t = sp.save_time;
        let ev = bEvent::default();
        let _: u32 = ev.eventType;
        let io = io_pkt::default();
        let _: i64 = io.offset;
        let _: c_int = io.filedes;
        let rp = restore_pkt_ext::default();
        let _: *const c_char = rp.original_file_name;
        let ctx = PluginContext::default();
        let _: *mut c_void = ctx.plugin;
        let core = CoreFunctions::default();
        let _: Option<unsafe extern "C" fn(*mut PluginContext, c_int, ...) -> bRC> =
            core.registerBareosEvents;
        let _: Option<unsafe extern "C" fn(*mut PluginContext, c_int, ...) -> bRC> =
            core.unregisterBareosEvents;
        let _: Option<
            unsafe extern "C" fn(
                *mut PluginContext,
                *const c_char,
                c_int,
                c_int,
                utime_t,
                *const c_char,
                ...
            ) -> bRC,
        > = core.JobMessage;
        let _: Option<
            unsafe extern "C" fn(
                *mut PluginContext,
                *const c_char,
                c_int,
                c_int,
                *const c_char,
                ...
            ) -> bRC,
        > = core.DebugMessage;
        let _: Option<unsafe extern "C" fn(*mut PluginContext, bVariable, *mut c_void) -> bRC> =
            core.getBareosValue;
        let _: Option<unsafe extern "C" fn(*mut PluginContext, bVariable, *const c_void) -> bRC> =
            core.setBareosValue;
        let _: Option<unsafe extern "C" fn(*mut PluginContext, bool, *mut c_char) -> bRC> =
            core.SetSeenBitmap;
        let _: Option<unsafe extern "C" fn(*mut PluginContext, *mut save_pkt) -> bRC> =
            core.checkChanges;
        let funcs = PluginFunctions::default();
        let _: Option<unsafe extern "C" fn(*mut PluginContext, *mut bEvent, *mut c_void) -> bRC> =
            funcs.handlePluginEvent;
        let _: Option<unsafe extern "C" fn(*mut PluginContext, *mut restore_pkt) -> bRC> =
            funcs.createFile;
        let _: Option<unsafe extern "C" fn(*mut PluginContext, *mut io_pkt) -> bRC> =
            funcs.pluginIO;
        let _: Option<unsafe extern "C" fn(*mut PluginContext, *mut acl_pkt) -> bRC> = funcs.getAcl;
        let _: Option<unsafe extern "C" fn(*mut PluginContext, *mut xattr_pkt) -> bRC> =
            funcs.setXattr;
    }

    #[test]
    fn bacula_types() {
        use fd_ffi::sys::bacula::*;
        let _: fn() -> i32 = || -> bRC { bRC_OK };
        let sp = save_pkt::default();
        let _: u64 = sp.flags;
        let _: u64 = FO_SPARSE;
        let _: libc::stat = sp.statp;
        let ev = bEvent::default();
        let _: u32 = ev.eventType;
        let io = io_pkt::default();
        let _: i64 = io.offset;
        let ctx = bpContext::default();
        let _: *mut c_void = ctx.pContext;
        let core = bFuncs::default();
        let _: Option<unsafe extern "C" fn(*mut bpContext, ...) -> bRC> = core.registerBaculaEvents;
        let _: Option<
            unsafe extern "C" fn(
                *mut bpContext,
                *const c_char,
                c_int,
                c_int,
                utime_t,
                *const c_char,
                ...
            ) -> bRC,
        > = core.JobMessage;
        let _: Option<
            unsafe extern "C" fn(
                *mut bpContext,
                *const c_char,
                c_int,
                c_int,
                *const c_char,
                ...
            ) -> bRC,
        > = core.DebugMessage;
        let _: Option<unsafe extern "C" fn(*mut bpContext, bVariable, *mut c_void) -> bRC> =
            core.getBaculaValue;
        let _: Option<unsafe extern "C" fn(*mut bpContext, bVariable, *mut c_void) -> bRC> =
            core.setBaculaValue;
        let funcs = pFuncs::default();
        let _: Option<unsafe extern "C" fn(*mut bpContext, *mut xacl_pkt) -> bRC> =
            funcs.handleXACLdata;
        let _: Option<unsafe extern "C" fn(*mut bpContext, *mut stream_pkt) -> bRC> =
            funcs.checkStream;
    }
}

#[test]
fn bareos_constants() {
    assert_eq!(fd_ffi::sys::bareos::FD_PLUGIN_MAGIC, b"*FDPluginData*\0");
    consts!(fd_ffi::sys::bareos {
        FD_PLUGIN_INTERFACE_VERSION = 10,
        FD_NR_EVENTS = 31,
        // §2.2
        PYTHON_UNDEFINED_RETURN_VALUE = -1,
        bRC_OK = 0, bRC_Stop = 1, bRC_Error = 2, bRC_More = 3, bRC_Term = 4, bRC_Seen = 5,
        bRC_Core = 6, bRC_Skip = 7, bRC_Cancel = 8, bRC_Max = 9999,
        // §3.11
        bEventJobStart = 1, bEventJobEnd = 2, bEventStartBackupJob = 3, bEventEndBackupJob = 4,
        bEventStartRestoreJob = 5, bEventEndRestoreJob = 6, bEventStartVerifyJob = 7,
        bEventEndVerifyJob = 8, bEventBackupCommand = 9, bEventRestoreCommand = 10,
        bEventEstimateCommand = 11, bEventLevel = 12, bEventSince = 13, bEventCancelCommand = 14,
        bEventRestoreObject = 15, bEventEndFileSet = 16, bEventPluginCommand = 17,
        bEventOptionPlugin = 18, bEventHandleBackupFile = 19, bEventNewPluginOptions = 20,
        bEventVssInitializeForBackup = 21, bEventVssInitializeForRestore = 22,
        bEventVssSetBackupState = 23, bEventVssPrepareForBackup = 24,
        bEventVssBackupAddComponents = 25, bEventVssPrepareSnapshot = 26,
        bEventVssCreateSnapshots = 27, bEventVssRestoreLoadComponentMetadata = 28,
        bEventVssRestoreSetComponentsSelected = 29, bEventVssCloseRestore = 30,
        bEventVssBackupComplete = 31,
        // §3.12
        bVarJobId = 1, bVarFDName = 2, bVarLevel = 3, bVarType = 4, bVarClient = 5,
        bVarJobName = 6, bVarJobStatus = 7, bVarSinceTime = 8, bVarAccurate = 9,
        bVarFileSeen = 10, bVarVssClient = 11, bVarWorkingDir = 12, bVarWhere = 13,
        bVarRegexWhere = 14, bVarExePath = 15, bVarVersion = 16, bVarDistName = 17,
        bVarPrevJobName = 18, bVarPrefixLinks = 19, bVarCheckChanges = 20, bVarUsedConfig = 21,
        bVarPluginPath = 22, bVarAccurateOptions = 23,
        pVarName = 1, pVarDescription = 2,
        // §2.3
        FT_LNKSAVED = 1, FT_REGE = 2, FT_REG = 3, FT_LNK = 4, FT_DIREND = 5, FT_SPEC = 6,
        FT_NOACCESS = 7, FT_NOFOLLOW = 8, FT_NOSTAT = 9, FT_NOCHG = 10, FT_DIRNOCHG = 11,
        FT_ISARCH = 12, FT_NORECURSE = 13, FT_NOFSCHG = 14, FT_NOOPEN = 15, FT_RAW = 16,
        FT_FIFO = 17, FT_DIRBEGIN = 18, FT_INVALIDFS = 19, FT_INVALIDDT = 20, FT_REPARSE = 21,
        FT_PLUGIN = 22, FT_DELETED = 23, FT_BASE = 24, FT_RESTORE_FIRST = 25, FT_JUNCTION = 26,
        FT_PLUGIN_CONFIG = 27, FT_PLUGIN_CONFIG_FILLED = 28,
        FT_MASK = 0xFFFF, FT_UNSET = 0xFFFF, AR_DATA_STREAM = 1 << 16,
        // §2.4
        CF_SKIP = 1, CF_ERROR = 2, CF_EXTRACT = 3, CF_CREATED = 4, CF_CORE = 5,
        // §2.5
        IO_OPEN = 1, IO_READ = 2, IO_WRITE = 3, IO_CLOSE = 4, IO_SEEK = 5,
        iostat_error = -1, iostat_do_in_plugin = 0, iostat_do_in_core = 1,
        // §2.6
        M_ABORT = 1, M_DEBUG = 2, M_FATAL = 3, M_ERROR = 4, M_WARNING = 5, M_INFO = 6,
        M_SAVED = 7, M_NOTSAVED = 8, M_SKIPPED = 9, M_MOUNT = 10, M_ERROR_TERM = 11,
        M_TERM = 12, M_RESTORED = 13, M_SECURITY = 14, M_ALERT = 15, M_VOLMGMT = 16,
        M_AUDIT = 17, M_CONFIG_ERROR = 18,
        // §2.7, §2.4
        L_FULL = b'F', L_INCREMENTAL = b'I', L_DIFFERENTIAL = b'D', L_SINCE = b'S',
        L_VERIFY_CATALOG = b'C', L_VERIFY_INIT = b'V', L_VERIFY_VOLUME_TO_CATALOG = b'O',
        L_VERIFY_DISK_TO_CATALOG = b'd', L_VERIFY_DATA = b'A', L_BASE = b'B', L_NONE = b' ',
        L_VIRTUAL_FULL = b'f',
        JT_BACKUP = b'B', JT_RESTORE = b'R', JT_VERIFY = b'V', JT_ADMIN = b'D',
        JT_ARCHIVE = b'A', JT_COPY = b'c', JT_MIGRATE = b'g',
        JS_Created = b'C', JS_Running = b'R', JS_Blocked = b'B', JS_Terminated = b'T',
        JS_Warnings = b'W', JS_ErrorTerminated = b'E', JS_Error = b'e', JS_FatalError = b'f',
        JS_Canceled = b'A', JS_Incomplete = b'I',
        REPLACE_ALWAYS = b'a', REPLACE_IFNEWER = b'w', REPLACE_NEVER = b'n',
        REPLACE_IFOLDER = b'o',
        // §3.13: bit numbers
        FO_PORTABLE_DATA = 0, FO_MD5 = 1, FO_COMPRESS = 2, FO_NO_RECURSION = 3, FO_MULTIFS = 4,
        FO_SPARSE = 5, FO_IF_NEWER = 6, FO_NOREPLACE = 7, FO_READFIFO = 8, FO_SHA1 = 9,
        FO_PORTABLE = 10, FO_MTIMEONLY = 11, FO_KEEPATIME = 12, FO_EXCLUDE = 13, FO_ACL = 14,
        FO_NO_HARDLINK = 15, FO_IGNORECASE = 16, FO_HFSPLUS = 17, FO_WIN32DECOMP = 18,
        FO_SHA256 = 19, FO_SHA512 = 20, FO_ENCRYPT = 21, FO_NOATIME = 22, FO_ENHANCEDWILD = 23,
        FO_CHKCHANGES = 24, FO_STRIPPATH = 25, FO_HONOR_NODUMP = 26, FO_XATTR = 27,
        FO_DELTA = 28, FO_PLUGIN = 29, FO_OFFSETS = 30, FO_NO_AUTOEXCL = 31,
        FO_FORCE_ENCRYPT = 32, FO_XXH128 = 33, FO_MAX = 33,
        FOPTS_BYTES = 5,
        // streams (same ids in both daemons)
        STREAM_UNIX_ATTRIBUTES = 1, STREAM_FILE_DATA = 2, STREAM_PLUGIN_NAME = 26,
        STREAM_PLUGIN_DATA = 27, STREAM_RESTORE_OBJECT = 28, STREAM_ACL_PLUGIN = 1020,
        STREAM_XATTR_PLUGIN = 1988,
    });
}

#[test]
fn bacula_constants() {
    assert_eq!(fd_ffi::sys::bacula::FD_PLUGIN_MAGIC, b"*FDPluginData*\0");
    consts!(fd_ffi::sys::bacula {
        FD_PLUGIN_INTERFACE_VERSION = 14,
        // §2.2
        bRC_OK = 0, bRC_Stop = 1, bRC_Error = 2, bRC_More = 3, bRC_Term = 4, bRC_Seen = 5,
        bRC_Core = 6, bRC_Skip = 7, bRC_Cancel = 8, bRC_Max = 9999,
        // §3.12, §4.11
        bVarJobId = 1, bVarFDName = 2, bVarLevel = 3, bVarType = 4, bVarClient = 5,
        bVarJobName = 6, bVarJobStatus = 7, bVarSinceTime = 8, bVarAccurate = 9,
        bVarFileSeen = 10, bVarVssObject = 11, bVarVssDllHandle = 12, bVarWorkingDir = 13,
        bVarWhere = 14, bVarRegexWhere = 15, bVarExePath = 16, bVarVersion = 17,
        bVarDistName = 18, bVarxxx = 19, bVarPrevJobName = 20, bVarPrefixLinks = 21,
        bVarInteractiveSession = 22, bVarFileIndex = 23, bVarReplace = 24,
        pVarName = 1, pVarDescription = 2,
        // §4.10
        bEventJobStart = 1, bEventJobEnd = 2, bEventStartBackupJob = 3, bEventEndBackupJob = 4,
        bEventStartRestoreJob = 5, bEventEndRestoreJob = 6, bEventStartVerifyJob = 7,
        bEventEndVerifyJob = 8, bEventBackupCommand = 9, bEventRestoreCommand = 10,
        bEventEstimateCommand = 11, bEventLevel = 12, bEventSince = 13, bEventCancelCommand = 14,
        bEventVssBackupAddComponents = 15, bEventVssRestoreLoadComponentMetadata = 16,
        bEventVssRestoreSetComponentsSelected = 17, bEventRestoreObject = 18,
        bEventEndFileSet = 19, bEventPluginCommand = 20, bEventVssBeforeCloseRestore = 21,
        bEventVssPrepareSnapshot = 22, bEventOptionPlugin = 23, bEventHandleBackupFile = 24,
        bEventComponentInfo = 25, bEventFeatures = 26,
        // §2.5, §4.8
        IO_OPEN = 1, IO_READ = 2, IO_WRITE = 3, IO_CLOSE = 4, IO_SEEK = 5,
        BACL_BACKUP = 1, BACL_RESTORE = 2, BXATTR_BACKUP = 3, BXATTR_RESTORE = 4,
        // §2.3
        FT_LNKSAVED = 1, FT_REGE = 2, FT_REG = 3, FT_LNK = 4, FT_DIREND = 5, FT_SPEC = 6,
        FT_NOACCESS = 7, FT_NOFOLLOW = 8, FT_NOSTAT = 9, FT_NOCHG = 10, FT_DIRNOCHG = 11,
        FT_ISARCH = 12, FT_NORECURSE = 13, FT_NOFSCHG = 14, FT_NOOPEN = 15, FT_RAW = 16,
        FT_FIFO = 17, FT_DIRBEGIN = 18, FT_INVALIDFS = 19, FT_INVALIDDT = 20, FT_REPARSE = 21,
        FT_PLUGIN = 22, FT_DELETED = 23, FT_BASE = 24, FT_RESTORE_FIRST = 25, FT_JUNCTION = 26,
        FT_PLUGIN_CONFIG = 27, FT_PLUGIN_CONFIG_FILLED = 28, FT_MASK = 0xFFFF,
        // §2.4
        CF_SKIP = 1, CF_ERROR = 2, CF_EXTRACT = 3, CF_CREATED = 4, CF_CORE = 5,
        REPLACE_ALWAYS = b'a', REPLACE_IFNEWER = b'w', REPLACE_NEVER = b'n',
        REPLACE_IFOLDER = b'o',
        // §4.12: masks
        FO_PORTABLE_DATA = 1 << 0, FO_COMPRESS = 1 << 2, FO_NO_RECURSION = 1 << 3,
        FO_MULTIFS = 1 << 4, FO_SPARSE = 1 << 5, FO_IF_NEWER = 1 << 6, FO_NOREPLACE = 1 << 7,
        FO_READFIFO = 1 << 8, FO_PORTABLE = 1 << 10, FO_MTIMEONLY = 1 << 11,
        FO_KEEPATIME = 1 << 12, FO_EXCLUDE = 1 << 13, FO_ACL = 1 << 14,
        FO_NO_HARDLINK = 1 << 15, FO_IGNORECASE = 1 << 16, FO_HFSPLUS = 1 << 17,
        FO_ENCRYPT = 1 << 21, FO_NOATIME = 1 << 22, FO_ENHANCEDWILD = 1 << 23,
        FO_CHKCHANGES = 1 << 24, FO_STRIPPATH = 1 << 25, FO_HONOR_NODUMP = 1 << 26,
        FO_XATTR = 1 << 27, FO_DELTA = 1 << 28, FO_PLUGIN = 1 << 29, FO_OFFSETS = 1 << 30,
        // §2.6
        M_ABORT = 1, M_DEBUG = 2, M_FATAL = 3, M_ERROR = 4, M_WARNING = 5, M_INFO = 6,
        M_SAVED = 7, M_NOTSAVED = 8, M_SKIPPED = 9, M_MOUNT = 10, M_ERROR_TERM = 11,
        M_TERM = 12, M_RESTORED = 13, M_SECURITY = 14, M_ALERT = 15, M_VOLMGMT = 16,
        // §2.7
        L_FULL = b'F', L_INCREMENTAL = b'I', L_DIFFERENTIAL = b'D', L_SINCE = b'S',
        L_VERIFY_CATALOG = b'C', L_BASE = b'B', L_VIRTUAL_FULL = b'f', L_NONE = b' ',
        JT_BACKUP = b'B', JT_RESTORE = b'R', JT_VERIFY = b'V', JT_ADMIN = b'D',
        JT_SYSTEM = b'I',
        JS_Created = b'C', JS_Running = b'R', JS_Blocked = b'B', JS_Terminated = b'T',
        JS_Warnings = b'W', JS_ErrorTerminated = b'E', JS_Error = b'e', JS_FatalError = b'f',
        JS_Canceled = b'A', JS_Incomplete = b'I',
        STREAM_UNIX_ATTRIBUTES = 1, STREAM_FILE_DATA = 2, STREAM_PLUGIN_NAME = 26,
        STREAM_PLUGIN_DATA = 27, STREAM_RESTORE_OBJECT = 28, STREAM_ACL_PLUGIN = 1020,
        STREAM_XATTR_PLUGIN = 1988,
    });
}

/// `docs/abi.md` §11: what is the same and what differs between the two ABIs.
#[test]
fn differences_between_the_abis() {
    use fd_ffi::sys::{bacula as bac, bareos as bar};

    // Same: events 1–14, variables 1–10, FT/CF/IO/M 1–16, FO bit positions.
    assert_eq!(bar::bEventCancelCommand, bac::bEventCancelCommand);
    assert_eq!(bar::bVarFileSeen, bac::bVarFileSeen);
    assert_eq!(bar::FT_PLUGIN_CONFIG_FILLED, bac::FT_PLUGIN_CONFIG_FILLED);
    assert_eq!(bar::M_VOLMGMT, bac::M_VOLMGMT);
    for (bit, mask) in [
        (bar::FO_PORTABLE_DATA, bac::FO_PORTABLE_DATA),
        (bar::FO_SPARSE, bac::FO_SPARSE),
        (bar::FO_PORTABLE, bac::FO_PORTABLE),
        (bar::FO_DELTA, bac::FO_DELTA),
        (bar::FO_PLUGIN, bac::FO_PLUGIN),
        (bar::FO_OFFSETS, bac::FO_OFFSETS),
    ] {
        assert_eq!(1u64 << bit, mask);
    }

    // Different event numbers (same number, different meaning for 19 and 20).
    assert_eq!(
        (bar::bEventRestoreObject, bac::bEventRestoreObject),
        (15, 18)
    );
    assert_eq!((bar::bEventEndFileSet, bac::bEventEndFileSet), (16, 19));
    assert_eq!(
        (bar::bEventPluginCommand, bac::bEventPluginCommand),
        (17, 20)
    );
    assert_eq!((bar::bEventOptionPlugin, bac::bEventOptionPlugin), (18, 23));
    assert_eq!(
        (bar::bEventHandleBackupFile, bac::bEventHandleBackupFile),
        (19, 24)
    );
    assert_eq!(bar::bEventNewPluginOptions, 20);
    assert_eq!(bar::bEventNewPluginOptions, bac::bEventPluginCommand);
    assert_eq!(bar::bEventHandleBackupFile, bac::bEventEndFileSet);

    // Different variable numbers from 11 on.
    assert_eq!((bar::bVarWorkingDir, bac::bVarWorkingDir), (12, 13));
    assert_eq!((bar::bVarWhere, bac::bVarWhere), (13, 14));
    assert_eq!((bar::bVarRegexWhere, bac::bVarRegexWhere), (14, 15));
    assert_eq!((bar::bVarExePath, bac::bVarExePath), (15, 16));
    assert_eq!((bar::bVarVersion, bac::bVarVersion), (16, 17));
    assert_eq!((bar::bVarDistName, bac::bVarDistName), (17, 18));
    assert_eq!((bar::bVarPrevJobName, bac::bVarPrevJobName), (18, 20));
    assert_eq!((bar::bVarPrefixLinks, bac::bVarPrefixLinks), (19, 21));
    assert_eq!(bar::bVarWhere, bac::bVarWorkingDir);

    // Interface versions; M_* beyond 16 only in Bareos.
    assert_eq!(
        (
            bar::FD_PLUGIN_INTERFACE_VERSION,
            bac::FD_PLUGIN_INTERFACE_VERSION
        ),
        (10, 14)
    );
    assert_eq!((bar::M_AUDIT, bar::M_CONFIG_ERROR), (17, 18));
}

/// `docs/abi.md` §11 and §1.3: the packets and tables that differ in size.
#[cfg(all(target_arch = "x86_64", target_os = "linux", target_env = "gnu"))]
#[test]
fn size_differences_between_the_abis() {
    use fd_ffi::sys::{bacula as bac, bareos as bar};

    assert_eq!(size_of::<bar::save_pkt>(), size_of::<bac::save_pkt>());
    assert_eq!(
        (
            offset_of!(bar::save_pkt, flags),
            offset_of!(bac::save_pkt, flags)
        ),
        (172, 176)
    );
    assert_eq!(
        (size_of::<bar::restore_pkt>(), size_of::<bac::restore_pkt>()),
        (240, 232)
    );
    assert_eq!(
        (size_of::<bar::io_pkt>(), size_of::<bac::io_pkt>()),
        (80, 72)
    );
    assert_eq!(
        (size_of::<bar::PluginInformation>(), size_of::<bac::pInfo>()),
        (64, 56)
    );
    assert_eq!(
        (size_of::<bar::PluginFunctions>(), size_of::<bac::pFuncs>()),
        (144, 128)
    );
    assert_eq!(
        (size_of::<bar::CoreFunctions>(), size_of::<bac::bFuncs>()),
        (176, 144)
    );
    assert_eq!(
        (
            offset_of!(bar::PluginContext, plugin_private_context),
            offset_of!(bac::bpContext, pContext)
        ),
        (24, 8)
    );
    assert_eq!(
        size_of::<bar::restore_object_pkt>(),
        size_of::<bac::restore_object_pkt>()
    );
}
