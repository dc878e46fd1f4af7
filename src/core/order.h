/*
 * order.h — the inserts of a response put in the replica table's key order (order.c) before
 * they are applied.
 */
#ifndef ESYNC_ORDER_H
#define ESYNC_ORDER_H

#include "msgparse.h"
#include "types.h"

/* Responses with fewer insert messages than this keep their order. */
#define ESYNC_ORDER_MIN 64

/* Reorders the insert messages of ms (operation "insert") among the positions they hold, by
 * their value of the table's first key column as SQLite orders the stored values (NULL, then
 * integers of an int2/int4/int8 column by value, then text by bytes), stably: messages of equal
 * keys keep their order. Every other message keeps its position. A response whose inserts are
 * in that order already, or that holds fewer than ESYNC_ORDER_MIN, is left alone.
 *
 * Why: a snapshot arrives in the heap order of Postgres, which for random keys (uuid v4) sends
 * every insert to another leaf of the table's b-tree; in key order, consecutive inserts land on
 * the same leaf, the page cache keeps what they touch, and an initial sync applies about twice
 * as fast. Inserts of distinct keys commute, and those of one key keep their order, so the
 * replica ends the same; only the order in which a change set lists the rows changes.
 *
 * Only call it for a response whose changes are all inserts. ESYNC_OK, or ESYNC_ENOMEM with ms
 * unchanged. */
int esync__order_inserts(esync_msgs *ms, const esync_schema *sc);

#endif
