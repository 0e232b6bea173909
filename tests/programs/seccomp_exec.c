/* Runs a program with the memory-policy system calls answered EPERM, as in a container whose
 * seccomp profile forbids them: seccomp_exec PROGRAM [ARGS...]. */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "seccomp_deny.h"

int main(int argc, char **argv) {
    if (argc < 2 || seccomp_deny_mempolicy(EPERM)) return 111;
    execv(argv[1], argv + 1);
    perror("execv");
    return 112;
}
