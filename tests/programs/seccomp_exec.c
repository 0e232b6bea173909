/* Runs a program with the memory-policy system calls answered EPERM, as in a container whose
 * seccomp profile forbids them: seccomp_exec PROGRAM [ARGS...]; or with memfd_create answered
 * EPERM instead (no region table can be made): seccomp_exec --memfd PROGRAM [ARGS...]. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "seccomp_deny.h"

int main(int argc, char **argv) {
    if (argc > 2 && !strcmp(argv[1], "--memfd")) {
        if (seccomp_deny_syscall(SYS_memfd_create, EPERM)) return 111;
        argv++;
    } else if (argc < 2 || seccomp_deny_mempolicy(EPERM)) {
        return 111;
    }
    execv(argv[1], argv + 1);
    perror("execv");
    return 112;
}
