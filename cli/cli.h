/* The subcommands of the emudiff binary and the exit statuses they share. */
#ifndef EMUDIFF_CLI_H
#define EMUDIFF_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

enum cli_exit {
	CLI_EXIT_OK = 0,           /* no divergence beyond the known list */
	CLI_EXIT_DIVERGED = 1,     /* new divergences */
	CLI_EXIT_USAGE = 2,        /* bad usage or bad input */
	CLI_EXIT_ENVIRONMENT = 3,  /* no /dev/kvm, no permission, missing library */
	CLI_EXIT_INTERRUPTED = 130 /* SIGINT/SIGTERM: what was written is whole up to where it stopped */
};

struct cli_command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
};

int cli_record(int argc, char **argv);
int cli_info(int argc, char **argv);
int cli_replay(int, char **);
int cli_diff(int, char **);
int cli_bisect(int, char **);
int cli_report(int, char **);

/* Shared by the subcommands that replay: a progress bar on a terminal, a replay error as a message and an
 * exit status, the --json/--junit/--html reports of a results database. */
struct cli_progress {
	struct timespec start;
	bool shown;
	int last_pct;
};

void cli_progress_bar(void *arg, uint64_t done, uint64_t total);
int cli_replay_error(const char *cmd, int ret, const char *err);
struct cli_opts;
/* 0, or -EIO with a message on stderr when a report could not be written. */
int cli_render_reports(const char *cmd, const char *results, const struct cli_opts *o);

#endif
