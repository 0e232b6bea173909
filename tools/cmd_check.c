/* numaheap check POLICY: parse and validate a compact policy, print its canonical form. */
#include "cli.h"

static int run(const cli_command_t *self, int argc, char **argv) {
    int rc = cli_check_args(self, argc, argv);
    if (rc >= 0) return rc;
    nh_policy_t p;
    nh_error_t err;
    rc = nh_policy_parse(argv[1], &p, &err);
    if (rc) return cli_policy_error(self, "policy", argv[1], 0, rc, &err), CLI_FAIL;
    return cli_print_policy(&p);
}

static const char *const required[] = {"POLICY", NULL};

const cli_command_t cli_check = {
    .name = "check",
    .synopsis = "POLICY",
    .summary = "validate a policy and print its canonical form",
    .help = "POLICY is MODE[:NODES][/FLAG...]: local, default, preferred:1, bind:0-1,\n"
            "interleave:all, preferred-many:0,2, weighted:0=3,1=1, bind:0-1/static/balancing.\n"
            "Nodes must exist, have memory and be allowed. Exit status 0 if valid, 1 if not\n"
            "(with the reason and a caret under the offending text), 2 for a bad command line.\n",
    .required = required,
    .max_args = 1,
    .run = run,
};
