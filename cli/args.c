/* The option parser the replay, diff, bisect and report subcommands share, and number parsing for all:
 * strict, with one-line errors naming the option. */
#include "args.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../replayer/replay.h"
#include "cli.h"

/* A decimal or 0x-prefixed number without a sign (plus_ok: a leading '+' is taken); false when malformed. */
static bool parse_number(const char *text, bool plus_ok, uint64_t *out)
{
	char *end = NULL;
	if (!text || !*text || *text == '-' || (!plus_ok && *text == '+'))
		return false;
	errno = 0;
	unsigned long long v = strtoull(text, &end, 0);
	if (errno || *end)
		return false;
	*out = v;
	return true;
}

bool cli_parse_u64(const char *cmd, const char *option, const char *text, uint64_t *out)
{
	if (parse_number(text, true, out))
		return true;
	fprintf(stderr, "emudiff %s: %s needs a non-negative number (decimal or 0x...), not '%s'\n", cmd,
	        option, text ? text : "");
	return false;
}

bool cli_parse_step(const char *cmd, const char *option, const char *text, uint64_t *out)
{
	if (parse_number(text, false, out))
		return true;
	fprintf(stderr, "emudiff %s: %s: '%s' is not a step number\n", cmd, option, text ? text : "");
	return false;
}

int cli_usage_error(const char *cmd, const char *msg, const char *arg)
{
	fprintf(stderr, "emudiff %s: %s%s%s; run 'emudiff %s --help'\n", cmd, msg, arg ? " " : "",
	        arg ? arg : "", cmd);
	return CLI_EXIT_USAGE;
}

/* Splits "--opt=value" and "--opt value"; returns the value or NULL (message printed). */
static const char *opt_value(const char *cmd, int argc, char **argv, int *i, const char *name)
{
	const char *a = argv[*i];
	size_t n = strlen(name);
	if (a[n] == '=')
		return a + n + 1;
	if (*i + 1 >= argc) {
		fprintf(stderr, "emudiff %s: %s needs a value; run 'emudiff %s --help'\n", cmd, name, cmd);
		return NULL;
	}
	return argv[++*i];
}

bool cli_opt_is(const char *arg, const char *name)
{
	size_t n = strlen(name);
	return !strncmp(arg, name, n) && (arg[n] == 0 || (arg[n] == '=' && name[1] == '-'));
}

/* Parses the options every subcommand shares; 0 or an exit status. */
int cli_parse_opts(int argc, char **argv, struct cli_opts *o, const char *const *allowed)
{
	static const char *const valued[] = {"--backends", "--backend", "--from",  "--to",   "--shard",
	                                     "-o",         "--json",    "--junit", "--html", "--known",
	                                     "--step",     "--commits", NULL};
	memset(o, 0, sizeof(*o));
	o->cmd = argv[0];
	o->to = UINT64_MAX;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			o->help = true;
			return 0;
		}
		if (a[0] != '-' || !a[1]) {
			if (o->n_traces == CLI_MAX_TRACES)
				return cli_usage_error(o->cmd, "too many traces", NULL);
			o->traces[o->n_traces++] = a;
			continue;
		}
		if (!strcmp(a, "--")) {
			for (i++; i < argc && o->n_traces < CLI_MAX_TRACES; i++)
				o->traces[o->n_traces++] = argv[i];
			break;
		}
		const char *name = NULL;
		bool ok = false;
		for (size_t k = 0; allowed[k]; k++) {
			if (cli_opt_is(a, allowed[k])) {
				name = allowed[k];
				ok = true;
				break;
			}
		}
		if (!ok)
			return cli_usage_error(o->cmd, "unknown option", a);
		if (!strcmp(name, "--continuous")) {
			o->continuous = true;
			continue;
		}
		bool needs = false;
		for (size_t k = 0; valued[k]; k++)
			needs |= !strcmp(valued[k], name);
		if (!needs)
			continue;
		const char *v = opt_value(o->cmd, argc, argv, &i, name);
		if (!v)
			return CLI_EXIT_USAGE;
		if (!strcmp(name, "--backends"))
			o->backends_arg = v;
		else if (!strcmp(name, "--backend"))
			o->backend_arg = v;
		else if (!strcmp(name, "--from")) {
			if (!cli_parse_step(o->cmd, name, v, &o->from))
				return CLI_EXIT_USAGE;
		} else if (!strcmp(name, "--to")) {
			if (!cli_parse_step(o->cmd, name, v, &o->to))
				return CLI_EXIT_USAGE;
		} else if (!strcmp(name, "--step")) {
			if (!cli_parse_step(o->cmd, name, v, &o->step))
				return CLI_EXIT_USAGE;
			o->have_step = true;
		} else if (!strcmp(name, "--shard"))
			o->shard = v;
		else if (!strcmp(name, "-o"))
			o->out = v;
		else if (!strcmp(name, "--json"))
			o->json = v;
		else if (!strcmp(name, "--junit"))
			o->junit = v;
		else if (!strcmp(name, "--html"))
			o->html = v;
		else if (!strcmp(name, "--known"))
			o->known = v;
		else if (!strcmp(name, "--commits"))
			o->commits = v;
	}
	if (o->n_traces)
		o->trace = o->traces[0];
	return 0;
}

/* A trace or results file the user named must be a readable regular file. */
int cli_check_input(const char *cmd, const char *what, const char *path)
{
	struct stat sb;
	if (stat(path, &sb) < 0) {
		fprintf(stderr, "emudiff %s: %s: %s%s\n", cmd, path, strerror(errno),
		        errno == ENOENT ? "; check the path" : "");
		return CLI_EXIT_USAGE;
	}
	if (!S_ISREG(sb.st_mode)) {
		fprintf(stderr, "emudiff %s: %s: not a regular file; pass a %s\n", cmd, path, what);
		return CLI_EXIT_USAGE;
	}
	if (access(path, R_OK) < 0) {
		fprintf(stderr, "emudiff %s: %s: %s\n", cmd, path, strerror(errno));
		return CLI_EXIT_USAGE;
	}
	return 0;
}

/* An output that would overwrite an input is refused rather than destroying the trace. */
static bool same_file(const char *a, const char *b)
{
	struct stat sa, sb;
	return a && b && stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

int cli_check_outputs(const struct cli_opts *o, const char *input)
{
	const char *outs[] = {o->out, o->json, o->junit, o->html};
	const char *names[] = {"-o", "--json", "--junit", "--html"};
	for (size_t i = 0; i < 4; i++) {
		if (same_file(outs[i], input) || same_file(outs[i], o->known)) {
			fprintf(stderr, "emudiff %s: %s %s: that is an input file; name a new file\n", o->cmd,
			        names[i], outs[i]);
			return CLI_EXIT_USAGE;
		}
	}
	return 0;
}

/* "emu,unicorn" into names (pointing into buf). */
int cli_split_backends(const char *cmd, const char *arg, char *buf, size_t len, const char **names, size_t *n)
{
	snprintf(buf, len, "%s", arg);
	*n = 0;
	for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!strcmp(tok, "unicorn") || !strcmp(tok, "emu") || !strcmp(tok, "kvm")) {
			if (*n == REPLAY_MAX_BACKENDS)
				return cli_usage_error(cmd, "--backends: too many backends in", arg);
			names[(*n)++] = tok;
			continue;
		}
		fprintf(stderr,
		        "emudiff %s: --backends: unknown backend '%s'; choose from emu, unicorn, kvm\n", cmd,
		        tok);
		return CLI_EXIT_USAGE;
	}
	if (!*n)
		return cli_usage_error(cmd, "--backends: no backend named in", arg[0] ? arg : "''");
	return 0;
}
