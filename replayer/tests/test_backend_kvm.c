/* The kvm backend re-executes recorded real-mode steps on /dev/kvm. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../replay.h"
#include "synth.h"

struct kvm_seen {
	unsigned n, stepped, matched_regs, diverged_rax;
	uint64_t diverged_steps[16];
	unsigned n_div;
};

static int on_step(void *arg, const struct replay_step_report *r)
{
	struct kvm_seen *s = arg;
	const struct x86_state *e = r->input->expected, *a = &r->result->post;
	s->n++;
	s->stepped += r->result->outcome == BACKEND_STEPPED;
	if (r->result->outcome != BACKEND_STEPPED)
		print_message("step %u: %s\n", (unsigned)r->step, r->result->reason);
	if (a->rip == e->rip && !memcmp(a->gpr, e->gpr, sizeof(a->gpr)) &&
	    (a->rflags & 0xfd5) == (e->rflags & 0xfd5))
		s->matched_regs++;
	if (r->divergence && s->n_div < 16) {
		s->diverged_steps[s->n_div++] = r->step;
		for (uint32_t i = 0; i < r->divergence->n_fields; i++)
			s->diverged_rax += !strcmp(r->divergence->fields[i].field, "rax");
	}
	return 0;
}

static void replay_kvm(enum synth_plant plant, struct kvm_seen *seen)
{
	static const char *kvm_only[] = {"kvm"};
	char *path = synth_tmp(".db"), err[512];
	struct replay_summary sum;
	assert_int_equal(synth_trace(path, plant), 0);
	struct replay_options o = {.trace_path = path,
	                           .backends = kvm_only,
	                           .n_backends = 1,
	                           .to = UINT64_MAX,
	                           .on_step = on_step,
	                           .on_step_arg = seen};
	memset(seen, 0, sizeof(*seen));
	int ret = replay_run(&o, &sum, err, sizeof(err));
	unlink(path);
	free(path);
	if (ret)
		fail_msg("replay_run: %d: %s", ret, err);
}

static void test_kvm_reexecutes_recorded_steps(void **state)
{
	struct kvm_seen seen;
	(void)state;
	replay_kvm(SYNTH_CLEAN, &seen);
	assert_int_equal(seen.n, SYNTH_STEPS);
	assert_int_equal(seen.stepped, SYNTH_STEPS);
	/* GPRs, RIP and the arithmetic flags are what KVM computes for each instruction. */
	assert_int_equal(seen.matched_regs, SYNTH_STEPS);
}

static void test_kvm_finds_planted_rax(void **state)
{
	struct kvm_seen seen;
	(void)state;
	replay_kvm(SYNTH_BAD_RAX_AT_4, &seen);
	assert_int_equal(seen.matched_regs, SYNTH_STEPS - 1);
	bool at4 = false;
	for (unsigned i = 0; i < seen.n_div; i++)
		at4 |= seen.diverged_steps[i] == 4;
	assert_true(at4);
	assert_true(seen.diverged_rax >= 1);
}

/* KVM's store is found through the dirty log (a divergence: the recording has none) and put back. */
static void test_kvm_store_found_and_restored(void **state)
{
	struct kvm_seen seen;
	(void)state;
	replay_kvm(SYNTH_BAD_PUSH, &seen);
	assert_int_equal(seen.n, SYNTH_STEPS);
	assert_int_equal(seen.n_div, 1);
	assert_int_equal(seen.diverged_steps[0], 0);
	assert_int_equal(seen.matched_regs, SYNTH_STEPS);
}

int main(void)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		printf("skipped: /dev/kvm cannot be opened here; the kvm backend needs it\n");
		return 77;
	}
	close(fd);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_kvm_reexecutes_recorded_steps),
	    cmocka_unit_test(test_kvm_finds_planted_rax),
	    cmocka_unit_test(test_kvm_store_found_and_restored),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
