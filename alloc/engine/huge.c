/* Huge objects (above LARGE_MAX, and every large object): a span of whole segments each, with
 * the segment header in front of the object. Owned by no thread, so any thread frees one
 * straight into its region's span cache. An object aligned to a segment or more has its header
 * in the segment just before it. */
#include "nhe.h"

#include <errno.h>
#include <string.h>

#define MAX_HUGE ((size_t)1 << 46)

void *huge_alloc(region_t *r, size_t size, size_t align, bool zero) {
    if (!r || size > MAX_HUGE || align > MAX_HUGE) return errno = ENOMEM, NULL;
    size = (size + NH_PAGE - 1) & ~(NH_PAGE - 1);
    if (!size) size = NH_PAGE;
    size_t off = align <= SMALL_HEADER ? SMALL_HEADER : align; /* worst-case object offset */
    uint32_t nsegs = (uint32_t)((off + size + SEG_MASK) >> SEG_SHIFT);
    bool fresh;
    uintptr_t span = span_alloc(r, nsegs, &fresh);
    if (!span) return errno = ENOMEM, NULL;
    uintptr_t obj = span + SMALL_HEADER;
    if (align > SMALL_HEADER && align < SEG_SIZE) obj = span + align;
    if (align >= SEG_SIZE) obj = (span + SEG_SIZE + align - 1) & ~(uintptr_t)(align - 1);
    segment_t *s = nhe_seg_of(align >= SEG_SIZE ? obj - SEG_SIZE : span);
    if (!fresh) memset(s, 0, offsetof(segment_t, pages) + sizeof(page_t));
    s->cookie = (uintptr_t)s ^ nhe_secret;
    s->kind = SEG_HUGE;
    s->page_shift = HUGE_PAGE_SHIFT;
    s->npages = 1;
    s->nsegs = nsegs;
    s->node = r->node;
    s->region = r;
    s->span_base = span;
    s->huge_obj = obj;
    s->huge_size = size;
    span_register(s);
    if (zero && !fresh) memset((void *)obj, 0, size);
    return (void *)obj;
}

void huge_free(segment_t *s) {
    span_unregister(s);
    s->cookie = 0; /* a second free of the object is now an invalid one */
    span_free(s->region, s->span_base, s->nsegs, true);
}

segment_t *huge_aligned_header(uintptr_t p) {
    if (p - SEG_SIZE - region_map.base >= region_map.size) return NULL;
    segment_t *s = nhe_seg_of(p - SEG_SIZE);
    if (region_node_of(s) != region_node_of((void *)p)) return NULL;
    return s->cookie == ((uintptr_t)s ^ nhe_secret) && s->kind == SEG_HUGE && s->huge_obj == p
               ? s
               : NULL;
}
