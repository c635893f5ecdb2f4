/*
 * An example native treestat agent module: a constant from the `ConstantValue`
 * parameter, a counter that grows by `Step` per call (sent as a rate), and a string.
 * Build: cc -shared -fPIC -I agent-modules/include -o example_module.so example_module.c
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "treestat_module.h"

static double constant_value;
static double step = 1.0;
static double counter;

static int get_constant(const char *name, treestat_value *v) {
    (void)name;
    v->number = constant_value;
    return 0;
}

static int get_counter(const char *name, treestat_value *v) {
    (void)name;
    counter += step;
    v->number = counter;
    return 0;
}

static int get_greeting(const char *name, treestat_value *v) {
    snprintf(v->text, v->text_cap, "hello from %s", name);
    return 0;
}

static int get_failing(const char *name, treestat_value *v) {
    snprintf(v->text, v->text_cap, "%s is never available", name);
    return 2;
}

static const treestat_metric metrics[] = {
    {"c_constant", "example_c", "units", "ConstantValue", TREESTAT_NUMBER,
     TREESTAT_SLOPE_ZERO, get_constant},
    {"c_counter", "example_c", "ticks/s", "grows by Step per call", TREESTAT_NUMBER,
     TREESTAT_SLOPE_POSITIVE, get_counter},
    {"c_greeting", NULL, NULL, "a string metric", TREESTAT_STRING, TREESTAT_SLOPE_ZERO,
     get_greeting},
    {"c_failing", NULL, NULL, "always fails", TREESTAT_NUMBER, TREESTAT_SLOPE_BOTH,
     get_failing},
};

uint32_t treestat_module_abi_version(void) { return TREESTAT_MODULE_ABI_VERSION; }

int treestat_module_init(const treestat_param *params, size_t n, char *err,
                         size_t err_cap) {
    int have_constant = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(params[i].name, "ConstantValue") == 0) {
            constant_value = strtod(params[i].value, NULL);
            have_constant = 1;
        } else if (strcmp(params[i].name, "Step") == 0) {
            step = strtod(params[i].value, NULL);
        }
    }
    if (!have_constant) {
        snprintf(err, err_cap, "missing parameter ConstantValue");
        return 1;
    }
    counter = 0;
    return 0;
}

const treestat_metric *treestat_module_metrics(size_t *count) {
    *count = sizeof metrics / sizeof metrics[0];
    return metrics;
}

void treestat_module_cleanup(void) { counter = 0; }
