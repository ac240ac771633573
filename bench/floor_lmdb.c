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
 * With --random-puts N, a second floor, in an environment of its own:
 * N puts of random keys into a table already holding --random-keys keys,
 * as the daemon's dedupe table takes its keys (a source, NUL, an event id:
 * RANDOM_KEY_BYTES bytes) with their 24-byte values, --batch puts a
 * fsynced commit: what one index written at random costs, where appends
 * write each page once. The table is filled first, not timed, in commits
 * of --batch without fsync; the timed puts report puts a second and, from
 * /proc/self/io and getrusage over the timed part, the bytes written and
 * the CPU time a put. The file is kept in the page cache as single pages
 * (lib/tailcache), as the daemon's store is, so that a rewritten page
 * counts 4 KiB in write_bytes as it does for the daemon.
 *
 *   bench-floor_lmdb --dir EMPTY-DIR (--size BYTES | --corpus FILE) --count N --batch B
 *                    [--singles N] [--random-puts N [--random-keys N]]
 *
 * Prints {"values", "bytes", "batch", "commits", "seconds", "values_per_second",
 * "commit_p50_ms", "commit_p99_ms", "singles", "single_p50_ms", "single_p99_ms"},
 * and with --random-puts "random": {"keys_before", "puts", "key_bytes",
 * "value_bytes", "commits", "seconds", "puts_per_second", "write_bytes_per_put",
 * "user_us_per_put", "system_us_per_put", "usage": bench_usage_json's}.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <lmdb.h>

#include "be64.h"
#include "floor.h"
#include "tailcache.h"

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

/* ---- random-key puts: one index written at random */

/* The dedupe table's key: a source, NUL, an event id (the mix's are
 * shorter, 19 to 32 bytes; a longer key only fits fewer to a page). */
#define RANDOM_KEY_BYTES 40
#define RANDOM_SOURCE_BYTES 7
/* The dedupe table's value: a sequence and a content hash. */
#define RANDOM_VALUE_BYTES 24

/* splitmix64: a fixed seed, so that every run puts the same keys. */
static uint64_t
random_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* One random key of the dedupe table's shape and a value for it: one of
 * four sources, NUL, then hex digits of 128 random bits (no two alike). */
static void
random_put(MDB_txn *txn, MDB_dbi dbi, uint64_t *rng)
{
	static const char sources[][RANDOM_SOURCE_BYTES + 1] = {
	    "hl7:RXC", "hl7:RYR", "hl7:RPC", "hl7:NMJ"};
	static const char hex[] = "0123456789abcdef";
	uint8_t key[RANDOM_KEY_BYTES], value[RANDOM_VALUE_BYTES];
	uint64_t bits = random_next(rng);

	memcpy(key, sources[bits & 3], RANDOM_SOURCE_BYTES);
	key[RANDOM_SOURCE_BYTES] = '\0';
	for (size_t i = RANDOM_SOURCE_BYTES + 1; i < sizeof(key); i++) {
		if ((i - RANDOM_SOURCE_BYTES - 1) % 16 == 0)
			bits = random_next(rng);
		key[i] = (uint8_t)hex[bits & 15];
		bits >>= 4;
	}
	for (size_t i = 0; i < sizeof(value); i += 8)
		be64_put(value + i, random_next(rng));
	MDB_val k = {sizeof(key), key}, v = {sizeof(value), value};
	check(mdb_put(txn, dbi, &k, &v, 0), "mdb_put (random key)");
}

/* Puts up to n random keys in one write transaction, committed, and the
 * file's next pages readied as the daemon's store readies them. */
static uint64_t
random_commit(MDB_env *env, MDB_dbi dbi, uint64_t n, uint64_t *rng, struct tailcache *tc)
{
	MDB_txn *txn;

	check(mdb_txn_begin(env, NULL, 0, &txn), "mdb_txn_begin");
	for (uint64_t i = 0; i < n; i++)
		random_put(txn, dbi, rng);
	check(mdb_txn_commit(txn), "mdb_txn_commit");
	tailcache_follow_env(tc, env);
	return n;
}

/* The random-key floor in dir/random: keys_before keys put first, not
 * timed; then puts, batch a fsynced commit, timed. */
static json_t *
floor_random(const char *dir, uint64_t keys_before, uint64_t puts, uint64_t batch)
{
	char path[PATH_MAX];
	uint64_t rng = 20261124, done = 0, commits = 0;
	struct tailcache tc = {0};
	struct bench_usage before, after;
	MDB_env *env;
	MDB_dbi dbi;
	MDB_txn *txn;

	if (snprintf(path, sizeof(path), "%s/random", dir) >= (int)sizeof(path))
		bench_fail(PROG, "%s: the path is too long", dir);
	if (mkdir(path, 0700) < 0)
		bench_fail(PROG, "%s: %s", path, strerror(errno));
	check(mdb_env_create(&env), "mdb_env_create");
	/* About 110 bytes a key in a B-tree of random keys; twice that, and
	 * room for the pages a commit copies. */
	check(mdb_env_set_mapsize(env, (size_t)((keys_before + puts) * 256 + (64u << 20))),
	    "mdb_env_set_mapsize");
	check(mdb_env_open(env, path, MDB_NOTLS, 0600), path);
	check(mdb_txn_begin(env, NULL, 0, &txn), "mdb_txn_begin");
	check(mdb_dbi_open(txn, NULL, 0, &dbi), "mdb_dbi_open");
	check(mdb_txn_commit(txn), "mdb_txn_commit");
	tailcache_follow_env(&tc, env);

	/* The table as the daemon's is after keys_before events: grown batch
	 * by batch as the daemon grows it, but without fsync, then synced
	 * once, before the clock starts. Not in larger transactions: a commit
	 * that grows the file past what tailcache readied leaves its pages in
	 * large folios, and every later rewrite of one of them would count
	 * the whole folio in write_bytes. */
	check(mdb_env_set_flags(env, MDB_NOSYNC, 1), "mdb_env_set_flags");
	while (done < keys_before)
		done += random_commit(
		    env, dbi, keys_before - done < batch ? keys_before - done : batch, &rng, &tc);
	check(mdb_env_sync(env, 1), "mdb_env_sync");
	check(mdb_env_set_flags(env, MDB_NOSYNC, 0), "mdb_env_set_flags");

	done = 0;
	bench_usage_read(PROG, 0, &before);
	while (done < puts) {
		done +=
		    random_commit(env, dbi, puts - done < batch ? puts - done : batch, &rng, &tc);
		commits++;
	}
	bench_usage_read(PROG, 0, &after);
	mdb_env_close(env);

	double seconds = (double)(after.at_ns - before.at_ns) / 1e9;
	return json_pack("{s:I, s:I, s:i, s:i, s:I, s:f, s:f, s:f, s:f, s:f, s:o}", "keys_before",
	    (json_int_t)keys_before, "puts", (json_int_t)puts, "key_bytes", RANDOM_KEY_BYTES,
	    "value_bytes", RANDOM_VALUE_BYTES, "commits", (json_int_t)commits, "seconds", seconds,
	    "puts_per_second", (double)puts / seconds, "write_bytes_per_put",
	    (double)(after.write_bytes - before.write_bytes) / (double)puts, "user_us_per_put",
	    (after.user_seconds - before.user_seconds) * 1e6 / (double)puts, "system_us_per_put",
	    (after.system_seconds - before.system_seconds) * 1e6 / (double)puts, "usage",
	    bench_usage_json(&before, &after));
}

/* ---- appends */

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
	    {"random-puts", required_argument, NULL, 'p'},
	    {"random-keys", required_argument, NULL, 'k'},
	    {NULL, 0, NULL, 0},
	};
	const char *dir = NULL, *corpus_path = NULL;
	uint64_t size = 0, count = 200000, batch = 1024, seq = 0, commits = 0, start, end;
	uint64_t singles = 200, random_puts = 0, random_keys = 0;
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
		case 'p':
			random_puts = bench_parse_u64(PROG, "--random-puts", optarg);
			break;
		case 'k':
			random_keys = bench_parse_u64(PROG, "--random-keys", optarg);
			break;
		default:
			usage();
		}
	}
	if (dir == NULL || (size == 0) == (corpus_path == NULL) || count == 0 || batch == 0 ||
	    (random_keys > 0 && random_puts == 0) || optind != argc)
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
	json_t *out = json_pack("{s:I, s:I, s:I, s:I, s:f, s:f, s:f, s:f, s:I, s:f, s:f}", "values",
	    (json_int_t)count, "bytes", (json_int_t)size, "batch", (json_int_t)batch, "commits",
	    (json_int_t)commits, "seconds", seconds, "values_per_second", (double)count / seconds,
	    "commit_p50_ms", bench_quantile(commit_ms, commits, 0.50), "commit_p99_ms",
	    bench_quantile(commit_ms, commits, 0.99), "singles", (json_int_t)singles,
	    "single_p50_ms", bench_quantile(single_ms, singles, 0.50), "single_p99_ms",
	    bench_quantile(single_ms, singles, 0.99));
	if (random_puts > 0)
		json_object_set_new(
		    out, "random", floor_random(dir, random_keys, random_puts, batch));
	bench_print(out);
	free(commit_ms);
	free(single_ms);
	return 0;
}
