/* A recorder killed by SIGKILL at any moment leaves a trace that opens and reads exactly up to its last
 * committed chunk. */
// clang-format off
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
// clang-format on

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "trace.h"

static char dir[] = "/tmp/emudiff_trace_kill_XXXXXX";

static int sparse_steps(uint64_t s)
{
	uint64_t b = s % TRACE_BATCH_STEPS;
	return b < 2 || b > TRACE_BATCH_STEPS - 2 || gen_mix(6, s) % 2000 == 0;
}

struct exit_check {
	uint64_t seed, count, seen;
	int bad;
};

static int check_exit(void *arg, const struct trace_exit *e)
{
	struct exit_check *c = arg;
	struct trace_exit want = gen_exit(c->seed, e->step);
	/* Only exits of steps the trace holds, each as written. */
	if (e->step % 100 != 7 || memcmp(e, &want, sizeof(want)) != 0 || e->step >= c->count)
		c->bad++;
	c->seen++;
	return 0;
}

static void run_child(const char *path, uint64_t seed, int ready_fd)
{
	struct trace *t;
	if (trace_create(&t, path, true))
		_exit(2);
	if (write(ready_fd, "r", 1) != 1)
		_exit(2);
	/* Forever, for the test's purpose: far more steps than the parent lets it write. */
	gen_write(t, seed, UINT64_MAX / 2, 0);
	_exit(1);
}

/* Steps committed so far, read by a concurrent reader as `emudiff info` would. */
static uint64_t committed_steps(const char *path)
{
	struct trace *t;
	if (trace_open(&t, path))
		return 0;
	uint64_t n = trace_step_count(t);
	trace_close(t);
	return n;
}

static void test_sigkill(void **state)
{
	/* Kill once the writer has committed min_chunks chunks, extra_ms later: mid-chunk, mid-commit. */
	static const struct {
		uint64_t min_chunks;
		int extra_ms;
	} rounds[] = {{0, 5}, {1, 0}, {1, 9}, {2, 3}, {3, 17}, {5, 1}};
	(void)state;

	for (size_t k = 0; k < sizeof(rounds) / sizeof(rounds[0]); k++) {
		char path[300];
		uint64_t seed = 100 + k;
		int fds[2];
		snprintf(path, sizeof(path), "%s/kill%zu.trace", dir, k);
		assert_int_equal(pipe(fds), 0);
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(fds[0]);
			run_child(path, seed, fds[1]);
		}
		close(fds[1]);
		char c;
		assert_int_equal(read(fds[0], &c, 1), 1);
		close(fds[0]);
		struct timespec poll = {0, 10 * 1000000L};
		for (int waited = 0; committed_steps(path) < rounds[k].min_chunks * TRACE_BATCH_STEPS;
		     waited++) {
			if (waited > 12000)
				fail_msg("the writer committed nothing in two minutes");
			nanosleep(&poll, NULL);
		}
		struct timespec ts = {0, rounds[k].extra_ms * 1000000L};
		nanosleep(&ts, NULL);
		assert_int_equal(kill(pid, SIGKILL), 0);
		int status;
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

		struct trace *t;
		if (trace_open(&t, path))
			fail_msg("killed in round %zu: %s", k, trace_last_open_error());
		assert_false(trace_is_complete(t));
		uint64_t count = trace_step_count(t);
		print_message("round %zu: killed with %llu steps readable\n", k, (unsigned long long)count);
		assert_true(count >= rounds[k].min_chunks * TRACE_BATCH_STEPS);
		if (count == 0) {
			struct x86_state x;
			int rc = trace_state_at(t, 0, &x);
			/* Either nothing committed, or one chunk whose end state was unknown. */
			assert_true(rc == -ENOENT || rc == 0);
		} else {
			/* Whole chunks: the writer commits every TRACE_BATCH_STEPS steps with the next state.
			 */
			assert_int_equal(count % TRACE_BATCH_STEPS, 0);
			assert_int_equal(check_trace(t, seed, count, 997, sparse_steps), 0);
			struct exit_check ec = {.seed = seed, .count = count};
			assert_int_equal(trace_foreach_exit(t, check_exit, &ec), 0);
			assert_int_equal(ec.bad, 0);
			assert_int_equal(ec.seen, (count + 92) / 100);
			struct trace_stats st;
			assert_int_equal(trace_stats(t, &st), 0);
			assert_int_equal(st.steps, count);
			assert_int_equal(st.exits, ec.seen);
			assert_int_equal(st.insn_steps + st.run_steps + st.fallback_steps, count);
			struct trace_step s;
			assert_int_equal(trace_step_at(t, count, &s), -ERANGE);
		}
		trace_close(t);
	}
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[300];
	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(test_sigkill)};
	return cmocka_run_group_tests(tests, setup, teardown);
}
