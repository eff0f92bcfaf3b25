/* malloc_count.so: counts heap allocations of a process it is preloaded into, and
 * writes "mallocs N" to stderr on SIGUSR2. For bench/api-alloc only. It forwards to
 * glibc's __libc_* entry points, so nothing runs before it is ready. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static atomic_ulong count;

static void report(int sig) {
    (void)sig;
    char line[64];
    int n = snprintf(line, sizeof line, "mallocs %lu\n", (unsigned long)atomic_load(&count));
    write(2, line, n);
}

__attribute__((constructor)) static void init(void) { signal(SIGUSR2, report); }

void *malloc(size_t n) { atomic_fetch_add(&count, 1); return __libc_malloc(n); }
void *calloc(size_t a, size_t b) { atomic_fetch_add(&count, 1); return __libc_calloc(a, b); }
void *realloc(void *p, size_t n) { atomic_fetch_add(&count, 1); return __libc_realloc(p, n); }
int posix_memalign(void **p, size_t a, size_t n) {
    atomic_fetch_add(&count, 1);
    *p = __libc_memalign(a, n);
    return *p ? 0 : 12; /* ENOMEM */
}
void *aligned_alloc(size_t a, size_t n) { atomic_fetch_add(&count, 1); return __libc_memalign(a, n); }
void *memalign(size_t a, size_t n) { atomic_fetch_add(&count, 1); return __libc_memalign(a, n); }
void free(void *p) { __libc_free(p); }
