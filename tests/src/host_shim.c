/*
 * host_shim.c - the C-variadic core callbacks of the host harness.
 *
 * Stable Rust cannot define C-variadic functions, so the variadic members of
 * the two core tables (Bareos CoreFunctions: registerBareosEvents,
 * unregisterBareosEvents, JobMessage, DebugMessage; Bacula bFuncs:
 * registerBaculaEvents, JobMessage, DebugMessage) are these small functions.
 * They only unpack the arguments the way the real daemons do (va_arg as
 * uint32_t for event numbers, vsnprintf for messages) and forward to
 * non-variadic Rust functions, which the harness installs once with
 * harness_shim_set_sinks() before any plugin is loaded.
 *
 * The context pointer is passed through untouched as void*: Bareos'
 * PluginContext and Bacula's bpContext are decoded on the Rust side.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

typedef int bRC;
#define SHIM_bRC_Error 2

/* Upper bound of event numbers read from one register call. The Bareos core
 * reads exactly nr_events values; Bacula reads until the terminating 0. A
 * plugin that passes a Bareos-style count to Bacula (or forgets the 0) would
 * make the real daemon read garbage; the harness stops here and reports it. */
#define SHIM_MAX_EVENTS 64

struct harness_sinks {
  /* Bareos: do_register 1 = registerBareosEvents, 0 = unregister. nr_events
   * is the caller's count (possibly > n when it exceeded SHIM_MAX_EVENTS). */
  bRC (*bareos_events)(void *ctx, int do_register, int nr_events,
                       const uint32_t *events, int n);
  bRC (*bareos_job_msg)(void *ctx, const char *file, int line, int type,
                        int64_t mtime, const char *msg);
  bRC (*bareos_debug_msg)(void *ctx, const char *file, int line, int level,
                          const char *msg);
  /* Bacula: events read up to (not including) the terminating 0;
   * unterminated = 1 if no 0 was found within SHIM_MAX_EVENTS values. */
  bRC (*bacula_events)(void *ctx, const uint32_t *events, int n,
                       int unterminated);
  bRC (*bacula_job_msg)(void *ctx, const char *file, int line, int type,
                        int64_t mtime, const char *msg);
  bRC (*bacula_debug_msg)(void *ctx, const char *file, int line, int level,
                          const char *msg);
};

static struct harness_sinks sinks;

void harness_shim_set_sinks(const struct harness_sinks *s) { sinks = *s; }

/* printf-style formatting into a malloc'ed buffer (NULL if fmt is NULL or the
 * format is invalid); the caller frees it. */
static char *format_message(const char *fmt, va_list ap)
{
  if (!fmt) return NULL;
  va_list aq;
  va_copy(aq, ap);
  int n = vsnprintf(NULL, 0, fmt, aq);
  va_end(aq);
  if (n < 0) return NULL;
  char *buf = malloc((size_t)n + 1);
  if (!buf) return NULL;
  vsnprintf(buf, (size_t)n + 1, fmt, ap);
  return buf;
}

/* ------------------------------------------------------------- Bareos v10 */

static bRC bareos_events(void *ctx, int do_register, int nr_events, va_list ap)
{
  uint32_t events[SHIM_MAX_EVENTS];
  int n = 0;
  for (int i = 0; i < nr_events && i < SHIM_MAX_EVENTS; i++)
    events[n++] = va_arg(ap, uint32_t);
  if (!sinks.bareos_events) return SHIM_bRC_Error;
  return sinks.bareos_events(ctx, do_register, nr_events, events, n);
}

bRC harness_bareos_register_events(void *ctx, int nr_events, ...)
{
  va_list ap;
  va_start(ap, nr_events);
  bRC rc = bareos_events(ctx, 1, nr_events, ap);
  va_end(ap);
  return rc;
}

bRC harness_bareos_unregister_events(void *ctx, int nr_events, ...)
{
  va_list ap;
  va_start(ap, nr_events);
  bRC rc = bareos_events(ctx, 0, nr_events, ap);
  va_end(ap);
  return rc;
}

bRC harness_bareos_job_message(void *ctx, const char *file, int line, int type,
                               int64_t mtime, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  char *msg = format_message(fmt, ap);
  va_end(ap);
  bRC rc = sinks.bareos_job_msg
               ? sinks.bareos_job_msg(ctx, file, line, type, mtime, msg)
               : SHIM_bRC_Error;
  free(msg);
  return rc;
}

bRC harness_bareos_debug_message(void *ctx, const char *file, int line,
                                 int level, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  char *msg = format_message(fmt, ap);
  va_end(ap);
  bRC rc = sinks.bareos_debug_msg
               ? sinks.bareos_debug_msg(ctx, file, line, level, msg)
               : SHIM_bRC_Error;
  free(msg);
  return rc;
}

/* ------------------------------------------------------------- Bacula v14 */

bRC harness_bacula_register_events(void *ctx, ...)
{
  uint32_t events[SHIM_MAX_EVENTS];
  int n = 0, unterminated = 1;
  va_list ap;
  va_start(ap, ctx);
  while (n < SHIM_MAX_EVENTS) {
    uint32_t ev = va_arg(ap, uint32_t);
    if (ev == 0) {
      unterminated = 0;
      break;
    }
    events[n++] = ev;
  }
  va_end(ap);
  if (!sinks.bacula_events) return SHIM_bRC_Error;
  return sinks.bacula_events(ctx, events, n, unterminated);
}

bRC harness_bacula_job_message(void *ctx, const char *file, int line, int type,
                               int64_t mtime, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  char *msg = format_message(fmt, ap);
  va_end(ap);
  bRC rc = sinks.bacula_job_msg
               ? sinks.bacula_job_msg(ctx, file, line, type, mtime, msg)
               : SHIM_bRC_Error;
  free(msg);
  return rc;
}

bRC harness_bacula_debug_message(void *ctx, const char *file, int line,
                                 int level, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  char *msg = format_message(fmt, ap);
  va_end(ap);
  bRC rc = sinks.bacula_debug_msg
               ? sinks.bacula_debug_msg(ctx, file, line, level, msg)
               : SHIM_bRC_Error;
  free(msg);
  return rc;
}
