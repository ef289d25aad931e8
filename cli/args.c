#include "args.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

bool cli_parse_u64(const char *cmd, const char *option, const char *text, uint64_t *out)
{
	char *end = NULL;
	errno = 0;
	if (!text || !*text || *text == '-')
		goto bad;
	unsigned long long v = strtoull(text, &end, 0);
	if (errno || *end)
		goto bad;
	*out = v;
	return true;
bad:
	fprintf(stderr, "emudiff %s: %s needs a non-negative number (decimal or 0x...), not '%s'\n", cmd,
	        option, text ? text : "");
	return false;
}
