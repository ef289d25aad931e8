/* Backend lookup by name. The unicorn backend is linked in only where its source exists. */
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
