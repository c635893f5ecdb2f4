/*
 * methods.c: an example native pipe in C. Counts requests per HTTP method under
 * `<prefix>,<METHOD>` (add), and the bytes of the biggest response per interval under
 * `<prefix>,max_bytes` (max). The prefix comes from the config: {"prefix": "methods"}.
 *
 * Build: cc -shared -fPIC -O2 -I pipes/include -o libmethods.so methods.c
 */
#include "treestat_pipe.h"

#include <stdio.h>
#include <stdlib.h>

const uint32_t treestat_pipe_abi_version = TREESTAT_PIPE_ABI_VERSION;

typedef struct state {
    long method, bytes;
    char prefix[64];
    double max_bytes;
    int seen;
} state;

/* A tiny reader for {"prefix": "..."}; a real pipe would use a JSON library. */
static void read_prefix(const char *cfg, size_t len, char *out, size_t cap) {
    snprintf(out, cap, "methods");
    const char *key = "\"prefix\"";
    for (size_t i = 0; i + 8 < len; i++) {
        if (memcmp(cfg + i, key, 8) != 0) continue;
        const char *q = memchr(cfg + i + 8, '"', len - i - 8);
        if (!q) return;
        const char *e = memchr(q + 1, '"', (size_t)(cfg + len - q - 1));
        if (!e || (size_t)(e - q - 1) >= cap) return;
        memcpy(out, q + 1, (size_t)(e - q - 1));
        out[e - q - 1] = 0;
        return;
    }
}

void *treestat_pipe_init(const char *config, size_t config_len, const ts_str *fields,
                         size_t n_fields, ts_errbuf *err) {
    state *st = calloc(1, sizeof *st);
    if (!st) {
        ts_error(err, "out of memory");
        return NULL;
    }
    st->method = ts_field_index(fields, n_fields, "method");
    if (st->method < 0) {
        ts_error(err, "the log format has no $request (method)");
        free(st);
        return NULL;
    }
    st->bytes = ts_field_index(fields, n_fields, "bytes_sent");
    if (st->bytes < 0) st->bytes = ts_field_index(fields, n_fields, "body_bytes_sent");
    read_prefix(config, config_len, st->prefix, sizeof st->prefix);
    return st;
}

int32_t treestat_pipe_process(void *state_, const ts_record *rec, const ts_emitter *out,
                              ts_errbuf *err) {
    state *st = state_;
    ts_str m = ts_field(rec, (size_t)st->method);
    if (!m.ptr || ts_is_dash(m)) return 0;
    char path[160];
    int n = snprintf(path, sizeof path, "%s,%.*s", st->prefix, (int)m.len, m.ptr);
    if (n < 0 || (size_t)n >= sizeof path) {
        ts_error(err, "method too long");
        return 1;
    }
    out->emit(out->ctx, path, (size_t)n, 1.0, TS_ACTION_ADD);
    if (st->bytes >= 0) {
        ts_str b = ts_field(rec, (size_t)st->bytes);
        if (b.ptr && !ts_is_dash(b)) {
            double v = strtod(b.ptr, NULL);
            if (!st->seen || v > st->max_bytes) st->max_bytes = v;
            st->seen = 1;
        }
    }
    return 0;
}

int32_t treestat_pipe_flush(void *state_, const ts_emitter *out, ts_errbuf *err) {
    (void)err;
    state *st = state_;
    if (st->seen) {
        char path[96];
        snprintf(path, sizeof path, "%s,max_bytes", st->prefix);
        ts_emit(out, path, st->max_bytes, TS_ACTION_MAX);
    }
    st->seen = 0;
    st->max_bytes = 0;
    return 0;
}

void treestat_pipe_cleanup(void *state_) { free(state_); }
