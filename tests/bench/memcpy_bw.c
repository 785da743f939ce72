// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * memcpy_bw - the guest's memcpy bandwidth, the ceiling a copying software
 * RDMA device is measured against. Prints two figures in MB/s (10^6 bytes
 * per second, as perftest reports), each from about a second of copying
 * 64 KiB messages:
 *   hot:  one 64 KiB buffer into another, over and over - the working
 *         set of perftest's bandwidth tests, which reuse one buffer;
 *   cold: 64 KiB steps through two 64 MiB areas, which no cache holds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MSG	(64UL << 10)
#define AREA	(64UL << 20)

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Copies MSG-byte steps within @area bytes for a second; MB/s. */
static double measure(char *dst, char *src, unsigned long area)
{
	unsigned long bytes = 0, off = 0;
	double start = now(), t;

	do {
		memcpy(dst + off, src + off, MSG);
		/* Keep the compiler from dropping or merging the copies. */
		__asm__ __volatile__("" : : "r"(dst) : "memory");
		bytes += MSG;
		off = (off + MSG) % area;
		t = now() - start;
	} while (t < 1.0);
	return bytes / t / 1e6;
}

int main(void)
{
	char *src = malloc(AREA), *dst = malloc(AREA);
	double hot, cold;
	int ok;

	if (!src || !dst)
		return 1;
	memset(src, 1, AREA);
	memset(dst, 2, AREA);
	hot = measure(dst, src, MSG);
	cold = measure(dst, src, AREA);
	ok = dst[AREA - 1] == 1;	/* the copies really happened */
	printf("%.2f %.2f\n", hot, cold);
	free(src);
	free(dst);
	return ok ? 0 : 1;
}
