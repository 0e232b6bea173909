/* libFuzzer target for the policy and node-list parsers: any input must give 0 or a defined
 * error, never a crash; anything accepted must format and parse back to the same policy. */
#include "policy_internal.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char text[16384];
    if (size >= sizeof text) size = sizeof text - 1;
    memcpy(text, data, size);
    text[size] = '\0';
    const topo_t *t = topo_get();

    nh_policy_t p, q;
    nh_error_t err;
    int rc = policy_parse(text, t, &p, &err);
    if (rc < 0 || rc >= NH_ERR_COUNT_) abort();
    if (rc == 0) {
        static char buf[16384];
        policy_format(&p, buf, sizeof buf);
        if (policy_parse(buf, t, &q, &err) || !nh_policy_equal(&p, &q)) abort();
    } else if (err.pos < -1 || err.pos > (int)size || !err.msg[0]) {
        abort();
    }

    nh_nodemask_t m;
    rc = nodemask_parse(text, 0, strlen(text), t, &m, &err);
    if (rc < 0 || rc >= NH_ERR_COUNT_) abort();

    /* OCI: "MODE\nNODES\nFLAG\nFLAG..." */
    char *fields[8] = {0};
    int nf = 0;
    for (char *s = text, *e; nf < 8 && s; s = e ? e + 1 : NULL) {
        e = strchr(s, '\n');
        if (e) *e = '\0';
        fields[nf++] = s;
    }
    rc = policy_from_oci(fields[0], nf > 1 ? fields[1] : NULL, (const char *const *)fields + 2,
                         nf > 2 ? (size_t)(nf - 2) : 0, t, &p, &err);
    if (rc < 0 || rc >= NH_ERR_COUNT_) abort();
    return 0;
}
