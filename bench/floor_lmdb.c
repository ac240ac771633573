/*
 * floor_lmdb: the storage floor. Raw LMDB appends (MDB_APPEND, 8-byte
 * big-endian keys) of values the size of a typical envelope, one write
 * transaction per batch of the daemon's batch size, each commit fsynced
 * (LMDB's default sync, as [store] sync = full): the most durable appends
 * a second any design on this machine's LMDB and disk can make. The only
 * program of the project besides store/ that calls mdb_* itself: measuring
 * LMDB with nothing around it is its purpose.
 *
 * Each commit is timed too: commit_p50_ms and commit_p99_ms are the
 * latency of a commit of a full batch (what fsync costs with its pages),
 * and single_p50_ms, single_p99_ms that of --singles more commits of one
 * value each: the disk's own floor for the latency of a lone event's ack,
 * which no batching can go below.
 *
 *   bench-floor_lmdb --dir EMPTY-DIR (--size BYTES | --corpus FILE) --count N --batch B
 *                    [--singles N]
 *
 * Prints {"values", "bytes", "batch", "commits", "seconds", "values_per_second",
 * "commit_p50_ms", "commit_p99_ms", "singles", "single_p50_ms", "single_p99_ms"}.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <lmdb.h>

#include "be64.h"
#include "floor.h"

#define PROG "bench-floor_lmdb"

static void
usage(void)
{
	fprintf(stderr, "usage: " PROG " --dir EMPTY-DIR (--size BYTES | --corpus FILE) "
	                "[--count N] [--batch B] [--singles N]\n");
	exit(2);
}

static void
check(int rc, const char *what)
{
	if (rc != MDB_SUCCESS)
		bench_fail(PROG, "%s: %s", what, mdb_strerror(rc));
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"dir", required_argument, NULL, 'd'},
	    {"size", required_argument, NULL, 's'},
	    {"corpus", required_argument, NULL, 'c'},
	    {"count", required_argument, NULL, 'n'},
	    {"batch", required_argument, NULL, 'b'},
	    {"singles", required_argument, NULL, 'S'},
	    {NULL, 0, NULL, 0},
	};
	const char *dir = NULL, *corpus_path = NULL;
	uint64_t size = 0, count = 200000, batch = 1024, seq = 0, commits = 0, start, end;
	uint64_t singles = 200;
	double *commit_ms, *single_ms;
	uint8_t *payload, key[8];
	MDB_env *env;
	MDB_dbi dbi;
	MDB_txn *txn;
	int ch;

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			dir = optarg;
			break;
		case 's':
			size = bench_parse_u64(PROG, "--size", optarg);
			break;
		case 'c':
			corpus_path = optarg;
			break;
		case 'n':
			count = bench_parse_u64(PROG, "--count", optarg);
			break;
		case 'b':
			batch = bench_parse_u64(PROG, "--batch", optarg);
			break;
		case 'S':
			singles = bench_parse_u64(PROG, "--singles", optarg);
			break;
		default:
			usage();
		}
	}
	if (dir == NULL || (size == 0) == (corpus_path == NULL) || count == 0 || batch == 0)
		usage();
	payload = floor_payload(PROG, corpus_path, &size);
	commit_ms = calloc(count / batch + 1, sizeof(*commit_ms));
	single_ms = calloc(singles + 1, sizeof(*single_ms));
	if (commit_ms == NULL || single_ms == NULL)
		bench_fail(PROG, "out of memory");
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		bench_fail(PROG, "%s: %s", dir, strerror(errno));

	check(mdb_env_create(&env), "mdb_env_create");
	/* Room for every value with the B-tree's overhead, and some. */
	check(mdb_env_set_mapsize(env, (size_t)(count * (size + 64) * 2 + (64u << 20))),
	    "mdb_env_set_mapsize");
	check(mdb_env_open(env, dir, MDB_NOTLS, 0600), dir);
	check(mdb_txn_begin(env, NULL, 0, &txn), "mdb_txn_begin");
	check(mdb_dbi_open(txn, NULL, 0, &dbi), "mdb_dbi_open");
	check(mdb_txn_commit(txn), "mdb_txn_commit");

	start = bench_now_ns();
	while (seq < count) {
		check(mdb_txn_begin(env, NULL, 0, &txn), "mdb_txn_begin");
		for (uint64_t i = 0; i < batch && seq < count; i++) {
			MDB_val k = {sizeof(key), key}, v = {size, payload};
			be64_put(key, ++seq);
			check(mdb_put(txn, dbi, &k, &v, MDB_APPEND), "mdb_put");
		}
		uint64_t t0 = bench_now_ns();
		check(mdb_txn_commit(txn), "mdb_txn_commit"); /* fsync */
		commit_ms[commits++] = (double)(bench_now_ns() - t0) / 1e6;
	}
	end = bench_now_ns();
	/* A lone value a commit: the latency floor, not a rate. */
	for (uint64_t i = 0; i < singles; i++) {
		MDB_val k = {sizeof(key), key}, v = {size, payload};
		uint64_t t0 = bench_now_ns();
		check(mdb_txn_begin(env, NULL, 0, &txn), "mdb_txn_begin");
		be64_put(key, ++seq);
		check(mdb_put(txn, dbi, &k, &v, MDB_APPEND), "mdb_put");
		check(mdb_txn_commit(txn), "mdb_txn_commit");
		single_ms[i] = (double)(bench_now_ns() - t0) / 1e6;
	}
	mdb_env_close(env);
	free(payload);

	double seconds = (double)(end - start) / 1e9;
	bench_print(json_pack("{s:I, s:I, s:I, s:I, s:f, s:f, s:f, s:f, s:I, s:f, s:f}", "values",
	    (json_int_t)count, "bytes", (json_int_t)size, "batch", (json_int_t)batch, "commits",
	    (json_int_t)commits, "seconds", seconds, "values_per_second", (double)count / seconds,
	    "commit_p50_ms", bench_quantile(commit_ms, commits, 0.50), "commit_p99_ms",
	    bench_quantile(commit_ms, commits, 0.99), "singles", (json_int_t)singles,
	    "single_p50_ms", bench_quantile(single_ms, singles, 0.50), "single_p99_ms",
	    bench_quantile(single_ms, singles, 0.99)));
	free(commit_ms);
	free(single_ms);
	return 0;
}
