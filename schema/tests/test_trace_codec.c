/* The trace store's building blocks: page hash, varints, the page map container. */
// clang-format off
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
// clang-format on

#include <stdlib.h>
#include <string.h>

#include "private.h"

static void test_sha128_vectors(void **state)
{
	/* FIPS 180-2 SHA-256 examples, first 16 bytes; the 56-byte one pads into a second block. */
	static const struct {
		const char *msg;
		uint8_t want[TRACE_HASH_LEN];
		const char *file;
		int line;
	} rows[] = {
	    {"",
	     {0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24},
	     __FILE__,
	     __LINE__},
	    {"abc",
	     {0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23},
	     __FILE__,
	     __LINE__},
	    {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
	     {0x24, 0x8d, 0x6a, 0x61, 0xd2, 0x06, 0x38, 0xb8, 0xe5, 0xc0, 0x26, 0x93, 0x0c, 0x3e, 0x60, 0x39},
	     __FILE__,
	     __LINE__},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		uint8_t got[TRACE_HASH_LEN];
		trace_sha128(rows[i].msg, strlen(rows[i].msg), got);
		if (memcmp(got, rows[i].want, sizeof(got)) != 0)
			fail_msg("%s:%d: SHA-256 of \"%s\" is wrong", rows[i].file, rows[i].line,
			         rows[i].msg);
	}
	/* A million 'a': many blocks. */
	char *m = malloc(1000000);
	assert_non_null(m);
	memset(m, 'a', 1000000);
	static const uint8_t want[TRACE_HASH_LEN] = {0xcd, 0xc7, 0x6e, 0x5c, 0x99, 0x14, 0xfb, 0x92,
	                                             0x81, 0xa1, 0xc7, 0xe2, 0x84, 0xd7, 0x3e, 0x67};
	uint8_t got[TRACE_HASH_LEN];
	trace_sha128(m, 1000000, got);
	assert_memory_equal(got, want, sizeof(got));
	free(m);
}

static void test_varint_zigzag(void **state)
{
	static const uint64_t values[] = {0,
	                                  1,
	                                  2,
	                                  63,
	                                  64,
	                                  127,
	                                  128,
	                                  255,
	                                  256,
	                                  16383,
	                                  16384,
	                                  0x7fffffffull,
	                                  0xffffffffull,
	                                  1ull << 62,
	                                  (1ull << 63) - 1,
	                                  1ull << 63,
	                                  ~0ull - 1,
	                                  ~0ull};
	struct buf b = {0};
	(void)state;
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		assert_int_equal(buf_reserve(&b, 20), 0);
		buf_put_varint(&b, values[i]);
		buf_put_varint(&b, zigzag(values[i]));
		/* Small signed deltas stay small. */
		assert_int_equal(unzigzag(zigzag(values[i])), values[i]);
	}
	assert_true(zigzag((uint64_t)-1) == 1 && zigzag(1) == 2 && zigzag((uint64_t)-2) == 3);
	struct rd r = {b.p, b.p + b.len};
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		uint64_t v = 0, z = 0;
		assert_int_equal(rd_varint(&r, &v), 0);
		assert_int_equal(rd_varint(&r, &z), 0);
		assert_true(v == values[i]);
		assert_true(unzigzag(z) == values[i]);
	}
	uint64_t v;
	assert_int_equal(rd_varint(&r, &v), -1); /* at the end */
	static const uint8_t endless[11] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80};
	struct rd e = {endless, endless + sizeof(endless)};
	assert_int_equal(rd_varint(&e, &v), -1); /* longer than 64 bits */
	struct rd cut = {endless, endless + 3};
	assert_int_equal(rd_varint(&cut, &v), -1);
	buf_free(&b);
}

static void test_u64map_against_array(void **state)
{
	enum { KEYS = 5000 };
	static void *ref[KEYS];
	struct u64map m = {0};
	uint64_t x = 12345;
	(void)state;
	memset(ref, 0, sizeof(ref));
	for (int op = 0; op < 200000; op++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		uint64_t k = (x >> 33) % KEYS;
		/* Keys with the same low bits collide in the table: page numbers do. */
		uint64_t key = k << 20;
		if ((x >> 20) % 3) {
			void *val = (void *)(uintptr_t)(k * 8 + 8);
			assert_int_equal(u64map_put(&m, key, val), 0);
			ref[k] = val;
		} else {
			void *got = u64map_del(&m, key);
			assert_ptr_equal(got, ref[k]);
			ref[k] = NULL;
		}
		if (op % 997 == 0) {
			size_t n = 0;
			for (uint64_t j = 0; j < KEYS; j++) {
				void **slot = u64map_get(&m, j << 20);
				assert_ptr_equal(slot ? *slot : NULL, ref[j]);
				n += ref[j] != NULL;
			}
			assert_int_equal(m.n, n);
		}
	}
	u64map_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sha128_vectors),
	    cmocka_unit_test(test_varint_zigzag),
	    cmocka_unit_test(test_u64map_against_array),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
