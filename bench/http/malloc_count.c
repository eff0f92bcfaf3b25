// malloc_count.c: an LD_PRELOAD shim that counts heap allocations, for bench/http.
//
// Why a shared file and not a signal: the server under test may block signals or own them
// through signalfd, so a SIGUSR2 handler could never run. Instead the counters live in a
// file mapped MAP_SHARED (path in MALLOC_COUNT_FILE); the harness reads the file whenever
// it likes, without disturbing the process. Counters are updated with relaxed atomics, so a
// read is a consistent-enough snapshot of monotonically increasing values.
//
// Allocation is forwarded to glibc's exported __libc_* entry points instead of dlsym(RTLD_NEXT):
// dlsym itself allocates, which would recurse into this shim before it is initialised.
// A binary built with --static-swift-stdlib still links glibc dynamically, so the Swift
// runtime's malloc/posix_memalign/aligned_alloc calls are interposed too.
//
// Layout of the file: 8 little-endian uint64 counters, in this order:
//   malloc, calloc, realloc, aligned (posix_memalign, aligned_alloc, memalign, valloc,
//   pvalloc), free (non-NULL), bytes requested, magic (0x6d616c6c6f63), pid of the last writer.
//
// Build: gcc -O2 -shared -fPIC -o malloc_count.so malloc_count.c
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *pointer, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);
extern void __libc_free(void *pointer);

enum { counterMalloc, counterCalloc, counterRealloc, counterAligned, counterFree, counterBytes, counterMagic, counterPid, counterCount };

// Counts made before the constructor ran (the dynamic loader may allocate) go here first and
// are copied into the shared file once it is mapped.
static uint64_t bootstrapCounters[counterCount];
static uint64_t *counters = bootstrapCounters;

static inline void count(int which, size_t bytes) {
    __atomic_fetch_add(&counters[which], 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&counters[counterBytes], (uint64_t)bytes, __ATOMIC_RELAXED);
}

__attribute__((constructor)) static void mallocCountInit(void) {
    const char *path = getenv("MALLOC_COUNT_FILE");
    if (path == NULL || path[0] == '\0') return;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return;
    size_t length = sizeof(uint64_t) * counterCount;
    if (ftruncate(fd, (off_t)length) != 0) { close(fd); return; }
    void *mapped = mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (mapped == MAP_FAILED) return;
    uint64_t *shared = mapped;
    for (int i = 0; i < counterCount; i++) {
        shared[i] = __atomic_load_n(&bootstrapCounters[i], __ATOMIC_RELAXED);
    }
    shared[counterMagic] = 0x6d616c6c6f63ULL;
    shared[counterPid] = (uint64_t)getpid();
    __atomic_store_n(&counters, shared, __ATOMIC_RELEASE);
}

void *malloc(size_t size) {
    count(counterMalloc, size);
    return __libc_malloc(size);
}

void *calloc(size_t countOfItems, size_t size) {
    count(counterCalloc, countOfItems * size);
    return __libc_calloc(countOfItems, size);
}

void *realloc(void *pointer, size_t size) {
    count(counterRealloc, size);
    return __libc_realloc(pointer, size);
}

void free(void *pointer) {
    if (pointer != NULL) __atomic_fetch_add(&counters[counterFree], 1, __ATOMIC_RELAXED);
    __libc_free(pointer);
}

static int isPowerOfTwo(size_t value) { return value != 0 && (value & (value - 1)) == 0; }

int posix_memalign(void **result, size_t alignment, size_t size) {
    count(counterAligned, size);
    if (!isPowerOfTwo(alignment) || alignment % sizeof(void *) != 0) return EINVAL;
    void *pointer = __libc_memalign(alignment, size);
    if (pointer == NULL && size != 0) return ENOMEM;
    *result = pointer;
    return 0;
}

void *aligned_alloc(size_t alignment, size_t size) {
    count(counterAligned, size);
    if (!isPowerOfTwo(alignment)) { errno = EINVAL; return NULL; }
    return __libc_memalign(alignment, size);
}

void *memalign(size_t alignment, size_t size) {
    count(counterAligned, size);
    return __libc_memalign(alignment, size);
}

void *valloc(size_t size) {
    count(counterAligned, size);
    return __libc_memalign((size_t)sysconf(_SC_PAGESIZE), size);
}

void *pvalloc(size_t size) {
    count(counterAligned, size);
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    return __libc_memalign(page, (size + page - 1) / page * page);
}
