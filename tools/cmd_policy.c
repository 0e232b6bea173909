/* numaheap policy PID ADDRESS: the memory policy governing one address of a process, in the
 * compact form: the command-line counterpart of nh_policy_of. get_mempolicy(MPOL_F_ADDR) only
 * answers for the caller's own memory, so this reads the kernel's own words for any process:
 * /proc/PID/maps for the mapping holding the address, /proc/PID/numa_maps for its policy. */
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* Where the /proc files are read: NH_TEST_PROC replaces /proc in tests. */
static const char *proc_root(void) {
    const char *root = getenv("NH_TEST_PROC");
    return root && *root ? root : "/proc";
}

/* The start of the mapping of pid holding addr: 1 found, 0 none, -errno unreadable. */
static int mapping_of(int pid, uint64_t addr, uint64_t *start, uint64_t *end) {
    char path[4200], line[8192];
    snprintf(path, sizeof path, "%s/%d/maps", proc_root(), pid);
    FILE *f = fopen(path, "r");
    if (!f) return -errno;
    int found = 0;
    while (!found && fgets(line, sizeof line, f))
        found =
            sscanf(line, "%" SCNx64 "-%" SCNx64, start, end) == 2 && addr >= *start && addr < *end;
    fclose(f);
    return found;
}

/* The kernel's numa_maps policy words (mpol_to_str: "prefer (many)=static:0-1") as the compact
 * form ("preferred-many:0-1/static") into out; 0, or -1 when they are not the kernel's. */
static int compact_of(const char *text, char *out, size_t len) {
    static const struct {
        const char *kernel, *compact;
    } modes[] = {{"weighted interleave", "weighted"},
                 {"prefer (many)", "preferred-many"},
                 {"prefer", "preferred"},
                 {"bind", "bind"},
                 {"interleave", "interleave"},
                 {"local", "local"},
                 {"default", "default"}};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        size_t n = strlen(modes[i].kernel);
        if (strncmp(text, modes[i].kernel, n) || !strchr("=: \n", text[n])) continue;
        const char *p = text + n, *nodes = "";
        char flags[64] = "";
        if (*p == '=') { /* static, relative, balancing, joined by '|' */
            size_t k = strcspn(++p, ": \n");
            for (const char *f = p; f < p + k;) {
                size_t w = strcspn(f, "|: \n");
                snprintf(flags + strlen(flags), sizeof flags - strlen(flags), "/%.*s", (int)w, f);
                f += w + (f[w] == '|');
            }
            p += k;
        }
        size_t nlen = 0;
        if (*p == ':') nodes = p, nlen = strcspn(p, " \n");
        snprintf(out, len, "%s%.*s%s", modes[i].compact, (int)nlen, nodes, flags);
        return 0;
    }
    return -1;
}

static int run(const cli_command_t *self, int argc, char **argv) {
    int rc = cli_check_args(self, argc, argv);
    if (rc >= 0) return rc;
    const char *pid_text = argv[1], *addr_text = argv[2];
    if (strspn(pid_text, "0123456789") != strlen(pid_text) || strlen(pid_text) > 9)
        return cli_usage_error(self, "not a process id: '%s'", pid_text);
    char *end;
    errno = 0;
    uint64_t addr = strtoull(addr_text, &end, 16);
    if (!*addr_text || *end || errno || addr_text[0] == '-')
        return cli_usage_error(self, "not a hexadecimal address: '%s'", addr_text);
    int pid = atoi(pid_text);
    uint64_t start, stop;
    int found = mapping_of(pid, addr, &start, &stop);
    if (found == -ENOENT) return cli_usage_error(self, "no process with PID %d", pid);
    if (found < 0)
        return fprintf(stderr, "numaheap policy: %d: %s\n", pid, strerror(-found)), CLI_FAIL;
    if (!found)
        return fprintf(stderr, "numaheap policy: no mapping of process %d holds 0x%" PRIx64 "\n",
                       pid, addr),
               CLI_FAIL;
    char path[4200], line[8192], want[32], text[512];
    snprintf(path, sizeof path, "%s/%d/numa_maps", proc_root(), pid);
    snprintf(want, sizeof want, "%" PRIx64 " ", start);
    FILE *f = fopen(path, "r");
    if (!f) return fprintf(stderr, "numaheap policy: %s: %s\n", path, strerror(errno)), CLI_FAIL;
    int ok = -1;
    while (ok && fgets(line, sizeof line, f))
        if (!strncmp(line, want, strlen(want)))
            ok = compact_of(line + strlen(want), text, sizeof text);
    fclose(f);
    if (ok)
        return fprintf(stderr,
                       "numaheap policy: no policy for the mapping at 0x%" PRIx64 " in %s\n", start,
                       path),
               CLI_FAIL;
    printf("%s\n", text);
    return CLI_OK;
}

static const char *const required[] = {"PID", "ADDRESS", NULL};

const cli_command_t cli_policy = {
    .name = "policy",
    .synopsis = "PID ADDRESS",
    .summary = "show the memory policy governing an address of a process",
    .help = "Prints the policy of the mapping that holds ADDRESS (hexadecimal, 0x optional) in\n"
            "process PID, in the compact form (bind:0, interleave:0-1/static), as the kernel\n"
            "reports it in /proc/PID/numa_maps: what nh_policy_of answers inside the process,\n"
            "except that a mapping without a policy of its own shows the process's policy.\n"
            "numaheap's node regions show preferred:N (numaheap enforces bind itself).\n"
            "Exit status 1 if no mapping holds the address or the process cannot be read.\n",
    .required = required,
    .max_args = 2,
    .run = run,
};
