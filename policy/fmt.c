/* Text formatting without malloc, stdio or locale: used for error messages and diagnostics on
 * paths that may run inside malloc (glibc's printf family can allocate and take locks). */
#include "policy_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <unistd.h>

typedef struct out {
    char *buf;
    size_t len;
    size_t pos; /* may exceed len: counts what the full text needs */
} out_t;

static void put(out_t *o, char c) {
    if (o->pos + 1 < o->len) o->buf[o->pos] = c;
    o->pos++;
}

static void put_str(out_t *o, const char *s) {
    if (!s) s = "(null)";
    while (*s)
        put(o, *s++);
}

/* Pads the field written since start to width: spaces after it, or shifted right. */
static void pad(out_t *o, size_t start, int width, bool left) {
    size_t n = o->pos - start;
    if ((size_t)width <= n) return;
    size_t extra = (size_t)width - n;
    for (size_t i = 0; i < extra; i++)
        put(o, ' ');
    if (left) return;
    for (size_t i = o->pos; i-- > start + extra;) /* move the field right, spaces in front */
        if (i < o->len && i - extra < o->len) o->buf[i] = o->buf[i - extra];
    for (size_t i = start; i < start + extra && i < o->len; i++)
        o->buf[i] = ' ';
}

static void put_u64(out_t *o, unsigned long long v, unsigned base) {
    char tmp[24];
    int n = 0;
    do {
        unsigned d = (unsigned)(v % base);
        tmp[n++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
        v /= base;
    } while (v);
    while (n)
        put(o, tmp[--n]);
}

static void put_i64(out_t *o, long long v) {
    if (v < 0) {
        put(o, '-');
        put_u64(o, 0ull - (unsigned long long)v, 10);
    } else {
        put_u64(o, (unsigned long long)v, 10);
    }
}

int fmt_vbuf(char *buf, size_t len, const char *fmt, va_list ap) {
    out_t o = {buf, len, 0};
    for (const char *f = fmt; *f; f++) {
        if (*f != '%') {
            put(&o, *f);
            continue;
        }
        f++;
        bool left = *f == '-';
        if (left) f++;
        int width = 0;
        while (*f >= '0' && *f <= '9')
            width = width * 10 + (*f++ - '0');
        size_t start = o.pos;
        int lng = 0, sz = 0;
        while (*f == 'l')
            lng++, f++;
        if (*f == 'z') sz = 1, f++;
        switch (*f) {
        case 's':
            put_str(&o, va_arg(ap, const char *));
            break;
        case 'c':
            put(&o, (char)va_arg(ap, int));
            break;
        case 'd':
            if (sz)
                put_i64(&o, va_arg(ap, ssize_t));
            else if (lng >= 2)
                put_i64(&o, va_arg(ap, long long));
            else if (lng == 1)
                put_i64(&o, va_arg(ap, long));
            else
                put_i64(&o, va_arg(ap, int));
            break;
        case 'u':
        case 'x':
            if (sz)
                put_u64(&o, va_arg(ap, size_t), *f == 'x' ? 16 : 10);
            else if (lng >= 2)
                put_u64(&o, va_arg(ap, unsigned long long), *f == 'x' ? 16 : 10);
            else if (lng == 1)
                put_u64(&o, va_arg(ap, unsigned long), *f == 'x' ? 16 : 10);
            else
                put_u64(&o, va_arg(ap, unsigned), *f == 'x' ? 16 : 10);
            break;
        case 'p':
            put_str(&o, "0x");
            put_u64(&o, (unsigned long long)(uintptr_t)va_arg(ap, void *), 16);
            break;
        case '%':
            put(&o, '%');
            break;
        case '\0':
            f--;
            break;
        default:
            put(&o, '%');
            put(&o, *f);
        }
        pad(&o, start, width, left);
    }
    if (len) buf[o.pos < len ? o.pos : len - 1] = '\0';
    return (int)o.pos;
}

int fmt_buf(char *buf, size_t len, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = fmt_vbuf(buf, len, fmt, ap);
    va_end(ap);
    return n;
}

void fmt_fd(int fd, const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = fmt_vbuf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n >= (int)sizeof buf) n = (int)sizeof buf - 1;
    int saved = errno; /* diagnostics must not disturb the caller's errno */
    ssize_t w = write(fd, buf, (size_t)n);
    (void)w;
    errno = saved;
}

bool fmt_parse_u64(const char *s, size_t n, uint64_t max, uint64_t *out) {
    if (n == 0) return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (max - d) / 10) return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}
