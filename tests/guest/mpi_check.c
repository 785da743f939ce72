// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * mpi_check - a small MPI program with data checks, for Open MPI over UCX
 * on mirror (tests/guest/ucx.sh runs it with 2 ranks, pml ucx).
 *
 * Point to point: rank 0 sends messages of growing sizes (eager and
 * rendezvous, up to 4 MiB) to rank 1, which checks every byte and sends
 * them back transformed; rank 0 checks the answer. Collectives: an
 * MPI_Allreduce (sum) of a vector whose result each rank checks, and an
 * MPI_Bcast of a buffer from each rank in turn. Prints "mpi_check: OK"
 * on rank 0 and exits 0 only when every check passed on every rank.
 */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned char pattern(size_t i, unsigned int seed)
{
	return (unsigned char)(i * 31 + seed * 7 + (i >> 9));
}

static int check_bytes(const unsigned char *buf, size_t len,
		       unsigned int seed, const char *what)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (buf[i] != pattern(i, seed)) {
			fprintf(stderr, "mpi_check: %s: byte %zu of %zu is 0x%02x, want 0x%02x\n",
				what, i, len, buf[i], pattern(i, seed));
			return 1;
		}
	}
	return 0;
}

static void fill(unsigned char *buf, size_t len, unsigned int seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = pattern(i, seed);
}

static int point_to_point(int rank, unsigned char *buf)
{
	size_t len;
	unsigned int seed = 1;
	int bad = 0;

	for (len = 1; len <= 4u << 20; len *= 4, seed++) {
		if (rank == 0) {
			fill(buf, len, seed);
			MPI_Send(buf, (int)len, MPI_BYTE, 1, 1, MPI_COMM_WORLD);
			memset(buf, 0, len);
			MPI_Recv(buf, (int)len, MPI_BYTE, 1, 2, MPI_COMM_WORLD,
				 MPI_STATUS_IGNORE);
			bad |= check_bytes(buf, len, seed + 1000, "answer");
		} else if (rank == 1) {
			memset(buf, 0, len);
			MPI_Recv(buf, (int)len, MPI_BYTE, 0, 1, MPI_COMM_WORLD,
				 MPI_STATUS_IGNORE);
			bad |= check_bytes(buf, len, seed, "message");
			fill(buf, len, seed + 1000);
			MPI_Send(buf, (int)len, MPI_BYTE, 0, 2, MPI_COMM_WORLD);
		}
	}
	return bad;
}

static int collectives(int rank, int size, unsigned char *buf)
{
	enum { N = 100000 };
	static int64_t in[N], out[N];
	int64_t want;
	int i, root, bad = 0;

	for (i = 0; i < N; i++)
		in[i] = (int64_t)i * (rank + 1);
	MPI_Allreduce(in, out, N, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
	for (i = 0; i < N && !bad; i++) {
		/* sum over ranks r of i * (r + 1) */
		want = (int64_t)i * size * (size + 1) / 2;
		if (out[i] != want) {
			fprintf(stderr, "mpi_check: allreduce[%d] = %lld, want %lld\n",
				i, (long long)out[i], (long long)want);
			bad = 1;
		}
	}
	for (root = 0; root < size; root++) {
		if (rank == root)
			fill(buf, 1u << 20, 500 + root);
		else
			memset(buf, 0, 1u << 20);
		MPI_Bcast(buf, 1 << 20, MPI_BYTE, root, MPI_COMM_WORLD);
		bad |= check_bytes(buf, 1u << 20, 500 + root, "bcast");
	}
	return bad;
}

int main(int argc, char **argv)
{
	int rank, size, bad, all_bad = 1;
	unsigned char *buf;

	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	buf = malloc(4u << 20);
	if (!buf || size < 2) {
		fprintf(stderr, "mpi_check: %s\n",
			buf ? "needs 2 ranks or more" : "out of memory");
		MPI_Abort(MPI_COMM_WORLD, 1);
	}
	bad = point_to_point(rank, buf);
	bad |= collectives(rank, size, buf);
	MPI_Allreduce(&bad, &all_bad, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
	if (rank == 0)
		printf("mpi_check: %s\n", all_bad ? "FAILED" : "OK");
	free(buf);
	MPI_Finalize();
	return all_bad ? 1 : 0;
}
