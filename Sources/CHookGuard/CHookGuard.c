// The guard between the agent and a hook. Written in C because everything between fork()
// and exec() in a child of a multi-threaded process must be async-signal-safe, and the
// guard never execs: it uses only fork, setpgid, prctl, sigaction, sigprocmask, dup2,
// open, close_range/close, execve, waitpid, kill and _exit.
//
// Why a guard rather than PR_SET_PDEATHSIG on the hook itself: the death signal reaches
// only the direct child, while a hook is often `sh -c '…'` with children of its own. The
// guard leads the process group and kills all of it. It ignores SIGTERM/SIGINT/SIGHUP, so
// the agent's SIGTERM to the group on a timeout reaches the hook but leaves the guard to
// report how the hook ended; the agent's SIGKILL ends everything.
#define _GNU_SOURCE
#include "CHookGuard.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_agent_death(int sig) {
    (void)sig;
    kill(0, SIGKILL);  // the whole group: the hook, its children, and this guard
    _exit(137);
}

static void close_from(int first) {
#ifdef SYS_close_range
    if (syscall(SYS_close_range, (unsigned)first, ~0u, 0) == 0) return;
#endif
    for (int fd = first; fd < 65536; fd++) close(fd);
}

static void default_signals(void) {
    struct sigaction dfl = {0};
    dfl.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; s++) {
        if (s == SIGKILL || s == SIGSTOP) continue;
        sigaction(s, &dfl, NULL);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

pid_t baton_hook_guard_spawn(const char *path, char *const argv[], char *const envp[], int out_fd, int err_fd) {
    pid_t agent = getpid();
    // Block every signal across fork, so no handler of the agent runs in the guard.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid_t guard = fork();
    if (guard != 0) {
        int saved = errno;
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        return guard < 0 ? -saved : guard;
    }

    // The guard. First its own group, so a timeout can signal the hook's whole tree.
    setpgid(0, 0);
    default_signals();
    sigprocmask(SIG_SETMASK, &all, NULL);  // nothing arrives until the handlers are set
    struct sigaction death = {0};
    death.sa_handler = on_agent_death;
    sigfillset(&death.sa_mask);
    sigaction(SIGUSR2, &death, NULL);
    if (prctl(PR_SET_PDEATHSIG, SIGUSR2) != 0) _exit(126);
    if (getppid() != agent) _exit(137);  // the agent died before prctl: nothing to run

    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null < 0 || dup2(null, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0) _exit(126);
    close_from(3);  // none of the agent's sockets, locks or pipes stay open in the guard

    pid_t hook = fork();
    if (hook < 0) _exit(126);
    if (hook == 0) {
        default_signals();  // the hook starts clean: default handlers, nothing blocked
        execve(path, argv, envp);
        _exit(errno == ENOENT ? 127 : 126);
    }
    struct sigaction ignore = {0};
    ignore.sa_handler = SIG_IGN;
    sigaction(SIGTERM, &ignore, NULL);
    sigaction(SIGINT, &ignore, NULL);
    sigaction(SIGHUP, &ignore, NULL);
    sigset_t only_death;
    sigfillset(&only_death);
    sigdelset(&only_death, SIGUSR2);
    sigprocmask(SIG_SETMASK, &only_death, NULL);

    int status = 0;
    while (waitpid(hook, &status, 0) < 0) {
        if (errno != EINTR) _exit(126);
    }
    if (WIFEXITED(status)) _exit(WEXITSTATUS(status));
    int sig = WIFSIGNALED(status) ? WTERMSIG(status) : SIGKILL;
    // End the same way, so the agent sees "killed by signal N" as before.
    struct sigaction dfl = {0};
    dfl.sa_handler = SIG_DFL;
    sigaction(sig, &dfl, NULL);
    sigset_t just;
    sigemptyset(&just);
    sigaddset(&just, sig);
    sigprocmask(SIG_UNBLOCK, &just, NULL);
    kill(getpid(), sig);
    _exit(128 + sig);
}
