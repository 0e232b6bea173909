/* The library's version, for callers to compare with the header's NH_VERSION. */
#include "numaheap.h"

int nh_version(void) {
    return NH_VERSION;
}
