/* The known-divergence list parser (--known FILE): any bytes load or fail with a message, never crash. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "differ.h"
#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct differ_rules *rules;
	struct differ_known *k = NULL;
	char err[256] = "";
	const char *path = fuzz_file(data, size, ".known");

	if (!path)
		return 0;
	if (!rules && differ_rules_default(&rules) < 0)
		return 0;
	if (differ_known_load(path, &k, err, sizeof(err)) < 0) {
		if (!err[0] || memchr(err, '\n', strlen(err)))
			__builtin_trap(); /* every refusal has a one-line message */
		return 0;
	}
	(void)differ_known_check(k, rules, err, sizeof(err));
	differ_known_set_run(k, "guest.bin", "kvm-emulator", "per-step");
	for (size_t i = 0; i < differ_known_count(k); i++) {
		(void)differ_known_active(k, i);
		(void)strlen(differ_known_steps(k, i));
	}
	differ_known_free(k);
	return 0;
}
