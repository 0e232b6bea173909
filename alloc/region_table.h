/* The region table: how a process using numaheap describes its regions to tools outside it
 * when the kernel cannot name mappings (no CONFIG_ANON_VMA_NAME). The library writes it once
 * at init into a one-page memfd mapped shared and read-only, which /proc/PID/maps lists as
 * "/memfd:numaheap-regions (deleted)"; tools/ reads it at that address through /proc/PID/mem.
 * This layout is an interface between builds: change it only with a new version. */
#ifndef NH_REGION_TABLE_H
#define NH_REGION_TABLE_H

#include <stdint.h>

#define NH_REGION_TABLE_NAME    "numaheap-regions"
#define NH_REGION_TABLE_MAGIC   0x73676572686d756eull /* "numhregs" in memory, little-endian */
#define NH_REGION_TABLE_VERSION 1u
#define NH_REGION_TABLE_SIZE    4096u /* one page, whatever the page size */
/* node of the large objects' region: spread over nodes, no single home */
#define NH_REGION_TABLE_SPREAD (-2)

typedef struct nh_region_entry {
    uint64_t start, end; /* [start, end), page-aligned */
    int32_t node;        /* home node, or NH_REGION_TABLE_SPREAD */
    uint32_t reserved;   /* 0 */
} nh_region_entry_t;

typedef struct nh_region_table {
    uint64_t magic;
    uint32_t version;
    uint32_t count;      /* entries that follow */
    uint32_t entry_size; /* sizeof(nh_region_entry_t), so readers can check it */
    uint32_t reserved;   /* 0 */
    nh_region_entry_t entries[];
} nh_region_table_t;

#define NH_REGION_TABLE_MAX                                                                        \
    ((NH_REGION_TABLE_SIZE - sizeof(nh_region_table_t)) / sizeof(nh_region_entry_t))

#endif /* NH_REGION_TABLE_H */
