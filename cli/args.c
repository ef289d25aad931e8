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

int cli_scan(const char *cmd, int argc, char **argv, const struct cli_optdef *defs,
             int (*on_option)(void *arg, const char *name, const char *value),
             int (*on_operand)(void *arg, const char *text), void *arg, bool *help)
{
	int rc;
	*help = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			*help = true;
			return 0;
		}
		if (!strcmp(a, "--")) {
			for (i++; i < argc; i++)
				if ((rc = on_operand(arg, argv[i])))
					return rc;
			break;
		}
		if (a[0] != '-' || !a[1]) {
			if ((rc = on_operand(arg, a)))
				return rc;
			continue;
		}
		const struct cli_optdef *d = defs;
		while (d->name && !cli_opt_is(a, d->name))
			d++;
		if (!d->name || (!d->takes_value && strchr(a, '=')))
			return cli_usage_error(cmd, "unknown option", a);
		const char *v = NULL;
		if (d->takes_value && !(v = opt_value(cmd, argc, argv, &i, d->name)))
			return CLI_EXIT_USAGE;
		if ((rc = on_option(arg, d->name, v)))
			return rc;
	}
	return 0;
}

static int opts_operand(void *arg, const char *text)
{
	struct cli_opts *o = arg;
	if (o->n_traces == CLI_MAX_TRACES)
		return cli_usage_error(o->cmd, "too many traces", NULL);
	o->traces[o->n_traces++] = text;
	return 0;
}

static int opts_option(void *arg, const char *name, const char *v)
{
	struct cli_opts *o = arg;
	if (!strcmp(name, "--continuous"))
		o->continuous = true;
	else if (!strcmp(name, "--backends"))
		o->backends_arg = v;
	else if (!strcmp(name, "--backend"))
		o->backend_arg = v;
	else if (!strcmp(name, "--from"))
		return cli_parse_step(o->cmd, name, v, &o->from) ? 0 : CLI_EXIT_USAGE;
	else if (!strcmp(name, "--to"))
		return cli_parse_step(o->cmd, name, v, &o->to) ? 0 : CLI_EXIT_USAGE;
	else if (!strcmp(name, "--step")) {
		o->have_step = true;
		return cli_parse_step(o->cmd, name, v, &o->step) ? 0 : CLI_EXIT_USAGE;
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
	else if (!strcmp(name, "-j") || !strcmp(name, "--jobs")) {
		uint64_t n;
		if (!cli_parse_u64(o->cmd, name, v, &n))
			return CLI_EXIT_USAGE;
		if (n < 1 || n > 1024) {
			char msg[64];
			snprintf(msg, sizeof(msg), "%s: give 1 to 1024 worker processes, not", name);
			return cli_usage_error(o->cmd, msg, v);
		}
		o->jobs = (unsigned)n;
	}
	return 0;
}

/* Parses the options replay, diff, bisect and report share; 0 or an exit status. */
int cli_parse_opts(int argc, char **argv, struct cli_opts *o, const char *const *allowed)
{
	static const char *const valued[] = {"--backends", "--backend", "--from",  "--to",   "--shard",
	                                     "-o",         "--json",    "--junit", "--html", "--known",
	                                     "--step",     "--commits", "-j",      "--jobs", NULL};
	struct cli_optdef defs[32];
	size_t n = 0;
	memset(o, 0, sizeof(*o));
	o->cmd = argv[0];
	o->to = UINT64_MAX;
	for (; allowed[n] && n + 1 < sizeof(defs) / sizeof(defs[0]); n++) {
		defs[n].name = allowed[n];
		defs[n].takes_value = false;
		for (size_t k = 0; valued[k]; k++)
			defs[n].takes_value |= !strcmp(valued[k], allowed[n]);
	}
	defs[n].name = NULL;
	int rc = cli_scan(o->cmd, argc, argv, defs, opts_option, opts_operand, o, &o->help);
	if (!rc && o->n_traces)
		o->trace = o->traces[0];
	return rc;
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
