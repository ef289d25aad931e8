/* SIGINT and SIGTERM end a recording cleanly: the trace is complete up to the step where one came. */
#include <signal.h>
#include <stdbool.h>
#include <time.h>

#include "private.h"

static volatile sig_atomic_t stop_signal;

static void rec_on_signal(int sig)
{
	stop_signal = sig;
}

/* KVM_RUN ended by a signal: the stop signals are blocked again once it returns (KVM_SET_SIGNAL_MASK),
 * so one that ended it is still pending here; take it. True when a stop was asked. */
bool rec_poll_signal(void)
{
	sigset_t set;
	struct timespec zero = {0, 0};
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	int sig = sigtimedwait(&set, NULL, &zero);
	if (sig > 0)
		stop_signal = sig;
	return stop_signal != 0;
}

int rec_stop_signal(void)
{
	return stop_signal;
}

/* SIGINT/SIGTERM are blocked except inside KVM_RUN: one that comes while the host works stays pending
 * and ends the next KVM_RUN at once, so a guest that never exits cannot hide it. Handled from before
 * the trace exists, so a signal that comes as soon as the file appears still ends the recording
 * cleanly. */
void rec_signals_install(struct rec *r, struct rec_signals *s)
{
	struct sigaction sa = {.sa_handler = rec_on_signal};
	sigset_t stop, run_mask;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &s->old_int);
	sigaction(SIGTERM, &sa, &s->old_term);
	s->installed = true;
	stop_signal = 0;
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	sigprocmask(r->engine->run_sigmask ? SIG_BLOCK : SIG_UNBLOCK, &stop, &s->old_mask);
	run_mask = s->old_mask;
	sigdelset(&run_mask, SIGINT);
	sigdelset(&run_mask, SIGTERM);
	if (r->engine->run_sigmask && r->engine->run_sigmask(r, &run_mask))
		sigprocmask(SIG_SETMASK, &s->old_mask, NULL); /* without it: handled anywhere, as before */
}

void rec_signals_restore(struct rec_signals *s)
{
	if (!s->installed)
		return;
	sigprocmask(SIG_SETMASK, &s->old_mask, NULL);
	sigaction(SIGINT, &s->old_int, NULL);
	sigaction(SIGTERM, &s->old_term, NULL);
}
