/* The trace reader on a whole trace file as input (seeds: real traces): no crash, no hang, and every
 * refusal a one-line message. */
#include <stdint.h>

#include "fuzz_file.h"
#include "trace_walk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fuzz_file(data, size, ".trace");

	if (path)
		trace_walk(path);
	return 0;
}
