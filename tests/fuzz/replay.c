/*
 * replay.c - runs a fuzz target over saved inputs without libFuzzer, so
 * that every 'make test' (and 'make asan') replays the corpus.  Prints one
 * "ok fuzz-NAME/FILE" line per input; a crash fails the suite.
 */
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t len);

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		FILE *f = fopen(argv[i], "rb");
		unsigned char *buf;
		long n;
		if (!f || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
		    fseek(f, 0, SEEK_SET) != 0) {
			printf("FAIL cannot read %s\n", argv[i]);
			if (f)
				fclose(f);
			continue;
		}
		buf = malloc((size_t)n + 1);
		if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
			printf("FAIL cannot read %s\n", argv[i]);
		} else {
			LLVMFuzzerTestOneInput(buf, (size_t)n);
			printf("ok   fuzz %s\n", argv[i]);
		}
		free(buf);
		fclose(f);
	}
	return 0;
}
