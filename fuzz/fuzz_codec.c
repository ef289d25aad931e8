/* The state codec: a trace made here at start-up gets the fuzz input, zstd-compressed, as its first
 * chunk, and is read through the public reader: no crash, no hang, every refusal a one-line message. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>
#include <zstd.h>

#include "fuzz_file.h"
#include "trace.h"
#include "trace_walk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t *base;
static size_t base_len;

/* A small trace of every step kind, with writes and inputs, whose file bytes become the base. */
static int make_base(void)
{
	char path[128];
	struct trace *t;
	struct x86_state st;
	uint8_t page[TRACE_PAGE_SIZE] = {0xf4};
	int rc;

	const char *keep = getenv("FUZZ_CODEC_BASE"); /* keeps the base, to cut seeds from its chunk */
	snprintf(path, sizeof(path), "%s", keep ? keep : "");
	if (!keep)
		snprintf(path, sizeof(path), "/tmp/emudiff-fuzz-base-%d.trace", (int)getpid());
	if (trace_create(&t, path, true) < 0)
		return -1;
	x86_state_real(&st, 0, 0x7c00, 0x8000);
	rc = trace_put_memory(t, 0x7000, page, sizeof(page));
	for (uint64_t i = 0; i < 600 && !rc; i++) {
		uint8_t bytes[4] = {(uint8_t)i, 1, 2, 3};
		struct trace_write w = {.gpa = 0x7800 + (i % 64), .len = sizeof(bytes), .data = bytes};
		struct trace_input in = {.kind = TRACE_INPUT_PIO_IN, .size = 1, .count = 1, .addr = 0x60};
		struct trace_step s = {.index = i,
		                       .kind = i % 7 == 3 ? TRACE_STEP_FALLBACK : TRACE_STEP_INSN,
		                       .pre = st,
		                       .n_writes = i % 3 == 0,
		                       .writes = &w,
		                       .n_inputs = i % 5 == 0,
		                       .inputs = &in};
		rc = trace_append_step(t, &s);
		st.rip += 1 + i % 3;
		st.gpr[i % X86_NGPR] ^= i * 0x9e3779b97f4a7c15ull;
		st.rflags ^= (i & 1) ? X86_RFLAGS_CF : X86_RFLAGS_ZF;
	}
	if (!rc)
		rc = trace_finish(t, &st, "fuzz base");
	trace_close(t);
	FILE *f = rc ? NULL : fopen(path, "rb");
	if (f && fseek(f, 0, SEEK_END) == 0 && (base_len = (size_t)ftell(f)) > 0 &&
	    fseek(f, 0, SEEK_SET) == 0 && (base = malloc(base_len)) &&
	    fread(base, 1, base_len, f) != base_len) {
		free(base);
		base = NULL;
	}
	if (f)
		fclose(f);
	if (!keep)
		unlink(path);
	return base ? 0 : -1;
}

/* Puts data, as a checksummed zstd frame, in place of the first chunk of the trace at path. */
static int replace_first_chunk(const char *path, const uint8_t *data, size_t size)
{
	size_t cap = ZSTD_compressBound(size);
	void *z = malloc(cap ? cap : 1);
	ZSTD_CCtx *cctx = ZSTD_createCCtx();
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	int rc = -1;

	if (!z || !cctx)
		goto out;
	ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
	size_t zlen = ZSTD_compress2(cctx, z, cap, data, size);
	if (ZSTD_isError(zlen) || sqlite3_open(path, &db) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "UPDATE chunks SET data = ?1, raw_bytes = ?2 WHERE first_step = 0", -1, &s,
	                       NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_blob(s, 1, z, (int)zlen, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)size);
	rc = sqlite3_step(s) == SQLITE_DONE ? 0 : -1;
out:
	sqlite3_finalize(s);
	sqlite3_close(db);
	ZSTD_freeCCtx(cctx);
	free(z);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!base && make_base() < 0)
		__builtin_trap(); /* the writer itself failed */
	const char *path = fuzz_file(base, base_len, ".trace");
	if (path && replace_first_chunk(path, data, size) == 0)
		trace_walk(path);
	return 0;
}
