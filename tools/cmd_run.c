/* numaheap run [OPTION...] -- COMMAND [ARG...]: runs a program with numaheap preloaded as its
 * malloc, the settings given as options passed on as NUMAHEAP_* variables. Policies are
 * checked here, so a bad one is an error naming its position rather than a child's warning. */
#define _GNU_SOURCE /* dladdr */
#include "cli.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct {
    const char *name, *var;
} switches[] =
    {
        {"--strict", "NUMAHEAP_STRICT"},
        {"--stats", "NUMAHEAP_STATS"},
        {"--verbose", "NUMAHEAP_VERBOSE"},
},
  policies[] = {
      {"--policy", "NUMAHEAP_POLICY"},
      {"--large-policy", "NUMAHEAP_LARGE_POLICY"},
};
#define COUNT(a) (sizeof a / sizeof a[0])

/* The libnumaheap.so this program runs with, the one to preload (canonical path in buf). */
static const char *library_path(char *buf) {
    Dl_info info;
    if (!dladdr((void *)nh_version, &info) || !info.dli_fname) return NULL;
    return realpath(info.dli_fname, buf) ? buf : info.dli_fname;
}

/* One option at argv[*i]: 1 if taken, 0 if not an option of run, -1 after an error report. */
static int take_option(const cli_command_t *self, int argc, char **argv, int *i) {
    const char *arg = argv[*i];
    for (size_t k = 0; k < COUNT(switches); k++) {
        size_t n = strlen(switches[k].name);
        if (strncmp(arg, switches[k].name, n) || (arg[n] && arg[n] != '=')) continue;
        if (arg[n])
            return cli_usage_error(self, "option '%s' takes no value", switches[k].name), -1;
        setenv(switches[k].var, "1", 1);
        return 1;
    }
    for (size_t k = 0; k < COUNT(policies); k++) {
        const char *value;
        int got = cli_option_value(self, argc, argv, i, policies[k].name, &value);
        if (got <= 0) {
            if (got < 0) return -1;
            continue;
        }
        nh_policy_t p;
        nh_error_t err;
        int rc = nh_policy_parse(value, &p, &err);
        if (rc) {
            int joined = value != argv[*i]; /* --policy=VALUE: show the caret in the argument */
            cli_policy_error(self, policies[k].name, argv[*i],
                             joined ? (int)strlen(policies[k].name) + 1 : 0, rc, &err);
            return -1;
        }
        setenv(policies[k].var, value, 1);
        return 1;
    }
    return 0;
}

static int run(const cli_command_t *self, int argc, char **argv) {
    int i = 1;
    for (; i < argc && strcmp(argv[i], "--"); i++) {
        if (cli_is_help(argv[i])) return cli_help(self, stdout);
        if (argv[i][0] != '-')
            return cli_usage_error(self, "missing '--' before the command '%s'", argv[i]);
        int taken = take_option(self, argc, argv, &i);
        if (taken < 0) return CLI_USAGE;
        if (!taken) return cli_usage_error(self, "unknown option '%s'", argv[i]);
    }
    if (i >= argc) return cli_usage_error(self, "missing '--' and the command to run");
    if (i + 1 >= argc) return cli_usage_error(self, "missing the command after '--'");
    char buf[PATH_MAX];
    const char *lib = library_path(buf);
    if (!lib) return fprintf(stderr, "numaheap run: cannot find libnumaheap.so\n"), CLI_FAIL;
    const char *old = getenv("LD_PRELOAD");
    char preload[8192];
    snprintf(preload, sizeof preload, "%s%s%s", lib, old && *old ? ":" : "", old ? old : "");
    setenv("LD_PRELOAD", preload, 1);
    execvp(argv[i + 1], argv + i + 1);
    fprintf(stderr, "numaheap run: %s: %s\n", argv[i + 1], strerror(errno));
    return 127;
}

const cli_command_t cli_run = {
    .name = "run",
    .synopsis = "[OPTION...] -- COMMAND [ARG...]",
    .summary = "run a program with numaheap as its malloc (LD_PRELOAD)",
    .help = "Options (a value as --opt VALUE or --opt=VALUE):\n"
            "  --policy POLICY        placement of small objects (NUMAHEAP_POLICY)\n"
            "  --large-policy POLICY  spreading of large objects (NUMAHEAP_LARGE_POLICY)\n"
            "  --strict               memory on its node or ENOMEM (NUMAHEAP_STRICT=1)\n"
            "  --stats                per-node statistics at exit (NUMAHEAP_STATS=1)\n"
            "  --verbose              decisions and fallbacks on stderr (NUMAHEAP_VERBOSE=1)\n"
            "Policies are checked before the program starts (see numaheap check --help).\n"
            "Exit status: the program's; 2 for a bad command line, 127 if it cannot be run.\n",
    .max_args = -1,
    .run = run,
};
