/* fsyncfail.so — an LD_PRELOAD shim that makes fsync(2) and fdatasync(2) fail with EIO
 * while the file named by $BFZ_FSYNC_FLAG exists, so the fault harness can break one
 * node's disk flushes from outside and heal them by removing the file. Everything else
 * (and every flush while the flag file is absent) goes to the real libc call. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

static int flag_present(void) {
    const char *flag = getenv("BFZ_FSYNC_FLAG");
    return flag != NULL && access(flag, F_OK) == 0;
}

int fsync(int fd) {
    static int (*real)(int);
    if (flag_present()) { errno = EIO; return -1; }
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    return real(fd);
}

int fdatasync(int fd) {
    static int (*real)(int);
    if (flag_present()) { errno = EIO; return -1; }
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    return real(fd);
}
