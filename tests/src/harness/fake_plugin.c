/*
 * fake_plugin.c - a minimal command plugin for the harness' own tests.
 *
 * Built twice by build.rs: -DFAKE_BAREOS (Bareos interface 10) and
 * -DFAKE_BACULA (Bacula 9.6 interface 14). It lets the harness check its
 * emulated daemon (call order, packets, accurate bookkeeping, restore) without
 * the real plugin or an S3 server. It is NOT a reference for the real plugin.
 *
 * Command: "fake:key=value:..." with
 *   n=N        number of files (default 3), named /fake/<pfx>f<i>
 *   pfx=P      name prefix (default empty)
 *   size=S     size of file i is S + i (default 1000)
 *   mtime=T    mtime (= ctime) of file i is T + i (default 1000000)
 *   skip=I     return bRC_Skip once before file I
 *   readerr=I  the first IO_READ of file I fails (EIO)
 *   fatal=1    M_FATAL job message in the first startBackupFile
 *   msgstart=1 M_INFO job message during bEventBackupCommand
 *   (JobId 999: M_INFO job message during bEventJobStart)
 *   thread=1   a DebugMessage from a foreign thread at StartBackupJob
 *   nlink=2    st_nlink of every file
 *   sparse=1   leave FO_SPARSE as the core preset it
 *   cfskip=1   restore: CF_SKIP;  writeerr=1 restore: IO_WRITE fails
 * Data byte at offset o of file i: (o * 31 + i * 7) & 0xff.
 * Restore: endRestoreFile sends M_INFO "restored <ofname> <bytes> <fnv1a32>".
 * checkFile: bRC_Seen for names containing "/keep".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

typedef enum {
  bRC_OK = 0, bRC_Stop = 1, bRC_Error = 2, bRC_More = 3, bRC_Term = 4,
  bRC_Seen = 5, bRC_Core = 6, bRC_Skip = 7, bRC_Cancel = 8
} bRC;
typedef struct { uint32_t eventType; } bEvent;
typedef struct { uint32_t size; uint32_t version; } bInfo;

enum { IO_OPEN = 1, IO_READ = 2, IO_WRITE = 3, IO_CLOSE = 4 };
enum { FT_REG = 3, FT_NOCHG = 10 };
enum { CF_SKIP = 1, CF_EXTRACT = 3 };
enum { M_FATAL = 3, M_INFO = 6 };

/* Event numbers the plugin uses (the same in both ABIs). */
#define EV_BACKUP 9
#define EV_RESTORE 10
#define EV_ESTIMATE 11
#define EV_LEVEL 12
#define EV_SINCE 13
#define EV_CANCEL 14
#define EV_JOBSTART 1
#define EV_STARTBACKUP 3

/* The packet fields and core callbacks both ABIs declare alike, in their order. */
#define RESTORE_PKT_FIELDS \
  int32_t pkt_size; int32_t stream; int32_t data_stream; int32_t type; \
  int32_t file_index; int32_t LinkFI; uid_t uid; struct stat statp; \
  const char *attrEx; const char *ofname; const char *olname; const char *where; \
  const char *RegexWhere; int replace; int create_status; uint32_t delta_seq;
#define IO_PKT_FIELDS \
  int32_t pkt_size; int32_t func; int32_t count; int32_t flags; mode_t mode; \
  char *buf; const char *fname; int32_t status; int32_t io_errno; int32_t lerror; \
  int32_t whence; int64_t offset; bool win32;
#define CORE_MESSAGES_TO_CHECK_CHANGES \
  bRC (*JobMessage)(Ctx *ctx, const char *file, int line, int type, int64_t mtime, \
                    const char *fmt, ...); \
  bRC (*DebugMessage)(Ctx *ctx, const char *file, int line, int level, \
                      const char *fmt, ...); \
  void *rest[10]; \
  bRC (*checkChanges)(Ctx *ctx, struct save_pkt *sp);

#if defined(FAKE_BAREOS)
#define VERSION 10
typedef struct {
  uint32_t instance; void *plugin; void *core; void *priv;
} Ctx;
#define PRIV(ctx) ((ctx)->priv)
struct save_pkt {
  int32_t pkt_size; char *fname; char *link; struct stat statp; int32_t type;
  char flags[5]; bool no_read; bool portable; bool accurate_found; char *cmd;
  time_t save_time; uint32_t delta_seq; char *object_name; char *object;
  int32_t object_len; int32_t index; int32_t pkt_end;
};
#define SPARSE_SET(sp) ((sp)->flags[0] & 0x20)
#define SPARSE_CLEAR(sp) ((sp)->flags[0] &= (char)~0x20)
struct restore_pkt { RESTORE_PKT_FIELDS int filedes; int32_t pkt_end; };
struct io_pkt { IO_PKT_FIELDS int filedes; int32_t pkt_end; };
typedef struct {
  uint32_t size; uint32_t version;
  bRC (*registerEvents)(Ctx *ctx, int nr, ...);
  bRC (*unregisterEvents)(Ctx *ctx, int nr, ...);
  bRC (*getInstanceCount)(Ctx *ctx, int *ret);
  bRC (*getValue)(Ctx *ctx, int var, void *value);
  bRC (*setValue)(Ctx *ctx, int var, const void *value);
  CORE_MESSAGES_TO_CHECK_CHANGES
  void *rest2[3];
} Core;
_Static_assert(sizeof(Core) == 176, "CoreFunctions");
_Static_assert(sizeof(struct save_pkt) == 240, "save_pkt");
_Static_assert(sizeof(struct restore_pkt) == 240, "restore_pkt");
_Static_assert(sizeof(struct io_pkt) == 80, "io_pkt");
typedef struct {
  uint32_t size; uint32_t version;
  const char *magic, *license, *author, *date, *version_s, *description, *usage;
} PInfo;
#define NFUNCS 17
#define INFO_INIT {sizeof(PInfo), VERSION, "*FDPluginData*", "AGPLv3", "harness", \
                   "2026", "1", "fake plugin for harness tests", NULL}
#define CORE_OK(core) ((core)->size == 176 && (core)->version == 10)
#else /* FAKE_BACULA */
#define VERSION 14
typedef struct { void *core; void *priv; } Ctx;
#define PRIV(ctx) ((ctx)->priv)
struct save_pkt {
  int32_t pkt_size; char *fname; char *link; struct stat statp; int32_t type;
  uint64_t flags; bool no_read; bool portable; bool accurate_found; char *cmd;
  uint32_t delta_seq; char *object_name; char *object; int32_t object_len;
  int32_t index; int32_t LinkFI; int32_t pkt_end;
};
#define SPARSE_SET(sp) ((sp)->flags & (1u << 5))
#define SPARSE_CLEAR(sp) ((sp)->flags &= ~(uint64_t)(1u << 5))
struct restore_pkt { RESTORE_PKT_FIELDS int32_t pkt_end; };
struct io_pkt { IO_PKT_FIELDS int32_t pkt_end; };
typedef struct {
  uint32_t size; uint32_t version;
  bRC (*registerEvents)(Ctx *ctx, ...);
  bRC (*getValue)(Ctx *ctx, int var, void *value);
  bRC (*setValue)(Ctx *ctx, int var, void *value);
  CORE_MESSAGES_TO_CHECK_CHANGES
  void *rest2[1];
} Core;
_Static_assert(sizeof(Core) == 144, "bFuncs");
_Static_assert(sizeof(struct save_pkt) == 240, "save_pkt");
_Static_assert(sizeof(struct restore_pkt) == 232, "restore_pkt");
_Static_assert(sizeof(struct io_pkt) == 72, "io_pkt");
typedef struct {
  uint32_t size; uint32_t version;
  const char *magic, *license, *author, *date, *version_s, *description;
} PInfo;
#define NFUNCS 15
#define INFO_INIT {sizeof(PInfo), VERSION, "*FDPluginData*", "AGPLv3", "harness", \
                   "2026", "1", "fake plugin for harness tests"}
#define CORE_OK(core) ((core)->size == 144 && (core)->version == 14)
#endif

static Core *core;

struct job {
  int level;
  int64_t since;
  /* options of the current command */
  int n, size, skip, readerr, fatal, msgstart, thread, nlink, sparse, cfskip, writeerr;
  int64_t mtime;
  char pfx[64];
  /* iteration */
  int next, cur, skipped_once;
  int64_t pos;
  char name[256];
  volatile int cancelled;
  /* restore */
  int64_t wbytes;
  uint32_t wsum;
  char ofname[1024];
};

static void parse(struct job *j, const char *cmd)
{
  j->n = 3; j->size = 1000; j->mtime = 1000000; j->skip = -1; j->readerr = -1;
  j->fatal = j->msgstart = j->thread = j->sparse = j->cfskip = j->writeerr = 0;
  j->nlink = 1;
  j->pfx[0] = 0;
  const char *p = strchr(cmd, ':');
  while (p && *p) {
    p++;
    const char *end = strchr(p, ':');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    char kv[128];
    snprintf(kv, sizeof kv, "%.*s", (int)len, p);
    char *eq = strchr(kv, '=');
    if (eq) {
      *eq = 0;
      const char *v = eq + 1;
      if (!strcmp(kv, "n")) j->n = atoi(v);
      else if (!strcmp(kv, "size")) j->size = atoi(v);
      else if (!strcmp(kv, "mtime")) j->mtime = atoll(v);
      else if (!strcmp(kv, "skip")) j->skip = atoi(v);
      else if (!strcmp(kv, "readerr")) j->readerr = atoi(v);
      else if (!strcmp(kv, "fatal")) j->fatal = atoi(v);
      else if (!strcmp(kv, "msgstart")) j->msgstart = atoi(v);
      else if (!strcmp(kv, "thread")) j->thread = atoi(v);
      else if (!strcmp(kv, "nlink")) j->nlink = atoi(v);
      else if (!strcmp(kv, "sparse")) j->sparse = atoi(v);
      else if (!strcmp(kv, "cfskip")) j->cfskip = atoi(v);
      else if (!strcmp(kv, "writeerr")) j->writeerr = atoi(v);
      else if (!strcmp(kv, "pfx")) snprintf(j->pfx, sizeof j->pfx, "%s", v);
    }
    p = end;
  }
}

static unsigned char byte_at(int i, int64_t off) { return (unsigned char)((off * 31 + i * 7) & 0xff); }

static bRC newPlugin(Ctx *ctx)
{
  struct job *j = calloc(1, sizeof *j);
  parse(j, "fake");
  PRIV(ctx) = j;
#if defined(FAKE_BAREOS)
  core->registerEvents(ctx, 10, 1, 2, 3, 4, 9, 10, 11, 12, 13, 14);
#else
  core->registerEvents(ctx, 1, 2, 3, 4, 9, 10, 11, 12, 13, 14, 0);
#endif
  return bRC_OK;
}

static bRC freePlugin(Ctx *ctx)
{
  free(PRIV(ctx));
  PRIV(ctx) = NULL;
  return bRC_OK;
}

static bRC getPluginValue(Ctx *ctx, int var, void *value) { (void)ctx; (void)var; (void)value; return bRC_OK; }
static bRC setPluginValue(Ctx *ctx, int var, void *value) { (void)ctx; (void)var; (void)value; return bRC_OK; }

static void *foreign(void *arg)
{
  Ctx *ctx = arg;
  core->DebugMessage(ctx, __FILE__, __LINE__, 1, "%s", "from a foreign thread");
  return NULL;
}

static bRC handlePluginEvent(Ctx *ctx, bEvent *ev, void *value)
{
  struct job *j = PRIV(ctx);
  switch (ev->eventType) {
  case EV_JOBSTART:
    if (value && !strncmp((const char *)value, "JobId=999 ", 10))
      core->JobMessage(ctx, __FILE__, __LINE__, M_INFO, 0, "%s", "hello at JobStart");
    break;
  case EV_LEVEL: j->level = (int)(intptr_t)value; break;
  case EV_SINCE: j->since = (int64_t)(intptr_t)value; break;
  case EV_CANCEL: j->cancelled = 1; break;
  case EV_BACKUP:
  case EV_ESTIMATE:
    parse(j, (const char *)value);
    j->next = 0;
    j->skipped_once = 0;
    if (j->msgstart)
      core->JobMessage(ctx, __FILE__, __LINE__, M_INFO, 0, "%s", "command received");
    if (j->thread) {
      pthread_t t;
      pthread_create(&t, NULL, foreign, ctx);
      pthread_join(t, NULL);
    }
    break;
  case EV_RESTORE: parse(j, (const char *)value); break;
  default: break;
  }
  return bRC_OK;
}

static bRC startBackupFile(Ctx *ctx, struct save_pkt *sp)
{
  struct job *j = PRIV(ctx);
  if (j->next >= j->n) return bRC_Stop;
  if (j->fatal && j->next == 0)
    core->JobMessage(ctx, __FILE__, __LINE__, M_FATAL, 0, "fatal as asked: %d", 42);
  if (j->skip == j->next && !j->skipped_once) {
    j->skipped_once = 1;
    return bRC_Skip;
  }
  int i = j->next;
  snprintf(j->name, sizeof j->name, "/fake/%sf%d", j->pfx, i);
  sp->fname = j->name;
  sp->type = FT_REG;
  memset(&sp->statp, 0, sizeof sp->statp);
  sp->statp.st_mode = S_IFREG | 0644;
  sp->statp.st_nlink = (nlink_t)j->nlink;
  sp->statp.st_size = j->size + i;
  sp->statp.st_mtime = sp->statp.st_ctime = sp->statp.st_atime = (time_t)(j->mtime + i);
  if (!j->sparse) SPARSE_CLEAR(sp);
  if (j->level == 'I' || j->level == 'D') {
#if defined(FAKE_BAREOS)
    if (!sp->save_time) sp->save_time = (time_t)j->since;
#endif
    if (core->checkChanges(ctx, sp) == bRC_Seen) sp->type = FT_NOCHG;
  }
  j->cur = i;
  j->pos = 0;
  return bRC_OK;
}

static bRC endBackupFile(Ctx *ctx)
{
  struct job *j = PRIV(ctx);
  j->next++;
  return j->next < j->n ? bRC_More : bRC_OK;
}

static bRC startRestoreFile(Ctx *ctx, const char *cmd) { (void)ctx; (void)cmd; return bRC_OK; }

static bRC endRestoreFile(Ctx *ctx)
{
  struct job *j = PRIV(ctx);
  if (j->ofname[0])
    core->JobMessage(ctx, __FILE__, __LINE__, M_INFO, 0, "restored %s %lld %u", j->ofname,
                     (long long)j->wbytes, j->wsum);
  j->ofname[0] = 0;
  return bRC_OK;
}

static bRC pluginIO(Ctx *ctx, struct io_pkt *io)
{
  struct job *j = PRIV(ctx);
  io->io_errno = 0;
  switch (io->func) {
  case IO_OPEN:
    io->status = 0;
    if (io->flags != 0) {
      snprintf(j->ofname, sizeof j->ofname, "%s", io->fname);
      j->wbytes = 0;
      j->wsum = 2166136261u;
    }
    break;
  case IO_READ: {
    if (j->readerr == j->cur && j->pos == 0) {
      io->status = -1;
      io->io_errno = EIO;
      return bRC_Error;
    }
    int64_t left = (j->size + j->cur) - j->pos;
    if (j->cancelled) left = 0;
    int64_t n = io->count < left ? io->count : left;
    for (int64_t k = 0; k < n; k++) io->buf[k] = (char)byte_at(j->cur, j->pos + k);
    j->pos += n;
    io->status = (int32_t)n;
    break;
  }
  case IO_WRITE:
    if (j->writeerr) {
      io->status = 0;
      io->io_errno = ENOSPC;
      return bRC_Error;
    }
    for (int k = 0; k < io->count; k++) {
      j->wsum ^= (unsigned char)io->buf[k];
      j->wsum *= 16777619u;
    }
    j->wbytes += io->count;
    io->status = io->count;
    break;
  case IO_CLOSE: io->status = 0; break;
  default: io->status = -1; return bRC_Error;
  }
  return bRC_OK;
}

static bRC createFile(Ctx *ctx, struct restore_pkt *rp)
{
  struct job *j = PRIV(ctx);
  rp->create_status = j->cfskip ? CF_SKIP : CF_EXTRACT;
  return bRC_OK;
}

static bRC setFileAttributes(Ctx *ctx, struct restore_pkt *rp) { (void)ctx; (void)rp; return bRC_OK; }

static bRC checkFile(Ctx *ctx, char *fname) { (void)ctx; return strstr(fname, "/keep") ? bRC_Seen : bRC_OK; }

static PInfo info = INFO_INIT;
static struct {
  uint32_t size; uint32_t version; void *f[NFUNCS];
} funcs = {sizeof funcs, VERSION, {
  (void *)newPlugin, (void *)freePlugin, (void *)getPluginValue, (void *)setPluginValue,
  (void *)handlePluginEvent, (void *)startBackupFile, (void *)endBackupFile,
  (void *)startRestoreFile, (void *)endRestoreFile, (void *)pluginIO, (void *)createFile,
  (void *)setFileAttributes, (void *)checkFile}};

bRC loadPlugin(bInfo *bi, Core *c, PInfo **pi, void **pf)
{
  *pi = &info;
  *pf = &funcs;
  if (bi->version != VERSION || !CORE_OK(c)) return bRC_Error;
  core = c;
  return bRC_OK;
}

bRC unloadPlugin(void) { return bRC_OK; }
