/*
 * Grace periods for reclaiming graph memory: a sleepable-RCU style counter
 * pair, chosen so that any host thread may read without registering.
 *
 * Algorithm. epoch is a counter; its parity picks one of two arrays of
 * striped reader counters. A reader reads epoch, increments the counter of
 * that parity (on a stripe picked from its stack address, to spread
 * contention), then re-reads epoch: if it changed, the reader undoes the
 * increment and retries, so every reader that got in holds a counter of the
 * parity current when it entered. cw__epoch_sync() increments epoch and waits
 * until the old parity's counters sum to zero. Objects unlinked before the
 * sync are unreachable to every reader that enters after the flip, and every
 * reader that entered before it has left when the sum reaches zero.
 *
 * Invariants. (1) A reader's counter is incremented before any shared load of
 * its read section and decremented after the last. (2) Only one sync runs at
 * a time (the graph's tick lock).
 *
 * Progress: read_lock is lock-free (it retries only when a flip lands between
 * its two reads of epoch); read_unlock is wait-free; sync blocks until the
 * readers it waits for leave.
 *
 * Ordering guarantees. The increment, the re-read of epoch, the flip and the
 * sync's reads of the counters are seq_cst: in their single total order,
 * either the sync reads a counter after a reader's increment (and waits for
 * it), or the reader's re-read comes after the flip (and it retries on the
 * new parity, seeing everything unlinked before the flip). The decrement is
 * release, pairing with the sync's seq_cst (hence acquire) reads: a reader's
 * last loads happen before the memory is freed.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <sched.h>

#include "graph.h"

void cw__epoch_init(cw__epoch *ep)
{
    atomic_init(&ep->epoch, 0);
    for (int p = 0; p < 2; p++)
        for (int s = 0; s < CW_EPOCH_STRIPES; s++)
            atomic_init(&ep->readers[p][s].n, 0);
}

static unsigned stripe_of_this_thread(void)
{
    /* Threads have distinct stacks; their addresses differ above the page
     * bits. Cheap, and the only cost of a collision is a shared line. */
    char probe;
    uintptr_t a = (uintptr_t)&probe;
    return (unsigned)((a >> 12) ^ (a >> 20)) % CW_EPOCH_STRIPES;
}

cw__rs cw__read_lock(cw__epoch *ep)
{
    cw__rs rs;
    rs.stripe = stripe_of_this_thread();
    for (;;) {
        uint64_t e = atomic_load_explicit(&ep->epoch, memory_order_seq_cst);
        rs.parity = (unsigned)(e & 1);
        atomic_fetch_add_explicit(&ep->readers[rs.parity][rs.stripe].n, 1,
                                  memory_order_seq_cst);
        if (atomic_load_explicit(&ep->epoch, memory_order_seq_cst) == e)
            return rs;
        atomic_fetch_sub_explicit(&ep->readers[rs.parity][rs.stripe].n, 1,
                                  memory_order_release);
    }
}

void cw__read_unlock(cw__epoch *ep, cw__rs rs)
{
    atomic_fetch_sub_explicit(&ep->readers[rs.parity][rs.stripe].n, 1,
                              memory_order_release);
}

void cw__epoch_sync(cw__epoch *ep)
{
    uint64_t e = atomic_fetch_add_explicit(&ep->epoch, 1, memory_order_seq_cst);
    unsigned old = (unsigned)(e & 1);
    for (unsigned spins = 0;; spins++) {
        int64_t sum = 0;
        for (int s = 0; s < CW_EPOCH_STRIPES; s++)
            sum += atomic_load_explicit(&ep->readers[old][s].n, memory_order_seq_cst);
        if (sum == 0)
            return;
        if (spins > 64)
            sched_yield();
    }
}
