/*
 * noop.c: the smallest valid native pipe. It emits nothing; benchmarks load it to
 * measure what crossing the ABI costs per record.
 *
 * Build: cc -shared -fPIC -O2 -I pipes/include -o libnoop.so noop.c
 */
#include "treestat_pipe.h"

const uint32_t treestat_pipe_abi_version = TREESTAT_PIPE_ABI_VERSION;

static int the_state;

void *treestat_pipe_init(const char *config, size_t config_len, const ts_str *fields,
                         size_t n_fields, ts_errbuf *err) {
    (void)config; (void)config_len; (void)fields; (void)n_fields; (void)err;
    return &the_state;
}

int32_t treestat_pipe_process(void *state, const ts_record *rec, const ts_emitter *out,
                              ts_errbuf *err) {
    (void)state; (void)rec; (void)out; (void)err;
    return 0;
}

int32_t treestat_pipe_flush(void *state, const ts_emitter *out, ts_errbuf *err) {
    (void)state; (void)out; (void)err;
    return 0;
}

void treestat_pipe_cleanup(void *state) { (void)state; }
