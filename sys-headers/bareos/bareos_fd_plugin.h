/*
 * bareos_fd_plugin.h - C declarations of the Bareos file daemon plugin ABI
 * (plugin interface version 10, Bareos 23.x, 24.x and 25.x; Linux x86_64,
 * LP64, glibc).
 *
 * Written for this project, not derived from the Bareos headers. The facts
 * it follows (names, member order, sizes and numeric values) are set out in
 * docs/abi.md (section 1: loading; 2: the types and constants both daemons
 * share; 3: the Bareos tables, packets, events and variables; 12: the Bareos
 * releases). Byte offsets quoted in comments are those measured on x86_64
 * and are checked by ffi/tests/layout.rs against the Rust bindings generated
 * from this file (ffi/src/sys/bareos.rs).
 *
 * C99; self-contained apart from the C library headers below.
 */
#ifndef S3_FD_SYS_BAREOS_FD_PLUGIN_H
#define S3_FD_SYS_BAREOS_FD_PLUGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------
 * Identification
 * ------------------------------------------------------------------------ */

/* Must be the value of PluginInformation.plugin_magic. */
#define FD_PLUGIN_MAGIC "*FDPluginData*"
/* Must be PluginInformation.version; also what the daemon puts into
 * PluginApiDefinition.version and CoreFunctions.version. */
#define FD_PLUGIN_INTERFACE_VERSION 10
/* Highest event number; the per-instance event mask holds bits 0..31. */
#define FD_NR_EVENTS 31

/* ------------------------------------------------------------------------
 * Scalar types
 * ------------------------------------------------------------------------ */

/* Seconds since the epoch / time spans (64-bit signed). */
typedef int64_t utime_t;
typedef int64_t btime_t;
/* File offsets (off_t is 64 bits on LP64 Linux). */
typedef off_t boffset_t;

/* Return code of every call in either direction. The daemon declares it as
 * an int-sized enum; it is spelled here as int32_t (same ABI) so that
 * unknown values stay representable. */
typedef int32_t bRC;
#define PYTHON_UNDEFINED_RETURN_VALUE (-1) /* python glue only: "unhandled" */
#define bRC_OK 0       /* success */
#define bRC_Stop 1     /* stop; no more files for this command */
#define bRC_Error 2    /* failure */
#define bRC_More 3     /* call again (endBackupFile, getXattr) */
#define bRC_Term 4     /* unload the plugin: never return it */
#define bRC_Seen 5     /* file already seen / unchanged */
#define bRC_Core 6     /* let the daemon handle it */
#define bRC_Skip 7     /* skip this file */
#define bRC_Cancel 8   /* job was cancelled */
#define bRC_Max 9999   /* upper bound marker */

/* Event numbers delivered in bEvent.eventType (only registered ones). */
typedef enum {
  bEventJobStart = 1,
  bEventJobEnd = 2,
  bEventStartBackupJob = 3,
  bEventEndBackupJob = 4,
  bEventStartRestoreJob = 5,
  bEventEndRestoreJob = 6,
  bEventStartVerifyJob = 7,
  bEventEndVerifyJob = 8,
  bEventBackupCommand = 9,
  bEventRestoreCommand = 10,
  bEventEstimateCommand = 11,
  bEventLevel = 12,       /* value: the level character cast to a pointer */
  bEventSince = 13,       /* value: the since time cast to a pointer */
  bEventCancelCommand = 14, /* arrives on a thread other than the job's */
  bEventRestoreObject = 15,
  bEventEndFileSet = 16,
  bEventPluginCommand = 17,
  bEventOptionPlugin = 18, /* no longer used */
  bEventHandleBackupFile = 19,
  bEventNewPluginOptions = 20,
  bEventVssInitializeForBackup = 21,
  bEventVssInitializeForRestore = 22,
  bEventVssSetBackupState = 23,
  bEventVssPrepareForBackup = 24,
  bEventVssBackupAddComponents = 25,
  bEventVssPrepareSnapshot = 26,
  bEventVssCreateSnapshots = 27,
  bEventVssRestoreLoadComponentMetadata = 28,
  bEventVssRestoreSetComponentsSelected = 29,
  bEventVssCloseRestore = 30,
  bEventVssBackupComplete = 31
} bEventType;

/* Variables for getBareosValue / setBareosValue. */
typedef enum {
  bVarJobId = 1,
  bVarFDName = 2,
  bVarLevel = 3,
  bVarType = 4,
  bVarClient = 5,
  bVarJobName = 6,
  bVarJobStatus = 7,
  bVarSinceTime = 8, /* 32-bit int: prefer the bEventSince value */
  bVarAccurate = 9,
  bVarFileSeen = 10,
  bVarVssClient = 11,
  bVarWorkingDir = 12,
  bVarWhere = 13,
  bVarRegexWhere = 14,
  bVarExePath = 15,
  bVarVersion = 16,
  bVarDistName = 17, /* removed: get returns bRC_Error */
  bVarPrevJobName = 18,
  bVarPrefixLinks = 19,
  bVarCheckChanges = 20,
  bVarUsedConfig = 21,
  bVarPluginPath = 22,     /* 24.0.0 and later */
  bVarAccurateOptions = 23 /* Bareos master only, not in 25.1.0 */
} bVariable;

/* Variables for getPluginValue / setPluginValue (never called). */
typedef enum { pVarName = 1, pVarDescription = 2 } pVariable;

/* ------------------------------------------------------------------------
 * File types FT_* (save_pkt.type, restore_pkt.type; stored on tape)
 * ------------------------------------------------------------------------ */
#define FT_LNKSAVED 1
#define FT_REGE 2
#define FT_REG 3
#define FT_LNK 4
#define FT_DIREND 5
#define FT_SPEC 6
#define FT_NOACCESS 7
#define FT_NOFOLLOW 8
#define FT_NOSTAT 9
#define FT_NOCHG 10
#define FT_DIRNOCHG 11
#define FT_ISARCH 12
#define FT_NORECURSE 13
#define FT_NOFSCHG 14
#define FT_NOOPEN 15
#define FT_RAW 16
#define FT_FIFO 17
#define FT_DIRBEGIN 18
#define FT_INVALIDFS 19
#define FT_INVALIDDT 20
#define FT_REPARSE 21
#define FT_PLUGIN 22
#define FT_DELETED 23
#define FT_BASE 24
#define FT_RESTORE_FIRST 25
#define FT_JUNCTION 26
#define FT_PLUGIN_CONFIG 27
#define FT_PLUGIN_CONFIG_FILLED 28
/* The low 16 bits of a type word carry the FT_* value. */
#define FT_MASK 0xFFFF
#define FT_UNSET 0xFFFF
#define AR_DATA_STREAM (1 << 16)

/* ------------------------------------------------------------------------
 * createFile results CF_* (restore_pkt.create_status)
 * ------------------------------------------------------------------------ */
#define CF_SKIP 1
#define CF_ERROR 2
#define CF_EXTRACT 3
#define CF_CREATED 4
#define CF_CORE 5

/* ------------------------------------------------------------------------
 * pluginIO function codes IO_* (io_pkt.func) and IO_OPEN status values
 * ------------------------------------------------------------------------ */
#define IO_OPEN 1
#define IO_READ 2
#define IO_WRITE 3
#define IO_CLOSE 4
#define IO_SEEK 5

/* io_pkt.status after IO_OPEN: failure, plugin does the IO, or the daemon
 * reads/writes io_pkt.filedes itself. */
#define iostat_error (-1)
#define iostat_do_in_plugin 0
#define iostat_do_in_core 1

/* ------------------------------------------------------------------------
 * Job message types M_* (JobMessage "type")
 * ------------------------------------------------------------------------ */
#define M_ABORT 1 /* aborts the daemon: never use */
#define M_DEBUG 2
#define M_FATAL 3
#define M_ERROR 4
#define M_WARNING 5
#define M_INFO 6
#define M_SAVED 7
#define M_NOTSAVED 8
#define M_SKIPPED 9
#define M_MOUNT 10
#define M_ERROR_TERM 11 /* terminates the daemon: never use */
#define M_TERM 12
#define M_RESTORED 13
#define M_SECURITY 14
#define M_ALERT 15
#define M_VOLMGMT 16
#define M_AUDIT 17
#define M_CONFIG_ERROR 18 /* terminates the daemon: never use */

/* ------------------------------------------------------------------------
 * FileSet option bits FO_* : bit NUMBERS into save_pkt.flags, a byte array
 * of FOPTS_BYTES bytes (bit b is in byte b / 8, mask 1 << (b % 8)).
 * ------------------------------------------------------------------------ */
#define FO_PORTABLE_DATA 0
#define FO_MD5 1
#define FO_COMPRESS 2
#define FO_NO_RECURSION 3
#define FO_MULTIFS 4
#define FO_SPARSE 5
#define FO_IF_NEWER 6
#define FO_NOREPLACE 7
#define FO_READFIFO 8
#define FO_SHA1 9
#define FO_PORTABLE 10
#define FO_MTIMEONLY 11
#define FO_KEEPATIME 12
#define FO_EXCLUDE 13
#define FO_ACL 14
#define FO_NO_HARDLINK 15
#define FO_IGNORECASE 16
#define FO_HFSPLUS 17
#define FO_WIN32DECOMP 18
#define FO_SHA256 19
#define FO_SHA512 20
#define FO_ENCRYPT 21
#define FO_NOATIME 22
#define FO_ENHANCEDWILD 23
#define FO_CHKCHANGES 24
#define FO_STRIPPATH 25
#define FO_HONOR_NODUMP 26
#define FO_XATTR 27
#define FO_DELTA 28
#define FO_PLUGIN 29
#define FO_OFFSETS 30
#define FO_NO_AUTOEXCL 31
#define FO_FORCE_ENCRYPT 32
#define FO_XXH128 33
#define FO_MAX 33
#define FOPTS_BYTES 5

/* ------------------------------------------------------------------------
 * Job level, type and status characters; replace modes
 * ------------------------------------------------------------------------ */
#define L_FULL 'F'
#define L_INCREMENTAL 'I'
#define L_DIFFERENTIAL 'D'
#define L_SINCE 'S'
#define L_VERIFY_CATALOG 'C'
#define L_VERIFY_INIT 'V'
#define L_VERIFY_VOLUME_TO_CATALOG 'O'
#define L_VERIFY_DISK_TO_CATALOG 'd'
#define L_VERIFY_DATA 'A'
#define L_BASE 'B'
#define L_NONE ' '
#define L_VIRTUAL_FULL 'f'

#define JT_BACKUP 'B'
#define JT_RESTORE 'R'
#define JT_VERIFY 'V'
#define JT_ADMIN 'D'
#define JT_ARCHIVE 'A'
#define JT_COPY 'c'
#define JT_MIGRATE 'g'

#define JS_Created 'C'
#define JS_Running 'R'
#define JS_Blocked 'B'
#define JS_Terminated 'T'
#define JS_Warnings 'W'
#define JS_ErrorTerminated 'E'
#define JS_Error 'e'
#define JS_FatalError 'f'
#define JS_Canceled 'A'
#define JS_Incomplete 'I'

#define REPLACE_ALWAYS 'a'
#define REPLACE_IFNEWER 'w'
#define REPLACE_NEVER 'n'
#define REPLACE_IFOLDER 'o'

/* ------------------------------------------------------------------------
 * Stream ids (restore_pkt.stream / data_stream)
 * ------------------------------------------------------------------------ */
#define STREAM_UNIX_ATTRIBUTES 1
#define STREAM_FILE_DATA 2
#define STREAM_PLUGIN_NAME 26
#define STREAM_PLUGIN_DATA 27
#define STREAM_RESTORE_OBJECT 28
#define STREAM_ACL_PLUGIN 1020
#define STREAM_XATTR_PLUGIN 1988

/* ------------------------------------------------------------------------
 * Context, event and the version/size headers of the two tables
 * ------------------------------------------------------------------------ */

/* One per plugin per job, first argument of every call (32 bytes). */
typedef struct PluginContext {
  uint32_t instance;            /*  0: 0 for fd command plugins */
  void *plugin;                 /*  8: daemon's plugin record (opaque) */
  void *core_private_context;   /* 16: daemon-private, never touch */
  void *plugin_private_context; /* 24: the plugin's; NULL at newPlugin */
} PluginContext;

/* First argument of loadPlugin (8 bytes): {8, 10} from bareos-fd. */
typedef struct PluginApiDefinition {
  uint32_t size;
  uint32_t version;
} PluginApiDefinition;

/* Argument of handlePluginEvent (4 bytes). */
typedef struct bEvent {
  uint32_t eventType; /* a bEventType value */
} bEvent;

/* Returned by the plugin through loadPlugin (64 bytes; size must be 64,
 * version FD_PLUGIN_INTERFACE_VERSION, license "AGPLv3" or
 * "Bareos AGPLv3"). */
typedef struct PluginInformation {
  uint32_t size;
  uint32_t version;
  const char *plugin_magic;
  const char *plugin_license;
  const char *plugin_author;
  const char *plugin_date;
  const char *plugin_version;
  const char *plugin_description;
  const char *plugin_usage; /* may be NULL */
} PluginInformation;

/* ------------------------------------------------------------------------
 * Packets. Each starts with pkt_size and ends with pkt_end; the daemon sets
 * both to sizeof the packet it was built with.
 * ------------------------------------------------------------------------ */

/* Backup: filled by startBackupFile (240 bytes). */
typedef struct save_pkt {
  int32_t pkt_size;         /*   0 */
  char *fname;              /*   8: full virtual path */
  char *link;               /*  16: link target / directory name with '/' */
  struct stat statp;        /*  24: 144 bytes */
  int32_t type;             /* 168: FT_* */
  char flags[FOPTS_BYTES];  /* 172: FO_* bit array */
  bool no_read;             /* 177: attributes only, no IO */
  bool portable;            /* 178 */
  bool accurate_found;      /* 179: written by checkChanges */
  char *cmd;                /* 184: plugin command string (read only) */
  time_t save_time;         /* 192: reference time for checkChanges */
  uint32_t delta_seq;       /* 200 */
  char *object_name;        /* 208: restore objects only */
  char *object;             /* 216 */
  int32_t object_len;       /* 224 */
  int32_t index;            /* 228 */
  int32_t pkt_end;          /* 232 */
} save_pkt;

/* Restore: argument of createFile / setFileAttributes, layout of Bareos
 * 23.x, 24.x and 25.x (240 bytes, pkt_end at 232). */
typedef struct restore_pkt {
  int32_t pkt_size;       /*   0 */
  int32_t stream;         /*   4: attribute stream id */
  int32_t data_stream;    /*   8: data stream that follows */
  int32_t type;           /*  12: FT_* */
  int32_t file_index;     /*  16 */
  int32_t LinkFI;         /*  20 */
  uid_t uid;              /*  24 */
  struct stat statp;      /*  32: 144 bytes */
  const char *attrEx;     /* 176 */
  const char *ofname;     /* 184: output name, Where/RegexWhere applied */
  const char *olname;     /* 192 */
  const char *where;      /* 200 */
  const char *RegexWhere; /* 208 */
  int replace;            /* 216: REPLACE_* */
  int create_status;      /* 220: CF_*, preset CF_ERROR */
  uint32_t delta_seq;     /* 224 */
  int filedes;            /* 228: preset -1 */
  int32_t pkt_end;        /* 232 */
} restore_pkt;

/* Restore packet of the Bareos development branch (after 25.1.0, 256
 * bytes): identical to restore_pkt up to filedes, then two more names and
 * pkt_end at 248. The interface version was not raised, so a plugin must
 * check pkt_size >= 256 (sizeof(restore_pkt_ext)) before it reads
 * original_file_name or original_link_name; on 23.x..25.x the packet is
 * only 240 bytes long and those members do not exist. */
typedef struct restore_pkt_ext {
  int32_t pkt_size;               /*   0 */
  int32_t stream;                 /*   4 */
  int32_t data_stream;            /*   8 */
  int32_t type;                   /*  12 */
  int32_t file_index;             /*  16 */
  int32_t LinkFI;                 /*  20 */
  uid_t uid;                      /*  24 */
  struct stat statp;              /*  32 */
  const char *attrEx;             /* 176 */
  const char *ofname;             /* 184 */
  const char *olname;             /* 192 */
  const char *where;              /* 200 */
  const char *RegexWhere;         /* 208 */
  int replace;                    /* 216 */
  int create_status;              /* 220 */
  uint32_t delta_seq;             /* 224 */
  int filedes;                    /* 228 */
  const char *original_file_name; /* 232: name without Where/RegexWhere */
  const char *original_link_name; /* 240 */
  int32_t pkt_end;                /* 248 */
} restore_pkt_ext;

/* Data transfer: argument of pluginIO (80 bytes). */
typedef struct io_pkt {
  int32_t pkt_size;   /*  0 */
  int32_t func;       /*  4: IO_* */
  int32_t count;      /*  8: bytes requested (READ) / supplied (WRITE) */
  int32_t flags;      /* 12: open(2) flags */
  mode_t mode;        /* 16: create mode */
  char *buf;          /* 24: daemon-owned buffer */
  const char *fname;  /* 32: IO_OPEN only */
  int32_t status;     /* 40: result */
  int32_t io_errno;   /* 44 */
  int32_t lerror;     /* 48: Windows error code */
  int32_t whence;     /* 52: IO_SEEK */
  boffset_t offset;   /* 56 */
  bool win32;         /* 64 */
  int filedes;        /* 68: descriptor for IO done by the daemon */
  int32_t pkt_end;    /* 72 */
} io_pkt;

/* ACLs: argument of getAcl / setAcl (40 bytes). */
typedef struct acl_pkt {
  int32_t pkt_size;        /*  0 */
  const char *fname;       /*  8 */
  uint32_t content_length; /* 16 */
  char *content;           /* 24: backup: malloc'ed, freed by the daemon */
  int32_t pkt_end;         /* 32 */
} acl_pkt;

/* Extended attributes: argument of getXattr / setXattr (56 bytes). */
typedef struct xattr_pkt {
  int32_t pkt_size;      /*  0 */
  const char *fname;     /*  8 */
  uint32_t name_length;  /* 16 */
  char *name;            /* 24: backup: malloc'ed, freed by the daemon */
  uint32_t value_length; /* 32 */
  char *value;           /* 40: backup: malloc'ed, freed by the daemon */
  int32_t pkt_end;       /* 48 */
} xattr_pkt;

/* Value of bEventRestoreObject (64 bytes). */
typedef struct restore_object_pkt {
  int32_t pkt_size;           /*  0 */
  char *object_name;          /*  8 */
  char *object;               /* 16: already decompressed */
  char *plugin_name;          /* 24: command string recorded with it */
  int32_t object_type;        /* 32: FT_* */
  int32_t object_len;         /* 36 */
  int32_t object_full_len;    /* 40 */
  int32_t object_index;       /* 44 */
  int32_t object_compression; /* 48 */
  int32_t stream;             /* 52: not filled */
  uint32_t JobId;             /* 56 */
  int32_t pkt_end;            /* 60 */
} restore_object_pkt;

/* ------------------------------------------------------------------------
 * Function tables
 * ------------------------------------------------------------------------ */

/* Entry points of the plugin (144 bytes; size 144, version 10 by
 * convention). Every entry takes the job's context first. */
typedef struct PluginFunctions {
  uint32_t size;
  uint32_t version;
  bRC (*newPlugin)(PluginContext *ctx);
  bRC (*freePlugin)(PluginContext *ctx);
  bRC (*getPluginValue)(PluginContext *ctx, pVariable var, void *value);
  bRC (*setPluginValue)(PluginContext *ctx, pVariable var, void *value);
  bRC (*handlePluginEvent)(PluginContext *ctx, bEvent *event, void *value);
  bRC (*startBackupFile)(PluginContext *ctx, struct save_pkt *sp);
  bRC (*endBackupFile)(PluginContext *ctx);
  bRC (*startRestoreFile)(PluginContext *ctx, const char *cmd);
  bRC (*endRestoreFile)(PluginContext *ctx);
  bRC (*pluginIO)(PluginContext *ctx, struct io_pkt *io);
  bRC (*createFile)(PluginContext *ctx, struct restore_pkt *rp);
  bRC (*setFileAttributes)(PluginContext *ctx, struct restore_pkt *rp);
  bRC (*checkFile)(PluginContext *ctx, char *fname);      /* may be NULL */
  bRC (*getAcl)(PluginContext *ctx, struct acl_pkt *ap);     /* may be NULL */
  bRC (*setAcl)(PluginContext *ctx, struct acl_pkt *ap);     /* may be NULL */
  bRC (*getXattr)(PluginContext *ctx, struct xattr_pkt *xp); /* may be NULL */
  bRC (*setXattr)(PluginContext *ctx, struct xattr_pkt *xp); /* may be NULL */
} PluginFunctions;

/* Callbacks offered by the daemon (176 bytes; {176, 10} from bareos-fd). */
typedef struct CoreFunctions {
  uint32_t size;
  uint32_t version;
  /* nr_events event numbers (uint32_t each, all <= 31) follow. */
  bRC (*registerBareosEvents)(PluginContext *ctx, int nr_events, ...);
  bRC (*unregisterBareosEvents)(PluginContext *ctx, int nr_events, ...);
  bRC (*getInstanceCount)(PluginContext *ctx, int *ret);
  bRC (*getBareosValue)(PluginContext *ctx, bVariable var, void *value);
  bRC (*setBareosValue)(PluginContext *ctx, bVariable var, const void *value);
  bRC (*JobMessage)(PluginContext *ctx, const char *file, int line, int type,
                    utime_t mtime, const char *fmt, ...);
  bRC (*DebugMessage)(PluginContext *ctx, const char *file, int line,
                      int level, const char *fmt, ...);
  void *(*bareosMalloc)(PluginContext *ctx, const char *file, int line,
                        size_t size);
  void (*bareosFree)(PluginContext *ctx, const char *file, int line,
                     void *mem);
  bRC (*AddExclude)(PluginContext *ctx, const char *file);
  bRC (*AddInclude)(PluginContext *ctx, const char *file);
  bRC (*AddOptions)(PluginContext *ctx, const char *opts);
  bRC (*AddRegex)(PluginContext *ctx, const char *item, int type);
  bRC (*AddWild)(PluginContext *ctx, const char *item, int type);
  bRC (*NewOptions)(PluginContext *ctx);
  bRC (*NewInclude)(PluginContext *ctx);
  bRC (*NewPreInclude)(PluginContext *ctx);
  bRC (*checkChanges)(PluginContext *ctx, struct save_pkt *sp);
  bRC (*AcceptFile)(PluginContext *ctx, struct save_pkt *sp);
  bRC (*SetSeenBitmap)(PluginContext *ctx, bool all, char *fname);
  bRC (*ClearSeenBitmap)(PluginContext *ctx, bool all, char *fname);
} CoreFunctions;

/* ------------------------------------------------------------------------
 * The two symbols the daemon resolves with dlsym.
 * ------------------------------------------------------------------------ */
bRC loadPlugin(PluginApiDefinition *core_info, CoreFunctions *core_funcs,
               PluginInformation **plugin_info,
               PluginFunctions **plugin_funcs);
bRC unloadPlugin(void);

#ifdef __cplusplus
}
#endif

#endif /* S3_FD_SYS_BAREOS_FD_PLUGIN_H */
