/* The writer: steps are encoded into in-memory streams as they come (cheap: a delta and a few copies)
 * and a chunk is compressed, stored with the pages it dirtied, and committed every TRACE_BATCH_STEPS. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "private.h"

static int writer_check(struct trace *t)
{
	if (!t->writer)
		return trace_set_err(t, -EBADF, "opened read-only; cannot write");
	if (t->finished)
		return trace_set_err(t, -EINVAL, "already finished; cannot write more");
	return 0;
}

static struct wpage *wpage_get(struct trace *t, uint64_t pn, bool create)
{
	void **slot = u64map_get(&t->image, pn);
	if (slot || !create)
		return slot ? *slot : NULL;
	struct wpage *wp = calloc(1, sizeof(*wp));
	if (!wp)
		return NULL;
	if (u64map_put(&t->image, pn, wp)) {
		free(wp);
		return NULL;
	}
	return wp;
}

/* The writer keeps only pages that writes touched; others stay as hashes in the store. */
static int wpage_load(struct trace *t, struct wpage *wp, uint64_t pn)
{
	if (wp->data)
		return 0;
	wp->data = malloc(TRACE_PAGE_SIZE);
	if (!wp->data)
		return -ENOMEM;
	if (!wp->known) {
		memset(wp->data, 0, TRACE_PAGE_SIZE);
		return 0;
	}
	int rc = page_fetch(t, wp->hash, wp->data, pn << TRACE_PAGE_SHIFT, t->appended);
	if (rc) {
		free(wp->data);
		wp->data = NULL;
	}
	return rc;
}

static int apply_pending(struct trace *t)
{
	if (!t->wmeta.p)
		return 0; /* nothing written yet (and NULL + 0 is undefined) */
	struct rd r = {t->wmeta.p + t->wmeta_applied, t->wmeta.p + t->wmeta.len};
	const uint8_t *data = t->wdata.p ? t->wdata.p + t->wdata_applied : NULL;
	uint64_t nw, gpa, len;
	int rc;

	while (r.p < r.end) {
		if (rd_varint(&r, &nw))
			return trace_set_err(t, -EINVAL, "internal: write stream damaged");
		for (uint64_t w = 0; w < nw; w++) {
			if (rd_varint(&r, &gpa) || rd_varint(&r, &len))
				return trace_set_err(t, -EINVAL, "internal: write stream damaged");
			for (uint64_t a = gpa; a < gpa + len;) {
				uint64_t pn = a >> TRACE_PAGE_SHIFT, off = a & (TRACE_PAGE_SIZE - 1);
				uint64_t n = TRACE_PAGE_SIZE - off < gpa + len - a ? TRACE_PAGE_SIZE - off
				                                                   : gpa + len - a;
				struct wpage *wp = wpage_get(t, pn, true);
				if (!wp)
					return -ENOMEM;
				rc = wpage_load(t, wp, pn);
				if (rc)
					return rc;
				memcpy(wp->data + off, data + (a - gpa), n);
				if (!wp->dirty) {
					wp->dirty = true;
					rc = buf_reserve(&t->dirty, sizeof(uint64_t));
					if (rc)
						return rc;
					memcpy(t->dirty.p + t->dirty.len, &pn, sizeof(pn));
					t->dirty.len += sizeof(pn);
				}
				a += n;
			}
			data += len;
		}
	}
	t->wmeta_applied = t->wmeta.len;
	t->wdata_applied = t->wdata.len;
	return 0;
}

static int map_insert(struct trace *t, uint64_t pn, uint64_t step, const uint8_t *hash)
{
	sqlite3_stmt *s = t->st[ST_MAP_INS];
	sqlite3_reset(s);
	sqlite3_bind_int64(s, 1, (sqlite3_int64)(pn << TRACE_PAGE_SHIFT));
	sqlite3_bind_int64(s, 2, (sqlite3_int64)step);
	sqlite3_bind_blob(s, 3, hash, TRACE_HASH_LEN, SQLITE_STATIC);
	int src = sqlite3_step(s);
	sqlite3_reset(s);
	return src == SQLITE_DONE ? 0 : trace_sql_err(t, src, "writing the page map");
}

/* Records that page pn holds content from `step` on, unless its last row already says so. Inside a chunk
 * a row must also cut off the chunk's earlier writes, so a put after writes always gets one; at a chunk
 * boundary no write is replayed across the row, so equal content needs none. */
static int page_record(struct trace *t, struct wpage *wp, uint64_t pn, uint64_t step, const uint8_t *content,
                       bool boundary)
{
	uint8_t hash[TRACE_HASH_LEN];
	int rc = page_store(t, content, hash);
	if (rc)
		return rc;
	if (!wp->known || (wp->dirty && !boundary) || memcmp(hash, wp->hash, TRACE_HASH_LEN) != 0) {
		rc = map_insert(t, pn, step, hash);
		if (rc)
			return rc;
	}
	memcpy(wp->hash, hash, TRACE_HASH_LEN);
	wp->known = true;
	wp->dirty = false;
	return 0;
}

static bool page_is_zero(const uint8_t *p)
{
	uint64_t acc = 0, w;
	for (size_t i = 0; i < TRACE_PAGE_SIZE; i += 8) {
		memcpy(&w, p + i, 8);
		acc |= w;
	}
	return acc == 0;
}

int trace_put_memory(struct trace *t, uint64_t gpa, const void *data, size_t len)
{
	const uint8_t *src = data;
	uint8_t *tmp = NULL;
	int rc = writer_check(t);

	if (rc || !len)
		return rc;
	if (!data || gpa + len < gpa)
		return trace_set_err(t, -EINVAL, "trace_put_memory: bad range 0x%llx+%zu",
		                     (unsigned long long)gpa, len);
	/* Writes of earlier steps land first: the content given here replaces them. */
	rc = apply_pending(t);
	if (rc)
		return rc;
	while (len) {
		uint64_t pn = gpa >> TRACE_PAGE_SHIFT, off = gpa & (TRACE_PAGE_SIZE - 1);
		size_t n = TRACE_PAGE_SIZE - off < len ? TRACE_PAGE_SIZE - off : len;
		struct wpage *wp = wpage_get(t, pn, false);
		const uint8_t *content = src;
		if (n != TRACE_PAGE_SIZE) {
			if (!tmp && !(tmp = malloc(TRACE_PAGE_SIZE))) {
				rc = -ENOMEM;
				goto out;
			}
			memset(tmp, 0, TRACE_PAGE_SIZE);
			if (wp) {
				rc = wpage_load(t, wp, pn);
				if (rc)
					goto out;
				memcpy(tmp, wp->data, TRACE_PAGE_SIZE);
			}
			memcpy(tmp + off, src, n);
			content = tmp;
		}
		/* A page never stored reads as zeros, so zero pages of the initial image cost nothing. */
		if (wp || !page_is_zero(content)) {
			if (!wp && !(wp = wpage_get(t, pn, true))) {
				rc = -ENOMEM;
				goto out;
			}
			rc = page_record(t, wp, pn, t->appended, content, false);
			if (rc)
				goto out;
			if (wp->data)
				memcpy(wp->data, content, TRACE_PAGE_SIZE);
		}
		src += n;
		gpa += n;
		len -= n;
	}
out:
	free(tmp);
	return rc;
}

/* Sparse word deltas against prev, which becomes cur. Blocks of four equal words are skipped whole:
 * most of the state does not change from one instruction to the next. */
static void encode_delta(struct buf *b, uint64_t *prev, const void *cur_state)
{
	const uint8_t *cur = cur_state;
	size_t next = 0, w = 0;

	for (; w + 4 <= X86_STATE_WORDS; w += 4) {
		uint64_t c[4];
		memcpy(c, cur + 8 * w, sizeof(c));
		if (!((c[0] ^ prev[w]) | (c[1] ^ prev[w + 1]) | (c[2] ^ prev[w + 2]) | (c[3] ^ prev[w + 3])))
			continue;
		for (size_t k = 0; k < 4; k++) {
			if (c[k] == prev[w + k])
				continue;
			buf_put_varint(b, w + k - next + 1);
			buf_put_varint(b, zigzag(c[k] - prev[w + k]));
			prev[w + k] = c[k];
			next = w + k + 1;
		}
	}
	for (; X86_STATE_WORDS % 4 && w < X86_STATE_WORDS; w++) {
		uint64_t c;
		memcpy(&c, cur + 8 * w, sizeof(c));
		if (c == prev[w])
			continue;
		buf_put_varint(b, w - next + 1);
		buf_put_varint(b, zigzag(c - prev[w]));
		prev[w] = c;
		next = w + 1;
	}
	buf_put_varint(b, 0);
}

static int encode_full(struct buf *b, const uint64_t *words)
{
	int rc = buf_reserve(b, X86_STATE_WORDS * 8);
	if (rc)
		return rc;
	memcpy(b->p + b->len, words, X86_STATE_WORDS * 8);
	b->len += X86_STATE_WORDS * 8;
	return 0;
}

static int txn_commit(struct trace *t)
{
	int src = sqlite3_exec(t->db, "COMMIT", NULL, NULL, NULL);
	if (src != SQLITE_OK)
		return trace_sql_err(t, src, "committing");
	t->in_txn = false;
	src = sqlite3_exec(t->db, "BEGIN", NULL, NULL, NULL);
	if (src != SQLITE_OK)
		return trace_sql_err(t, src, "starting a transaction");
	t->in_txn = true;
	return 0;
}

/* Ends the buffered chunk: snapshots dirtied pages at its end, stores it and commits. end: the state after
 * the last buffered step when known. */
static int flush(struct trace *t, const struct x86_state *end)
{
	uint64_t words[X86_STATE_WORDS];
	uint64_t kinds[TRACE_STEP_KINDS] = {0};
	int rc;

	if (!t->buf_n && !end)
		return txn_commit(t);
	if (end) {
		memcpy(words, end, sizeof(words));
		rc = buf_reserve(&t->states, 16 + X86_STATE_WORDS * 20);
		if (rc)
			return rc;
		if (t->buf_n)
			encode_delta(&t->states, t->prev, end);
		else if ((rc = encode_full(&t->states, words)))
			return rc;
	}
	rc = apply_pending(t);
	if (rc)
		return rc;
	uint64_t b = t->buf_first + t->buf_n;
	for (size_t i = 0; i < t->dirty.len; i += sizeof(uint64_t)) {
		uint64_t pn;
		memcpy(&pn, t->dirty.p + i, sizeof(pn));
		struct wpage *wp = wpage_get(t, pn, false);
		if (wp && wp->dirty && (rc = page_record(t, wp, pn, b, wp->data, true)))
			return rc;
	}
	t->dirty.len = 0;
	for (size_t i = 0; i < t->kinds.len; i++)
		kinds[t->kinds.p[i]]++;

	struct buf *raw = &t->raw;
	raw->len = 0;
	rc = buf_reserve(raw, 80 + t->kinds.len + t->states.len + t->wmeta.len + t->wdata.len);
	if (rc)
		return rc;
	raw->p[raw->len++] = TRACE_CHUNK_VERSION;
	buf_put_varint(raw, t->buf_n);
	buf_put_varint(raw, end ? 1 : 0);
	buf_put_varint(raw, X86_STATE_WORDS);
	buf_put_varint(raw, t->kinds.len);
	buf_put_varint(raw, t->states.len);
	buf_put_varint(raw, t->wmeta.len);
	buf_put_varint(raw, t->wdata.len);
	const struct buf *parts[] = {&t->kinds, &t->states, &t->wmeta, &t->wdata};
	for (size_t i = 0; i < 4; i++) {
		if (parts[i]->len)
			memcpy(raw->p + raw->len, parts[i]->p, parts[i]->len);
		raw->len += parts[i]->len;
	}
	t->zbuf.len = 0;
	rc = buf_reserve(&t->zbuf, ZSTD_compressBound(raw->len));
	if (rc)
		return rc;
	size_t z = trace_zstd_frame(t, t->zbuf.p, t->zbuf.cap, raw->p, raw->len, TRACE_CHUNK_LEVEL);
	if (ZSTD_isError(z))
		return trace_set_err(t, -EIO, "compressing steps from %llu: %s",
		                     (unsigned long long)t->buf_first, ZSTD_getErrorName(z));

	sqlite3_stmt *s = t->st[ST_CHUNK_INS];
	sqlite3_reset(s);
	sqlite3_bind_int64(s, 1, (sqlite3_int64)t->buf_first);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)t->buf_n);
	sqlite3_bind_int64(s, 3, end ? 1 : 0);
	sqlite3_bind_int64(s, 4, (sqlite3_int64)kinds[TRACE_STEP_INSN]);
	sqlite3_bind_int64(s, 5, (sqlite3_int64)kinds[TRACE_STEP_RUN]);
	sqlite3_bind_int64(s, 6, (sqlite3_int64)kinds[TRACE_STEP_FALLBACK]);
	sqlite3_bind_int64(s, 7, (sqlite3_int64)raw->len);
	sqlite3_bind_blob(s, 8, t->zbuf.p, (int)z, SQLITE_STATIC);
	int src = sqlite3_step(s);
	sqlite3_reset(s);
	if (src != SQLITE_DONE)
		return trace_sql_err(t, src, "storing steps");
	rc = txn_commit(t);
	if (rc)
		return rc;
	rc = trace_chunk_index_add(t, t->buf_first, t->buf_n, end != NULL);
	if (rc)
		return rc;
	t->kinds.len = t->states.len = t->wmeta.len = t->wdata.len = 0;
	t->wmeta_applied = t->wdata_applied = 0;
	t->buf_first = t->appended;
	t->buf_n = 0;
	return 0;
}

static int insert_inputs(struct trace *t, uint64_t step, const struct trace_input *in, uint32_t n)
{
	static const char *const names[] = {"?", "pio_in", "mmio_read", "rdtsc", "cpuid", "rdrand", "rdmsr"};
	sqlite3_stmt *s = t->st[ST_INPUT_INS];

	for (uint32_t i = 0; i < n; i++) {
		uint64_t v = 0;
		sqlite3_reset(s);
		sqlite3_bind_int64(s, 1, (sqlite3_int64)step);
		sqlite3_bind_text(s, 2, in[i].kind < 7 ? names[in[i].kind] : "?", -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 3, in[i].kind);
		sqlite3_bind_int64(s, 4, (sqlite3_int64)in[i].addr);
		sqlite3_bind_int64(s, 5, in[i].size);
		if (in[i].size <= 8) {
			for (int b = in[i].size - 1; b >= 0; b--)
				v = v << 8 | in[i].data[b];
			sqlite3_bind_int64(s, 6, (sqlite3_int64)v);
		} else {
			sqlite3_bind_blob(s, 6, in[i].data, in[i].size, SQLITE_STATIC);
		}
		sqlite3_bind_int64(s, 7, in[i].count);
		int src = sqlite3_step(s);
		sqlite3_reset(s);
		if (src != SQLITE_DONE)
			return trace_sql_err(t, src, "storing an input");
	}
	return 0;
}

int trace_append_step(struct trace *t, const struct trace_step *step)
{
	uint64_t data_len = 0;
	int rc = writer_check(t);

	if (rc)
		return rc;
	if (step->index != t->appended)
		return trace_set_err(t, -EINVAL, "step %llu appended where step %llu comes next",
		                     (unsigned long long)step->index, (unsigned long long)t->appended);
	if ((unsigned)step->kind >= TRACE_STEP_KINDS || (step->n_writes && !step->writes) ||
	    (step->n_inputs && !step->inputs))
		return trace_set_err(t, -EINVAL, "step %llu: bad kind, writes or inputs",
		                     (unsigned long long)step->index);
	for (uint32_t i = 0; i < step->n_writes; i++) {
		const struct trace_write *w = &step->writes[i];
		if ((w->len && !w->data) || w->gpa + w->len < w->gpa)
			return trace_set_err(t, -EINVAL, "step %llu: bad write %u",
			                     (unsigned long long)step->index, i);
		data_len += w->len;
	}
	for (uint32_t i = 0; i < step->n_inputs; i++)
		if (step->inputs[i].size > 16)
			return trace_set_err(t, -EINVAL, "step %llu: input %u larger than 16 bytes",
			                     (unsigned long long)step->index, i);
	if (t->buf_n >= TRACE_BATCH_STEPS && (rc = flush(t, &step->pre)))
		return rc;
	if ((rc = buf_reserve(&t->states, 16 + X86_STATE_WORDS * 20)) || (rc = buf_reserve(&t->kinds, 1)) ||
	    (rc = buf_reserve(&t->wmeta, 10 + (size_t)step->n_writes * 20)) ||
	    (rc = buf_reserve(&t->wdata, data_len)))
		return rc;
	/* The last thing that can fail: a failed step leaves the buffers as they were. */
	if (step->n_inputs && (rc = insert_inputs(t, step->index, step->inputs, step->n_inputs)))
		return rc;
	if (!t->buf_n) {
		t->buf_first = t->appended;
		memcpy(t->prev, &step->pre, sizeof(t->prev));
		memcpy(t->states.p + t->states.len, t->prev, sizeof(t->prev));
		t->states.len += sizeof(t->prev);
	} else {
		encode_delta(&t->states, t->prev, &step->pre);
	}
	t->kinds.p[t->kinds.len++] = (uint8_t)step->kind;
	buf_put_varint(&t->wmeta, step->n_writes);
	for (uint32_t i = 0; i < step->n_writes; i++) {
		const struct trace_write *w = &step->writes[i];
		buf_put_varint(&t->wmeta, w->gpa);
		buf_put_varint(&t->wmeta, w->len);
		if (w->len)
			memcpy(t->wdata.p + t->wdata.len, w->data, w->len);
		t->wdata.len += w->len;
	}
	t->appended++;
	t->buf_n++;
	return 0;
}

int trace_append_exit(struct trace *t, const struct trace_exit *e)
{
	static const char *const names[] = {
	    "?", "io", "mmio", "hlt", "shutdown", "internal_error", "debug", "fail_entry", "other"};
	sqlite3_stmt *s = t->st[ST_EXIT_INS];
	int rc = writer_check(t);

	if (rc)
		return rc;
	if (e->data_len > sizeof(e->data))
		return trace_set_err(t, -EINVAL, "step %llu: exit data longer than 16 bytes",
		                     (unsigned long long)e->step);
	sqlite3_reset(s);
	sqlite3_bind_int64(s, 1, (sqlite3_int64)e->step);
	sqlite3_bind_text(s, 2, e->reason < 9 ? names[e->reason] : "?", -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, e->reason);
	sqlite3_bind_int64(s, 4, e->kvm_reason);
	sqlite3_bind_int64(s, 5, e->suberror);
	sqlite3_bind_int64(s, 6, (sqlite3_int64)e->addr);
	sqlite3_bind_int64(s, 7, e->size);
	sqlite3_bind_text(s, 8, e->is_write ? "write" : "read", -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 9, e->count);
	sqlite3_bind_int64(s, 10, e->data_len);
	if (!e->data_len) {
		sqlite3_bind_null(s, 11);
	} else if ((e->reason == TRACE_EXIT_IO || e->reason == TRACE_EXIT_MMIO) && e->data_len <= 8) {
		uint64_t v = 0;
		for (int b = (int)e->data_len - 1; b >= 0; b--)
			v = v << 8 | e->data[b];
		sqlite3_bind_int64(s, 11, (sqlite3_int64)v);
	} else {
		sqlite3_bind_blob(s, 11, e->data, (int)e->data_len, SQLITE_STATIC);
	}
	int src = sqlite3_step(s);
	sqlite3_reset(s);
	return src == SQLITE_DONE ? 0 : trace_sql_err(t, src, "storing an exit");
}

int trace_append_event(struct trace *t, const struct trace_event *e)
{
	sqlite3_stmt *s = t->st[ST_EVENT_INS];
	int rc = writer_check(t);

	if (rc)
		return rc;
	sqlite3_reset(s);
	sqlite3_bind_int64(s, 1, (sqlite3_int64)e->step);
	sqlite3_bind_int64(s, 2, e->vector);
	sqlite3_bind_int64(s, 3, e->type);
	sqlite3_bind_int64(s, 4, e->has_error);
	sqlite3_bind_int64(s, 5, e->error_code);
	int src = sqlite3_step(s);
	sqlite3_reset(s);
	return src == SQLITE_DONE ? 0 : trace_sql_err(t, src, "storing an event");
}

int trace_commit(struct trace *t)
{
	int rc = writer_check(t);
	return rc ? rc : flush(t, NULL);
}

int trace_finish(struct trace *t, const struct x86_state *final_state, const char *end_reason)
{
	char steps[32];
	int rc = writer_check(t);

	if (rc)
		return rc;
	if (!final_state)
		return trace_set_err(t, -EINVAL, "trace_finish needs the final state");
	snprintf(steps, sizeof(steps), "%llu", (unsigned long long)t->appended);
	/* The end marker commits in the same transaction as the last chunk. */
	if ((rc = trace_meta_set(t, "end_reason", end_reason ? end_reason : "")) ||
	    (rc = trace_meta_set(t, "steps", steps)) || (rc = flush(t, final_state)))
		return rc;
	int src = sqlite3_exec(t->db, "COMMIT", NULL, NULL, NULL);
	if (src != SQLITE_OK)
		return trace_sql_err(t, src, "committing");
	t->in_txn = false;
	t->finished = true;
	t->complete = true;
	return 0;
}
