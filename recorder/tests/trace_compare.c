/* Recorder tests: two traces hold the same steps (kinds, states, written bytes, inputs). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../schema/trace.h"
#include "trace_compare.h"

unsigned long long trace_compare_steps(const char *path_a, const char *path_b)
{
	struct trace *ta, *tb;
	struct trace_iter *ia, *ib;
	struct trace_step sa, sb;
	unsigned long long n = 0;

	assert_int_equal(trace_open(&ta, path_a), 0);
	assert_int_equal(trace_open(&tb, path_b), 0);
	assert_int_equal(trace_step_count(ta), trace_step_count(tb));
	assert_int_equal(trace_iter_start(ta, 0, &ia), 0);
	assert_int_equal(trace_iter_start(tb, 0, &ib), 0);
	for (;;) {
		int ra = trace_iter_next(ia, &sa), rb = trace_iter_next(ib, &sb);
		assert_int_equal(ra, rb);
		if (ra != 1)
			break;
		assert_int_equal(sa.kind, sb.kind);
		assert_memory_equal(&sa.pre, &sb.pre, sizeof(sa.pre));
		assert_int_equal(sa.n_writes, sb.n_writes);
		for (uint32_t w = 0; w < sa.n_writes; w++) {
			assert_int_equal(sa.writes[w].gpa, sb.writes[w].gpa);
			assert_int_equal(sa.writes[w].len, sb.writes[w].len);
			assert_memory_equal(sa.writes[w].data, sb.writes[w].data, sa.writes[w].len);
		}
		assert_int_equal(sa.n_inputs, sb.n_inputs);
		if (sa.n_inputs)
			assert_memory_equal(sa.inputs, sb.inputs, sa.n_inputs * sizeof(sa.inputs[0]));
		n++;
	}
	assert_int_equal(n, trace_step_count(ta));
	trace_iter_end(ia);
	trace_iter_end(ib);
	trace_close(ta);
	trace_close(tb);
	return n;
}
