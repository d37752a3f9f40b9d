// SIGINT / SIGTERM as a request to stop: the handler only records the signal (async-signal
// safe); the front end polls it, stops issuing, drains and prints partial results. A second
// signal asks it to stop waiting for the drain; a third restores the default action and
// re-raises, so an impatient user can always kill the process.
#include "CStorportShim.h"

#include <signal.h>
#include <string.h>

static volatile sig_atomic_t received = 0;
static volatile sig_atomic_t count = 0;

static void on_stop_signal(int sig) {
  if (count >= 2) {
    signal(sig, SIG_DFL);
    raise(sig);
    return;
  }
  if (received == 0) received = sig;
  count = count + 1;
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

int storport_stop_signal_count(void) { return count; }

void storport_reset_stop_signal(void) {
  received = 0;
  count = 0;
}
