/* A fake sysfs node tree for policy tests: 8 possible nodes, 0-3 online, 0-2 with CPUs,
 * node 3 memory-only (like CXL), nodes 0-3 with memory. Lets the policy layer be tested as if
 * on a 4-node machine. */
#ifndef NH_FAKE_TOPO_H
#define NH_FAKE_TOPO_H

#include "policy_internal.h"

/* Creates the tree under a fresh temporary directory (path written to dir) and reads it. */
void fake_topo_make(topo_t *t, char *dir, size_t dirlen);
/* Writes one file under dir, creating parents. */
void fake_topo_write(const char *dir, const char *rel, const char *text);
void fake_topo_remove(const char *dir);

/* cmocka group fixture: builds the tree into fake_topo once for a whole suite. */
extern topo_t fake_topo;
int fake_topo_group_setup(void **state);
int fake_topo_group_teardown(void **state);

/* Waits for a forked child and asserts it exited with status 0. */
void assert_child_ok(int pid);

#endif
