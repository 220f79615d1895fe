/* SPDX-License-Identifier: MIT */
/*
 * The fuzz targets' main() where clang's libFuzzer is missing
 * (fuzz/CMakeLists.txt): the same LLVMFuzzerTestOneInput(), fed the seed
 * directories given and a fixed pseudo-random sequence, so the harnesses
 * and their oracles run with any compiler.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Without libFuzzer: run every file given (seeds), then `-runs=N` inputs
 * from a fixed xorshift sequence, each 16..1024 bytes.
 */
int main(int argc, char **argv)
{
	static uint8_t buf[1 << 16];
	unsigned long runs = 0;
	uint64_t x = 0x9e3779b97f4a7c15ull;

	for (int i = 1; i < argc; i++) {
		if (!strncmp(argv[i], "-runs=", 6)) {
			runs = strtoul(argv[i] + 6, NULL, 10);
			continue;
		}
		if (argv[i][0] == '-')
			continue;
		DIR *d = opendir(argv[i]);
		struct dirent *e;

		while (d && (e = readdir(d))) {
			char p[4096];
			FILE *f;
			size_t n;

			if (e->d_name[0] == '.')
				continue;
			snprintf(p, sizeof(p), "%s/%s", argv[i], e->d_name);
			f = fopen(p, "rb");
			if (!f)
				continue;
			n = fread(buf, 1, sizeof(buf), f);
			fclose(f);
			LLVMFuzzerTestOneInput(buf, n);
		}
		if (d)
			closedir(d);
	}
	for (unsigned long r = 0; r < runs; r++) {
		size_t n = 16 + (size_t)(x % 1009);

		for (size_t k = 0; k < n; k++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			buf[k] = (uint8_t)x;
		}
		LLVMFuzzerTestOneInput(buf, n);
	}
	printf("%s (standalone): %lu random inputs, no failure\n", argv[0], runs);
	return 0;
}
