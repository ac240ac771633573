/*
 * sorted: where a key belongs in an array kept sorted by it (a binary
 * search that also gives the insertion point, which bsearch(3) does not).
 */
#ifndef SORTED_H
#define SORTED_H

#include <stdbool.h>
#include <stddef.h>

/* The index of the element of base[0..n) (each size bytes) that cmp (the
 * key, then an element: <0, 0, >0 as strcmp) finds equal to key, with
 * *found true; else the index key would go to keep the order. */
size_t sorted_index(const void *base, size_t n, size_t size, const void *key,
    int (*cmp)(const void *key, const void *element), bool *found);

#endif
