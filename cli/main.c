/* emudiff: the command-line front end. Each subcommand parses its options and calls its module. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct cli_command commands[] = {
    {"record", cli_record, "run a guest on KVM and write a trace"},
    {"info", cli_info, "summarise a trace"},
    {"replay", cli_replay, "replay a trace through the backends and report divergences"},
    {"diff", cli_diff, "one step, every backend side by side"},
    {"bisect", cli_bisect, "first divergent step of a trace, or first diverging commit (--commits)"},
    {"report", cli_report, "render a results database again"},
};

static void usage(FILE *out)
{
	fprintf(out, "usage: emudiff COMMAND [OPTIONS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].help);
	fprintf(out, "\nexit status: 0 no divergence, 1 new divergences, 2 bad usage or input, 3 environment "
	             "lacks something,\n"
	             "130 interrupted (record: the trace is complete up to the signal; replay, report: the "
	             "run is incomplete)\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("emudiff %s\n", EMUDIFF_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "emudiff: unknown command '%s'; run 'emudiff --help' for the list\n", argv[1]);
	return CLI_EXIT_USAGE;
}
