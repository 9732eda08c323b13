/*
 * replay: a main() for the libFuzzer harnesses without libFuzzer.
 *
 *   replay_NAME PATH...
 *
 * Each harness (fuzz_NAME.c) is also linked against this file with the
 * normal compiler, so `make check` (and its ASan/UBSan and valgrind runs)
 * feeds it every input of its seed corpus. PATH is a file or a directory,
 * whose regular files are replayed in name order (not recursively). Each
 * input is passed from an exact-size heap copy, so a read past its end is
 * seen by ASan and valgrind. A crash or a FUZZ_ASSERT aborts the process;
 * otherwise the exit status is 0, or 1 when a PATH cannot be read or no
 * input was found at all (an empty corpus proves nothing).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/* Weak: called only when the harness defines it, as libFuzzer does. */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int replay_file(const char *path, size_t *count)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	uint8_t *data;
	size_t size;

	if (f == NULL || fstat(fileno(f), &st) != 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		if (f != NULL)
			fclose(f);
		return -1;
	}
	size = (size_t)st.st_size;
	/* Exactly `size` bytes (malloc(0) may return NULL: one byte then). */
	data = malloc(size > 0 ? size : 1);
	if (data == NULL || fread(data, 1, size, f) != size) {
		fprintf(stderr, "replay: %s: %s\n", path,
		        data == NULL ? "out of memory" : "short read");
		free(data);
		fclose(f);
		return -1;
	}
	fclose(f);
	/* Named first, so a crash's log says which input it was. */
	printf("replay: %s (%zu bytes)\n", path, size);
	fflush(stdout);
	LLVMFuzzerTestOneInput(data, size);
	free(data);
	(*count)++;
	return 0;
}

static int replay_dir(const char *dir, size_t *count)
{
	struct dirent **names;
	int n, i, rc = 0;

	n = scandir(dir, &names, NULL, alphasort);
	if (n < 0) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	for (i = 0; i < n; i++) {
		char path[4096];
		struct stat st;

		if (names[i]->d_name[0] == '.')
			goto next;
		if (snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name) >=
		    (int)sizeof(path)) {
			fprintf(stderr, "replay: %s/%s: path too long\n", dir, names[i]->d_name);
			rc = -1;
			goto next;
		}
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
			goto next;
		if (replay_file(path, count) != 0)
			rc = -1;
	next:
		free(names[i]);
	}
	free(names);
	return rc;
}

int main(int argc, char **argv)
{
	size_t count = 0;
	int i, rc = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE_OR_DIR...\n", argv[0]);
		return 2;
	}
	if (LLVMFuzzerInitialize != NULL)
		LLVMFuzzerInitialize(&argc, &argv);
	for (i = 1; i < argc; i++) {
		struct stat st;

		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
			rc = 1;
		} else if (S_ISDIR(st.st_mode)) {
			if (replay_dir(argv[i], &count) != 0)
				rc = 1;
		} else if (replay_file(argv[i], &count) != 0) {
			rc = 1;
		}
	}
	if (count == 0) {
		fprintf(stderr, "replay: no input found\n");
		rc = 1;
	}
	printf("replay: %zu input(s) replayed\n", count);
	return rc;
}
