/*
 * What analyze.c needs from store.c. Private to lib/chain.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef CW_CHAIN_INTERNAL_H
#define CW_CHAIN_INTERNAL_H

#include "chain.h"

cw__mem *cw__store_mem(cw__store *st);
const char *cw__store_str(cw__store *st, uint32_t id);
/* The function of the earliest invocation of a completed trace that waits
 * for a link to (trace, span), or CW_STR_NONE. */
uint32_t cw__store_pending_callee(cw__store *st, cw__tid trace, uint64_t span);
/* Adds one call to the (caller, callee, kind) edge aggregate. Writer only. */
void cw__store_edge_add(cw__store *st, uint32_t caller, uint32_t callee, bool async, bool error,
                        bool retry, uint64_t latency_ns);
int cw__record_add_group(cw__store *st, cw__record *r, uint32_t caller, uint32_t target,
                         uint32_t attempts, uint32_t failed, uint32_t retries,
                         uint8_t final_status, bool redelivery);
int cw__record_add_group_span(cw__store *st, cw__record *r, uint64_t span);
/* Computes r->bytes once all its arrays are final. */
void cw__record_account(cw__store *st, cw__record *r);

#endif
