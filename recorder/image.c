/* Guest images from files: a flat binary, or a whole file for --bios, --multiboot and --disk. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../machine/boot.h"
#include "private.h"

/* An ELF file or a multiboot kernel: run as a flat binary it would execute its headers. */
static bool is_kernel_image(const uint8_t *image, size_t len)
{
	static const uint8_t elf_magic[4] = {0x7f, 'E', 'L', 'F'};
	return (len >= 4 && !memcmp(image, elf_magic, 4)) || boot_multiboot_header(image, len) != SIZE_MAX;
}

int rec_read_guest(struct rec *r, uint8_t **image, size_t *len)
{
	const char *path = r->opt->guest_path;
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(r->errbuf, r->errlen, "%s: cannot open the guest image: %s", path, strerror(errno));
		return CLI_STATUS_USAGE;
	}
	struct stat sb;
	if (fstat(fileno(f), &sb) || !S_ISREG(sb.st_mode)) {
		snprintf(r->errbuf, r->errlen, "%s: not a regular file; pass a flat guest binary", path);
		fclose(f);
		return CLI_STATUS_USAGE;
	}
	if (sb.st_size == 0 || (uint64_t)sb.st_size + r->opt->load_addr > r->opt->mem_bytes ||
	    (uint64_t)sb.st_size + r->opt->load_addr > 0x100000) {
		snprintf(r->errbuf, r->errlen,
		         "%s: %lld bytes do not fit between the load address 0x%llx and the end of memory or "
		         "of the "
		         "first MiB; use a smaller image, --load or --mem",
		         path, (long long)sb.st_size, (unsigned long long)r->opt->load_addr);
		fclose(f);
		return CLI_STATUS_USAGE;
	}
	*image = malloc((size_t)sb.st_size);
	if (!*image || fread(*image, 1, (size_t)sb.st_size, f) != (size_t)sb.st_size) {
		snprintf(r->errbuf, r->errlen, "%s: cannot read the guest image: %s", path,
		         *image ? strerror(errno ? errno : EIO) : "out of memory");
		fclose(f);
		return CLI_STATUS_USAGE;
	}
	*len = (size_t)sb.st_size;
	fclose(f);
	if (is_kernel_image(*image, *len)) {
		snprintf(
		    r->errbuf, r->errlen,
		    "%s: an ELF file or a multiboot kernel, not a flat binary; record it with --multiboot %s",
		    path, path);
		free(*image);
		*image = NULL;
		return CLI_STATUS_USAGE;
	}
	return 0;
}

/* A whole file for --bios / --multiboot (or a disk to hash); 0 or a cli status with the message in errbuf. */
int rec_read_file(struct rec *r, const char *path, const char *option, size_t max, uint8_t **buf, size_t *len)
{
	FILE *f = fopen(path, "rb");
	struct stat sb;
	if (!f) {
		snprintf(r->errbuf, r->errlen, "%s: cannot open the %s file: %s", path, option,
		         strerror(errno));
		return CLI_STATUS_USAGE;
	}
	if (fstat(fileno(f), &sb) || !S_ISREG(sb.st_mode) || sb.st_size == 0 || (uint64_t)sb.st_size > max) {
		snprintf(r->errbuf, r->errlen, "%s: %s takes a regular, non-empty file of at most %zu MiB",
		         path, option, max >> 20);
		fclose(f);
		return CLI_STATUS_USAGE;
	}
	*buf = malloc((size_t)sb.st_size);
	if (!*buf || fread(*buf, 1, (size_t)sb.st_size, f) != (size_t)sb.st_size) {
		snprintf(r->errbuf, r->errlen, "%s: cannot read the %s file: %s", path, option,
		         *buf ? strerror(errno ? errno : EIO) : "out of memory");
		free(*buf);
		*buf = NULL;
		fclose(f);
		return CLI_STATUS_USAGE;
	}
	*len = (size_t)sb.st_size;
	fclose(f);
	return 0;
}
