/* Option parsing shared by the subcommands: strict, with one-line errors naming the option. */
#ifndef EMUDIFF_CLI_ARGS_H
#define EMUDIFF_CLI_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The options of replay, diff, bisect and report; each takes the subset it lists as allowed. */
#define CLI_MAX_TRACES 64

struct cli_opts {
	const char *cmd;
	const char *trace;
	const char *traces[CLI_MAX_TRACES];
	size_t n_traces;
	const char *backends_arg;
	const char *backend_arg;
	uint64_t from, to, step;
	bool have_step;
	const char *shard;
	bool continuous;
	unsigned jobs; /* -j/--jobs; 0 when not given */
	const char *out, *json, *junit, *html, *known, *commits;
	bool help;
};

/* Parses a decimal or 0x-prefixed unsigned number; false (with a message on stderr) when malformed. */
bool cli_parse_u64(const char *cmd, const char *option, const char *text, uint64_t *out);
/* The same for a step number (no sign at all), with its own message. */
bool cli_parse_step(const char *cmd, const char *option, const char *text, uint64_t *out);

/* Prints "emudiff CMD: MSG ARG; run 'emudiff CMD --help'" and returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *msg, const char *arg);
/* Whether arg is the option name, alone or (a long option) as "--name=value". */
bool cli_opt_is(const char *arg, const char *name);
/* One option of a subcommand: its name ("-o", "--mem") and whether a value follows it. */
struct cli_optdef {
	const char *name;
	bool takes_value;
};

/* The one option scanner of every subcommand: walks argv[1..] against defs (ended by a NULL name), accepting
 * "--name value" and "--name=value", and calls on_option(arg, name, value) for each option (value NULL for
 * a flag) and on_operand(arg, text) for every other word ("--" ends the options). -h and --help set *help
 * and stop. An unknown option or a missing value is a one-line usage error; a callback's non-zero return
 * stops the walk. 0 or an exit status. */
int cli_scan(const char *cmd, int argc, char **argv, const struct cli_optdef *defs,
             int (*on_option)(void *arg, const char *name, const char *value),
             int (*on_operand)(void *arg, const char *text), void *arg, bool *help);

/* Parses argv[1..] into o, taking only the options in allowed (NULL-terminated); 0 or an exit status. */
int cli_parse_opts(int argc, char **argv, struct cli_opts *o, const char *const *allowed);
/* A trace or results file the user named must be a readable regular file: 0 or an exit status. */
int cli_check_input(const char *cmd, const char *what, const char *path);
/* No output may overwrite an input (the trace or the known list): 0 or an exit status. */
int cli_check_outputs(const struct cli_opts *o, const char *input);
/* "emu,unicorn" into names (pointing into buf): 0 or an exit status. */
int cli_split_backends(const char *cmd, const char *arg, char *buf, size_t len, const char **names,
                       size_t *n);

#endif
