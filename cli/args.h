/* Option-value parsing shared by the subcommands: strict, with one-line errors naming the option. */
#ifndef EMUDIFF_CLI_ARGS_H
#define EMUDIFF_CLI_ARGS_H

#include <stdbool.h>
#include <stdint.h>

/* Parses a decimal or 0x-prefixed unsigned number; false (with a message on stderr) when malformed. */
bool cli_parse_u64(const char *cmd, const char *option, const char *text, uint64_t *out);

#endif
