/*
 * be64: 64-bit numbers as 8 big-endian bytes, so that an LMDB key's byte
 * order is its number order (MDB_APPEND, cursor ranges).
 */
#ifndef BE64_H
#define BE64_H

#include <stdint.h>

static inline void
be64_put(uint8_t out[8], uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		out[i] = (uint8_t)v;
}

static inline uint64_t
be64_get(const void *in)
{
	const uint8_t *b = in;
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | b[i];
	return v;
}

#endif
