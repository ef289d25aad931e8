/* Shared by the recorder tests: tests that record with either engine take it as their one argument ("kvm"
 * or "emu"), and corpus guests are found through EMUDIFF_CORPUS. */
#ifndef EMUDIFF_RECORDER_TESTS_ENGINE_H
#define EMUDIFF_RECORDER_TESTS_ENGINE_H

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../vmx-shim/shim.h"

/* Sets *emu; returns -1 to go on, else the exit status (1 bad usage, 77 no /dev/kvm for "kvm"). */
static inline int test_engine_select(int argc, char **argv, const char *test, bool *emu)
{
	if (argc != 2 || (strcmp(argv[1], "kvm") && strcmp(argv[1], "emu"))) {
		fprintf(stderr, "usage: %s kvm|emu (the engine that records)\n", test);
		return 1;
	}
	*emu = !strcmp(argv[1], "emu");
	if (*emu)
		return -1;
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "SKIP: %s: /dev/kvm cannot be opened (%s); %s_emu runs with --engine emu\n",
		        test, strerror(errno), test);
		return 77;
	}
	close(fd);
	return -1;
}

/* What a recording by the engine is on this host: "emu", or for kvm the VM's reference ("silicon",
 * "kvm-emulator", "qemu-tcg"; "unknown" without a VM). The corpus manifest's ends depend on it. */
static inline const char *test_engine_reference(bool emu)
{
	static char reference[32];
	struct shim_config cfg = {.ram_bytes = 1u << 20};
	struct shim_vm *vm;

	if (emu)
		return "emu";
	if (shim_open(&vm, &cfg))
		return "unknown";
	snprintf(reference, sizeof(reference), "%s", shim_reference(vm));
	shim_close(vm);
	return reference;
}

/* The corpus guest name's flat binary, in buf. */
static inline const char *corpus_path(const char *name, char *buf, size_t len)
{
	const char *dir = getenv("EMUDIFF_CORPUS");
	snprintf(buf, len, "%s/%s.bin", dir ? dir : "corpus", name);
	return buf;
}

#endif
