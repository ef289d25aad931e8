/* emudiff report: a results database rendered again; its --json/--junit/--html files, which replay writes
 * too. */
#include <errno.h>
#include <stdio.h>

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

int cli_report(int argc, char **argv)
{
	static const char *const allowed[] = {"--html", "--json", "--junit", NULL};
	struct cli_opts o;
	int status = cli_parse_opts(argc, argv, &o, allowed);

	if (status)
		return status;
	if (o.help) {
		printf("usage: emudiff report RESULTS [--html F] [--json F] [--junit F]\n"
		       "Renders a results database written by 'emudiff replay -o RESULTS' again.\n"
		       "Exit status 130 when that replay did not finish (interrupted or killed).\n");
		return 0;
	}
	if (o.n_traces != 1)
		return cli_usage_error(o.cmd,
		                       o.n_traces ? "exactly one RESULTS, got more:" : "missing RESULTS",
		                       o.n_traces > 1 ? o.traces[1] : NULL);
	status = cli_check_input(o.cmd, "results database (emudiff replay -o)", o.trace);
	if (!status)
		status = cli_check_outputs(&o, o.trace);
	if (status)
		return status;
	/* A damaged results file stops here, before any report is written from it. */
	char err[600];
	int ret = differ_results_verify(o.trace, err, sizeof(err));
	if (ret == -EIO)
		fprintf(stderr, "emudiff %s: %s\n", o.cmd, err);
	if (ret < 0)
		return CLI_EXIT_USAGE;
	if (differ_report_text(o.trace, stdout) < 0)
		return CLI_EXIT_USAGE;
	if (cli_render_reports(o.cmd, o.trace, &o) < 0)
		return CLI_EXIT_USAGE;
	long n = differ_results_new_count(o.trace);
	int64_t stopped_at;
	int completed = differ_results_completed(o.trace, &stopped_at);
	if (n < 0 || completed < 0)
		return CLI_EXIT_USAGE;
	return !completed ? CLI_EXIT_INTERRUPTED : n ? CLI_EXIT_DIVERGED : CLI_EXIT_OK;
}
