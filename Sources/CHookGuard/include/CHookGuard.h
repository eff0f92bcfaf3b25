// CHookGuard: spawn a hook under a guard process that dies with the agent and takes the
// hook's whole process group with it (issue 15: a demote `sleep 1000` outlived a kill -9
// of its agent). See CHookGuard.c.
#ifndef C_HOOK_GUARD_H
#define C_HOOK_GUARD_H
#include <sys/types.h>

/// Forks a guard that leads a new process group, asks the kernel for SIGUSR2 when the
/// calling thread dies (PR_SET_PDEATHSIG), and runs `path` with `argv`/`envp` as its
/// child, stdin on /dev/null, stdout on `out_fd`, stderr on `err_fd`. The guard exits
/// as the hook did (same status, or killed by the same signal); when the agent dies it
/// SIGKILLs the group. Returns the guard's pid (also the group id), or -errno.
pid_t baton_hook_guard_spawn(const char *path, char *const argv[], char *const envp[], int out_fd, int err_fd);

#endif
