/*
 * treestat_pipe.h: the C ABI of treestat native pipes (docs/PIPES.md, "Native pipes").
 *
 * A native pipe is a shared library exporting, with these exact names:
 *
 *   const uint32_t treestat_pipe_abi_version = TREESTAT_PIPE_ABI_VERSION;
 *   void   *treestat_pipe_init(const char *config, size_t config_len,
 *                              const ts_str *fields, size_t n_fields, ts_errbuf *err);
 *   int32_t treestat_pipe_process(void *state, const ts_record *rec,
 *                                 const ts_emitter *out, ts_errbuf *err);
 *   int32_t treestat_pipe_flush(void *state, const ts_emitter *out, ts_errbuf *err);
 *   void    treestat_pipe_cleanup(void *state);
 *
 * The host reads treestat_pipe_abi_version first and refuses any other version, then
 * resolves all four functions (an error names every missing one).
 *
 * - init: `config` is JSON text (`{}` when none); `fields` are the field names of the
 *   log format, in the order of the spans every record will carry. Return a state
 *   pointer, or NULL after writing a message into `err`.
 * - process: one parsed line. Emit any number of updates through `out`. Return 0, or
 *   non-zero after writing a message into `err`: the host counts an error for the pipe
 *   and goes on with the next line.
 * - flush: called at each interval close; emit what you accumulated.
 * - cleanup: free the state. Called once.
 *
 * Threading: calls for one state never overlap, but may come from different threads
 * over time. Strings are UTF-8 and NOT NUL-terminated: use the lengths. Everything the
 * host passes is valid only during the call. The library is never unloaded.
 */
#ifndef TREESTAT_PIPE_H
#define TREESTAT_PIPE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TREESTAT_PIPE_ABI_VERSION 1u

/* Actions (docs/CONCEPTS.md, "Actions"); TS_ACTION_INHERIT keeps the node's own. */
#define TS_ACTION_ADD 0
#define TS_ACTION_AVERAGE 1
#define TS_ACTION_MAX 2
#define TS_ACTION_MIN 3
#define TS_ACTION_LAST 4
#define TS_ACTION_INHERIT 255

typedef struct ts_str {
    const char *ptr;
    size_t len;
} ts_str;

/* Where a field lies in the line; both UINT32_MAX when absent. */
typedef struct ts_span {
    uint32_t start;
    uint32_t end;
} ts_span;

typedef struct ts_record {
    const char *line;
    size_t line_len;
    const ts_span *spans; /* one per field, in the order init received */
    size_t n_spans;
} ts_record;

typedef void (*ts_emit_fn)(void *ctx, const char *path, size_t path_len, double value,
                           uint8_t action);

/* `path` is comma-joined keys, e.g. "myapp,GET"; bad keys are repaired by the host. */
typedef struct ts_emitter {
    void *ctx;
    ts_emit_fn emit;
} ts_emitter;

typedef struct ts_errbuf {
    char *buf;
    size_t cap; /* including the NUL */
} ts_errbuf;

/* Field `i` of a record, or {NULL, 0} when absent. A `-` placeholder is returned as
 * is; compare with ts_is_dash() if you want to skip it. */
static inline ts_str ts_field(const ts_record *rec, size_t i) {
    ts_str s = {NULL, 0};
    if (i >= rec->n_spans || rec->spans[i].start == UINT32_MAX) return s;
    if (rec->spans[i].end > rec->line_len || rec->spans[i].start > rec->spans[i].end) return s;
    s.ptr = rec->line + rec->spans[i].start;
    s.len = rec->spans[i].end - rec->spans[i].start;
    return s;
}

static inline int ts_is_dash(ts_str s) { return s.len == 1 && s.ptr[0] == '-'; }

/* The index of a field by name among init's `fields`, or -1. */
static inline long ts_field_index(const ts_str *fields, size_t n, const char *name) {
    size_t len = strlen(name);
    for (size_t i = 0; i < n; i++)
        if (fields[i].len == len && memcmp(fields[i].ptr, name, len) == 0) return (long)i;
    return -1;
}

static inline void ts_emit(const ts_emitter *out, const char *path, double value,
                           uint8_t action) {
    out->emit(out->ctx, path, strlen(path), value, action);
}

static inline void ts_error(ts_errbuf *err, const char *msg) {
    if (!err || !err->buf || err->cap == 0) return;
    size_t n = strlen(msg);
    if (n >= err->cap) n = err->cap - 1;
    memcpy(err->buf, msg, n);
    err->buf[n] = 0;
}

#ifdef __cplusplus
}
#endif

#endif /* TREESTAT_PIPE_H */
