/* Helpers shared by the subcommands: argument checking, one-line errors, policy reports. */
#include "cli.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
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

/* The parser numbers positions in the text it was given, which for numactl's options is a
 * compact policy the CLI composed ("bind:" + the value): the user must read positions in what
 * they typed, the text the caret line shows, so every "position N" moves by offset. */
static void shift_positions(const char *msg, int offset, char *out, size_t len) {
    size_t o = 0;
    for (const char *m = msg; *m && o + 1 < len;) {
        if (!strncmp(m, "position ", 9) && isdigit((unsigned char)m[9])) {
            char *end;
            long pos = strtol(m + 9, &end, 10) + offset;
            int n = snprintf(out + o, len - o, "position %ld", pos < 0 ? 0 : pos);
            o = n < 0 || (size_t)n >= len - o ? len - 1 : o + (size_t)n;
            m = end;
        } else {
            out[o++] = *m++;
        }
    }
    out[o] = '\0';
}

void cli_policy_error(const cli_command_t *cmd, const char *what, const char *arg, int offset,
                      int rc, const nh_error_t *err) {
    char msg[256];
    shift_positions(err->msg, arg ? offset : 0, msg, sizeof msg);
    fprintf(stderr, "numaheap %s: invalid %s: %s (%s)\n", cmd->name, what, msg, nh_strerror(rc));
    if (arg && err->pos >= 0) fprintf(stderr, "  %s\n  %*s^\n", arg, offset + err->pos, "");
}

int cli_print_policy(const nh_policy_t *p) {
    char buf[8192];
    nh_policy_format(p, buf, sizeof buf);
    printf("%s\n", buf);
    return CLI_OK;
}

int cli_parse_list(const char *text, uint64_t *bits, int max, int *bad) {
    const char *s = text;
    if (!*s) return 0;
    for (;;) {
        long lo, hi;
        const char *start = s;
        if (!isdigit((unsigned char)*s)) goto syntax;
        for (lo = 0; isdigit((unsigned char)*s); s++)
            if ((lo = lo * 10 + (*s - '0')) >= max) lo = max; /* saturate: out of range */
        if (lo >= max) goto range;
        hi = lo;
        if (*s == '-') {
            start = ++s;
            if (!isdigit((unsigned char)*s)) goto syntax;
            for (hi = 0; isdigit((unsigned char)*s); s++)
                if ((hi = hi * 10 + (*s - '0')) >= max) hi = max;
            if (hi >= max) goto range;
            if (hi < lo) {
                *bad = (int)(start - text);
                return -2;
            }
        }
        for (long i = lo; i <= hi; i++)
            bits[i / 64] |= (uint64_t)1 << (i % 64);
        if (!*s) return 0;
        if (*s != ',') goto syntax;
        s++;
        continue;
    range:
        s = start;
    syntax:
        *bad = (int)(s - text);
        return -1;
    }
}

void cli_format_list(const uint64_t *bits, int max, char *buf, size_t len) {
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; i < max; i++) {
        if (!CLI_BIT(bits, i)) continue;
        int j = i;
        while (j + 1 < max && CLI_BIT(bits, j + 1))
            j++;
        int n = j == i ? snprintf(buf + used, len - used, "%s%d", used ? "," : "", i)
                       : snprintf(buf + used, len - used, "%s%d-%d", used ? "," : "", i, j);
        if (n < 0 || (size_t)n >= len - used) return;
        used += (size_t)n;
        i = j;
    }
}

int cli_cpus_online(uint64_t *out) {
    char buf[4096];
    FILE *f = fopen("/sys/devices/system/cpu/online", "r");
    if (!f) return -1;
    int ok = fgets(buf, sizeof buf, f) != NULL;
    fclose(f);
    if (!ok) return -1;
    buf[strcspn(buf, "\n")] = 0;
    int bad;
    memset(out, 0, CLI_CPU_WORDS * sizeof *out);
    return cli_parse_list(buf, out, NH_MAX_CPUS, &bad);
}
