/* The rules table parser (classes.tsv, --rules FILE): any bytes load or fail with a message, never crash. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "differ.h"
#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct differ_rules *rules = NULL;
	char err[256] = "";
	const char *path = fuzz_file(data, size, ".tsv");

	if (!path)
		return 0;
	if (differ_rules_load(path, &rules, err, sizeof(err)) < 0) {
		if (!err[0] || memchr(err, '\n', strlen(err)))
			__builtin_trap(); /* every refusal has a one-line message */
		return 0;
	}
	for (size_t i = 0; i < differ_rules_count(rules); i++) {
		(void)strlen(differ_rules_class(rules, i));
		(void)differ_rules_line(rules, i);
	}
	differ_rules_free(rules);
	return 0;
}
