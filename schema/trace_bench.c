/* Trace store figures on a synthetic guest loop (inc rcx; cmp rcx, rdx; jne): bytes per step and the
 * recorder-side cost of trace_append_step. Prints `name value` lines like bench/run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "trace.h"

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts); /* CPU time: the machine is shared and noisy */
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static uint64_t arith_flags(uint64_t res, uint64_t a, uint64_t b, int carry, uint64_t old, int keep_cf)
{
	uint64_t f = X86_RFLAGS_FIXED | (old & X86_RFLAGS_IF);
	if (keep_cf)
		f |= old & X86_RFLAGS_CF;
	else if (carry)
		f |= X86_RFLAGS_CF;
	if (!__builtin_parity((unsigned)(res & 0xff)))
		f |= X86_RFLAGS_PF;
	if ((res ^ a ^ b) & 0x10)
		f |= X86_RFLAGS_AF;
	if (!res)
		f |= X86_RFLAGS_ZF;
	if (res >> 63)
		f |= X86_RFLAGS_SF;
	return f;
}

int main(int argc, char **argv)
{
	uint64_t steps = argc > 1 ? strtoull(argv[1], NULL, 0) : 1000000;
	int with_store = argc > 2 && strcmp(argv[2], "store") == 0;
	char path[] = "/tmp/trace_bench_XXXXXX";
	int fd = mkstemp(path);
	struct trace *t;
	struct x86_state st;
	static uint8_t code[4096] = {0x48, 0xff, 0xc1, 0x48, 0x39, 0xd1, 0x75, 0xf8};

	if (fd < 0)
		return 3;
	close(fd);
	if (trace_create(&t, path, true)) {
		fprintf(stderr, "%s\n", trace_last_open_error());
		return 3;
	}
	x86_state_real(&st, 0, 0x1000, 0x7000);
	st.gpr[X86_RDX] = 1ull << 40;
	trace_put_memory(t, 0x1000, code, sizeof(code));
	double t0 = now_ns();
	for (uint64_t i = 0; i < steps; i++) {
		struct trace_step s = {.index = i, .kind = TRACE_STEP_INSN, .pre = st};
		uint64_t val = st.gpr[X86_RCX];
		struct trace_write w = {.gpa = 0x7000, .len = 8, .data = (const uint8_t *)&val};
		if (with_store && st.rip == 0x1003) {
			s.n_writes = 1;
			s.writes = &w;
		}
		if (trace_append_step(t, &s)) {
			fprintf(stderr, "%s\n", trace_error(t));
			return 1;
		}
		switch (st.rip) {
		case 0x1000: {
			uint64_t a = st.gpr[X86_RCX];
			st.gpr[X86_RCX] = a + 1;
			st.rflags = arith_flags(a + 1, a, 1, 0, st.rflags, 1);
			st.rip = 0x1003;
			break;
		}
		case 0x1003: {
			uint64_t a = st.gpr[X86_RCX], b = st.gpr[X86_RDX];
			st.rflags = arith_flags(a - b, a, b, a < b, st.rflags, 0);
			st.rip = 0x1006;
			break;
		}
		default:
			st.rip = (st.rflags & X86_RFLAGS_ZF) ? 0x1008 : 0x1000;
			break;
		}
	}
	double t1 = now_ns();
	if (trace_finish(t, &st, "bench")) {
		fprintf(stderr, "%s\n", trace_error(t));
		return 1;
	}
	double t2 = now_ns();
	trace_close(t);
	struct stat sb;
	stat(path, &sb);
	printf("trace_append_ns_per_step%s %.1f\n", with_store ? "_store" : "", (t1 - t0) / (double)steps);
	printf("trace_append_finish_ns_per_step%s %.1f\n", with_store ? "_store" : "",
	       (t2 - t0) / (double)steps);
	printf("trace_bytes_per_step%s %.3f\n", with_store ? "_store" : "",
	       (double)sb.st_size / (double)steps);

	/* Read back: every state, forward. */
	if (trace_open(&t, path)) {
		fprintf(stderr, "%s\n", trace_last_open_error());
		return 1;
	}
	struct trace_iter *it;
	struct trace_step s;
	uint64_t n = 0;
	double r0 = now_ns();
	trace_iter_start(t, 0, &it);
	while (trace_iter_next(it, &s) == 1)
		n++;
	double r1 = now_ns();
	trace_iter_end(it);
	printf("trace_iter_ns_per_step%s %.1f\n", with_store ? "_store" : "",
	       (r1 - r0) / (double)(n ? n : 1));
	trace_close(t);
	unlink(path);
	return n == steps ? 0 : 1;
}
