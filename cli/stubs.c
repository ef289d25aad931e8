#include <stdio.h>

#include "cli.h"

int cli_record(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "emudiff record: not built yet\n");
	return CLI_EXIT_ENVIRONMENT;
}

int cli_info(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "emudiff info: not built yet\n");
	return CLI_EXIT_ENVIRONMENT;
}
