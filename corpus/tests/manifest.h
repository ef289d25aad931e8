/* corpus/manifest.tsv for the corpus tests: name, binary, load address, start, expected end, record options.
 */
#ifndef EMUDIFF_CORPUS_MANIFEST_H
#define EMUDIFF_CORPUS_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CORPUS_MAX_GUESTS 64

struct corpus_guest {
	char name[64];
	char binary[128];
	uint64_t load;
	char start[16];    /* real or multiboot */
	char expected[32]; /* the end on silicon (and in emu): exit:N, shutdown or emulation-failure */
	/* Where a reference ends otherwise ("kvm-emulator", "qemu-tcg", "qemu-kernel"): the manifest's
	 * REFERENCE=END. */
	struct {
		char reference[16];
		char end[32];
	} other_ends[4];
	unsigned n_other_ends;
	/* The optional 7th column: more record options ("--device pc-testdev --module FILE,ARGS"), "" when
	 * none; a --module FILE is a file of the built corpus. */
	char options[256];
	int line; /* manifest line, for messages */
};

struct corpus_manifest {
	char path[4096];
	size_t n;
	struct corpus_guest guests[CORPUS_MAX_GUESTS];
};

/* Reads <source_dir>/corpus/manifest.tsv; 0, or -errno with a one-line message in err. */
int corpus_manifest_load(struct corpus_manifest *m, const char *source_dir, char *err, size_t errlen);

/* The end the guest has when recorded with reference ("silicon", "kvm-emulator", "qemu-tcg", "emu"; or
 * "qemu-kernel": booted by QEMU itself, TCG and QEMU's PC, with -kernel), with
 * or without --fallback emu (which completes what the reference cannot execute: the silicon end then). */
const char *corpus_expected_end(const struct corpus_guest *g, const char *reference, bool fallback);

/* g's record options as words pointing into buf, each --module FILE made a path in corpus_dir: the number of
 * words, or -1 when they do not fit in max words or len bytes. */
int corpus_guest_options(const struct corpus_guest *g, const char *corpus_dir, char *buf, size_t len,
                         const char **words, int max);

/* For a test run by ctest: the manifest of $EMUDIFF_SOURCE and the built guests' folder $EMUDIFF_CORPUS
 * (*corpus_dir); 0, or 1 after a message on stderr. */
int corpus_manifest_from_env(struct corpus_manifest *m, const char **corpus_dir);

#endif
