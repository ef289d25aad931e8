/* SHA-256 of a buffer (FIPS 180-4), for the guest image hash in the trace's meta. */
#ifndef EMUDIFF_SHA256_H
#define EMUDIFF_SHA256_H

#include <stddef.h>
#include <stdint.h>

void sha256(const void *data, size_t len, uint8_t out[32]);
/* Lower-case hex, 65 bytes with the NUL. */
void sha256_hex(const void *data, size_t len, char out[65]);

#endif
