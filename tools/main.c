/* The numaheap command line: dispatches to one subcommand per cmd_*.c file. With no command it
 * shows the topology; --help lists the commands, COMMAND --help describes one. */
#include "cli.h"

#include <string.h>

static const cli_command_t *const commands[] = {&cli_topology, &cli_show,  &cli_check,
                                                &cli_oci,      &cli_run,   &cli_stat,
                                                &cli_repair,   &cli_usage, &cli_policy};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static int help(FILE *f) {
    fprintf(f, "usage: numaheap [COMMAND [ARG...]]\n\ncommands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %s%s%s\n      %s\n", commands[i]->name, *commands[i]->synopsis ? " " : "",
                commands[i]->synopsis, commands[i]->summary);
    fprintf(f, "\nWithout a command: numaheap topology. 'numaheap COMMAND --help' describes one;\n"
               "numaheap(1) has the details. Exit status 2: a bad command line.\n");
    return CLI_OK;
}

static const cli_command_t *find(const char *name) {
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (!strcmp(commands[i]->name, name)) return commands[i];
    return NULL;
}

int main(int argc, char **argv) {
    static char *topology[] = {"topology", NULL};
    if (argc < 2) return cli_topology.run(&cli_topology, 1, topology);
    const char *name = argv[1];
    if (cli_is_help(name) || !strcmp(name, "help")) {
        if (argc > 3 || (argc == 3 && !find(argv[2]))) {
            fprintf(stderr, "numaheap: no help for '%s' (see 'numaheap --help')\n", argv[argc - 1]);
            return CLI_USAGE;
        }
        return argc == 3 ? cli_help(find(argv[2]), stdout) : help(stdout);
    }
    if (!strcmp(name, "--version")) {
        printf("numaheap %d.%d.%d\n", nh_version() / 10000, nh_version() / 100 % 100,
               nh_version() % 100);
        return CLI_OK;
    }
    const cli_command_t *cmd = find(name);
    if (!cmd) {
        fprintf(stderr, "numaheap: unknown %s '%s' (see 'numaheap --help')\n",
                name[0] == '-' ? "option" : "command", name);
        return CLI_USAGE;
    }
    return cmd->run(cmd, argc - 1, argv + 1);
}
