/* numaheap oci MODE NODES [FLAG...] and numaheap oci validate CONFIG.JSON: validate an OCI
 * runtime-spec linux.memoryPolicy, given as its fields or read from a container's config.json,
 * and print the policy in compact form. */
#include "cli.h"

#include <string.h>
#include <unistd.h>

static int validate(const cli_command_t *self, int argc, char **argv) {
    for (int i = 2; i < argc; i++) {
        if (cli_is_help(argv[i])) return cli_help(self, stdout);
        if (argv[i][0] == '-' && argv[i][1])
            return cli_usage_error(self, "unknown option '%s'", argv[i]);
    }
    if (argc < 3) return cli_usage_error(self, "validate: missing CONFIG.JSON");
    if (argc > 3) return cli_usage_error(self, "validate: unexpected argument '%s'", argv[3]);
    cli_oci_result_t r;
    int rc = cli_oci_read(argv[2], &r);
    if (rc < 0) return cli_usage_error(self, "%s: %s", argv[2], r.error);
    if (rc) return fprintf(stderr, "numaheap oci: %s: %s\n", argv[2], r.error), CLI_FAIL;
    if (!r.has_policy) return printf("%s: valid, no memoryPolicy\n", argv[2]), CLI_OK;
    char buf[8192];
    nh_policy_format(&r.policy, buf, sizeof buf);
    printf("%s: valid, memoryPolicy %s\n", argv[2], buf);
    return CLI_OK;
}

static int run(const cli_command_t *self, int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "validate")) return validate(self, argc, argv);
    /* a file where MODE goes: the user meant to read it, which 'validate' does */
    size_t n = argc == 2 ? strlen(argv[1]) : 0;
    if (argc == 2 && ((n > 5 && !strcmp(argv[1] + n - 5, ".json")) || strchr(argv[1], '/') ||
                      !access(argv[1], F_OK)))
        return cli_usage_error(self,
                               "'%s' is a file name, not a MODE: to read a config.json, use "
                               "'numaheap oci validate %s'",
                               argv[1], argv[1]);
    int rc = cli_check_args(self, argc, argv);
    if (rc >= 0) return rc;
    nh_policy_t p;
    char error[512];
    if (cli_oci_fields("memoryPolicy.", argv[1], argv[2], (const char *const *)argv + 3,
                       (size_t)(argc - 3), &p, error, sizeof error))
        return fprintf(stderr, "numaheap oci: invalid %s\n", error), CLI_FAIL;
    return cli_print_policy(&p);
}

static const char *const required[] = {"MODE", "NODES", NULL};

const cli_command_t cli_oci = {
    .name = "oci",
    .synopsis = "MODE NODES [FLAG...] | validate CONFIG.JSON",
    .summary = "validate an OCI runtime-spec linux.memoryPolicy (mode, nodes, flags)",
    .help =
        "MODE is the kernel's name (MPOL_BIND, MPOL_INTERLEAVE, MPOL_PREFERRED, MPOL_LOCAL,\n"
        "MPOL_DEFAULT, MPOL_PREFERRED_MANY, MPOL_WEIGHTED_INTERLEAVE); NODES a node list in\n"
        "the cpuset format the spec requires (\"0-3,5\", \"\" for none: not libnuma's \"all\",\n"
        "\"+0\" or \"!0\"); each FLAG MPOL_F_STATIC_NODES, MPOL_F_RELATIVE_NODES or\n"
        "MPOL_F_NUMA_BALANCING. Prints the compact form.\n"
        "validate CONFIG.JSON reads a runtime-spec config.json and checks its\n"
        "linux.memoryPolicy the same way (a config without one is valid); an error names\n"
        "the field at fault, as 'linux.memoryPolicy.nodes'.\n"
        "Exit status 0 if valid, 1 if not (one line on stderr says why), 2 for a bad\n"
        "command line or a file that cannot be read.\n",
    .required = required,
    .max_args = -1,
    .run = run,
};
