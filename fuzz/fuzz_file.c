#include "fuzz_file.h"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

const char *fuzz_file(const uint8_t *data, size_t size, const char *suffix)
{
	static char path[128];
	const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	int fd;

	snprintf(path, sizeof(path), "%s/emudiff-fuzz-%d%s", dir, (int)getpid(), suffix);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return NULL;
	for (size_t done = 0; done < size;) {
		ssize_t n = write(fd, data + done, size - done);
		if (n <= 0) {
			close(fd);
			return NULL;
		}
		done += (size_t)n;
	}
	close(fd);
	return path;
}
