/* Recorder tests: two traces hold the same steps (kinds, states, written bytes, inputs). */
#ifndef EMUDIFF_RECORDER_TESTS_TRACE_COMPARE_H
#define EMUDIFF_RECORDER_TESTS_TRACE_COMPARE_H

/* Fails the current cmocka test at the first difference; returns the number of steps compared. */
unsigned long long trace_compare_steps(const char *path_a, const char *path_b);

#endif
