/* Fuzz inputs that the code under test reads from a file: written to one tmpfs file per process. */
#ifndef EMUDIFF_FUZZ_FILE_H
#define EMUDIFF_FUZZ_FILE_H

#include <stddef.h>
#include <stdint.h>

/* The path of a file holding exactly data[0..size); NULL when it cannot be written. */
const char *fuzz_file(const uint8_t *data, size_t size, const char *suffix);

#endif
