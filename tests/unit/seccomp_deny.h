/* Makes the memory-policy system calls fail in the calling process, as a container's seccomp
 * profile does, so the fallback paths can be tested faithfully. Irreversible: call in a child. */
#ifndef NH_SECCOMP_DENY_H
#define NH_SECCOMP_DENY_H

/* mbind, set_mempolicy, get_mempolicy, move_pages and migrate_pages return -1 with errno_value. */
int seccomp_deny_mempolicy(int errno_value);
/* System call nr returns -1 with errno_value. */
int seccomp_deny_syscall(long nr, int errno_value);

#endif
