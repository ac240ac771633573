/*
 * tailcache: keeps the stretch of a growing file just past its written end
 * in the page cache as single pages, before its writer reaches it.
 *
 * Why: Linux caches what is written in large writes in large folios (ext4
 * on 6.x: up to 256 KB for LMDB's 64-page writes), and a later rewrite of
 * one 4 KB page in such a folio costs the kernel a walk of every block in
 * it, on the write and again at writeback. LMDB grows its file in large
 * writes and rewrites those pages at random ever after. Pages brought into
 * the cache ahead of the writer (the file's hole read ahead: no disk I/O)
 * are single pages, and the writer's later writes land in them. On the
 * machine of bench/results.md a random page rewritten and fsynced cost
 * 15.7 us of CPU in a file grown in 256 KB writes and 4.8 us in one grown
 * this way.
 *
 * It only changes how the kernel caches the file: the file is extended
 * sparsely (no disk space is taken until written), and LMDB reads no
 * further than its own last page, so a longer file is harmless to it.
 * Any failure leaves the writer to grow the file itself, as before.
 */
#ifndef TAILCACHE_H
#define TAILCACHE_H

#include <stdint.h>

#include <lmdb.h>

/* Kept this far past the written end, topped up once it is a step short:
 * the cost, about 1.3 us a page, comes in pieces of a step at least and at
 * most what the writer wrote since. */
#define TAILCACHE_AHEAD_BYTES (16u << 20)
#define TAILCACHE_STEP_BYTES (1u << 20)

struct tailcache {
	uint64_t prepared_end; /* the file is cached as single pages up to here */
};

/* The writer's file, fd, is written up to used_end and may grow to limit:
 * make sure the next TAILCACHE_AHEAD_BYTES (less a step) are prepared. 0, or
 * -1 with errno when the file could not be extended or read ahead (nothing
 * is lost: the cache is as it would have been without this). */
int tailcache_keep_ahead(struct tailcache *tc, int fd, uint64_t used_end, uint64_t limit);

/* The same for an LMDB environment open for writing, from the thread that
 * writes and between its transactions (after its open, and after a commit
 * once what waited on it has been answered): its data file, its last page,
 * its map size. A failure is not reported: see above. */
void tailcache_follow_env(struct tailcache *tc, MDB_env *env);

#endif
