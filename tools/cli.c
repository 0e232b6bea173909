/* Helpers shared by the subcommands: argument checking, one-line errors, policy reports. */
#include "cli.h"

#include <ctype.h>
#include <stdarg.h>
#include <string.h>

int cli_usage_error(const cli_command_t *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "numaheap %s: ", cmd->name);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see 'numaheap %s --help')\n", cmd->name);
    va_end(ap);
    return CLI_USAGE;
}

int cli_is_help(const char *arg) {
    return !strcmp(arg, "-h") || !strcmp(arg, "--help");
}

int cli_help(const cli_command_t *cmd, FILE *f) {
    fprintf(f, "usage: numaheap %s%s%s\n\n%c%s.\n\n%s", cmd->name, *cmd->synopsis ? " " : "",
            cmd->synopsis, toupper((unsigned char)cmd->summary[0]), cmd->summary + 1, cmd->help);
    return CLI_OK;
}

int cli_check_args(const cli_command_t *cmd, int argc, char **argv) {
    int given = argc - 1;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) return cli_help(cmd, stdout);
        if (argv[i][0] == '-' && argv[i][1])
            return cli_usage_error(cmd, "unknown option '%s'", argv[i]);
    }
    int required = 0;
    while (cmd->required && cmd->required[required])
        required++;
    if (given < required) return cli_usage_error(cmd, "missing %s", cmd->required[given]);
    if (cmd->max_args >= 0 && given > cmd->max_args)
        return cli_usage_error(cmd, "unexpected argument '%s'", argv[cmd->max_args + 1]);
    return -1;
}

int cli_option_value(const cli_command_t *cmd, int argc, char **argv, int *i, const char *name,
                     const char **value) {
    const char *arg = argv[*i];
    size_t n = strlen(name);
    if (strncmp(arg, name, n) != 0) return 0;
    if (arg[n] == '=') {
        *value = arg + n + 1;
        if (!**value) return cli_usage_error(cmd, "option '%s' needs a value", name), -1;
        return 1;
    }
    if (arg[n]) return 0;
    if (*i + 1 >= argc || !strcmp(argv[*i + 1], "--"))
        return cli_usage_error(cmd, "option '%s' needs a value", name), -1;
    *value = argv[++*i];
    return 1;
}

void cli_policy_error(const cli_command_t *cmd, const char *what, const char *arg, int offset,
                      int rc, const nh_error_t *err) {
    fprintf(stderr, "numaheap %s: invalid %s: %s (%s)\n", cmd->name, what, err->msg,
            nh_strerror(rc));
    if (arg && err->pos >= 0) fprintf(stderr, "  %s\n  %*s^\n", arg, offset + err->pos, "");
}

int cli_print_policy(const nh_policy_t *p) {
    char buf[8192];
    nh_policy_format(p, buf, sizeof buf);
    printf("%s\n", buf);
    return CLI_OK;
}
