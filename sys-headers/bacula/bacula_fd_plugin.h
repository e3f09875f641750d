/*
 * bacula_fd_plugin.h - C declarations of the Bacula 9.6 file daemon plugin
 * ABI (plugin interface version 14; Linux x86_64, LP64, glibc).
 *
 * Written for this project, not derived from the Bacula headers. The facts
 * it follows (names, member order, sizes and numeric values) are set out in
 * docs/abi.md (section 1: loading; 2: the types and constants both daemons
 * share; 4: the Bacula 9.6 tables, packets, events and variables; 11: how
 * they differ from Bareos'). Byte offsets quoted in comments are those
 * measured on x86_64 and are checked by ffi/tests/layout.rs against the Rust
 * bindings generated from this file (ffi/src/sys/bacula.rs).
 *
 * C99; self-contained apart from the C library headers below.
 */
#ifndef S3_FD_SYS_BACULA_FD_PLUGIN_H
#define S3_FD_SYS_BACULA_FD_PLUGIN_H

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

/* Must be the value of pInfo.plugin_magic. */
#define FD_PLUGIN_MAGIC "*FDPluginData*"
/* Must be pInfo.version; also what the daemon puts into bInfo.version and
 * bFuncs.version. */
#define FD_PLUGIN_INTERFACE_VERSION 14

/* ------------------------------------------------------------------------
 * Scalar types
 * ------------------------------------------------------------------------ */

/* Seconds since the epoch (64-bit signed). */
typedef int64_t utime_t;
/* File offsets (off_t is 64 bits on LP64 Linux). */
typedef off_t boffset_t;

/* Return code of every call in either direction. The daemon declares it as
 * an int-sized enum; it is spelled here as int32_t (same ABI) so that
 * unknown values stay representable. */
typedef int32_t bRC;
#define bRC_OK 0     /* success */
#define bRC_Stop 1   /* stop; no more files for this command */
#define bRC_Error 2  /* failure */
#define bRC_More 3   /* call again (endBackupFile) */
#define bRC_Term 4   /* unload the plugin: never return it */
#define bRC_Seen 5   /* file already seen / unchanged */
#define bRC_Core 6   /* let the daemon handle it */
#define bRC_Skip 7   /* skip this file */
#define bRC_Cancel 8 /* job was cancelled */
#define bRC_Max 9999 /* upper bound marker */

/* Event numbers delivered in bEvent.eventType. Every plugin receives every
 * event (registration is only logged), so unknown numbers must be ignored.
 * From 15 on the numbering differs from Bareos. */
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
  bEventLevel = 12,         /* value: the level character cast to a pointer */
  bEventSince = 13,         /* value: the since time cast to a pointer */
  bEventCancelCommand = 14, /* arrives on a thread other than the job's */
  bEventVssBackupAddComponents = 15,
  bEventVssRestoreLoadComponentMetadata = 16,
  bEventVssRestoreSetComponentsSelected = 17,
  bEventRestoreObject = 18,
  bEventEndFileSet = 19,
  bEventPluginCommand = 20,
  bEventVssBeforeCloseRestore = 21,
  bEventVssPrepareSnapshot = 22,
  bEventOptionPlugin = 23,
  bEventHandleBackupFile = 24,
  bEventComponentInfo = 25,
  bEventFeatures = 26 /* declared, never sent by 9.6 */
} bEventType;

/* Variables for getBaculaValue / setBaculaValue. From 11 on the numbering
 * differs from Bareos. */
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
  bVarVssObject = 11,
  bVarVssDllHandle = 12,
  bVarWorkingDir = 13,
  bVarWhere = 14,
  bVarRegexWhere = 15,
  bVarExePath = 16,
  bVarVersion = 17,
  bVarDistName = 18,
  bVarxxx = 19, /* placeholder, nothing is written */
  bVarPrevJobName = 20,
  bVarPrefixLinks = 21,
  bVarInteractiveSession = 22,
  bVarFileIndex = 23,
  bVarReplace = 24
} bVariable;

/* Variables for getPluginValue / setPluginValue (never called). */
typedef enum { pVarName = 1, pVarDescription = 2 } pVariable;

/* ------------------------------------------------------------------------
 * File types FT_* (save_pkt.type, restore_pkt.type)
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
#define FT_MASK 0xFFFF

/* ------------------------------------------------------------------------
 * createFile results CF_* (restore_pkt.create_status)
 * ------------------------------------------------------------------------ */
#define CF_SKIP 1
#define CF_ERROR 2
#define CF_EXTRACT 3
#define CF_CREATED 4
#define CF_CORE 5

/* ------------------------------------------------------------------------
 * pluginIO function codes IO_* (io_pkt.func)
 * ------------------------------------------------------------------------ */
#define IO_OPEN 1
#define IO_READ 2
#define IO_WRITE 3
#define IO_CLOSE 4
#define IO_SEEK 5

/* handleXACLdata function codes (xacl_pkt.func) */
#define BACL_BACKUP 1
#define BACL_RESTORE 2
#define BXATTR_BACKUP 3
#define BXATTR_RESTORE 4

/* ------------------------------------------------------------------------
 * Job message types M_* (JobMessage "type"); Bacula has no 17/18.
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

/* ------------------------------------------------------------------------
 * FileSet option MASKS FO_* for save_pkt.flags (a uint64_t). The bit
 * positions equal the Bareos bit numbers of the same names.
 * ------------------------------------------------------------------------ */
#define FO_PORTABLE_DATA (1ULL << 0)
#define FO_COMPRESS (1ULL << 2)
#define FO_NO_RECURSION (1ULL << 3)
#define FO_MULTIFS (1ULL << 4)
#define FO_SPARSE (1ULL << 5)
#define FO_IF_NEWER (1ULL << 6)
#define FO_NOREPLACE (1ULL << 7)
#define FO_READFIFO (1ULL << 8)
#define FO_PORTABLE (1ULL << 10)
#define FO_MTIMEONLY (1ULL << 11)
#define FO_KEEPATIME (1ULL << 12)
#define FO_EXCLUDE (1ULL << 13)
#define FO_ACL (1ULL << 14)
#define FO_NO_HARDLINK (1ULL << 15)
#define FO_IGNORECASE (1ULL << 16)
#define FO_HFSPLUS (1ULL << 17)
#define FO_ENCRYPT (1ULL << 21)
#define FO_NOATIME (1ULL << 22)
#define FO_ENHANCEDWILD (1ULL << 23)
#define FO_CHKCHANGES (1ULL << 24)
#define FO_STRIPPATH (1ULL << 25)
#define FO_HONOR_NODUMP (1ULL << 26)
#define FO_XATTR (1ULL << 27)
#define FO_DELTA (1ULL << 28)
#define FO_PLUGIN (1ULL << 29)
#define FO_OFFSETS (1ULL << 30)

/* ------------------------------------------------------------------------
 * Job level, type and status characters; replace modes
 * ------------------------------------------------------------------------ */
#define L_FULL 'F'
#define L_INCREMENTAL 'I'
#define L_DIFFERENTIAL 'D'
#define L_SINCE 'S'
#define L_VERIFY_CATALOG 'C'
#define L_BASE 'B'
#define L_VIRTUAL_FULL 'f'
#define L_NONE ' '

#define JT_BACKUP 'B'
#define JT_RESTORE 'R'
#define JT_VERIFY 'V'
#define JT_ADMIN 'D'
#define JT_SYSTEM 'I' /* system / console connection */

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
 * Stream ids (restore_pkt.stream / data_stream, stream_pkt.stream)
 * ------------------------------------------------------------------------ */
#define STREAM_UNIX_ATTRIBUTES 1
#define STREAM_FILE_DATA 2
#define STREAM_PLUGIN_NAME 26
#define STREAM_PLUGIN_DATA 27
#define STREAM_RESTORE_OBJECT 28
#define STREAM_ACL_PLUGIN 1020
#define STREAM_XATTR_PLUGIN 1988

/* ------------------------------------------------------------------------
 * Context, event and the version/size headers
 * ------------------------------------------------------------------------ */

/* One per plugin per job, first argument of every call (16 bytes). */
typedef struct bpContext {
  void *bContext; /* 0: daemon-private, never touch */
  void *pContext; /* 8: the plugin's; NULL at newPlugin */
} bpContext;

/* First argument of loadPlugin (8 bytes): {8, 14} from bacula-fd 9.6. */
typedef struct bInfo {
  uint32_t size;
  uint32_t version;
} bInfo;

/* Argument of handlePluginEvent (4 bytes). */
typedef struct bEvent {
  uint32_t eventType; /* a bEventType value */
} bEvent;

/* Returned by the plugin through loadPlugin (56 bytes; size must be 56,
 * version FD_PLUGIN_INTERFACE_VERSION, license "AGPLv3", "Bacula AGPLv3"
 * or "Bacula"). */
typedef struct pInfo {
  uint32_t size;
  uint32_t version;
  const char *plugin_magic;
  const char *plugin_license;
  const char *plugin_author;
  const char *plugin_date;
  const char *plugin_version;
  const char *plugin_description;
} pInfo;

/* ------------------------------------------------------------------------
 * Packets. Each starts with pkt_size and ends with pkt_end; the daemon sets
 * both to sizeof the packet.
 * ------------------------------------------------------------------------ */

/* Backup: filled by startBackupFile (240 bytes). */
typedef struct save_pkt {
  int32_t pkt_size;    /*   0 */
  char *fname;         /*   8: full virtual path */
  char *link;          /*  16: link target or NULL */
  struct stat statp;   /*  24: 144 bytes */
  int32_t type;        /* 168: FT_* */
  uint64_t flags;      /* 176: FO_* masks */
  bool no_read;        /* 184: attributes only, no IO */
  bool portable;       /* 185 */
  bool accurate_found; /* 186: written by checkChanges */
  char *cmd;           /* 192: plugin command string (read only) */
  uint32_t delta_seq;  /* 200 */
  char *object_name;   /* 208: restore objects only */
  char *object;        /* 216 */
  int32_t object_len;  /* 224 */
  int32_t index;       /* 228 */
  int32_t LinkFI;      /* 232 */
  int32_t pkt_end;     /* 236 */
} save_pkt;

/* Restore: argument of createFile / setFileAttributes (232 bytes). */
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
  const char *ofname;     /* 184: output name, where already applied */
  const char *olname;     /* 192 */
  const char *where;      /* 200 */
  const char *RegexWhere; /* 208 */
  int replace;            /* 216: REPLACE_* */
  int create_status;      /* 220: CF_*, preset CF_ERROR */
  uint32_t delta_seq;     /* 224 */
  int32_t pkt_end;        /* 228 */
} restore_pkt;

/* Data transfer: argument of pluginIO (72 bytes). */
typedef struct io_pkt {
  int32_t pkt_size;  /*  0 */
  int32_t func;      /*  4: IO_* */
  int32_t count;     /*  8: bytes requested (READ) / supplied (WRITE) */
  int32_t flags;     /* 12: open(2) flags */
  mode_t mode;       /* 16: create mode */
  char *buf;         /* 24: daemon-owned buffer */
  const char *fname; /* 32: IO_OPEN only */
  int32_t status;    /* 40: result */
  int32_t io_errno;  /* 44 */
  int32_t lerror;    /* 48: Windows error code */
  int32_t whence;    /* 52: IO_SEEK */
  boffset_t offset;  /* 56 */
  bool win32;        /* 64 */
  int32_t pkt_end;   /* 68 */
} io_pkt;

/* ACL / xattr data: argument of handleXACLdata (32 bytes). */
typedef struct xacl_pkt {
  int32_t pkt_size; /*  0 */
  int32_t func;     /*  4: BACL_* / BXATTR_* */
  int32_t count;    /*  8: length of content */
  char *content;    /* 16 */
  int32_t pkt_end;  /* 24 */
} xacl_pkt;

/* Stream choice: argument of checkStream (12 bytes). */
typedef struct stream_pkt {
  int32_t pkt_size; /* 0 */
  int32_t stream;   /* 4: in/out */
  int32_t pkt_end;  /* 8 */
} stream_pkt;

/* Value of bEventRestoreObject (64 bytes). */
typedef struct restore_object_pkt {
  int32_t pkt_size;           /*  0 */
  char *object_name;          /*  8 */
  char *object;               /* 16 */
  char *plugin_name;          /* 24: command string of the backup */
  int32_t object_type;        /* 32: FT_* */
  int32_t object_len;         /* 36 */
  int32_t object_full_len;    /* 40 */
  int32_t object_index;       /* 44 */
  int32_t object_compression; /* 48 */
  int32_t stream;             /* 52 */
  uint32_t JobId;             /* 56 */
  int32_t pkt_end;            /* 60 */
} restore_object_pkt;

/* ------------------------------------------------------------------------
 * Function tables
 * ------------------------------------------------------------------------ */

/* Entry points of the plugin (128 bytes; size 128, version 14 by
 * convention). Every entry takes the job's context first. */
typedef struct pFuncs {
  uint32_t size;
  uint32_t version;
  bRC (*newPlugin)(bpContext *ctx);
  bRC (*freePlugin)(bpContext *ctx);
  bRC (*getPluginValue)(bpContext *ctx, pVariable var, void *value);
  bRC (*setPluginValue)(bpContext *ctx, pVariable var, void *value);
  bRC (*handlePluginEvent)(bpContext *ctx, bEvent *event, void *value);
  bRC (*startBackupFile)(bpContext *ctx, struct save_pkt *sp);
  bRC (*endBackupFile)(bpContext *ctx);
  bRC (*startRestoreFile)(bpContext *ctx, const char *cmd);
  bRC (*endRestoreFile)(bpContext *ctx);
  bRC (*pluginIO)(bpContext *ctx, struct io_pkt *io);
  bRC (*createFile)(bpContext *ctx, struct restore_pkt *rp);
  bRC (*setFileAttributes)(bpContext *ctx, struct restore_pkt *rp);
  bRC (*checkFile)(bpContext *ctx, char *fname);              /* may be NULL */
  bRC (*handleXACLdata)(bpContext *ctx, struct xacl_pkt *xacl); /* may be NULL */
  bRC (*checkStream)(bpContext *ctx, struct stream_pkt *sp);  /* may be NULL */
} pFuncs;

/* Callbacks offered by the daemon (144 bytes; {144, 14} from bacula-fd). */
typedef struct bFuncs {
  uint32_t size;
  uint32_t version;
  /* A list of uint32_t event numbers terminated by 0 follows ctx. */
  bRC (*registerBaculaEvents)(bpContext *ctx, ...);
  bRC (*getBaculaValue)(bpContext *ctx, bVariable var, void *value);
  bRC (*setBaculaValue)(bpContext *ctx, bVariable var, void *value);
  bRC (*JobMessage)(bpContext *ctx, const char *file, int line, int type,
                    utime_t mtime, const char *fmt, ...);
  bRC (*DebugMessage)(bpContext *ctx, const char *file, int line, int level,
                      const char *fmt, ...);
  void *(*baculaMalloc)(bpContext *ctx, const char *file, int line,
                        size_t size);
  void (*baculaFree)(bpContext *ctx, const char *file, int line, void *mem);
  bRC (*AddExclude)(bpContext *ctx, const char *file);
  bRC (*AddInclude)(bpContext *ctx, const char *file);
  bRC (*AddOptions)(bpContext *ctx, const char *opts);
  bRC (*AddRegex)(bpContext *ctx, const char *item, int type);
  bRC (*AddWild)(bpContext *ctx, const char *item, int type);
  bRC (*NewOptions)(bpContext *ctx);
  bRC (*NewInclude)(bpContext *ctx);
  bRC (*NewPreInclude)(bpContext *ctx);
  bRC (*checkChanges)(bpContext *ctx, struct save_pkt *sp);
  bRC (*AcceptFile)(bpContext *ctx, struct save_pkt *sp);
} bFuncs;

/* ------------------------------------------------------------------------
 * The two symbols the daemon resolves with dlsym.
 * ------------------------------------------------------------------------ */
bRC loadPlugin(bInfo *core_info, bFuncs *core_funcs, pInfo **plugin_info,
               pFuncs **plugin_funcs);
bRC unloadPlugin(void);

#ifdef __cplusplus
}
#endif

#endif /* S3_FD_SYS_BACULA_FD_PLUGIN_H */
