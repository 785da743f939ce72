/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * fuse_stall.h - a tiny FUSE file system for the attack suite: one file,
 * "f", of FS_FILE_LEN bytes (each byte the low byte of its offset), served
 * by a thread of the test. fs_stall(fs, true) makes the server hold every
 * READ that comes after without answering, as a process serving its own
 * file can; fs_stall(fs, false) answers them. That is how a page fault
 * (and so an ODP fault) can be made to wait as long as its owner likes.
 * fs_arm() does it at the worst moment: once the READ of a trigger page
 * is answered, the server drops a range of the file from the page cache
 * (FUSE_NOTIFY_INVAL_INODE, which unmaps it too) and holds every READ
 * after: a fault that completed is followed by one that never does.
 *
 * Written against the kernel's FUSE protocol (linux/fuse.h) directly,
 * without libfuse: INIT, LOOKUP, GETATTR, OPEN, READ, WRITE (discarded),
 * FLUSH, FSYNC, RELEASE, DESTROY are answered, FORGETs taken, everything
 * else refused (ENOSYS).
 * The mount is root's, with allow_other so that other users' processes
 * can map the file.
 */
#ifndef FUSE_STALL_H
#define FUSE_STALL_H

#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#define FS_FILE_LEN	(64ULL << 20)
#define FS_MAX_HELD	256
#define FS_BUF		(1 << 20)

struct fs_held {
	uint64_t unique;
	uint64_t off;
	uint32_t size;
};

struct fs {
	int fd;
	int stop_pipe[2];
	char mnt[128];
	pthread_t thr;
	pthread_mutex_t lock;	/* @stall, @armed.., @held, @nheld, replies */
	bool stall;
	bool armed;
	uint64_t arm_trigger;
	uint64_t arm_off;
	uint64_t arm_len;
	struct fs_held held[FS_MAX_HELD];
	int nheld;
	atomic_int reads;
};

static void fs_reply(struct fs *fs, uint64_t unique, int error,
		     const void *data, size_t len)
{
	struct fuse_out_header h = {
		.len = (uint32_t)(sizeof(h) + len),
		.error = error,
		.unique = unique,
	};
	static char out[sizeof(struct fuse_out_header) + FS_BUF];

	memcpy(out, &h, sizeof(h));
	if (len)
		memcpy(out + sizeof(h), data, len);
	if (write(fs->fd, out, sizeof(h) + len) < 0 && errno != ENOENT)
		perror("fuse_stall: reply");
}

static void fs_attr(uint64_t ino, struct fuse_attr *a)
{
	memset(a, 0, sizeof(*a));
	a->ino = ino;
	a->nlink = 1;
	a->blksize = 4096;
	if (ino == FUSE_ROOT_ID) {
		a->mode = S_IFDIR | 0755;
	} else {
		a->mode = S_IFREG | 0666;
		a->size = FS_FILE_LEN;
		a->blocks = FS_FILE_LEN / 512;
	}
}

/* Drops [off, off + len) of the file from the page cache (and maps). */
static void fs_inval(struct fs *fs, uint64_t off, uint64_t len)
{
	struct {
		struct fuse_out_header h;
		struct fuse_notify_inval_inode_out n;
	} msg = {
		.h = { .len = sizeof(msg), .error = FUSE_NOTIFY_INVAL_INODE },
		.n = { .ino = 2, .off = (int64_t)off, .len = (int64_t)len },
	};

	if (write(fs->fd, &msg, sizeof(msg)) < 0)
		perror("fuse_stall: notify");
}

/* Answers a READ (fs->lock held by the caller when it must be). */
static void fs_answer_read(struct fs *fs, uint64_t unique, uint64_t off,
			   uint32_t size)
{
	static unsigned char data[FS_BUF];
	uint32_t i, n = 0;

	if (off < FS_FILE_LEN)
		n = (uint32_t)(FS_FILE_LEN - off < size ? FS_FILE_LEN - off :
			       size);
	if (n > FS_BUF)
		n = FS_BUF;
	for (i = 0; i < n; i++)
		data[i] = (unsigned char)(off + i);
	fs_reply(fs, unique, 0, data, n);
}

static void fs_request(struct fs *fs, const char *buf)
{
	const struct fuse_in_header *in = (const void *)buf;
	const void *arg = buf + sizeof(*in);

	switch (in->opcode) {
	case FUSE_INIT: {
		const struct fuse_init_in *ii = arg;
		struct fuse_init_out o = {
			.major = FUSE_KERNEL_VERSION,
			.minor = ii->minor < 31 ? ii->minor : 31,
			.max_readahead = 0,	/* every fault reads its page */
			.max_background = 16,
			.congestion_threshold = 12,
			.max_write = 4096,
			.time_gran = 1,
			.max_pages = 1,
		};

		fs_reply(fs, in->unique, 0, &o, sizeof(o));
		break;
	}
	case FUSE_LOOKUP: {
		struct fuse_entry_out e = {
			.nodeid = 2, .generation = 1,
			.entry_valid = 3600, .attr_valid = 3600,
		};

		if (in->nodeid != FUSE_ROOT_ID || strcmp(arg, "f")) {
			fs_reply(fs, in->unique, -ENOENT, NULL, 0);
			break;
		}
		fs_attr(2, &e.attr);
		fs_reply(fs, in->unique, 0, &e, sizeof(e));
		break;
	}
	case FUSE_GETATTR: {
		struct fuse_attr_out a = { .attr_valid = 3600 };

		fs_attr(in->nodeid, &a.attr);
		fs_reply(fs, in->unique, 0, &a, sizeof(a));
		break;
	}
	case FUSE_OPEN: {
		struct fuse_open_out o = { .fh = 1,
					   .open_flags = FOPEN_KEEP_CACHE };

		fs_reply(fs, in->unique, 0, &o, sizeof(o));
		break;
	}
	case FUSE_READ: {
		const struct fuse_read_in *r = arg;

		atomic_fetch_add(&fs->reads, 1);
		pthread_mutex_lock(&fs->lock);
		if (fs->stall && fs->nheld < FS_MAX_HELD) {
			fs->held[fs->nheld].unique = in->unique;
			fs->held[fs->nheld].off = r->offset;
			fs->held[fs->nheld].size = r->size;
			fs->nheld++;
		} else {
			fs_answer_read(fs, in->unique, r->offset, r->size);
			if (fs->armed && r->offset <= fs->arm_trigger &&
			    fs->arm_trigger < r->offset + r->size) {
				fs->armed = false;
				fs->stall = true;
				fs_inval(fs, fs->arm_off, fs->arm_len);
			}
		}
		pthread_mutex_unlock(&fs->lock);
		break;
	}
	case FUSE_WRITE: {
		const struct fuse_write_in *w = arg;
		struct fuse_write_out o = { .size = w->size };

		fs_reply(fs, in->unique, 0, &o, sizeof(o));
		break;
	}
	case FUSE_FSYNC:
		fs_reply(fs, in->unique, 0, NULL, 0);
		break;
	case FUSE_FLUSH:
	case FUSE_RELEASE:
	case FUSE_DESTROY:
		fs_reply(fs, in->unique, 0, NULL, 0);
		break;
	case FUSE_FORGET:
	case FUSE_BATCH_FORGET:
	case FUSE_INTERRUPT:
		break;		/* no reply */
	default:
		fs_reply(fs, in->unique, -ENOSYS, NULL, 0);
		break;
	}
}

static void *fs_thread(void *arg)
{
	struct fs *fs = arg;
	static char buf[FS_BUF + 4096];
	struct pollfd p[2] = {
		{ .fd = fs->fd, .events = POLLIN },
		{ .fd = fs->stop_pipe[0], .events = POLLIN },
	};
	ssize_t n;

	for (;;) {
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents)
			break;
		if (!(p[0].revents & POLLIN))
			continue;
		n = read(fs->fd, buf, sizeof(buf));
		if (n < 0 && (errno == EINTR || errno == ENOENT ||
			      errno == EAGAIN))
			continue;
		if (n < (ssize_t)sizeof(struct fuse_in_header))
			break;	/* unmounted, or the connection went */
		fs_request(fs, buf);
	}
	return NULL;
}

/* Mounts the file system at @mnt and starts its server. */
static inline int fs_start(struct fs *fs, const char *mnt)
{
	char opts[256];

	memset(fs, 0, sizeof(*fs));
	snprintf(fs->mnt, sizeof(fs->mnt), "%s", mnt);
	pthread_mutex_init(&fs->lock, NULL);
	mkdir(mnt, 0755);
	fs->fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (fs->fd < 0 || pipe(fs->stop_pipe))
		return -1;
	snprintf(opts, sizeof(opts),
		 "fd=%d,rootmode=40000,user_id=0,group_id=0,allow_other",
		 fs->fd);
	if (mount("mirror_stall", mnt, "fuse", MS_NOSUID | MS_NODEV, opts))
		return -1;
	return pthread_create(&fs->thr, NULL, fs_thread, fs) ? -1 : 0;
}

/* Holds READs from now on (@on), or answers all held ones and stops. */
static inline void fs_stall(struct fs *fs, bool on)
{
	int i;

	pthread_mutex_lock(&fs->lock);
	fs->stall = on;
	fs->armed = false;
	if (!on) {
		for (i = 0; i < fs->nheld; i++)
			fs_answer_read(fs, fs->held[i].unique,
				       fs->held[i].off, fs->held[i].size);
		fs->nheld = 0;
	}
	pthread_mutex_unlock(&fs->lock);
}

/*
 * Once the READ covering @trigger has been answered: drop [off, off + len)
 * from the page cache, and hold every READ from then on.
 */
static inline void fs_arm(struct fs *fs, uint64_t trigger, uint64_t off,
			  uint64_t len)
{
	pthread_mutex_lock(&fs->lock);
	fs->arm_trigger = trigger;
	fs->arm_off = off;
	fs->arm_len = len;
	fs->armed = true;
	pthread_mutex_unlock(&fs->lock);
}

/* Drops [off, off + len) of the file from the page cache now. */
static inline void fs_drop(struct fs *fs, uint64_t off, uint64_t len)
{
	pthread_mutex_lock(&fs->lock);
	fs_inval(fs, off, len);
	pthread_mutex_unlock(&fs->lock);
}

static inline int fs_nheld(struct fs *fs)
{
	int n;

	pthread_mutex_lock(&fs->lock);
	n = fs->nheld;
	pthread_mutex_unlock(&fs->lock);
	return n;
}

/* Answers what is held, detaches the mount, ends the server. */
static inline void fs_stop(struct fs *fs)
{
	fs_stall(fs, false);
	umount2(fs->mnt, MNT_DETACH);
	if (write(fs->stop_pipe[1], "x", 1) < 0)
		perror("fuse_stall: stop");
	pthread_join(fs->thr, NULL);
	close(fs->fd);		/* aborts whatever is still pending */
	close(fs->stop_pipe[0]);
	close(fs->stop_pipe[1]);
}

#endif /* FUSE_STALL_H */
