/* numaheap run [OPTION...] -- COMMAND [ARG...]: runs a program with numaheap preloaded as its
 * malloc, the settings given as options passed on as NUMAHEAP_* variables. Policies are
 * checked here, so a bad one is an error naming its position rather than a child's warning.
 * As numactl does, the memory policy is also set as the process's kernel policy
 * (set_mempolicy, which exec keeps), so stacks, the program's own mmaps and other libraries'
 * memory follow it too, and the CPU options set its affinity (sched_setaffinity). */
#define _GNU_SOURCE /* dladdr, sched_setaffinity */
#include "cli.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <sched.h>
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

/* numactl's spellings of the memory policy, each the compact policy PREFIX + its value. */
static const struct {
    const char *name;
    char short_name;
    const char *prefix;
} numactl_policies[] = {
    {"--membind", 'm', "bind:"},
    {"--interleave", 'i', "interleave:"},
    {"--preferred", 'p', "preferred:"},
    {"--preferred-many", 'P', "preferred-many:"},
    {"--weighted-interleave", 0, "weighted:"},
};

typedef struct run_state {
    const char *policy_option; /* the option that set the memory policy, as typed */
    const char *cpu_option;    /* --cpunodebind or --physcpubind, as typed */
    const char *cpu_value;
    int has_policy; /* policy below is the memory policy asked for */
    nh_policy_t policy;
    int heap_only; /* --heap-only: leave the kernel policy as inherited */
} run_state_t;

/* The short option -C at argv[*i], with its value as "-C VALUE" or "-CVALUE" (getopt's
 * forms): 1 and *value, 0 if not this option, -1 after reporting a missing value. */
static int short_value(const cli_command_t *self, int argc, char **argv, int *i, char c,
                       const char **value) {
    const char *arg = argv[*i];
    if (arg[0] != '-' || arg[1] != c) return 0;
    if (arg[2]) return *value = arg + 2, 1;
    if (*i + 1 >= argc || !strcmp(argv[*i + 1], "--"))
        return cli_usage_error(self, "option '-%c' needs a value", c), -1;
    *value = argv[++*i];
    return 1;
}

/* Records that option (as typed in arg) sets the memory policy; -1 after reporting a second
 * one: numactl's options, --policy and --oci are exclusive. */
static int claim_policy(const cli_command_t *self, run_state_t *st, const char *arg) {
    char name[64];
    snprintf(name, sizeof name, "%.*s", (int)strcspn(arg, "="), arg);
    if (st->policy_option)
        return cli_usage_error(self, "'%s' and '%s' both set the memory policy: give one", name,
                               st->policy_option),
               -1;
    static char first[64];
    snprintf(first, sizeof first, "%s", name);
    st->policy_option = first;
    return 0;
}

/* Checks the compact policy text (typed as value inside arg) and sets var to it. */
static int set_policy(const cli_command_t *self, run_state_t *st, const char *option,
                      const char *arg, const char *value, const char *text, int prefix_len,
                      const char *var) {
    nh_policy_t p;
    nh_error_t err;
    int rc = nh_policy_parse(text, &p, &err);
    if (rc) {
        /* The caret goes under the argument as typed: value's offset in arg, less what the
         * compact form put before the value. */
        int offset = value != arg ? (int)(value - arg) - prefix_len : -prefix_len;
        cli_policy_error(self, option, offset + err.pos >= 0 ? arg : NULL, offset, rc, &err);
        return -1;
    }
    if (prefix_len && !strncmp(text, "preferred:", 10)) {
        int count = 0;
        for (int n = 0; n < NH_MAX_NODES; n++)
            count += nh_nodemask_isset(&p.nodes, n);
        if (count != 1)
            return cli_usage_error(self, "'%s' takes one node, not '%s'", option, value), -1;
    }
    if (!strcmp(var, "NUMAHEAP_POLICY")) st->policy = p, st->has_policy = 1;
    setenv(var, text, 1);
    return 1;
}

/* The memory policy option: local, as given by --localalloc or -l. */
static int set_local(run_state_t *st) {
    nh_policy_t p;
    nh_policy_parse("local", &p, NULL);
    st->policy = p, st->has_policy = 1;
    return setenv("NUMAHEAP_POLICY", "local", 1), 1;
}

/* One option at argv[*i]: 1 if taken, 0 if not an option of run, -1 after an error report. */
static int take_option(const cli_command_t *self, run_state_t *st, int argc, char **argv, int *i) {
    const char *arg = argv[*i];
    for (size_t k = 0; k < COUNT(switches); k++) {
        size_t n = strlen(switches[k].name);
        if (strncmp(arg, switches[k].name, n) || (arg[n] && arg[n] != '=')) continue;
        if (arg[n])
            return cli_usage_error(self, "option '%s' takes no value", switches[k].name), -1;
        setenv(switches[k].var, "1", 1);
        return 1;
    }
    if (!strncmp(arg, "--localalloc", 12) && (!arg[12] || arg[12] == '=')) {
        if (arg[12]) return cli_usage_error(self, "option '--localalloc' takes no value"), -1;
        if (claim_policy(self, st, arg)) return -1;
        return set_local(st);
    }
    if (!strcmp(arg, "-l")) {
        if (claim_policy(self, st, arg)) return -1;
        return set_local(st);
    }
    /* numactl's switches with no meaning here: one line naming what numaheap has instead */
    if (!strcmp(arg, "-b") || !strncmp(arg, "--balancing", 11))
        return cli_usage_error(self,
                               "'%s' (numactl's NUMA balancing) is not supported: "
                               "NUMAHEAP_REPAIR=MS moves the heap's misplaced pages home",
                               arg),
               -1;
    if (!strcmp(arg, "-a") || !strncmp(arg, "--all", 5))
        return cli_usage_error(self,
                               "'%s' (numactl's nodes outside the cpuset) is not supported: "
                               "numaheap uses the nodes the cpuset allows",
                               arg),
               -1;
    if (!strncmp(arg, "--heap-only", 11) && (!arg[11] || arg[11] == '=')) {
        if (arg[11]) return cli_usage_error(self, "option '--heap-only' takes no value"), -1;
        return st->heap_only = 1, 1;
    }
    const char *value;
    for (size_t k = 0; k < COUNT(policies); k++) {
        int got = cli_option_value(self, argc, argv, i, policies[k].name, &value);
        if (got < 0) return -1;
        if (!got) continue;
        if (k == 0 && claim_policy(self, st, arg)) return -1;
        return set_policy(self, st, policies[k].name, argv[*i], value, value, 0, policies[k].var);
    }
    for (size_t k = 0; k < COUNT(numactl_policies); k++) {
        int got = cli_option_value(self, argc, argv, i, numactl_policies[k].name, &value);
        if (!got && numactl_policies[k].short_name)
            got = short_value(self, argc, argv, i, numactl_policies[k].short_name, &value);
        if (got < 0) return -1;
        if (!got) continue;
        if (claim_policy(self, st, arg)) return -1;
        char text[4096];
        snprintf(text, sizeof text, "%s%s", numactl_policies[k].prefix, value);
        const char *name = arg[1] == '-' ? numactl_policies[k].name : (char[]){'-', arg[1], 0};
        return set_policy(self, st, name, argv[*i], value, text,
                          (int)strlen(numactl_policies[k].prefix), "NUMAHEAP_POLICY");
    }
    int got = cli_option_value(self, argc, argv, i, "--oci", &value);
    if (got < 0) return -1;
    if (got) {
        if (claim_policy(self, st, arg)) return -1;
        cli_oci_result_t r;
        if (cli_oci_read(value, &r))
            return cli_usage_error(self, "--oci: %s: %s", value, r.error), -1;
        if (r.has_policy) {
            char text[8192];
            nh_policy_format(&r.policy, text, sizeof text);
            setenv("NUMAHEAP_POLICY", text, 1);
            st->policy = r.policy, st->has_policy = 1;
        }
        return 1;
    }
    static const struct {
        const char *name;
        char short_name;
    } cpu_options[] = {{"--cpunodebind", 'N'}, {"--physcpubind", 'C'}, {"--cpubind", 'c'}};
    for (size_t k = 0; k < COUNT(cpu_options); k++) {
        got = cli_option_value(self, argc, argv, i, cpu_options[k].name, &value);
        if (!got) got = short_value(self, argc, argv, i, cpu_options[k].short_name, &value);
        if (got < 0) return -1;
        if (!got) continue;
        if (k == 2) k = 0; /* numactl's old spelling of --cpunodebind (-c) */
        if (k == 1 && value[0] == '+')
            return cli_usage_error(self,
                                   "--physcpubind: '%s': CPUs relative to the cpuset (+N) "
                                   "are not supported: give CPU numbers (numaheap show)",
                                   value),
                   -1;
        if (st->cpu_option)
            return cli_usage_error(self, "'%s' and '%s' both set the CPUs: give one",
                                   cpu_options[k].name, st->cpu_option),
                   -1;
        st->cpu_option = cpu_options[k].name;
        st->cpu_value = value;
        return 1;
    }
    return 0;
}

/* The CPUs st's --cpunodebind or --physcpubind names, checked against the online nodes and
 * CPUs, into cpus (CLI_CPU_WORDS words). 0, or -1 after an error report. */
static int cpus_wanted(const cli_command_t *self, const run_state_t *st, uint64_t *cpus) {
    uint64_t online[CLI_CPU_WORDS];
    char list[4096];
    if (cli_cpus_online(online))
        return cli_usage_error(self, "%s: cannot read the online CPUs", st->cpu_option), -1;
    cli_format_list(online, NH_MAX_CPUS, list, sizeof list);
    memset(cpus, 0, CLI_CPU_WORDS * sizeof *cpus);
    const char *v = st->cpu_value;
    if (!strcmp(st->cpu_option, "--physcpubind")) {
        int bad;
        if (!strcmp(v, "all")) return memcpy(cpus, online, sizeof online), 0;
        if (cli_parse_list(v, cpus, NH_MAX_CPUS, &bad) == -2)
            return cli_usage_error(self,
                                   "--physcpubind: '%s': a range is reversed (write the "
                                   "lower CPU first)",
                                   v),
                   -1;
        if (cli_parse_list(v, cpus, NH_MAX_CPUS, &bad) && v[bad] >= '0' && v[bad] <= '9')
            return cli_usage_error(self, "--physcpubind: '%s': CPU number beyond %d", v,
                                   NH_MAX_CPUS - 1),
                   -1;
        if (cli_parse_list(v, cpus, NH_MAX_CPUS, &bad) || !*v)
            return cli_usage_error(self,
                                   "--physcpubind: '%s' is not a CPU list (unexpected %s%.1s%s "
                                   "at position %d)",
                                   v, v[bad] ? "'" : "end", v + bad, v[bad] ? "'" : "", bad),
                   -1;
        for (int c = 0; c < NH_MAX_CPUS; c++)
            if (CLI_BIT(cpus, c) && !CLI_BIT(online, c))
                return cli_usage_error(self, "--physcpubind: CPU %d is not online (online: %s)", c,
                                       list),
                       -1;
        return 0;
    }
    nh_nodemask_t nodes, up, with_cpus;
    nh_error_t err;
    if (nh_nodemask_parse(v, &nodes, &err))
        return cli_usage_error(self, "--cpunodebind: '%s': %s", v, err.msg), -1;
    nh_nodes_online(&up);
    nh_nodes_with_cpus(&with_cpus);
    int any = 0;
    for (int n = 0; n < NH_MAX_NODES; n++) {
        if (!nh_nodemask_isset(&nodes, n)) continue;
        char buf[4096];
        nh_nodemask_format(&up, buf, sizeof buf);
        if (!nh_nodemask_isset(&up, n))
            return cli_usage_error(self, "--cpunodebind: node %d is not online (online: %s)", n,
                                   buf),
                   -1;
        if (!nh_nodemask_isset(&with_cpus, n))
            return cli_usage_error(self, "--cpunodebind: node %d has no CPUs", n), -1;
        for (int c = 0; c < NH_MAX_CPUS; c++)
            if (CLI_BIT(online, c) && nh_node_of_cpu(c) == n)
                cpus[c / 64] |= (uint64_t)1 << (c % 64), any = 1;
    }
    if (!any) return cli_usage_error(self, "--cpunodebind: '%s' names no CPUs", v), -1;
    return 0;
}

/* sched_setaffinity to cpus; 0, or -1 after an error report. */
static int bind_cpus(const uint64_t *cpus) {
    cpu_set_t *set = CPU_ALLOC(NH_MAX_CPUS);
    size_t size = CPU_ALLOC_SIZE(NH_MAX_CPUS);
    if (!set) return fprintf(stderr, "numaheap run: %s\n", strerror(ENOMEM)), -1;
    CPU_ZERO_S(size, set);
    for (int c = 0; c < NH_MAX_CPUS; c++)
        if (CLI_BIT(cpus, c)) CPU_SET_S(c, size, set);
    int rc = sched_setaffinity(0, size, set);
    int saved = errno;
    CPU_FREE(set);
    if (rc) {
        char list[4096];
        cli_format_list(cpus, NH_MAX_CPUS, list, sizeof list);
        fprintf(stderr, "numaheap run: cannot run on CPUs %s: %s\n", list, strerror(saved));
        return -1;
    }
    return 0;
}

/* set_mempolicy(st's policy) for this process, which the program inherits through exec, as
 * numactl sets it. 0, or -1 after one line saying what the kernel would not take. */
static int set_kernel_policy(const cli_command_t *self, const run_state_t *st) {
    if (!st->has_policy || st->heap_only) return 0;
    nh_error_t err = {0};
    if (nh_policy_apply_thread(&st->policy, &err) == 0) return 0;
    char text[8192];
    nh_policy_format(&st->policy, text, sizeof text);
    return cli_usage_error(self,
                           "%s '%s': the kernel policy cannot be set: %s (--heap-only: the heap "
                           "alone follows it)",
                           st->policy_option, text, err.msg),
           -1;
}

static int run(const cli_command_t *self, int argc, char **argv) {
    int i = 1;
    run_state_t st = {0};
    for (; i < argc && strcmp(argv[i], "--"); i++) {
        if (cli_is_help(argv[i])) return cli_help(self, stdout);
        if (argv[i][0] != '-')
            return cli_usage_error(self, "missing '--' before the command '%s'", argv[i]);
        int taken = take_option(self, &st, argc, argv, &i);
        if (taken < 0) return CLI_USAGE;
        if (!taken) return cli_usage_error(self, "unknown option '%s'", argv[i]);
    }
    if (i >= argc) return cli_usage_error(self, "missing '--' and the command to run");
    if (i + 1 >= argc) return cli_usage_error(self, "missing the command after '--'");
    uint64_t cpus[CLI_CPU_WORDS];
    if (st.cpu_option && cpus_wanted(self, &st, cpus)) return CLI_USAGE;
    char buf[PATH_MAX];
    const char *lib = library_path(buf);
    if (!lib) return fprintf(stderr, "numaheap run: cannot find libnumaheap.so\n"), CLI_FAIL;
    if (st.cpu_option && bind_cpus(cpus)) return CLI_FAIL;
    if (set_kernel_policy(self, &st)) return CLI_USAGE;
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
    .help = "Options (a value as --opt VALUE or --opt=VALUE; short ones as -m VALUE or -mVALUE):\n"
            "  --policy POLICY        placement of small objects (NUMAHEAP_POLICY)\n"
            "  --large-policy POLICY  spreading of large objects (NUMAHEAP_LARGE_POLICY)\n"
            "  --strict               memory on its node or ENOMEM (NUMAHEAP_STRICT=1)\n"
            "  --stats                per-node statistics at exit (NUMAHEAP_STATS=1)\n"
            "  --verbose              decisions and fallbacks on stderr (NUMAHEAP_VERBOSE=1)\n"
            "  --heap-only            the memory policy steers the heap only; the kernel policy\n"
            "                         stays as inherited\n"
            "numactl's spellings of --policy (one memory policy option at most):\n"
            "  -m, --membind NODES               bind:NODES\n"
            "  -i, --interleave NODES            interleave:NODES\n"
            "  -p, --preferred NODE              preferred:NODE\n"
            "  -P, --preferred-many NODES        preferred-many:NODES\n"
            "      --weighted-interleave NODES   weighted:NODES\n"
            "  -l, --localalloc                  local\n"
            "      --oci CONFIG.JSON             the config's linux.memoryPolicy, if any\n"
            "CPUs (sched_setaffinity before the program starts; one of the two):\n"
            "  -N, --cpunodebind NODES           the CPUs of NODES (online, with CPUs);\n"
            "                                    also numactl's old -c, --cpubind\n"
            "  -C, --physcpubind CPUS            CPUS, a list as 0-3,5 or all (online)\n"
            "Policies are checked before the program starts (see numaheap check --help). The\n"
            "memory policy is also the program's kernel policy (set_mempolicy, as numactl sets\n"
            "it): stacks and every mapping follow it; a policy the kernel cannot take (a mode or\n"
            "flag it lacks, per-policy weights) is an error unless --heap-only is given.\n"
            "Exit status: the program's; 2 for a bad command line, 127 if it cannot be run.\n",
    .max_args = -1,
    .run = run,
};
