/* emudiff report: a results database rendered again; its --json/--junit/--html files, which replay writes
 * too. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../differ/differ.h"
#include "args.h"
#include "cli.h"

int cli_render_reports(const char *cmd, const char *results, const struct cli_opts *o)
{
	int ret = 0;
	if (o->json && differ_report_json(results, o->json) < 0)
		ret = -EIO;
	if (o->junit && differ_report_junit(results, o->junit) < 0)
		ret = -EIO;
	if (o->html && differ_report_html(results, o->html) < 0)
		ret = -EIO;
	if (ret < 0)
		fprintf(stderr, "emudiff %s: a report could not be written (see above)\n", cmd);
	return ret;
}

/* Several results: the shards of one run, joined into out (a temporary file when out is NULL). */
static int merge_shards(const struct cli_opts *o, char *path, size_t len)
{
	char err[700];
	if (o->out) {
		snprintf(path, len, "%s", o->out);
	} else {
		snprintf(path, len, "%s/emudiff-merged.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
		int fd = mkstemp(path);
		if (fd < 0) {
			fprintf(stderr, "emudiff %s: %s: cannot create a temporary file: %s\n", o->cmd, path,
			        strerror(errno));
			path[0] = '\0';
			return CLI_EXIT_ENVIRONMENT;
		}
		close(fd);
	}
	int ret = differ_results_merge(path, o->traces, o->n_traces, err, sizeof(err));
	if (ret < 0) {
		fprintf(stderr, "emudiff %s: %s\n", o->cmd, err);
		unlink(path);
		path[0] = '\0';
		return ret == -EINVAL ? CLI_EXIT_USAGE : CLI_EXIT_ENVIRONMENT;
	}
	return 0;
}

static int render(const struct cli_opts *o, const char *results)
{
	/* A damaged results file stops here, before any report is written from it. */
	char err[600];
	int ret = differ_results_verify(results, err, sizeof(err));
	if (ret == -EIO)
		fprintf(stderr, "emudiff %s: %s\n", o->cmd, err);
	if (ret < 0)
		return CLI_EXIT_USAGE;
	if (differ_report_text(results, stdout) < 0)
		return CLI_EXIT_USAGE;
	if (cli_render_reports(o->cmd, results, o) < 0)
		return CLI_EXIT_USAGE;
	long n = differ_results_new_count(results);
	int64_t stopped_at;
	int completed = differ_results_completed(results, &stopped_at);
	if (n < 0 || completed < 0)
		return CLI_EXIT_USAGE;
	return !completed ? CLI_EXIT_INTERRUPTED : n ? CLI_EXIT_DIVERGED : CLI_EXIT_OK;
}

int cli_report(int argc, char **argv)
{
	static const char *const allowed[] = {"--html", "--json", "--junit", "-o", NULL};
	struct cli_opts o;
	int status = cli_parse_opts(argc, argv, &o, allowed);

	if (status)
		return status;
	if (o.help) {
		printf("usage: emudiff report RESULTS... [-o MERGED] [--html F] [--json F] [--junit F]\n"
		       "Renders a results database written by 'emudiff replay -o RESULTS' again. Several "
		       "RESULTS\n"
		       "are the shards of one run (replay --shard K/N): they are joined into one report, as "
		       "the\n"
		       "unsharded run's, and into MERGED (-o) when given; shards of different traces or "
		       "options,\n"
		       "overlapping or missing ranges are refused (exit 2).\n"
		       "Exit status 130 when that replay did not finish (interrupted or killed).\n");
		return 0;
	}
	if (!o.n_traces)
		return cli_usage_error(o.cmd, "missing RESULTS", NULL);
	if (o.out && o.n_traces == 1)
		return cli_usage_error(o.cmd, "-o writes the join of several RESULTS; got one:", o.trace);
	for (size_t i = 0; i < o.n_traces; i++) {
		status = cli_check_input(o.cmd, "results database (emudiff replay -o)", o.traces[i]);
		if (!status)
			status = cli_check_outputs(&o, o.traces[i]);
		if (status)
			return status;
	}
	if (o.n_traces == 1)
		return render(&o, o.trace);
	char merged[PATH_MAX];
	status = merge_shards(&o, merged, sizeof(merged));
	if (!status)
		status = render(&o, merged);
	if (merged[0] && !o.out)
		unlink(merged);
	return status;
}
