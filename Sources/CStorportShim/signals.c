// SIGINT / SIGTERM as a request to stop: the handler only records the signal (async-signal
// safe); the front end polls it, stops issuing, drains and prints partial results. A second
// signal of either kind while the first is being handled restores the default action, so an
// impatient user can still kill the process.
#include "CStorportShim.h"

#include <signal.h>
#include <string.h>

static volatile sig_atomic_t received = 0;

static void on_stop_signal(int sig) {
  if (received != 0) {
    signal(sig, SIG_DFL);
    raise(sig);
    return;
  }
  received = sig;
}

int storport_install_stop_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGINT, &sa, 0) != 0) return -1;
  if (sigaction(SIGTERM, &sa, 0) != 0) return -1;
  return 0;
}

int storport_stop_signal(void) { return received; }

void storport_reset_stop_signal(void) { received = 0; }
