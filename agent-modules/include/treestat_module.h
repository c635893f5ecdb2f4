/*
 * treestat_module.h: the C ABI for native treestat agent modules.
 *
 * A module is a shared library exporting four functions. The agent resolves all of them
 * when it loads the library (an error names any that is missing), calls
 * treestat_module_abi_version() first and refuses a library built for another version,
 * then treestat_module_init() once, treestat_module_metrics() once, each metric's handler
 * at the module's interval (always from the same agent thread), and
 * treestat_module_cleanup() once at shutdown. The library stays loaded until then.
 *
 * Strings the module returns (names, units, ...) must stay valid until cleanup.
 */
#ifndef TREESTAT_MODULE_H
#define TREESTAT_MODULE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TREESTAT_MODULE_ABI_VERSION 1u

/* One `name = value` parameter from <module>.conf. */
typedef struct treestat_param {
    const char *name;
    const char *value;
} treestat_param;

/* value_type */
#define TREESTAT_NUMBER 0 /* the handler sets value->number */
#define TREESTAT_STRING 1 /* the handler writes a NUL-terminated string into value->text */

/* slope (as Ganglia's) */
#define TREESTAT_SLOPE_BOTH 0     /* a gauge */
#define TREESTAT_SLOPE_POSITIVE 1 /* a counter: the agent sends its rate per second */
#define TREESTAT_SLOPE_ZERO 2     /* a constant */
#define TREESTAT_SLOPE_NEGATIVE 3 /* only falls */

typedef struct treestat_value {
    double number;   /* out: for TREESTAT_NUMBER */
    char *text;      /* out: for TREESTAT_STRING, and the error message on failure */
    size_t text_cap; /* bytes available at text, including the NUL */
} treestat_value;

/* Measures the metric `name`. Returns 0 on success; non-zero on failure, with a
 * message in value->text. Returning 1 with an empty text means "no value now". */
typedef int (*treestat_handler)(const char *name, treestat_value *value);

typedef struct treestat_metric {
    const char *name;        /* the key under the host: no ',' */
    const char *group;       /* the top-level key; NULL means the module's name */
    const char *units;       /* may be NULL */
    const char *description; /* may be NULL */
    int value_type;          /* TREESTAT_NUMBER or TREESTAT_STRING */
    int slope;               /* TREESTAT_SLOPE_* */
    treestat_handler handler;
} treestat_metric;

/* Must return TREESTAT_MODULE_ABI_VERSION. */
uint32_t treestat_module_abi_version(void);

/* Called once with the parameters. Returns 0 on success; non-zero on failure, with a
 * NUL-terminated message written into err (err_cap bytes). */
int treestat_module_init(const treestat_param *params, size_t n_params, char *err,
                         size_t err_cap);

/* The module's metrics: sets *count and returns an array valid until cleanup. */
const treestat_metric *treestat_module_metrics(size_t *count);

/* Called once at shutdown. */
void treestat_module_cleanup(void);

#ifdef __cplusplus
}
#endif

#endif /* TREESTAT_MODULE_H */
