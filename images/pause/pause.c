/* The sandbox process of the real node's pods (scripts/cluster up --real-node): containerd starts it
 * first in each pod, and the pod's namespaces live as long as it does. It only waits: for SIGTERM or
 * SIGINT, on which it exits 0, and reaps any child that a shared PID namespace hands it. Built static
 * (gcc -static), so its image holds this one file. */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static void leave(int signo) {
  (void)signo;
  _exit(0);
}

static void reap(int signo) {
  (void)signo;
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
}

int main(void) {
  struct sigaction stop = {.sa_handler = leave};
  struct sigaction child = {.sa_handler = reap, .sa_flags = SA_NOCLDSTOP | SA_RESTART};
  if (sigaction(SIGTERM, &stop, NULL) != 0 || sigaction(SIGINT, &stop, NULL) != 0 ||
      sigaction(SIGCHLD, &child, NULL) != 0) {
    return 1;
  }
  for (;;) {
    pause();
  }
}
