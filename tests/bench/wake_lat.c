// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * wake_lat - what one sleep and wake-up between two processes costs in
 * this guest: the floor under any completion delivered by event
 * (ibv_get_cq_event() sleeps in read() on the channel's file until the
 * device's completion wakes it). Two processes pass a byte back and forth
 * through two pipes, each blocked in read() until the other writes.
 * Prints "wake_lat USEC": half the mean round trip, as perftest's *_lat
 * tools report one-way latency.
 *
 * Usage: wake_lat [ROUND-TRIPS]   (default 5000)
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 5000, ping[2], pong[2], i, st;
	double t0, t1;
	pid_t pid;
	char c = 0;

	if (n < 1 || pipe(ping) || pipe(pong)) {
		perror("wake_lat: setup");
		return 1;
	}
	pid = fork();
	if (pid < 0) {
		perror("wake_lat: fork");
		return 1;
	}
	if (!pid) {
		for (i = 0; i < n; i++)
			if (read(ping[0], &c, 1) != 1 ||
			    write(pong[1], &c, 1) != 1)
				_exit(1);
		_exit(0);
	}
	t0 = now_us();
	for (i = 0; i < n; i++)
		if (write(ping[1], &c, 1) != 1 || read(pong[0], &c, 1) != 1) {
			perror("wake_lat: ping-pong");
			return 1;
		}
	t1 = now_us();
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st)) {
		fprintf(stderr, "wake_lat: the other process failed\n");
		return 1;
	}
	printf("wake_lat %.2f\n", (t1 - t0) / n / 2);
	return 0;
}
