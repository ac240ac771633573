/*
 * sorted: the binary search of sorted.h.
 */
#include "sorted.h"

size_t
sorted_index(const void *base, size_t n, size_t size, const void *key,
    int (*cmp)(const void *key, const void *element), bool *found)
{
	size_t lo = 0, hi = n;

	*found = false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = cmp(key, (const char *)base + mid * size);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c > 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}
