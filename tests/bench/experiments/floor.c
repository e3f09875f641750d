/*
 * floor: what a data flow costs at least, without any S3 client library.
 *
 * Reads one object from memory-s3 (which accepts unsigned requests) in one of three ways and
 * prints the process's CPU seconds per GiB and MiB/s:
 *
 *   --single           one GET, the consumer reads the socket straight into its buffer
 *                      (what `rclone cat > /dev/null` does: one copy per byte);
 *   --lend             one GET, read by another thread straight into the consumer's buffer,
 *                      which the consumer lends it for each read (one copy, two thread
 *                      hand-overs per read);
 *   --parts N          N threads fetch ranged parts of --part-size bytes into buffers, at most
 *                      N parts (N x part size bytes) ahead; the consumer copies them in order
 *                      into its buffer (the plugin's design: parallel parts delivered in order
 *                      through a bounded budget into the daemon's IO_READ buffer, two copies).
 *
 * The consumer buffer is --read-size bytes (default 262144, Bareos's IO_READ size).
 *
 *   cc -O2 -pthread -o /tmp/floor tests/bench/experiments/floor.c
 *   /tmp/floor 127.0.0.1 9000 big obj-0 1073741824 --parts 8 --part-size 8388608
 *   /tmp/floor 127.0.0.1 9000 big obj-0 1073741824 --single
 *   /tmp/floor 127.0.0.1 9000 big obj-0 1073741824 --lend
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char *host, *bucket, *key;
static int port;
static long long size, part_size = 8 << 20;
static int nparts_inflight, single, lend;
static size_t read_size = 262144;

static void die(const char *what) {
	perror(what);
	exit(1);
}

static int connect_to(void) {
	int c = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	if (c < 0 || inet_pton(AF_INET, host, &a.sin_addr) != 1) die("socket");
	setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(c, (struct sockaddr *)&a, sizeof a)) die("connect");
	return c;
}

/* Sends a GET (ranged if len > 0) and reads the head; returns the body bytes that came with
 * it in `extra` (count in *nextra) and the Content-Length. */
static long long get(int c, long long from, long long len, char *extra, size_t *nextra) {
	char req[1024], head[16384];
	int n = snprintf(req, sizeof req,
	                 "GET /%s/%s HTTP/1.1\r\nHost: %s:%d\r\n"
	                 "Authorization: AWS4-HMAC-SHA256 Credential=a/20260101/us-east-1/s3/"
	                 "aws4_request, SignedHeaders=host, Signature=0\r\n"
	                 "x-amz-date: 20260101T000000Z\r\nx-amz-content-sha256: UNSIGNED-PAYLOAD\r\n",
	                 bucket, key, host, port);
	if (len > 0) n += snprintf(req + n, sizeof req - n, "Range: bytes=%lld-%lld\r\n", from, from + len - 1);
	n += snprintf(req + n, sizeof req - n, "\r\n");
	if (write(c, req, n) != n) die("write");
	size_t got = 0;
	char *end = NULL;
	while (!end) {
		ssize_t r = recv(c, head + got, sizeof head - 1 - got, 0);
		if (r <= 0) die("recv head");
		got += r;
		head[got] = 0;
		end = strstr(head, "\r\n\r\n");
	}
	int status = atoi(head + 9);
	if (status != 200 && status != 206) {
		fprintf(stderr, "HTTP %d\n", status);
		exit(1);
	}
	char *cl = strcasestr(head, "\r\ncontent-length:");
	if (!cl) die("no content-length");
	long long length = atoll(cl + 17);
	size_t hl = (end - head) + 4;
	*nextra = got - hl;
	memcpy(extra, head + hl, *nextra);
	return length;
}

static double cpu_now(void) {
	struct rusage u;
	getrusage(RUSAGE_SELF, &u);
	return u.ru_utime.tv_sec + u.ru_stime.tv_sec + 1e-6 * (u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

/* --lend: the consumer's buffer, lent to the reading thread one read at a time. */
static char *lent;
static size_t lent_len;
static ssize_t lent_got;
static int lent_posted, lent_done;
static pthread_mutex_t lend_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t lend_cv = PTHREAD_COND_INITIALIZER;

static void *lend_reader(void *arg) {
	int c = *(int *)arg;
	for (;;) {
		pthread_mutex_lock(&lend_mu);
		while (!lent_posted) pthread_cond_wait(&lend_cv, &lend_mu);
		lent_posted = 0;
		char *buf = lent;
		size_t len = lent_len;
		pthread_mutex_unlock(&lend_mu);
		if (!buf) return NULL;
		ssize_t r = recv(c, buf, len, 0);
		pthread_mutex_lock(&lend_mu);
		lent_got = r;
		lent_done = 1;
		pthread_cond_broadcast(&lend_cv);
		pthread_mutex_unlock(&lend_mu);
	}
}

/* Lends `buf` to the reading thread for one read. */
static ssize_t lend_read(char *buf, size_t len) {
	pthread_mutex_lock(&lend_mu);
	lent = buf;
	lent_len = len;
	lent_posted = 1;
	lent_done = 0;
	pthread_cond_broadcast(&lend_cv);
	while (buf && !lent_done) pthread_cond_wait(&lend_cv, &lend_mu);
	ssize_t r = lent_got;
	pthread_mutex_unlock(&lend_mu);
	return r;
}

/* --parts: one slot per part in flight. */
struct slot {
	char *buf;
	long long len, filled, consumed_part; /* consumed_part: index of the part it holds */
	int ready;
};
static struct slot *slots;
static long long total_parts, done_parts;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;

static void *worker(void *arg) {
	long w = (long)arg;
	int c = connect_to();
	for (long long p = w; p < total_parts; p += nparts_inflight) {
		struct slot *s = &slots[w];
		pthread_mutex_lock(&mu);
		while (p >= nparts_inflight && done_parts <= p - nparts_inflight) pthread_cond_wait(&cv, &mu);
		pthread_mutex_unlock(&mu);
		long long from = p * part_size, len = size - from < part_size ? size - from : part_size;
		size_t nextra;
		if (get(c, from, len, s->buf, &nextra) != len) die("part length");
		pthread_mutex_lock(&mu);
		s->len = len;
		s->filled = nextra;
		s->consumed_part = p;
		s->ready = 1;
		pthread_cond_broadcast(&cv);
		pthread_mutex_unlock(&mu);
		long long filled = nextra;
		while (filled < len) {
			size_t want = len - filled > (400 << 10) ? (400 << 10) : len - filled;
			ssize_t r = recv(c, s->buf + filled, want, 0);
			if (r <= 0) die("recv body");
			filled += r;
			pthread_mutex_lock(&mu);
			s->filled = filled;
			pthread_cond_broadcast(&cv);
			pthread_mutex_unlock(&mu);
		}
	}
	close(c);
	return NULL;
}

int main(int argc, char **argv) {
	if (argc < 7) {
		fprintf(stderr, "usage: floor HOST PORT BUCKET KEY SIZE --single | --lend | --parts N [--part-size B] [--read-size B]\n");
		return 2;
	}
	host = argv[1];
	port = atoi(argv[2]);
	bucket = argv[3];
	key = argv[4];
	size = atoll(argv[5]);
	for (int i = 6; i < argc; i++) {
		if (!strcmp(argv[i], "--single")) single = 1;
		else if (!strcmp(argv[i], "--lend")) single = lend = 1;
		else if (!strcmp(argv[i], "--parts") && i + 1 < argc) nparts_inflight = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--part-size") && i + 1 < argc) part_size = atoll(argv[++i]);
		else if (!strcmp(argv[i], "--read-size") && i + 1 < argc) read_size = atoll(argv[++i]);
		else {
			fprintf(stderr, "floor: unknown argument %s\n", argv[i]);
			return 2;
		}
	}
	if (!single && nparts_inflight < 1) {
		fprintf(stderr, "floor: --single, --lend or --parts N\n");
		return 2;
	}
	char *dst = malloc(read_size);
	memset(dst, 0, read_size);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	double cpu0 = cpu_now();
	long long total = 0;
	if (single) {
		int c = connect_to();
		size_t nextra;
		long long len = get(c, 0, 0, dst, &nextra);
		pthread_t reader;
		if (lend) pthread_create(&reader, NULL, lend_reader, &c);
		total = nextra;
		while (total < len) {
			size_t want = len - total > (long long)read_size ? read_size : (size_t)(len - total);
			ssize_t r = lend ? lend_read(dst, want) : recv(c, dst, want, 0);
			if (r <= 0) die("recv");
			total += r;
		}
		if (lend) {
			lend_read(NULL, 0);
			pthread_join(reader, NULL);
		}
	} else {
		total_parts = (size + part_size - 1) / part_size;
		slots = calloc(nparts_inflight, sizeof *slots);
		for (int i = 0; i < nparts_inflight; i++) slots[i].buf = malloc(part_size + (16 << 10));
		pthread_t th[nparts_inflight];
		for (long i = 0; i < nparts_inflight; i++) pthread_create(&th[i], NULL, worker, (void *)i);
		for (long long p = 0; p < total_parts; p++) {
			struct slot *s = &slots[p % nparts_inflight];
			long long off = 0, len = size - p * part_size < part_size ? size - p * part_size : part_size;
			while (off < len) {
				pthread_mutex_lock(&mu);
				while (!(s->ready && s->consumed_part == p && s->filled > off)) pthread_cond_wait(&cv, &mu);
				long long avail = s->filled - off;
				pthread_mutex_unlock(&mu);
				size_t n = avail > (long long)read_size ? read_size : (size_t)avail;
				memcpy(dst, s->buf + off, n);
				off += n;
				total += n;
			}
			pthread_mutex_lock(&mu);
			s->ready = 0;
			done_parts = p + 1;
			pthread_cond_broadcast(&cv);
			pthread_mutex_unlock(&mu);
		}
		for (int i = 0; i < nparts_inflight; i++) pthread_join(th[i], NULL);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double wall = (t1.tv_sec - t0.tv_sec) + 1e-9 * (t1.tv_nsec - t0.tv_nsec);
	double cpu = cpu_now() - cpu0, gib = total / 1073741824.0;
	if (total != size) {
		fprintf(stderr, "floor: read %lld of %lld bytes\n", total, size);
		return 1;
	}
	printf("floor %s: %lld bytes, %.1f MiB/s, %.2f CPU-s/GiB\n",
	       lend ? "lent buffer" : single ? "single stream" : "parallel parts", total, total / 1048576.0 / wall, cpu / gib);
	return 0;
}
