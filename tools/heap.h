/* A process's numaheap heap seen from outside, shared by numaheap stat and numaheap repair:
 * which processes the arguments name (heap_map.c), where the heap's regions are and how much of
 * it is resident per node (heap_map.c), and the per-page audit and repair by move_pages on the
 * process (heap_pages.c). */
#ifndef NH_TOOLS_HEAP_H
#define NH_TOOLS_HEAP_H

#include "cli.h"

#include <stddef.h>
#include <stdint.h>

#define HEAP_MAX_PIDS 256

/* How the regions were found: the kernel's names for them in /proc/PID/maps ([anon:numaheap
 * ...]), or the region table the library publishes where the kernel cannot name mappings. */
typedef enum { HEAP_NONE, HEAP_NAMED, HEAP_TABLE } heap_source_t;

/* A mapping of the process inside numaheap's regions (a piece of one where a mapping spans two
 * regions). */
typedef struct heap_vma {
    unsigned long start, end;
    int home;       /* home node of the region; -1 for the large objects' region */
    uint64_t pages; /* resident pages of the whole kernel mapping, from numa_maps */
    int cut;        /* a further piece of the kernel mapping the one before belongs to */
} heap_vma_t;

typedef struct heap {
    int pid;
    char comm[64];
    heap_source_t source;
    heap_vma_t *vmas; /* sorted by address */
    size_t nvmas;
    uint64_t total[NH_MAX_NODES];     /* bytes resident per node, all mappings */
    uint64_t heap[NH_MAX_NODES];      /* of which in numaheap's regions */
    uint64_t misplaced[NH_MAX_NODES]; /* pages of node regions lying on this node, not home */
} heap_t;

/* Where /proc is: NH_TEST_PROC replaces it in tests (PID/comm, PID/maps, PID/numa_maps). */
const char *heap_proc_root(void);
/* /proc/PID/comm into buf; 0 or -errno. */
int heap_comm(int pid, char *buf, size_t len);
/* Adds the processes arg names, a PID or every process whose comm is arg, to pids (at most
 * HEAP_MAX_PIDS, each once). Returns -1 when done, else the exit status after a one-line
 * usage error of cmd (no such process, too many). */
int heap_add_target(const cli_command_t *cmd, const char *arg, int *pids, int *npids);
/* Reads /proc/PID/{comm,maps,numa_maps} into h (for h->pid); numa_maps' per-mapping counts make
 * h->misplaced. 0 or -errno (the process has gone, or is not ours to read). heap_free after. */
int heap_read(int pid, heap_t *h);
void heap_free(heap_t *h);
/* "names", "region table", or "none". */
const char *heap_source_name(heap_source_t s);
/* What rc (a negative errno from heap_read or heap_audit; -ENODATA: no heap found) means, as
 * the end of a line. */
const char *heap_error(int rc);

/* Per home node: the resident pages of its region the kernel reported (audited), those on
 * another node (misplaced), moved home, and not moved (failed, error: why the first failed). */
typedef struct heap_node_audit {
    uint64_t audited, misplaced, moved, failed;
    int error; /* positive errno */
} heap_node_audit_t;

typedef struct heap_audit {
    heap_node_audit_t home[NH_MAX_NODES];
    uint64_t misplaced_on[NH_MAX_NODES]; /* misplaced pages by the node they were found on */
} heap_audit_t;

/* Asks the kernel where each resident page of h's node regions is (move_pages on h->pid), and
 * with move, moves those away from home back to it. Resident pages are found in
 * /proc/PID/pagemap, from the start of each mapping until numa_maps' count of them is reached
 * (spans are handed out from a region's start), so the cost follows the heap's extent, not the
 * regions' reserved size. Returns 0, or -errno: -EPERM or -EACCES when not permitted, -ESRCH
 * when the process has gone. */
int heap_audit(const heap_t *h, int move, heap_audit_t *out);

#endif /* NH_TOOLS_HEAP_H */
