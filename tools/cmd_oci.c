/* numaheap oci MODE NODES [FLAG...]: validate the fields of an OCI runtime-spec
 * linux.memoryPolicy and print the policy in compact form. */
#include "cli.h"

static int run(const cli_command_t *self, int argc, char **argv) {
    int rc = cli_check_args(self, argc, argv);
    if (rc >= 0) return rc;
    nh_policy_t p;
    nh_error_t err;
    rc = nh_policy_from_oci(argv[1], argv[2], (const char *const *)argv + 3, (size_t)(argc - 3), &p,
                            &err);
    if (rc) return cli_policy_error(self, "memoryPolicy", NULL, 0, rc, &err), CLI_FAIL;
    return cli_print_policy(&p);
}

static const char *const required[] = {"MODE", "NODES", NULL};

const cli_command_t cli_oci = {
    .name = "oci",
    .synopsis = "MODE NODES [FLAG...]",
    .summary = "validate an OCI runtime-spec linux.memoryPolicy (mode, nodes, flags)",
    .help = "MODE is the kernel's name (MPOL_BIND, MPOL_INTERLEAVE, MPOL_PREFERRED, MPOL_LOCAL,\n"
            "MPOL_DEFAULT, MPOL_PREFERRED_MANY, MPOL_WEIGHTED_INTERLEAVE); NODES a node list\n"
            "(\"\" for none); each FLAG MPOL_F_STATIC_NODES, MPOL_F_RELATIVE_NODES or\n"
            "MPOL_F_NUMA_BALANCING. Prints the compact form; exit status 0 if valid, 1 if not,\n"
            "2 for a bad command line.\n",
    .required = required,
    .max_args = -1,
    .run = run,
};
