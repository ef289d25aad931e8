/* Backend lookup by name, and what every backend does to a result. The unicorn backend is linked in only
 * where its source exists. */
#include <string.h>

#include "backend.h"

static const struct backend_ops *const backends[] = {
    &backend_emu_ops,
#ifdef EMUDIFF_HAVE_UNICORN_BACKEND
    &backend_unicorn_ops,
#endif
    &backend_kvm_ops,
};

const struct backend_ops *backend_find(const char *name)
{
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
		if (!strcmp(backends[i]->name, name))
			return backends[i];
	return NULL;
}

void backend_result_add_write(struct backend_result *out, uint64_t gpa, const uint8_t *data, unsigned len,
                              bool merge)
{
	while (len) {
		struct backend_write *last = out->n_writes ? &out->writes[out->n_writes - 1] : NULL;
		if (merge && last && last->gpa + last->len == gpa && last->len < 16) {
			unsigned room = 16u - last->len, n = room < len ? room : len;
			memcpy(last->data + last->len, data, n);
			last->len += n;
			gpa += n, data += n, len -= n;
			continue;
		}
		if (out->n_writes == BACKEND_MAX_WRITES) {
			out->writes_overflow = true;
			return;
		}
		struct backend_write *w = &out->writes[out->n_writes++];
		unsigned n = len < 16 ? len : 16;
		w->gpa = gpa;
		w->len = (uint8_t)n;
		memcpy(w->data, data, n);
		gpa += n, data += n, len -= n;
	}
}
