/* What the numaheap subcommands share: the command table entry main.c dispatches on, one-line
 * argument errors (exit status 2), policy error reports with a caret, help text. Each
 * subcommand lives in its own cmd_NAME.c and uses the public header only; heap_pages.c alone
 * reaches policy/'s move_pages wrapper, for other processes' pages, and topo_view.c its sysfs
 * reader, for fake trees in tests. */
#ifndef NH_CLI_H
#define NH_CLI_H

#include "numaheap.h"

#include <stdint.h>
#include <stdio.h>

/* Exit statuses of every subcommand. */
#define CLI_OK    0 /* done; for check and oci: the policy is valid */
#define CLI_FAIL  1 /* the answer is no (invalid policy) or the system refused */
#define CLI_USAGE 2 /* bad command line: one line on stderr says what was wrong */

typedef struct cli_command {
    const char *name;
    const char *synopsis;        /* arguments, as shown after "numaheap NAME" */
    const char *summary;         /* one line for numaheap --help */
    const char *help;            /* the rest of NAME --help: what it does, its options */
    const char *const *required; /* names of the required positional arguments, NULL-ended */
    int max_args;                /* positional arguments accepted at most, -1: any number */
    int (*run)(const struct cli_command *self, int argc, char **argv); /* argv[0]: NAME */
} cli_command_t;

extern const cli_command_t cli_topology, cli_check, cli_oci, cli_run, cli_show, cli_usage, cli_stat,
    cli_repair, cli_policy;

/* Prints "numaheap NAME: <message> (see 'numaheap NAME --help')" on stderr; returns CLI_USAGE. */
int cli_usage_error(const cli_command_t *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* "-h" or "--help". */
int cli_is_help(const char *arg);
/* The full help of cmd on f; returns CLI_OK. */
int cli_help(const cli_command_t *cmd, FILE *f);
/* For commands with positional arguments only: answers --help, and refuses options, missing
 * and extra arguments with one line. Returns -1 when argv is fine, else the exit status. */
int cli_check_args(const cli_command_t *cmd, int argc, char **argv);
/* An option with a value, as "--name VALUE" or "--name=VALUE", at argv[*i]. Returns 1 and sets
 * *value (advancing *i past a separate value), 0 if argv[*i] is not this option, or -1 after
 * reporting a missing value. */
int cli_option_value(const cli_command_t *cmd, int argc, char **argv, int *i, const char *name,
                     const char **value);
/* Reports a policy nh_policy_parse or nh_policy_from_oci refused: the message, then, when the
 * error has a position in text, arg (the argument as typed, text at offset in it) with a caret
 * under the offending character. what names the policy ("policy", "--policy"). */
void cli_policy_error(const cli_command_t *cmd, const char *what, const char *arg, int offset,
                      int rc, const nh_error_t *err);
/* The canonical compact form of p on stdout; returns CLI_OK. */
int cli_print_policy(const nh_policy_t *p);

/* A list in the kernel's cpuset format: decimal numbers and ranges N-M separated by commas
 * ("0-3,5"; "" is the empty list). Sets the bits of bits[], which holds max bits; a number of
 * max or more is out of range. Returns 0, or -1 with *bad the offset of the offending
 * character (for a number out of range: its first digit), or -2 for a reversed range "3-1"
 * with *bad the offset of its upper number. */
int cli_parse_list(const char *text, uint64_t *bits, int max, int *bad);
/* Prints the set bits of bits (max of them) as "0-3,5" into buf; "" when none. */
void cli_format_list(const uint64_t *bits, int max, char *buf, size_t len);
/* The online CPUs (/sys/devices/system/cpu/online) as bits of out (NH_MAX_CPUS); 0 or -1. */
int cli_cpus_online(uint64_t *out);
#define CLI_CPU_WORDS    (NH_MAX_CPUS / 64)
#define CLI_BIT(bits, i) (((bits)[(i) / 64] >> ((i) % 64)) & 1)

/* The topology numaheap topology shows (topo_view.c): the library's, as the public queries of the
 * same names give it, or the sysfs tree NH_TEST_SYSFS_NODE names (tests). */
int cli_topo_faked(void);        /* 1 when the topology is a fake tree's */
const char *cli_topo_root(void); /* its sysfs node directory, "/sys/devices/system/node" if real */
int cli_topo_max_node(void);
void cli_topo_nodes(nh_nodemask_t *online, nh_nodemask_t *memory, nh_nodemask_t *cpus,
                    nh_nodemask_t *allowed);
int cli_topo_node_of_cpu(int cpu);
int cli_topo_distance(int a, int b);
int cli_topo_node_info(int node, nh_node_info_t *out); /* 0, or -1 for a node offline */

/* OCI runtime-spec config.json (oci_config.c, with json-c). */
typedef struct cli_oci_result {
    int has_policy; /* linux.memoryPolicy present (and then valid: policy holds it) */
    nh_policy_t policy;
    char error[512]; /* when reading failed: "FIELD: what was wrong", or what the file lacks */
} cli_oci_result_t;
/* Reads path and checks linux.memoryPolicy by the spec's rules (mode, nodes in cpuset list
 * format, flags) and numaheap's validator. Returns 0 (valid, or no memoryPolicy), 1 when the
 * file is not a valid config (r->error says why, naming the field), -1 when it cannot be read
 * (r->error has the system's reason). */
int cli_oci_read(const char *path, cli_oci_result_t *r);
/* The OCI fields, validated as cli_oci_read does (nodes as a cpuset list first). Returns 0, or
 * 1 with "FIELD: message" in error, where FIELD is prefix followed by mode, nodes or flags[i]. */
int cli_oci_fields(const char *prefix, const char *mode, const char *nodes,
                   const char *const *flags, size_t nflags, nh_policy_t *out, char *error,
                   size_t len);

#endif /* NH_CLI_H */
