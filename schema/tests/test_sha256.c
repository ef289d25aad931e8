/* SHA-256 against the FIPS 180-4 example vectors, including both padding boundaries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../sha256.h"

struct vector {
	const char *input;
	size_t repeat;
	const char *hex;
	const char *file;
	int line;
};

#define V(in, rep, hex)                                                                                      \
	{                                                                                                    \
		in, rep, hex, __FILE__, __LINE__                                                             \
	}
static const struct vector vectors[] = {
    V("", 1, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    V("abc", 1, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
    V("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 1,
      "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
    V("a", 1000000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"),
};

static void test_vectors(void **state)
{
	(void)state;
	static char buf[1000001];
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		const struct vector *v = &vectors[i];
		size_t len = strlen(v->input), total = len * v->repeat;
		for (size_t r = 0; r < v->repeat; r++)
			memcpy(buf + r * len, v->input, len);
		char hex[65];
		sha256_hex(buf, total, hex);
		if (strcmp(hex, v->hex))
			fail_msg("%s:%d: sha256 gave %s, expected %s", v->file, v->line, hex, v->hex);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(test_vectors)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
